package access

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/resimate/resimatectl/internal/access"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
)

// HistoryOptions are the inputs of `access history` and `access diff`.
type HistoryOptions struct {
	IO          *iostreams.IOStreams
	Factory     *cmdutil.Factory
	Store       StoreOptions
	Sources     SourceOptions
	Output      string
	TrustedKeys string
	// Review is diff's review id; 0 is the latest.
	Review int64
}

// reviewRow is one recorded review as history prints it.
type reviewRow struct {
	access.Record
	Fingerprint string   `json:"fingerprint"`
	Findings    int      `json:"findings"`
	Verified    bool     `json:"verified"`
	Problems    []string `json:"problems,omitempty"`
}

// NewCmdHistory returns `resimatectl access history`; runF replaces the run function in tests.
func NewCmdHistory(f *cmdutil.Factory, runF func(context.Context, *HistoryOptions) error) *cobra.Command {
	opts := &HistoryOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List recorded reviews, each verified against its signature and the chain",
		Long: `List every recorded review, oldest first, and verify each: the stored report matches its
SHA-256, the signature matches the record, and the chain to the review before it holds (a
removed or altered review breaks it). With --trusted-keys, only reviews signed by those keys
pass. Exit status 1 when any review fails verification.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runHistory(cmd.Context(), opts)
		},
	}
	addHistoryFlags(cmd, opts)
	return cmd
}

// addHistoryFlags adds what history and diff read recorded reviews with.
func addHistoryFlags(cmd *cobra.Command, opts *HistoryOptions) {
	addStoreFlag(cmd, &opts.Store, "PostgreSQL database that keeps recorded reviews")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	cmd.Flags().StringVar(&opts.TrustedKeys, "trusted-keys", "", "authorized_keys-style file of the reviewers' public keys")
}

func runHistory(ctx context.Context, opts *HistoryOptions) error {
	defer opts.Factory.ClosePools()
	rows, err := verifiedHistory(ctx, opts)
	if err != nil {
		return err
	}
	err = output.Print(opts.IO.Out, opts.Output, rows, func(w io.Writer) error {
		fmt.Fprintln(w, "ID\tTIME\tREVIEWER\tKEY\tFINDINGS\tDECISIONS\tVERIFIED")
		for _, r := range rows {
			verified := "yes"
			if !r.Verified {
				verified = "NO: " + strings.Join(r.Problems, "; ")
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Time.Format(time.RFC3339), r.Reviewer, r.Fingerprint, r.Findings, decisionCounts(r.Decisions), verified)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		if !r.Verified {
			return cmdutil.ErrSilent
		}
	}
	return nil
}

func verifiedHistory(ctx context.Context, opts *HistoryOptions) ([]reviewRow, error) {
	trusted, err := opts.trusted()
	if err != nil {
		return nil, err
	}
	store, err := opts.Store.open(ctx, opts.Factory)
	if err != nil {
		return nil, err
	}
	records, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]reviewRow, 0, len(records))
	for i := range records {
		var prev *access.Record
		if i > 0 {
			prev = &records[i-1]
		}
		row := reviewRow{Record: records[i], Fingerprint: records[i].Fingerprint()}
		row.Problems = records[i].Verify(prev, trusted)
		row.Verified = len(row.Problems) == 0
		if rep, err := access.ParseReport(records[i].Report); err == nil {
			row.Findings = len(rep.Findings)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (opts *HistoryOptions) trusted() ([]ssh.PublicKey, error) {
	if opts.TrustedKeys == "" {
		return nil, nil
	}
	keys, err := access.ReadTrustedKeys(opts.TrustedKeys)
	if err != nil {
		return nil, &cmdutil.FlagError{Err: fmt.Errorf("--trusted-keys: %w", err)}
	}
	return keys, nil
}

func decisionCounts(ds []access.Decision) string {
	counts := map[string]int{}
	var order []string
	for _, d := range ds {
		if counts[d.Decision] == 0 {
			order = append(order, d.Decision)
		}
		counts[d.Decision]++
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

// NewCmdDiff returns `resimatectl access diff`; runF replaces the run function in tests.
func NewCmdDiff(f *cmdutil.Factory, runF func(context.Context, *HistoryOptions) error) *cobra.Command {
	opts := &HistoryOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "diff [REVIEW]",
		Short: "What changed since a recorded review: new privileges, new admins, removed subjects",
		Long: `Review access now (with the same source flags as review) and compare with a recorded review,
the latest by default: new administrators, new privileges, new and removed subjects, new and
resolved findings. The recorded review is verified first; a review that fails verification is
not compared with.`,
		Example: `  resimatectl access diff
  resimatectl access diff 12 -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if len(args) == 1 {
				id, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil || id < 1 {
					return cmdutil.FlagErrorf("REVIEW is a review's id ('resimatectl access history' lists them), not %q", args[0])
				}
				opts.Review = id
			}
			if err := opts.Sources.complete(f); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDiff(cmd.Context(), opts)
		},
	}
	addSourceFlags(cmd, &opts.Sources)
	addHistoryFlags(cmd, opts)
	return cmd
}

func runDiff(ctx context.Context, opts *HistoryOptions) error {
	defer opts.Factory.ClosePools()
	rows, err := verifiedHistory(ctx, opts)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return access.ErrNoReview
	}
	base := rows[len(rows)-1]
	if opts.Review != 0 {
		found := false
		for _, r := range rows {
			if r.ID == opts.Review {
				base, found = r, true
			}
		}
		if !found {
			return fmt.Errorf("no access review %d is recorded: 'resimatectl access history' lists them", opts.Review)
		}
	}
	if !base.Verified {
		return fmt.Errorf("review %d fails verification (%s): not comparing with it", base.ID, strings.Join(base.Problems, "; "))
	}
	before, err := access.ParseReport(base.Report)
	if err != nil {
		return err
	}
	now, err := opts.Sources.review(ctx, opts.Factory)
	if err != nil {
		return err
	}
	changes := access.Diff(before, now, opts.Sources.AdminRoles)
	fmt.Fprintf(opts.IO.ErrOut, "Compared with review %d of %s by %s: %d change(s).\n", base.ID, base.Time.Format(time.RFC3339), base.Reviewer, len(changes))
	return output.Print(opts.IO.Out, opts.Output, changes, func(w io.Writer) error {
		fmt.Fprintln(w, "CHANGE\tSUBJECT\tDETAIL")
		for _, c := range changes {
			fmt.Fprintf(w, "%s\t%s\t%s\n", c.Kind, c.Subject, c.Detail)
		}
		return nil
	})
}
