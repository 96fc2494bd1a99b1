// Package auth implements `resimatectl migrate firebase auth` and its verify.
package auth

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	firebase "firebase.google.com/go/v4"
	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/migrate"
	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/ui"
)

// Options are the inputs of `migrate firebase auth` and its verify.
type Options struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory

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
	CanaryFile     string
	NoCanary       bool
	Output         string
}

// NewCmdAuth returns `resimatectl migrate firebase auth`; runF replaces the run function in
// tests.
func NewCmdAuth(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "auth (--project <id> | --from-file export.json|csv) --hash-config hash.txt --kratos-admin-url URL --ledger-url URL",
		Short: "Import Firebase Authentication users into Ory Kratos, passwords included",
		Long: `Move every Firebase Authentication user into an Ory Kratos identity. Passwords keep working:
Firebase's scrypt hashes are imported as they are, with the project's hash parameters, which a
canary account (--canary-file) must verify before anything is written. Federated logins become
OIDC credentials, verified emails verified addresses, disabled users inactive identities,
custom claims public metadata. A ledger in PostgreSQL (schema resimate_migration) records each
user's outcome: a rerun imports only what is missing, and a run killed at any moment loses and
duplicates nothing. Users that cannot be imported are listed with the reason; the exit status
is 1 when there are any. Kratos refuses passwords longer than 72 bytes at sign-in: users
with longer Firebase passwords must reset them. The mapping is documented in
docs/migrate-firebase-auth.md.

Secrets never need the command line: the hash parameters come from --hash-config, the canary
from --canary-file, and URLs with passwords from RESIMATE_LEDGER_URL.`,
		Example: `  export RESIMATE_LEDGER_URL=postgres://migrator:...@db:5432/resimate
  resimatectl migrate firebase auth --project acme-prod --credentials sa.json \
    --hash-config hash.txt --canary-file canary.txt --kratos-admin-url http://localhost:4434
  resimatectl migrate firebase auth --from-file users.json --hash-config hash.txt --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runAuth(cmd.Context(), opts)
		},
	}
	addAuthFlags(cmd, opts)
	fl := cmd.Flags()
	fl.BoolVar(&opts.DryRun, "dry-run", false, "Read and validate every user and print the report, writing nothing")
	fl.StringArrayVar(&opts.Canaries, "canary", nil, "email:password of a known account: the hash parameters must verify it before anything is imported (repeatable; prefer --canary-file)")
	fl.StringVar(&opts.CanaryFile, "canary-file", "", "File of email:password lines of known accounts (the form of --canary that keeps passwords off the command line)")
	fl.BoolVar(&opts.NoCanary, "no-canary", false, "Import without proving the hash parameters on a known account first")
	cmdutil.MarkSecret(cmd, "canary")
	cmdutil.MarkCommandLineOnly(cmd, "no-canary")
	cmd.AddCommand(newCmdVerify(f, runF))
	return cmd
}

func addAuthFlags(cmd *cobra.Command, opts *Options) {
	fl := cmd.Flags()
	fl.StringVar(&opts.Project, "project", "", "Firebase project to read live (default $GOOGLE_CLOUD_PROJECT; honours FIREBASE_AUTH_EMULATOR_HOST)")
	fl.StringVar(&opts.Credentials, "credentials", "", "Service-account key file (default: the usual Google credentials)")
	fl.StringVar(&opts.FromFile, "from-file", "", "Read a 'firebase auth:export' file instead of the live project")
	fl.StringVar(&opts.Format, "format", "", "Format of --from-file: json or csv (default: from the extension)")
	fl.StringVar(&opts.HashConfig, "hash-config", "", "File with the project's password hash parameters (the console's hash_config block, or YAML/JSON)")
	fl.StringVar(&opts.HashKey, "hash-key", "", "base64_signer_key of the hash parameters (prefer --hash-config or RESIMATE_HASH_KEY)")
	fl.StringVar(&opts.SaltSeparator, "salt-separator", "", "base64_salt_separator of the hash parameters")
	fl.IntVar(&opts.Rounds, "rounds", 8, "rounds of the hash parameters")
	fl.IntVar(&opts.MemCost, "mem-cost", 14, "mem_cost of the hash parameters")
	fl.StringVar(&opts.KratosAdminURL, "kratos-admin-url", "", "Kratos admin API (also RESIMATE_KRATOS_ADMIN_URL)")
	fl.StringVar(&opts.LedgerURL, "ledger-url", "", "PostgreSQL URL of the migration ledger (also RESIMATE_LEDGER_URL)")
	fl.StringVar(&opts.SchemaID, "schema-id", "user_v1", "Kratos identity schema of the imported identities")
	cmdutil.PositiveIntVar(cmd, &opts.BatchSize, "batch-size", 500, fmt.Sprintf("Identities per request (at most %d)", fa.MaxBatch))
	cmdutil.PositiveIntVar(cmd, &opts.Concurrency, "concurrency", 4, "Requests in flight")
	fl.StringArrayVar(&opts.ProviderMap, "provider-map", nil, "firebase-provider=kratos-provider, e.g. oidc.okta=okta (repeatable; google.com, apple.com, microsoft.com, github.com, facebook.com are mapped by default)")
	fl.StringVar(&opts.Claims, "claims", "metadata_public", "Where custom claims go: metadata_public or none")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	cmdutil.MarkSecret(cmd, "hash-key", "ledger-url")
}

// run builds the migration from the options; usage mistakes come back as FlagErrors.
func (o *Options) run(ctx context.Context, needImporter, requireCanary bool) (*fa.Run, func(), error) {
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
	if o.BatchSize > fa.MaxBatch {
		return nil, nil, cmdutil.FlagErrorf("--batch-size must be 1 to %d", fa.MaxBatch)
	}
	if o.HashConfig != "" && (o.HashKey != "" || o.SaltSeparator != "") {
		return nil, nil, cmdutil.FlagErrorf("give the hash parameters once: --hash-config, or --hash-key with --salt-separator, not both")
	}
	o.Factory.Redactor.Register(o.HashKey, o.SaltSeparator)
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
		o.Factory.Redactor.RegisterBytes(hash.SignerKey, hash.SaltSeparator)
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
	canaries, err := o.canaries(requireCanary)
	if err != nil {
		return nil, nil, err
	}
	run.Canaries = canaries
	if o.FromFile != "" {
		// The ledger knows a file by its content, not its name.
		digest, err := migrate.FileDigest(o.FromFile)
		if err != nil {
			return nil, nil, err
		}
		run.Source, run.Project = &fa.FileSource{Path: o.FromFile, Format: o.Format}, "file "+digest
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
		pool, err := o.Factory.Postgres(ctx, o.LedgerURL)
		if err != nil {
			return nil, nil, fmt.Errorf("migration ledger: %w", err)
		}
		cleanup = o.Factory.ClosePools
		run.Importer = &fa.Importer{Admin: o.Factory.KratosAdmin(o.KratosAdminURL), Ledger: &fa.Ledger{Pool: pool, Project: run.Project},
			BatchSize: o.BatchSize, Concurrency: o.Concurrency}
	}
	return run, cleanup, nil
}

func liveSource(ctx context.Context, project, credentials string) (*fa.LiveSource, error) {
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: project}, migrate.GoogleOptions(credentials, "FIREBASE_AUTH_EMULATOR_HOST")...)
	if err != nil {
		return nil, fmt.Errorf("opening Firebase project %s: %w", project, err)
	}
	client, err := app.Auth(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening Firebase Auth of %s: %w", project, err)
	}
	return &fa.LiveSource{Client: client, Project: project}, nil
}

// canaries reads --canary and --canary-file; an import (required) must have one unless
// --no-canary.
func (o *Options) canaries(required bool) ([]fa.Canary, error) {
	lines := append([]string{}, o.Canaries...)
	if o.CanaryFile != "" {
		data, err := os.ReadFile(o.CanaryFile)
		if err != nil {
			return nil, &cmdutil.FlagError{Err: fmt.Errorf("--canary-file: %w", err)}
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				lines = append(lines, line)
			}
		}
	}
	var out []fa.Canary
	for _, c := range lines {
		canary, err := fa.ParseCanary(c)
		if err != nil {
			return nil, &cmdutil.FlagError{Err: err}
		}
		o.Factory.Redactor.Register(canary.Password)
		out = append(out, canary)
	}
	if required && len(out) == 0 && !o.NoCanary {
		return nil, cmdutil.FlagErrorf("the hash parameters must be proven before anything is written: give a known account with --canary-file (lines of email:password), or --no-canary to import unproven")
	}
	return out, nil
}

// runAuth migrates and prints the report; any rejected or failed user gives exit 1.
func runAuth(ctx context.Context, o *Options) error {
	run, cleanup, err := o.run(ctx, !o.DryRun, !o.DryRun)
	if err != nil {
		return err
	}
	defer cleanup()
	progress := ui.NewProgress(o.IO.ErrOut, o.IO.IsStderrTTY(), "users")
	if run.Importer != nil {
		run.Importer.Progress = func(done, total int) { progress.Update(int64(done), int64(total), "") }
	}
	rep, err := run.Execute(ctx)
	progress.Done()
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
		shared.Flush(w)
		for _, p := range rep.Problems {
			fmt.Fprintf(s.Out, "%s %s (%s): %s\n", p.Outcome, p.UID, p.Email, p.Reason)
		}
		for _, m := range rep.MFA {
			fmt.Fprintf(s.Out, "note %s (%s): %s\n", m.UID, m.Email, m.Reason)
		}
		for _, n := range rep.Notes {
			fmt.Fprintf(s.Out, "note: %s\n", n)
		}
		return nil
	})
}
