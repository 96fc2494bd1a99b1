package lifecycle

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/render"
)

// StatusOptions are the inputs of status.
type StatusOptions struct {
	IO        *iostreams.IOStreams
	Env       *install.Env
	Namespace string
	Release   string
	Output    string
}

// NewStatusCmd returns `resimatectl status`.
func NewStatusCmd(f *cmdutil.Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every component's state and the overall verdict",
		Long: `Show each component of the installed platform with its version, desired and ready
replicas, kstatus state and last change. Exit status 1 when any component is not Ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			opts.Namespace = f.Namespace(render.DefaultNamespace)
			opts.Env = newEnv(f, nil)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunStatus(cmd.Context(), opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	cmd.Flags().StringVar(&opts.Release, "release", render.DefaultRelease, "Release name")
	return cmd
}

// RunStatus prints the status; a platform that is not Ready gives exit 1.
func RunStatus(ctx context.Context, opts *StatusOptions) error {
	st, err := install.Status(ctx, opts.Env, opts.Namespace, opts.Release)
	if err != nil {
		return err
	}
	err = output.Print(opts.IO.Out, opts.Output, st, func(w io.Writer) error {
		fmt.Fprintf(opts.IO.Out, "release %s in %s: revision %d (%s), profile %s, chart %s\n\n", st.Release, st.Namespace, st.Revision, st.HelmStatus, orDash(st.Profile), st.ChartVersion)
		if err := printComponents(w, st.Components); err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s\n", st.Verdict)
		return nil
	})
	if err != nil {
		return err
	}
	if !st.Ready {
		return cmdutil.ErrSilent
	}
	return nil
}
