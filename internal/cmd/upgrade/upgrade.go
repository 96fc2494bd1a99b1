// Package upgrade implements `resimatectl upgrade plan` and `upgrade apply`.
package upgrade

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
)

// Options are the inputs of upgrade plan and upgrade apply.
type Options struct {
	IO      *iostreams.IOStreams
	Factory *cmdutil.Factory
	Env     *install.Env
	Install install.Options
	Output  string
	// SkipBackup upgrades without the backup apply takes first.
	SkipBackup bool
	Backup     PreUpgradeBackup
}

// PreUpgradeBackup is where and how apply's backup is written.
type PreUpgradeBackup struct {
	To             string
	Recipients     []string
	PassphraseFile string
	Source         shared.BackupSource
	sealing        backup.Sealing
}

// NewCmdUpgrade returns `resimatectl upgrade` with its plan and apply subcommands; runF
// replaces both run functions in tests.
func NewCmdUpgrade(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Plan and apply an upgrade of the installed platform",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCmdPlan(f, runF), newCmdApply(f, runF))
	return cmd
}

func newCmdPlan(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "plan --profile <profile> [-f values.yaml]...",
		Short: "Compare the installed release with what this resimatectl would apply",
		Long:  "Show the installed and bundled versions of each component, and a diff of every object that would change.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := shared.CompleteInstall(f, &opts.Install, opts.Output)
			if err != nil {
				return err
			}
			opts.Env = env
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPlan(cmd.Context(), opts)
		},
	}
	shared.AddInstallFlags(cmd, &opts.Install, &opts.Output)
	return cmd
}

func runPlan(ctx context.Context, opts *Options) error {
	plan, err := install.Plan(ctx, opts.Env, opts.Install)
	if err != nil {
		return shared.AsUsage(err)
	}
	s := opts.IO
	return output.Print(s.Out, opts.Output, plan, func(w io.Writer) error {
		fmt.Fprintf(s.Out, "release %s in %s, revision %d: chart %s installed, %s bundled\n\n", plan.Release, plan.Namespace, plan.Revision, plan.InstalledChart, plan.BundledChart)
		fmt.Fprintln(w, "COMPONENT\tINSTALLED\tBUNDLED\tCHANGE")
		for _, c := range plan.Components {
			change := "-"
			if c.Changed {
				change = "upgrade"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Name, c.Installed, c.Bundled, change)
		}
		shared.Flush(w)
		if plan.UpToDate || plan.Diff == "" {
			fmt.Fprintln(s.Out, "\nno object would change")
			return nil
		}
		fmt.Fprintf(s.Out, "\n%d objects would change:\n\n%s", len(plan.ChangedObjects), plan.Diff)
		return nil
	})
}

func newCmdApply(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "apply --profile <profile> [-f values.yaml]...",
		Short: "Upgrade the installed platform, rolling back by itself on failure",
		Long: `Take a backup set of the release (its databases, and Vault when a Vault token is given), then
apply this resimatectl's chart with the given values to the installed release, wait until
every component is Ready, and roll back to the previous revision when one is not. A failed
upgrade names the backup set to restore from; a failed backup stops the upgrade before it
changes anything.`,
		Example: `  resimatectl upgrade apply --profile aws -f site.yaml --backup-to s3://acme-backups?region=eu-west-1 --backup-recipient age1…`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := shared.CompleteInstall(f, &opts.Install, opts.Output)
			if err != nil {
				return err
			}
			opts.Env = env
			opts.Install.Operation = "upgrade"
			if err := completeBackup(opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runApply(cmd.Context(), opts)
		},
	}
	shared.AddInstallFlags(cmd, &opts.Install, &opts.Output)
	fl := cmd.Flags()
	fl.BoolVar(&opts.SkipBackup, "skip-backup", false, "Upgrade without taking a backup first")
	fl.StringVar(&opts.Backup.To, "backup-to", "", "Store the pre-upgrade backup set goes to (folder, s3://, gs://, azblob:// URL)")
	fl.StringArrayVar(&opts.Backup.Recipients, "backup-recipient", nil, "age or SSH public key, or a file of them, the backup is encrypted to (repeatable)")
	fl.StringVar(&opts.Backup.PassphraseFile, "backup-passphrase-file", "", "Encrypt the backup to the passphrase in this file instead")
	shared.AddVaultClientFlags(cmd, &opts.Backup.Source.Vault, "may take Raft snapshots; without one the backup leaves Vault out")
	cmdutil.MarkCommandLineOnly(cmd, "skip-backup")
	return cmd
}

// completeBackup checks the backup flags: a store and a key, unless --skip-backup.
func completeBackup(opts *Options) error {
	if opts.SkipBackup || opts.Install.DryRun {
		return nil
	}
	b := &opts.Backup
	if b.To == "" {
		return cmdutil.FlagErrorf("upgrade apply takes a backup first: give --backup-to with --backup-recipient (or --backup-passphrase-file), or --skip-backup")
	}
	sealing, err := backup.SealTo(b.Recipients, b.PassphraseFile)
	if err != nil {
		return &cmdutil.FlagError{Err: fmt.Errorf("the pre-upgrade backup: %w", err)}
	}
	b.sealing = sealing
	// The release and namespace are the upgrade's, already checked with the chart flags.
	b.Source.Release, b.Source.Namespace = opts.Install.Chart.ReleaseName, opts.Install.Chart.Namespace
	return b.Source.Vault.Validate()
}

// parts are every part, but Vault only when a token is at hand.
func (b *PreUpgradeBackup) parts() []string {
	if b.Source.Vault.TokenFile != "" || os.Getenv("VAULT_TOKEN") != "" {
		return backup.PartNames
	}
	return slices.DeleteFunc(slices.Clone(backup.PartNames), func(p string) bool { return p == "vault" })
}

func runApply(ctx context.Context, opts *Options) error {
	var set *backup.Manifest
	if !opts.SkipBackup && !opts.Install.DryRun {
		var err error
		if set, err = takeBackup(ctx, opts); err != nil {
			return fmt.Errorf("the pre-upgrade backup failed, nothing was upgraded: %w", err)
		}
	}
	res, err := install.Install(ctx, opts.Env, opts.Install)
	if err != nil {
		if set != nil {
			err = fmt.Errorf("%w; the state before the upgrade is backup set %s (resimatectl backup restore %s --store %s)", err, set.ID, set.ID, opts.Backup.To)
		}
		return shared.AsUsage(err)
	}
	return shared.PrintInstallResult(opts.IO, opts.Output, res)
}

func takeBackup(ctx context.Context, opts *Options) (*backup.Manifest, error) {
	b := &opts.Backup
	say := func(kind, format string, args ...any) {
		if opts.Env.Progress != nil {
			opts.Env.Progress(install.Event{Time: time.Now(), Type: kind, Message: fmt.Sprintf(format, args...)})
		}
	}
	parts := b.parts()
	say("phase", "backup of %s before the upgrade", strings.Join(parts, ", "))
	if len(parts) < len(backup.PartNames) {
		say("note", "Vault is not in this backup: no Vault token (VAULT_TOKEN or --vault-token-file)")
	}
	store, err := backup.Open(ctx, b.To)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	m, err := shared.TakeBackup(ctx, opts.Factory, &b.Source, store, parts, b.sealing, func(format string, args ...any) { say("note", format, args...) })
	if err != nil {
		return nil, err
	}
	say("note", "backup set %s written to %s", m.ID, b.To)
	return m, nil
}
