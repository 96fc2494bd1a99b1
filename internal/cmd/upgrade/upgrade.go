// Package upgrade implements `resimatectl upgrade plan` and `upgrade apply`.
package upgrade

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
)

// Options are the inputs of upgrade plan and upgrade apply.
type Options struct {
	IO      *iostreams.IOStreams
	Env     *install.Env
	Install install.Options
	Output  string
	// SkipBackup silences the note that no backup was taken (apply).
	SkipBackup bool
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
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "apply --profile <profile> [-f values.yaml]...",
		Short: "Upgrade the installed platform, rolling back by itself on failure",
		Long: `Apply this resimatectl's chart with the given values to the installed release, wait until
every component is Ready, and roll back to the previous revision when one is not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := shared.CompleteInstall(f, &opts.Install, opts.Output)
			if err != nil {
				return err
			}
			opts.Env = env
			opts.Install.Operation = "upgrade"
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runApply(cmd.Context(), opts)
		},
	}
	shared.AddInstallFlags(cmd, &opts.Install, &opts.Output)
	cmd.Flags().BoolVar(&opts.SkipBackup, "skip-backup", false, "Do not take a backup before upgrading")
	return cmd
}

func runApply(ctx context.Context, opts *Options) error {
	if !opts.SkipBackup && opts.Env.Progress != nil {
		// The backup capability is not part of this build yet: say so instead of pretending.
		opts.Env.Progress(install.Event{Time: time.Now(), Type: "note", Message: "no backup taken: this resimatectl has no backup capability yet (--skip-backup silences this)"})
	}
	res, err := install.Install(ctx, opts.Env, opts.Install)
	if err != nil {
		return shared.AsUsage(err)
	}
	return shared.PrintInstallResult(opts.IO, opts.Output, res)
}
