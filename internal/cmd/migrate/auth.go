package migrate

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	firebase "firebase.google.com/go/v4"
	"github.com/jackc/pgx/v5/pgxpool"
	kratos "github.com/ory/kratos-client-go"
	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/redact"
)

// AuthOptions are the inputs of `migrate firebase auth` and its verify.
type AuthOptions struct {
	IO       *iostreams.IOStreams
	Redactor *redact.Redactor

	Project     string
	Credentials string
	FromFile    string
	Format      string

	HashKey       string
	SaltSeparator string
	Rounds        int
	MemCost       int
	HashConfig    string

	KratosAdminURL string
	LedgerURL      string
	SchemaID       string
	BatchSize      int
	Concurrency    int
	ProviderMap    []string
	Claims         string
	DryRun         bool
	Canaries       []string
	Output         string
}

// NewAuthCmd returns `resimatectl migrate firebase auth`.
func NewAuthCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &AuthOptions{IO: f.IOStreams, Redactor: f.Redactor}
	cmd := &cobra.Command{
		Use:   "auth (--project <id> | --from-file export.json|csv) --hash-config hash.txt --kratos-admin-url URL --ledger-url URL",
		Short: "Import Firebase Authentication users into Ory Kratos, passwords included",
		Long: `Move every Firebase Authentication user into an Ory Kratos identity. Passwords keep working:
Firebase's scrypt hashes are imported as they are, with the project's hash parameters. Federated
logins become OIDC credentials, verified emails verified addresses, disabled users inactive
identities, custom claims public metadata. A ledger in PostgreSQL (schema resimate_migration)
records each user's outcome: a rerun imports only what is missing, and a run killed at any
moment loses and duplicates nothing. Users that cannot be imported are listed with the reason;
the exit status is 1 when there are any. The mapping is documented in docs/migrate-firebase-auth.md.`,
		Example: `  resimatectl migrate firebase auth --project acme-prod --credentials sa.json \
    --hash-config hash.txt --canary alice@example.com:her-password \
    --kratos-admin-url http://localhost:4434 --ledger-url postgres://...
  resimatectl migrate firebase auth --from-file users.json --hash-config hash.txt --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return RunAuth(cmd.Context(), opts)
		},
	}
	addAuthFlags(cmd, opts)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "Read and validate every user and print the report, writing nothing")
	cmd.Flags().StringArrayVar(&opts.Canaries, "canary", nil, "email:password of a known account: the hash parameters must verify it before anything is imported (repeatable)")
	cmd.AddCommand(newVerifyCmd(f))
	return cmd
}

func addAuthFlags(cmd *cobra.Command, opts *AuthOptions) {
	fl := cmd.Flags()
	fl.StringVar(&opts.Project, "project", "", "Firebase project to read live (default $GOOGLE_CLOUD_PROJECT; honours FIREBASE_AUTH_EMULATOR_HOST)")
	fl.StringVar(&opts.Credentials, "credentials", "", "Service-account key file (default: the usual Google credentials)")
	fl.StringVar(&opts.FromFile, "from-file", "", "Read a 'firebase auth:export' file instead of the live project")
	fl.StringVar(&opts.Format, "format", "", "Format of --from-file: json or csv (default: from the extension)")
	fl.StringVar(&opts.HashConfig, "hash-config", "", "File with the project's password hash parameters (the console's hash_config block, or YAML/JSON)")
	fl.StringVar(&opts.HashKey, "hash-key", "", "base64_signer_key of the hash parameters")
	fl.StringVar(&opts.SaltSeparator, "salt-separator", "", "base64_salt_separator of the hash parameters")
	fl.IntVar(&opts.Rounds, "rounds", 8, "rounds of the hash parameters")
	fl.IntVar(&opts.MemCost, "mem-cost", 14, "mem_cost of the hash parameters")
	fl.StringVar(&opts.KratosAdminURL, "kratos-admin-url", "", "Kratos admin API (also RESIMATE_KRATOS_ADMIN_URL)")
	fl.StringVar(&opts.LedgerURL, "ledger-url", "", "PostgreSQL URL of the migration ledger (also RESIMATE_LEDGER_URL)")
	fl.StringVar(&opts.SchemaID, "schema-id", "user_v1", "Kratos identity schema of the imported identities")
	fl.IntVar(&opts.BatchSize, "batch-size", 500, fmt.Sprintf("Identities per request (at most %d)", fa.MaxBatch))
	fl.IntVar(&opts.Concurrency, "concurrency", 4, "Requests in flight")
	fl.StringArrayVar(&opts.ProviderMap, "provider-map", nil, "firebase-provider=kratos-provider, e.g. oidc.okta=okta (repeatable; google.com, apple.com, microsoft.com, github.com, facebook.com are mapped by default)")
	fl.StringVar(&opts.Claims, "claims", "metadata_public", "Where custom claims go: metadata_public or none")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
}

// run builds the migration from the options; usage mistakes come back as FlagErrors.
func (o *AuthOptions) run(ctx context.Context, needImporter bool) (*fa.Run, func(), error) {
	if err := output.Validate(o.Output); err != nil {
		return nil, nil, &cmdutil.FlagError{Err: err}
	}
	if o.Project == "" && o.FromFile == "" {
		o.Project = os.Getenv("GOOGLE_CLOUD_PROJECT")
	}
	if (o.Project == "") == (o.FromFile == "") {
		return nil, nil, cmdutil.FlagErrorf("give either --project (live) or --from-file (an auth:export file)")
	}
	if o.Claims != "metadata_public" && o.Claims != "none" {
		return nil, nil, cmdutil.FlagErrorf("--claims must be metadata_public or none, not %q", o.Claims)
	}
	if o.BatchSize < 1 || o.BatchSize > fa.MaxBatch {
		return nil, nil, cmdutil.FlagErrorf("--batch-size must be 1 to %d", fa.MaxBatch)
	}
	o.Redactor.Register(o.HashKey, o.SaltSeparator)
	var hash *fa.HashParams
	var err error
	switch {
	case o.HashConfig != "":
		hash, err = fa.ParseHashConfig(o.HashConfig)
	case o.HashKey != "":
		hash, err = fa.NewHashParams(o.HashKey, o.SaltSeparator, o.Rounds, o.MemCost)
	}
	if err != nil {
		return nil, nil, &cmdutil.FlagError{Err: fmt.Errorf("password hash parameters: %w", err)}
	}
	if hash != nil {
		o.Redactor.Register(string(hash.SignerKey))
	}
	providers := map[string]string{}
	for k, v := range fa.DefaultProviders {
		providers[k] = v
	}
	for _, m := range o.ProviderMap {
		k, v, ok := strings.Cut(m, "=")
		if !ok || k == "" || v == "" {
			return nil, nil, cmdutil.FlagErrorf("--provider-map takes firebase-provider=kratos-provider, not %q", m)
		}
		providers[k] = v
	}
	run := &fa.Run{Mapping: &fa.Mapping{SchemaID: o.SchemaID, Hash: hash, Providers: providers, ClaimsTo: o.Claims}, DryRun: o.DryRun}
	for _, c := range o.Canaries {
		canary, err := fa.ParseCanary(c)
		if err != nil {
			return nil, nil, &cmdutil.FlagError{Err: err}
		}
		o.Redactor.Register(canary.Password)
		run.Canaries = append(run.Canaries, canary)
	}
	if o.FromFile != "" {
		run.Source, run.Project = &fa.FileSource{Path: o.FromFile, Format: o.Format}, "file:"+o.FromFile
	} else {
		src, err := liveSource(ctx, o.Project, o.Credentials)
		if err != nil {
			return nil, nil, err
		}
		run.Source, run.Project = src, o.Project
	}
	cleanup := func() {}
	if needImporter {
		if o.KratosAdminURL == "" || o.LedgerURL == "" {
			return nil, nil, cmdutil.FlagErrorf("--kratos-admin-url and --ledger-url are required (or --dry-run)")
		}
		o.Redactor.RegisterURLPassword(o.LedgerURL)
		pool, err := pgxpool.New(ctx, o.LedgerURL)
		if err != nil {
			return nil, nil, fmt.Errorf("migration ledger: %w", err)
		}
		cleanup = pool.Close
		cfg := kratos.NewConfiguration()
		cfg.Servers = kratos.ServerConfigurations{{URL: o.KratosAdminURL}}
		run.Importer = &fa.Importer{Admin: kratos.NewAPIClient(cfg), Ledger: &fa.Ledger{Pool: pool, Project: run.Project},
			BatchSize: o.BatchSize, Concurrency: o.Concurrency}
	}
	return run, cleanup, nil
}

func liveSource(ctx context.Context, project, credentials string) (*fa.LiveSource, error) {
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: project}, googleOptions(credentials, "FIREBASE_AUTH_EMULATOR_HOST")...)
	if err != nil {
		return nil, fmt.Errorf("opening Firebase project %s: %w", project, err)
	}
	client, err := app.Auth(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening Firebase Auth of %s: %w", project, err)
	}
	return &fa.LiveSource{Client: client, Project: project}, nil
}

// RunAuth migrates and prints the report; any rejected or failed user gives exit 1.
func RunAuth(ctx context.Context, o *AuthOptions) error {
	run, cleanup, err := o.run(ctx, !o.DryRun)
	if err != nil {
		return err
	}
	defer cleanup()
	if run.Importer != nil && o.IO.IsStderrTTY() {
		start := time.Now()
		run.Importer.Progress = func(done, total int) {
			el := time.Since(start).Seconds()
			rate := float64(done) / max(el, 0.001)
			eta := time.Duration(float64(total-done)/max(rate, 0.001)) * time.Second
			fmt.Fprintf(o.IO.ErrOut, "\rimported %d/%d users (%.0f/s, ETA %s)   ", done, total, rate, eta.Round(time.Second))
		}
	}
	rep, err := run.Execute(ctx)
	if run.Importer != nil && o.IO.IsStderrTTY() {
		fmt.Fprintln(o.IO.ErrOut)
	}
	if err != nil {
		return err
	}
	if err := printReport(o.IO, o.Output, rep); err != nil {
		return err
	}
	if !rep.OK() {
		return cmdutil.ErrSilent
	}
	return nil
}

func printReport(s *iostreams.IOStreams, format string, rep *fa.Report) error {
	return output.Print(s.Out, format, rep, func(w io.Writer) error {
		mode := ""
		if rep.DryRun {
			mode = " (dry run: nothing written)"
		}
		fmt.Fprintf(s.Out, "Firebase Auth users from %s%s\n\n", rep.Source, mode)
		for _, k := range []string{"users", "importable", fa.OutcomeImported, fa.OutcomeExisting, "already", fa.OutcomeRejected, fa.OutcomeFailed} {
			if v, ok := rep.Totals[k]; ok {
				fmt.Fprintf(w, "%s\t%d\n", k, v)
			}
		}
		if rep.PerSecond > 0 {
			fmt.Fprintf(w, "rate\t%.0f identities/s\n", rep.PerSecond)
		}
		if tw, ok := w.(interface{ Flush() error }); ok {
			_ = tw.Flush()
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(s.Out, "%s %s (%s): %s\n", p.Outcome, p.UID, p.Email, p.Reason)
		}
		for _, m := range rep.MFA {
			fmt.Fprintf(s.Out, "note %s (%s): %s\n", m.UID, m.Email, m.Reason)
		}
		return nil
	})
}

func newVerifyCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &AuthOptions{IO: f.IOStreams, Redactor: f.Redactor}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare every migrated user with its Kratos identity",
		Long:  "Re-read the source and Kratos and compare each user's traits, state, verified address and credential types. Exit status 1 when anything differs.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			run, cleanup, err := opts.run(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer cleanup()
			checked, diffs, err := fa.Verify(cmd.Context(), run)
			if err != nil {
				return err
			}
			res := map[string]any{"checked": checked, "differences": diffs}
			if diffs == nil {
				res["differences"] = []fa.Difference{}
			}
			err = output.Print(opts.IO.Out, opts.Output, res, func(w io.Writer) error {
				for _, d := range diffs {
					fmt.Fprintf(w, "%s\t%s\t%s\tsource: %s\tkratos: %s\n", d.UID, d.Email, d.Field, d.Source, d.Kratos)
				}
				fmt.Fprintf(w, "checked %d users: %d differences\n", checked, len(diffs))
				return nil
			})
			if err != nil {
				return err
			}
			if len(diffs) > 0 {
				return cmdutil.ErrSilent
			}
			return nil
		},
	}
	addAuthFlags(cmd, opts)
	return cmd
}
