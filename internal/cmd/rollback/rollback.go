// Package rollback implements `resimatectl rollback`.
package rollback

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/ui"
)

// Options are the inputs of rollback.
type Options struct {
	IO          *iostreams.IOStreams
	Env         *install.Env
	Namespace   string
	Release     string
	Revision    int // 0: the previous one
	Timeout     time.Duration
	ForceUnlock bool
}

// NewCmdRollback returns `resimatectl rollback [revision]`; runF replaces the run function in
// tests.
func NewCmdRollback(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "rollback [revision]",
		Short: "Return the platform to an earlier revision (default: the previous one)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return cmdutil.FlagErrorf("revision must be a positive number, not %q", args[0])
				}
				opts.Revision = n
			}
			ns, err := shared.CompleteRelease(f, opts.Release)
			if err != nil {
				return err
			}
			opts.Namespace, opts.Env = ns, shared.InstallEnv(f, ui.InstallEvents(f.IOStreams.ErrOut, output.Table))
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRollback(cmd.Context(), opts)
		},
	}
	shared.AddReleaseFlag(cmd, &opts.Release)
	cmdutil.PositiveDurationVar(cmd, &opts.Timeout, "timeout", 10*time.Minute, "How long to wait for every component to become Ready")
	cmd.Flags().BoolVar(&opts.ForceUnlock, "force-unlock", false, "Break the namespace's install lock even if it looks alive")
	cmdutil.MarkCommandLineOnly(cmd, "force-unlock")
	return cmd
}

func runRollback(ctx context.Context, opts *Options) error {
	now, err := install.Rollback(ctx, opts.Env, opts.Namespace, opts.Release, opts.Revision, opts.Timeout, opts.ForceUnlock)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "release %s in %s rolled back: now revision %d\n", opts.Release, opts.Namespace, now)
	return nil
}
