// Package preflight implements `resimatectl preflight`.
package preflight

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/preflight"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/ui"
)

// Options are the inputs of the preflight command.
type Options struct {
	IO        *iostreams.IOStreams
	Kube      *kube.Clients
	Chart     render.Options
	Preflight preflight.Params
	Output    string
}

// NewCmdPreflight returns the preflight command; runF replaces the run function in tests.
func NewCmdPreflight(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Kube: f.Kube}
	cmd := &cobra.Command{
		Use:   "preflight --profile <profile> [-f values.yaml]...",
		Short: "Check whether a cluster can run the platform, before installing",
		Long: `Inspect the target cluster, and the external services the values name, and say check by
check whether an install of this profile will succeed and what to fix. The checks read the
rendered chart: permissions, capacity and PodSecurity are computed from what install applies.

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 for usage
errors, 130 when interrupted.`,
		Example: `  resimatectl preflight --profile azure -f site.yaml
  RESIMATE_POSTGRES_URL=postgres://admin:...@db.example.org/postgres resimatectl preflight --profile aws
  resimatectl preflight --profile onprem --ignore-checks dns,smtp -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := shared.CompleteChart(f, &opts.Chart); err != nil {
				return err
			}
			if err := shared.CompletePreflight(f, &opts.Preflight, opts.Chart); err != nil {
				return err
			}
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPreflight(cmd.Context(), opts)
		},
	}
	shared.AddChartFlags(cmd, &opts.Chart)
	shared.AddPreflightFlags(cmd, &opts.Preflight)
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

// runPreflight renders the chart, runs the checks and prints the report. A failed check gives
// exit 1.
func runPreflight(ctx context.Context, opts *Options) error {
	rendered, err := render.Render(ctx, opts.Chart)
	if err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	cfg, cfgErr := opts.Kube.Config()
	var live *ui.LiveChecks
	var observer preflight.Observer
	if liveView(opts) {
		live = ui.NewLiveChecks(ctx, opts.IO, preflight.Checks(), cmdutil.InterruptSelf)
		observer = live
	}
	rep, err := preflight.Evaluate(ctx, cfg, cfgErr, rendered, opts.Preflight, observer)
	if live != nil {
		live.Wait()
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx) // interrupted: the report holds checks cut short
	}
	switch {
	case opts.Output == output.JSON || opts.Output == output.YAML:
		err = output.Print(opts.IO.Out, opts.Output, rep, nil)
	case live != nil:
		// The live view already left the list on the screen.
		err = ui.WriteCheckSummary(opts.IO.Out, rep)
	default:
		err = ui.WriteChecks(opts.IO.Out, rep, opts.IO.ColorEnabled())
	}
	if err != nil {
		return err
	}
	if !rep.OK {
		return cmdutil.ErrSilent
	}
	return nil
}

// liveView: a live list when a person watches (stdout and stderr on a terminal, table output).
func liveView(opts *Options) bool {
	return opts.Output == output.Table && opts.IO.IsStdoutTTY() && opts.IO.IsStderrTTY()
}
