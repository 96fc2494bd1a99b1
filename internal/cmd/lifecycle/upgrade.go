package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/render"
)

// NewUpgradeCmd returns `resimatectl upgrade` with its plan and apply subcommands.
func NewUpgradeCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Plan and apply an upgrade of the installed platform",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newPlanCmd(f), newApplyCmd(f))
	return cmd
}

func newPlanCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &InstallOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "plan --profile <profile> [-f values.yaml]...",
		Short: "Compare the installed release with what this resimatectl would apply",
		Long:  "Show the installed and bundled versions of each component, and a diff of every object that would change.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := prepareInstall(f, opts); err != nil {
				return err
			}
			plan, err := install.Plan(cmd.Context(), opts.Env, opts.Install)
			if err != nil {
				return asUsage(err)
			}
			return printPlan(opts.IO, opts.Output, plan)
		},
	}
	addInstallFlags(cmd, opts)
	return cmd
}

func printPlan(s *iostreams.IOStreams, format string, plan *install.UpgradePlan) error {
	return output.Print(s.Out, format, plan, func(w io.Writer) error {
		fmt.Fprintf(s.Out, "release %s in %s, revision %d: chart %s installed, %s bundled\n\n", plan.Release, plan.Namespace, plan.Revision, plan.InstalledChart, plan.BundledChart)
		fmt.Fprintln(w, "COMPONENT\tINSTALLED\tBUNDLED\tCHANGE")
		for _, c := range plan.Components {
			change := "-"
			if c.Changed {
				change = "upgrade"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Name, c.Installed, c.Bundled, change)
		}
		if tw, ok := w.(interface{ Flush() error }); ok {
			_ = tw.Flush()
		}
		if plan.UpToDate || plan.Diff == "" {
			fmt.Fprintln(s.Out, "\nno object would change")
			return nil
		}
		fmt.Fprintf(s.Out, "\n%d objects would change:\n\n%s", len(plan.ChangedObjects), plan.Diff)
		return nil
	})
}

func newApplyCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &InstallOptions{IO: f.IOStreams}
	var skipBackup bool
	cmd := &cobra.Command{
		Use:   "apply --profile <profile> [-f values.yaml]...",
		Short: "Upgrade the installed platform, rolling back by itself on failure",
		Long: `Apply this resimatectl's chart with the given values to the installed release, wait until
every component is Ready, and roll back to the previous revision when one is not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := prepareInstall(f, opts); err != nil {
				return err
			}
			opts.Install.Operation = "upgrade"
			if !skipBackup {
				// The backup capability is not part of this build yet: say so instead of pretending.
				opts.Env.Progress(install.Event{Time: time.Now(), Type: "note", Message: "no backup taken: this resimatectl has no backup capability yet (--skip-backup silences this)"})
			}
			return RunInstall(cmd.Context(), opts)
		},
	}
	addInstallFlags(cmd, opts)
	cmd.Flags().BoolVar(&skipBackup, "skip-backup", false, "Do not take a backup before upgrading")
	return cmd
}

// NewRollbackCmd returns `resimatectl rollback [revision]`.
func NewRollbackCmd(f *cmdutil.Factory) *cobra.Command {
	var release string
	var timeout time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "rollback [revision]",
		Short: "Return the platform to an earlier revision (default: the previous one)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			revision := 0
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return cmdutil.FlagErrorf("revision must be a positive number, not %q", args[0])
				}
				revision = n
			}
			ns := f.Namespace(render.DefaultNamespace)
			env := newEnv(f, progressPrinter(f.IOStreams.ErrOut, output.Table))
			now, err := install.Rollback(cmd.Context(), env, ns, release, revision, timeout, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IOStreams.Out, "release %s in %s rolled back: now revision %d\n", release, ns, now)
			return nil
		},
	}
	cmd.Flags().StringVar(&release, "release", render.DefaultRelease, "Release name")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "How long to wait for every component to become Ready")
	cmd.Flags().BoolVar(&force, "force-unlock", false, "Break the namespace's install lock even if it looks alive")
	return cmd
}

// NewUninstallCmd returns `resimatectl uninstall`.
func NewUninstallCmd(f *cmdutil.Factory) *cobra.Command {
	var release string
	var timeout time.Duration
	var purge, yes, force bool
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the platform (volumes, databases and secrets stay unless --purge)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns := f.Namespace(render.DefaultNamespace)
			if purge && !yes {
				if !f.IOStreams.CanPrompt() {
					return cmdutil.FlagErrorf("--purge deletes volumes, databases and secrets for good: add --yes to confirm")
				}
				ok, err := confirm(f.IOStreams, fmt.Sprintf("Delete release %s in %s with its volumes, databases and secrets for good? Type %q to confirm: ", release, ns, release), release)
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("not confirmed: nothing was removed")
				}
			}
			env := newEnv(f, progressPrinter(f.IOStreams.ErrOut, output.Table))
			notes, err := install.Uninstall(cmd.Context(), env, ns, release, purge, timeout, force)
			if err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintln(f.IOStreams.Out, n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&release, "release", render.DefaultRelease, "Release name")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "How long to wait for the objects to be gone")
	cmd.Flags().BoolVar(&purge, "purge", false, "Also delete volumes, databases, generated secrets and the install record")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&force, "force-unlock", false, "Break the namespace's install lock even if it looks alive")
	return cmd
}

func confirm(s *iostreams.IOStreams, prompt, want string) (bool, error) {
	fmt.Fprint(s.ErrOut, prompt)
	var answer string
	if _, err := fmt.Fscanln(s.In, &answer); err != nil {
		return false, nil
	}
	return answer == want, nil
}

func asUsage(err error) error {
	var in *install.InputError
	if errors.As(err, &in) {
		return &cmdutil.FlagError{Err: in.Err}
	}
	return err
}
