// Package preflight implements `resimatectl preflight`.
package preflight

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/preflight"
	"github.com/resimate/resimatectl/internal/redact"
	"github.com/resimate/resimatectl/internal/render"
)

// Options are the inputs of the preflight command.
type Options struct {
	IO         *iostreams.IOStreams
	Redactor   *redact.Redactor
	Chart      render.Options
	Output     string
	Ignore     []string
	Offline    bool
	Postgres   string
	RESTConfig func() (*rest.Config, error)
}

// NewCmd returns the preflight command; runF replaces the run function in tests.
func NewCmd(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Redactor: f.Redactor, RESTConfig: f.KubeFlags.ToRESTConfig}
	cmd := &cobra.Command{
		Use:   "preflight --profile <profile> [-f values.yaml]...",
		Short: "Check whether a cluster can run the platform, before installing",
		Long: `Inspect the target cluster, and the external services the values name, and say check by
check whether an install of this profile will succeed and what to fix. The checks read the
rendered chart: permissions, capacity and PodSecurity are computed from what install applies.

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 for usage errors.`,
		Example: `  resimatectl preflight --profile azure -f site.yaml
  resimatectl preflight --profile onprem --ignore-checks dns,smtp -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ValidateProfile(opts.Chart.Profile); err != nil {
				return err
			}
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if err := validateIgnore(opts.Ignore); err != nil {
				return err
			}
			opts.Chart.Namespace = f.Namespace(render.DefaultNamespace)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddChartFlags(cmd, &opts.Chart)
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	AddFlags(cmd, opts)
	return cmd
}

// AddFlags adds the flags preflight shares with install.
func AddFlags(cmd *cobra.Command, opts *Options) {
	cmd.Flags().StringVar(&opts.Chart.ReleaseName, "release", render.DefaultRelease, "Release name")
	cmd.Flags().StringSliceVar(&opts.Ignore, "ignore-checks", nil, "Check ids whose failures become warnings: "+strings.Join(preflight.IDs(preflight.Checks()), ", "))
	cmd.Flags().BoolVar(&opts.Offline, "offline", false, "Skip the checks that reach the internet (image registries)")
	cmd.Flags().StringVar(&opts.Postgres, "postgres-url", "", "Admin URL of the external PostgreSQL (postgres://user:password@host:port/db); also RESIMATE_POSTGRES_URL")
}

func validateIgnore(ids []string) error {
	known := map[string]bool{}
	for _, id := range preflight.IDs(preflight.Checks()) {
		known[id] = true
	}
	for _, id := range ids {
		if !known[id] {
			return cmdutil.FlagErrorf("--ignore-checks: unknown check %q: use any of %s", id, strings.Join(preflight.IDs(preflight.Checks()), ", "))
		}
	}
	return nil
}

// Run renders the chart, runs the checks and prints the report. A failed check gives exit 1.
func Run(ctx context.Context, opts *Options) error {
	rep, err := Check(ctx, opts)
	if err != nil {
		return err
	}
	switch {
	case opts.Output == output.JSON || opts.Output == output.YAML:
		err = output.Print(opts.IO.Out, opts.Output, rep, nil)
	case liveView(opts):
		// The live view already left the list on the screen.
		err = preflight.WriteSummary(opts.IO.Out, rep)
	default:
		err = preflight.WriteText(opts.IO.Out, rep, opts.IO.ColorEnabled())
	}
	if err != nil {
		return err
	}
	if !rep.OK {
		return cmdutil.ErrSilent
	}
	return nil
}

// Check runs preflight and returns the report without printing it (install uses this).
func Check(ctx context.Context, opts *Options) (*preflight.Report, error) {
	if opts.Postgres != "" && opts.Redactor != nil {
		opts.Redactor.RegisterURLPassword(opts.Postgres)
	}
	rendered, err := render.Render(ctx, opts.Chart)
	if err != nil {
		return nil, &cmdutil.FlagError{Err: err}
	}
	cfg, cfgErr := opts.RESTConfig()
	t, err := preflight.NewTarget(cfg, cfgErr, rendered)
	if err != nil {
		return nil, err
	}
	t.Profile, t.Namespace, t.Release = opts.Chart.Profile, opts.Chart.Namespace, rendered.ReleaseName()
	t.Offline, t.PostgresURL = opts.Offline, opts.Postgres

	runner := &preflight.Runner{Checks: preflight.Checks(), Ignore: map[string]bool{}}
	for _, id := range opts.Ignore {
		runner.Ignore[id] = true
	}
	var live *preflight.Live
	if liveView(opts) {
		live = preflight.NewLive(opts.IO.ErrOut, opts.IO.In, opts.IO.ColorEnabled(), runner.Checks)
		runner.Observer = live
	}
	rep, err := runner.Run(ctx, t)
	if live != nil {
		live.Wait()
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// liveView: a live list when a person watches (stdout and stderr on a terminal, table output).
func liveView(opts *Options) bool {
	return opts.Output == output.Table && opts.IO.IsStdoutTTY() && opts.IO.IsStderrTTY()
}
