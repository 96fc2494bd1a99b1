package firestore

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	fs "github.com/resimate/resimatectl/internal/migrate/firestore"
	"github.com/resimate/resimatectl/internal/output"
)

// newCmdVerify returns `migrate firebase firestore verify`; runF replaces the run function in
// tests.
func newCmdVerify(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare counts and canonical checksums of every document, source against PostgreSQL",
		Long: `Per collection group: document counts and a checksum of every document's canonical form, source
against PostgreSQL (documents rebuilt from their typed columns and data), then every differing,
missing, extra or rejected document. Exit status 1 when anything differs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVerify(cmd.Context(), opts)
		},
	}
	addFirestoreFlags(cmd, opts)
	return cmd
}

// runVerify compares the source with PostgreSQL; any difference gives exit 1.
func runVerify(ctx context.Context, o *Options) error {
	if err := output.Validate(o.Output); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	plan, err := o.plan()
	if err != nil {
		return err
	}
	src, _, err := o.source(ctx)
	if err != nil {
		return err
	}
	pool, err := o.database(ctx)
	if err != nil {
		return err
	}
	defer o.Factory.ClosePools()
	rep, err := fs.Verify(ctx, pool, plan, src)
	if err != nil {
		return err
	}
	err = output.Print(o.IO.Out, o.Output, rep, func(w io.Writer) error {
		fmt.Fprintln(w, "COLLECTION\tSOURCE\tPOSTGRES\tMATCH")
		for _, g := range rep.Groups {
			fmt.Fprintf(w, "%s\t%d\t%d\t%v\n", g.CollectionID, g.SourceCount, g.TargetCount, g.Match)
		}
		for _, d := range rep.Differences {
			fmt.Fprintf(w, "%s\t%s\n", d.Path, d.Problem)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(rep.Differences) > 0 {
		return cmdutil.ErrSilent
	}
	return nil
}
