// Package render implements `resimatectl render`: the manifests install would apply.
package render

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/render"
)

// Options are the inputs of the render command.
type Options struct {
	IO        *iostreams.IOStreams
	Chart     render.Options
	OutputDir string
}

// NewCmdRender returns the render command; runF replaces the run function in tests.
func NewCmdRender(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "render --profile <profile> [-f values.yaml]... [--set key=value]...",
		Short: "Print the manifests that install would apply",
		Long: `Render the Resimate chart for a cloud profile and values, offline, exactly as install
would apply it: for GitOps repositories and for review. With --output-dir, each component's
objects go to their own file.`,
		Example: `  resimatectl render --profile aws --set global.domain=resimate.example.org
  resimatectl render --profile onprem -f site.yaml --output-dir manifests/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := shared.CompleteChart(f, &opts.Chart); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRender(cmd.Context(), opts)
		},
	}
	shared.AddChartFlags(cmd, &opts.Chart)
	cmd.Flags().StringVar(&opts.OutputDir, "output-dir", "", "Write one file per component into this folder instead of printing")
	cmd.Flags().StringVar(&opts.Chart.KubeVersion, "kube-version", "", "Kubernetes version the templates see (default "+render.DefaultKubeVersion+")")
	return cmd
}

// runRender renders and prints or writes the manifests. Whatever stops the rendering is in
// what the user gave (values, profile, --kube-version): a usage error, as for install.
func runRender(ctx context.Context, opts *Options) error {
	res, err := render.Render(ctx, opts.Chart)
	if err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	if opts.OutputDir == "" {
		_, err := fmt.Fprint(opts.IO.Out, res.Manifest)
		return err
	}
	return writeComponents(opts, res)
}

// writeComponents writes <component>.yaml per component, objects in render order.
func writeComponents(opts *Options, res *render.Result) error {
	if err := os.MkdirAll(opts.OutputDir, 0o755); err != nil {
		return err
	}
	files := map[string]*strings.Builder{}
	for _, o := range res.Objects {
		comp := o.Component()
		if comp == "" {
			comp = "other"
		}
		b := files[comp]
		if b == nil {
			b = &strings.Builder{}
			files[comp] = b
		}
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "---\n# Source: %s\n%s", o.Source, data)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(opts.OutputDir, n+".yaml"), []byte(files[n].String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.IO.ErrOut, "wrote %d objects of profile %s in %d files to %s\n", len(res.Objects), opts.Chart.Profile, len(names), opts.OutputDir)
	return nil
}
