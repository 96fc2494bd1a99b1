// Package cmdutil holds what every command shares: the Factory that hands out streams,
// Kubernetes client configuration and the logger, exit-code errors, and flag helpers.
package cmdutil

import (
	"log/slog"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/logging"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/redact"
)

// Factory is built once by the root command and passed to every subcommand constructor.
// Fields are filled before any run function is called.
type Factory struct {
	IOStreams *iostreams.IOStreams
	// KubeFlags are kubectl's connection flags (--kubeconfig, --context, -n, --as, ...).
	KubeFlags *genericclioptions.ConfigFlags
	// Redactor masks secrets on every output path.
	Redactor *redact.Redactor
	// Logger is set by the root command's pre-run from --log-format and --log-level.
	Logger *slog.Logger
}

// NewFactory returns a Factory bound to streams, with kubectl's flags and the process redactor.
func NewFactory(streams *iostreams.IOStreams) *Factory {
	return &Factory{
		IOStreams: streams,
		KubeFlags: genericclioptions.NewConfigFlags(true),
		Redactor:  redact.Default,
		Logger:    logging.Discard(),
	}
}

// Namespace returns the namespace chosen by -n, the kubeconfig context, or def.
func (f *Factory) Namespace(def string) string {
	if f.KubeFlags.Namespace != nil && *f.KubeFlags.Namespace != "" {
		return *f.KubeFlags.Namespace
	}
	if ns, explicit, err := f.KubeFlags.ToRawKubeConfigLoader().Namespace(); err == nil && explicit {
		return ns
	}
	return def
}

// AddOutputFlag adds -o/--output to a command that prints data.
func AddOutputFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVarP(target, "output", "o", output.Table, "Output format: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(output.Formats, cobra.ShellCompDirectiveNoFileComp))
}
