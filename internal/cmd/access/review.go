package access

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/access"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/files"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
)

// ReviewOptions are the inputs of `access review`.
type ReviewOptions struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory
	Sources SourceOptions
	Store   StoreOptions
	Output  string
	Out     string
	FailOn  string
	// Record, Reviewer, Key and Decisions record the review as signed evidence.
	Record    bool
	Reviewer  string
	Key       string
	Decisions string
}

// reportFormats are review's -o values.
var reportFormats = []string{output.Table, output.JSON, output.YAML, access.CSV, access.Markdown, access.HTML}

var failOnValues = []string{"none", string(access.Critical), string(access.High), string(access.Medium), string(access.Low)}

// NewCmdReview returns `resimatectl access review`; runF replaces the run function in tests.
func NewCmdReview(f *cmdutil.Factory, runF func(context.Context, *ReviewOptions) error) *cobra.Command {
	opts := &ReviewOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Report who can reach the platform: RBAC, identities and Vault, with findings",
		Long: `Read Kubernetes RBAC (bindings on the platform's namespaces and the cluster, aggregated
ClusterRoles resolved, legacy token Secrets), Kratos identities and sessions, and Vault's auth
roles and policies, then apply the rules of docs/access.md. A source that cannot be read, or a
list the caller may not make, is named in the report as not read: the report is partial, and
says so.

With --record the review is stored as evidence in the platform's PostgreSQL: the reviewer, the
time, the report and its SHA-256, a decision per subject from --decisions, signed with the
reviewer's SSH or ed25519 key. Exit status 1 when a finding is at or above --fail-on.`,
		Example: `  resimatectl access review
  resimatectl access review -o markdown --out review.md --kratos-admin-url http://127.0.0.1:4434
  resimatectl access review --record --reviewer "Ada Lovelace" --key ~/.ssh/id_ed25519 --decisions decisions.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Sources.complete(f); err != nil {
				return err
			}
			if !slices.Contains(reportFormats, opts.Output) {
				return cmdutil.FlagErrorf("unknown output format %q: use one of %s", opts.Output, strings.Join(reportFormats, ", "))
			}
			if !slices.Contains(failOnValues, opts.FailOn) {
				return cmdutil.FlagErrorf("--fail-on takes one of %s, not %q", strings.Join(failOnValues, ", "), opts.FailOn)
			}
			if opts.Record && (opts.Reviewer == "" || opts.Key == "") {
				return cmdutil.FlagErrorf("--record needs --reviewer and --key (the reviewer's private key that signs the record)")
			}
			if !opts.Record && (opts.Decisions != "" || opts.Key != "") {
				return cmdutil.FlagErrorf("--decisions and --key are for --record")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runReview(cmd.Context(), opts)
		},
	}
	addSourceFlags(cmd, &opts.Sources)
	addStoreFlag(cmd, &opts.Store, "PostgreSQL database that keeps recorded reviews")
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", output.Table, "Output format: "+strings.Join(reportFormats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(reportFormats, cobra.ShellCompDirectiveNoFileComp))
	fl.StringVar(&opts.Out, "out", "", "Write the report to this file (mode 0600) instead of standard output")
	fl.StringVar(&opts.FailOn, "fail-on", "none", "Exit 1 when a finding is at or above this severity: "+strings.Join(failOnValues, ", "))
	fl.BoolVar(&opts.Record, "record", false, "Store the review as signed evidence (needs --reviewer, --key and --database-url)")
	fl.StringVar(&opts.Reviewer, "reviewer", "", "Name of the person reviewing")
	fl.StringVar(&opts.Key, "key", "", "The reviewer's private key file (OpenSSH or PKCS#8; ed25519, ECDSA or RSA) that signs the record")
	fl.StringVar(&opts.Decisions, "decisions", "", "YAML file of decisions: a list under 'decisions' of {subject, decision: keep|revoke|change, reason}")
	return cmd
}

func runReview(ctx context.Context, opts *ReviewOptions) error {
	f := opts.Factory
	defer f.ClosePools()
	report, err := opts.Sources.review(ctx, f)
	if err != nil {
		return err
	}
	if opts.Record {
		if err := record(ctx, opts, report); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := writeReport(&buf, opts.Output, report); err != nil {
		return err
	}
	if opts.Out == "" {
		if _, err := opts.IO.Out.Write(buf.Bytes()); err != nil {
			return err
		}
	} else {
		if err := files.Replace(opts.Out, buf.Bytes(), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "Wrote the report to %s (%d finding(s)).\n", opts.Out, len(report.Findings))
	}
	for _, g := range report.Gaps {
		fmt.Fprintf(opts.IO.ErrOut, "warning: partial report: %s %s not read: %s\n", g.Source, g.What, g.Reason)
	}
	return failOn(report, opts.FailOn)
}

func writeReport(w io.Writer, format string, r *access.Report) error {
	switch format {
	case access.CSV:
		return r.WriteCSV(w)
	case access.Markdown:
		return r.WriteMarkdown(w)
	case access.HTML:
		return r.WriteHTML(w)
	}
	return output.Print(w, format, r, r.WriteTable)
}

func failOn(r *access.Report, threshold string) error {
	if threshold == "none" {
		return nil
	}
	limit := slices.Index(failOnValues, threshold)
	for _, f := range r.Findings {
		if slices.Index(failOnValues, string(f.Severity)) <= limit {
			return cmdutil.ErrSilent
		}
	}
	return nil
}

func record(ctx context.Context, opts *ReviewOptions, report *access.Report) error {
	var decisions []access.Decision
	if opts.Decisions != "" {
		var err error
		if decisions, err = access.ReadDecisions(opts.Decisions, report); err != nil {
			return &cmdutil.FlagError{Err: err}
		}
	}
	rec, err := access.NewRecord(report, opts.Reviewer, opts.Key, decisions)
	if err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	store, err := opts.Store.open(ctx, opts.Factory)
	if err != nil {
		return err
	}
	if err := store.Add(ctx, rec); err != nil {
		return fmt.Errorf("recording the review: %w", err)
	}
	fmt.Fprintf(opts.IO.ErrOut, "Recorded review %d: report SHA-256 %s, signed by %s (%s).\n", rec.ID, rec.ReportSHA256, rec.Reviewer, rec.Fingerprint())
	return nil
}
