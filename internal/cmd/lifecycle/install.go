package lifecycle

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/render"
)

// InstallOptions are the inputs of install (and upgrade apply).
type InstallOptions struct {
	IO      *iostreams.IOStreams
	Env     *install.Env
	Install install.Options
	Output  string
}

// NewInstallCmd returns `resimatectl install`.
func NewInstallCmd(f *cmdutil.Factory, runF func(context.Context, *InstallOptions) error) *cobra.Command {
	opts := &InstallOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "install --profile <profile> [-f values.yaml]... [--set key=value]...",
		Short: "Install the platform, or bring an existing install up to date",
		Long: `Take a namespace from empty to a Ready Resimate platform: preflight, the upstream platform
charts the values need, the platform's secrets (generated once, never printed), then the
Resimate release, waiting until every component is Ready. Running it again changes nothing
when nothing changed. When a component does not become Ready in time the release goes back to
its previous revision (or is removed on a first install). One install, upgrade, rollback or
uninstall runs at a time per namespace.`,
		Example: `  resimatectl install --profile azure -f site.yaml -n resimate
  resimatectl install --profile onprem --charts-dir ./charts-mirror --timeout 20m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := prepareInstall(f, opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunInstall(cmd.Context(), opts)
		},
	}
	addInstallFlags(cmd, opts)
	return cmd
}

func addInstallFlags(cmd *cobra.Command, opts *InstallOptions) {
	cmdutil.AddChartFlags(cmd, &opts.Install.Chart)
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	fl := cmd.Flags()
	fl.StringVar(&opts.Install.Chart.ReleaseName, "release", render.DefaultRelease, "Release name")
	fl.DurationVar(&opts.Install.Timeout, "timeout", 10*time.Minute, "How long to wait for every component to become Ready")
	fl.BoolVar(&opts.Install.DryRun, "dry-run", false, "Render and check, and say what would change, without changing anything")
	fl.BoolVar(&opts.Install.SkipPreflight, "skip-preflight", false, "Do not run the preflight checks first")
	fl.StringSliceVar(&opts.Install.Ignore, "ignore-checks", nil, "Preflight checks whose failures become warnings")
	fl.BoolVar(&opts.Install.Offline, "offline", false, "Preflight: skip the checks that reach the internet")
	fl.StringVar(&opts.Install.PostgresURL, "postgres-url", "", "Admin URL of the external PostgreSQL (also RESIMATE_POSTGRES_URL)")
	fl.StringVar(&opts.Install.ChartsDir, "charts-dir", "", "Folder with the upstream charts as <chart>-<version>.tgz (air-gapped sites)")
	fl.BoolVar(&opts.Install.SkipUpstream, "skip-upstream", false, "Do not install the upstream platform charts (they are managed elsewhere)")
	fl.BoolVar(&opts.Install.ForceUnlock, "force-unlock", false, "Break the namespace's install lock even if it looks alive")
	fl.DurationVar(&opts.Install.LockTTL, "lock-ttl", 30*time.Second, "How long a lock outlives its holder's last renewal")
	_ = fl.MarkHidden("lock-ttl")
}

func prepareInstall(f *cmdutil.Factory, opts *InstallOptions) error {
	if err := cmdutil.ValidateProfile(opts.Install.Chart.Profile); err != nil {
		return err
	}
	if err := output.Validate(opts.Output); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	if opts.Install.Timeout <= 0 {
		return cmdutil.FlagErrorf("--timeout must be positive")
	}
	opts.Install.Chart.Namespace = f.Namespace(render.DefaultNamespace)
	if opts.Install.PostgresURL != "" {
		f.Redactor.RegisterURLPassword(opts.Install.PostgresURL)
	}
	opts.Env = newEnv(f, progressPrinter(progressWriter(opts.IO, opts.Output), opts.Output))
	return nil
}

// progressWriter: JSON events go to stdout (they are the output); readable lines to stderr.
func progressWriter(io *iostreams.IOStreams, format string) io.Writer {
	if format == output.JSON {
		return io.Out
	}
	return io.ErrOut
}

// RunInstall installs and prints the result.
func RunInstall(ctx context.Context, opts *InstallOptions) error {
	res, err := install.Install(ctx, opts.Env, opts.Install)
	if err != nil {
		return asUsage(err)
	}
	return printResult(opts.IO, opts.Output, res)
}

func printResult(s *iostreams.IOStreams, format string, res *install.Result) error {
	if format == output.JSON {
		return output.Print(s.Out, output.JSON, map[string]any{"type": "result", "result": res}, nil)
	}
	return output.Print(s.Out, format, res, func(w io.Writer) error {
		switch res.Action {
		case "up-to-date":
			fmt.Fprintf(s.Out, "release %s in %s is already up to date (revision %d): nothing changed\n", res.Release, res.Namespace, res.Revision)
		case "dry-run":
			for _, n := range res.Notes {
				fmt.Fprintf(s.Out, "dry run: %s\n", n)
			}
			return nil
		default:
			fmt.Fprintf(s.Out, "release %s %s in %s: revision %d, every component Ready\n", res.Release, res.Action, res.Namespace, res.Revision)
		}
		fmt.Fprintln(s.Out)
		return printComponents(w, res.Components)
	})
}
