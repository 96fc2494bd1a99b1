// Package cmdutil holds what every command shares: the Factory that hands out streams, clients
// and the logger, exit-code errors, and flag helpers. It knows no domain package (render,
// install, preflight, migrate): those sit above it.
package cmdutil

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	kratos "github.com/ory/kratos-client-go"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/resimate/resimatectl/internal/helm"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/logging"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/redact"
)

// Factory is built once by the root command and passed to every subcommand constructor.
// Clients are built on first use, once per process; no command builds its own.
type Factory struct {
	IOStreams *iostreams.IOStreams
	// KubeFlags are kubectl's connection flags (--kubeconfig, --context, -n, --as, ...).
	KubeFlags *genericclioptions.ConfigFlags
	// Redactor masks secrets on every output path.
	Redactor *redact.Redactor
	// Logger is set by the root command's pre-run from --log-format and --log-level.
	Logger *slog.Logger
	// Kube hands out the Kubernetes clients (typed, dynamic, REST mapper).
	Kube *kube.Clients

	poolsMu sync.Mutex
	pools   map[string]*pgxpool.Pool
}

// NewFactory returns a Factory bound to streams, with kubectl's flags and the process redactor.
func NewFactory(streams *iostreams.IOStreams) *Factory {
	flags := genericclioptions.NewConfigFlags(true)
	return &Factory{
		IOStreams: streams,
		KubeFlags: flags,
		Redactor:  redact.Default,
		Logger:    logging.Discard(),
		Kube:      kube.NewClients(flags),
	}
}

// Namespace returns the namespace chosen by -n, the kubeconfig context, or def; a name
// Kubernetes would refuse is a usage error here, not a long API message later.
func (f *Factory) Namespace(def string) (string, error) {
	ns := def
	if f.KubeFlags.Namespace != nil && *f.KubeFlags.Namespace != "" {
		ns = *f.KubeFlags.Namespace
	} else if cur, explicit, err := f.KubeFlags.ToRawKubeConfigLoader().Namespace(); err == nil && explicit {
		ns = cur
	}
	if err := kube.ValidateNamespace(ns); err != nil {
		return "", &FlagError{Err: err}
	}
	return ns, nil
}

// Helm opens the Helm SDK on namespace ns, with the cluster of the connection flags.
func (f *Factory) Helm(ns string) (*helm.Helm, error) {
	return helm.New(f.KubeFlags, ns, f.Logger)
}

// KratosAdmin returns a client of the Kratos admin API at url.
func (f *Factory) KratosAdmin(url string) *kratos.APIClient {
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: url}}
	return kratos.NewAPIClient(cfg)
}

// Postgres returns the connection pool of a PostgreSQL URL, one per URL per process. The
// URL's password is registered with the redactor first. Close the Factory's pools with
// ClosePools when the command ends.
func (f *Factory) Postgres(ctx context.Context, url string) (*pgxpool.Pool, error) {
	f.Redactor.RegisterURLPassword(url)
	f.poolsMu.Lock()
	defer f.poolsMu.Unlock()
	if p := f.pools[url]; p != nil {
		return p, nil
	}
	p, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	if f.pools == nil {
		f.pools = map[string]*pgxpool.Pool{}
	}
	f.pools[url] = p
	return p, nil
}

// ClosePools closes every pool Postgres opened.
func (f *Factory) ClosePools() {
	f.poolsMu.Lock()
	defer f.poolsMu.Unlock()
	for url, p := range f.pools {
		p.Close()
		delete(f.pools, url)
	}
}

// AddOutputFlag adds -o/--output to a command that prints data.
func AddOutputFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVarP(target, "output", "o", output.Table, "Output format: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(output.Formats, cobra.ShellCompDirectiveNoFileComp))
}
