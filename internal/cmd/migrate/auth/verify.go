package auth

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
	"github.com/resimate/resimatectl/internal/output"
)

// newCmdVerify returns `migrate firebase auth verify`; runF replaces the run function in tests.
func newCmdVerify(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare every migrated user with its Kratos identity",
		Long:  "Re-read the source and Kratos and compare each user's traits, state, verified address and credential types. Exit status 1 when anything differs.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVerify(cmd.Context(), opts)
		},
	}
	addAuthFlags(cmd, opts)
	return cmd
}

// runVerify compares every user with its identity; any difference gives exit 1.
func runVerify(ctx context.Context, o *Options) error {
	run, cleanup, err := o.run(ctx, true, false)
	if err != nil {
		return err
	}
	defer cleanup()
	checked, diffs, err := fa.Verify(ctx, run)
	if err != nil {
		return err
	}
	res := map[string]any{"checked": checked, "differences": diffs}
	if diffs == nil {
		res["differences"] = []fa.Difference{}
	}
	err = output.Print(o.IO.Out, o.Output, res, func(w io.Writer) error {
		for _, d := range diffs {
			fmt.Fprintf(w, "%s\t%s\t%s\tsource: %s\tkratos: %s\n", d.UID, d.Email, d.Field, d.Source, d.Kratos)
		}
		fmt.Fprintf(w, "checked %d users: %d differences\n", checked, len(diffs))
		return nil
	})
	if err != nil {
		return err
	}
	if len(diffs) > 0 {
		return cmdutil.ErrSilent
	}
	return nil
}
