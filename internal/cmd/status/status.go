// Package status implements `resimatectl status`.
package status

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/ui"
)

// Options are the inputs of status.
type Options struct {
	IO        *iostreams.IOStreams
	Env       *install.Env
	Namespace string
	Release   string
	Output    string
}

// NewCmdStatus returns `resimatectl status`; runF replaces the run function in tests.
func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every component's state and the overall verdict",
		Long: `Show each component of the installed platform with the version its pods run, desired and
ready replicas, kstatus state and last change. Exit status 1 when any component is not Ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			ns, err := shared.CompleteRelease(f, opts.Release)
			if err != nil {
				return err
			}
			opts.Namespace, opts.Env = ns, shared.InstallEnv(f, nil)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runStatus(cmd.Context(), opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	shared.AddReleaseFlag(cmd, &opts.Release)
	return cmd
}

// runStatus prints the status; a platform that is not Ready gives exit 1.
func runStatus(ctx context.Context, opts *Options) error {
	st, err := install.Status(ctx, opts.Env, opts.Namespace, opts.Release)
	if err != nil {
		return err
	}
	err = output.Print(opts.IO.Out, opts.Output, st, func(w io.Writer) error {
		fmt.Fprintf(opts.IO.Out, "release %s in %s: revision %d (%s), profile %s, chart %s\n\n", st.Release, st.Namespace, st.Revision, st.HelmStatus, ui.OrDash(st.Profile), st.ChartVersion)
		ui.ComponentTable(w, st.Components)
		if len(st.Vault) > 0 {
			fmt.Fprintln(w)
			ui.VaultTable(w, st.Vault)
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
