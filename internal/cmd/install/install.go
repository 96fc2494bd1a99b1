// Package install implements `resimatectl install`.
package install

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
)

// Options are the inputs of install.
type Options struct {
	IO      *iostreams.IOStreams
	Env     *install.Env
	Install install.Options
	Output  string
}

// NewCmdInstall returns `resimatectl install`; runF replaces the run function in tests.
func NewCmdInstall(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "install --profile <profile> [-f values.yaml]... [--set key=value]...",
		Short: "Install the platform, or bring an existing install up to date",
		Long: `Take a namespace from empty to a Ready Resimate platform: preflight, the upstream platform
charts the values need, the platform's secrets (generated once, never printed), then the
Resimate release, waiting until every component is Ready. Running it again changes nothing
when nothing changed. When a component does not become Ready in time the release goes back to
its previous revision (or is removed on a first install). One install, upgrade, rollback or
uninstall runs at a time per namespace. Ctrl-C stops the wait and undoes the revision the same
way (exit status 130).`,
		Example: `  resimatectl install --profile azure -f site.yaml -n resimate
  RESIMATE_POSTGRES_URL=postgres://admin:...@db.example.org/postgres resimatectl install --profile aws -f site.yaml
  resimatectl install --profile onprem --charts-dir ./charts-mirror --timeout 20m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := shared.CompleteInstall(f, &opts.Install, opts.Output)
			if err != nil {
				return err
			}
			opts.Env = env
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runInstall(cmd.Context(), opts)
		},
	}
	shared.AddInstallFlags(cmd, &opts.Install, &opts.Output)
	return cmd
}

func runInstall(ctx context.Context, opts *Options) error {
	res, err := install.Install(ctx, opts.Env, opts.Install)
	if err != nil {
		return shared.AsUsage(err)
	}
	return shared.PrintInstallResult(opts.IO, opts.Output, res)
}
