// Package images implements `resimatectl images`: every container image an install would run.
package images

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/images"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/upstream"
)

// Options are the inputs of the images command.
type Options struct {
	IO           *iostreams.IOStreams
	Chart        render.Options
	Upstream     upstream.Source
	SkipUpstream bool
	Output       string
}

// NewCmdImages returns the images command; runF replaces the run function in tests.
func NewCmdImages(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "images --profile <profile> [-f values.yaml]... [--set key=value]...",
		Short: "List every container image install would run, for mirroring",
		Long: `List every container image an install with these values would run: the Resimate chart's,
the upstream charts' it brings (rendered from their archives, which are checked as install
checks them), and those their operators start that no manifest names. Offline except for
fetching the upstream charts when no --charts-dir is given.

With global.imageRegistry set, every image is listed as it would be pulled from that mirror:
copy each original there under the same path, then install with the same values.`,
		Example: `  resimatectl images --profile onprem --charts-dir ./charts-mirror
  resimatectl images --profile onprem -f site.yaml --set global.imageRegistry=registry.corp:5000 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := shared.CompleteChart(f, &opts.Chart); err != nil {
				return err
			}
			if err := shared.CompleteUpstream(&opts.Upstream); err != nil {
				return err
			}
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runImages(cmd.Context(), opts)
		},
	}
	shared.AddChartFlags(cmd, &opts.Chart)
	shared.AddUpstreamFlags(cmd, &opts.Upstream)
	cmd.Flags().BoolVar(&opts.SkipUpstream, "skip-upstream", false, "Only the Resimate chart's images (the upstream charts are managed elsewhere)")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

func runImages(ctx context.Context, opts *Options) error {
	rendered, err := render.Render(ctx, opts.Chart)
	if err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	needed, err := upstream.Needed(rendered.Effective)
	if err != nil {
		return err
	}
	if opts.SkipUpstream {
		needed = nil
	}
	loaded, err := upstream.LoadAll(needed, opts.Upstream)
	if err != nil {
		return err
	}
	list, err := images.ForInstall(ctx, rendered, needed, loaded)
	if err != nil {
		return err
	}
	return output.Print(opts.IO.Out, opts.Output, list, func(w io.Writer) error {
		fmt.Fprintln(w, "IMAGE\tFROM")
		for _, i := range list {
			fmt.Fprintf(w, "%s\t%s\n", i.Image, strings.Join(i.From, ","))
		}
		return nil
	})
}
