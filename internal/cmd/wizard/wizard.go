// Package wizard implements `resimatectl wizard`: the interactive installer for on-prem
// administrators, over the same values, preflight and install as the other commands.
package wizard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/files"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/preflight"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/ui"
	"github.com/resimate/resimatectl/internal/upstream"
	"github.com/resimate/resimatectl/internal/wizard"
)

// Options are the inputs of the wizard.
type Options struct {
	IO         *iostreams.IOStreams
	Factory    *cmdutil.Factory
	Draft      string
	ValuesFile string
	ConfigOnly bool
	Accessible bool
	// Preflight, Upstream, Timeout and KeysFile are install's, for the install that ends the wizard.
	Preflight preflight.Params
	Upstream  upstream.Source
	Timeout   time.Duration
	KeysFile  string
}

// NewCmdWizard returns `resimatectl wizard`; runF replaces the run function in tests.
func NewCmdWizard(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "wizard",
		Short: "Install interactively: the cluster, the choices, preflight, a values file, then install",
		Long: `Walk through an installation in the terminal: choose the cluster from your kubeconfig, the
profile, domain and TLS, the storage and ingress classes the cluster has, PostgreSQL, Vault,
e-mail, monitoring and logging. Connection tests and the preflight checks run in place. The
review shows the values file, saved where you say; 'install -f' with it gives exactly what the
wizard installs. Then it installs, until every component is Ready.

Answers are kept in a draft file as they are given: a wizard left with Ctrl-C resumes where it
stopped. --config-only stops after saving the values file. Without a terminal the wizard does
not start: use 'resimatectl install -f values.yaml'. --accessible asks plain questions, one per
line, for screen readers.`,
		Example: `  resimatectl wizard
  resimatectl wizard --config-only --values-file site.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("the wizard needs a terminal: without one, write a values file and run 'resimatectl install --profile onprem -f values.yaml'")
			}
			if err := preflight.ValidateIgnore(opts.Preflight.Ignore); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if err := shared.CompleteUpstream(&opts.Upstream); err != nil {
				return err
			}
			if opts.Draft == "" {
				opts.Draft = wizard.DefaultDraft()
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWizard(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Draft, "draft", "", "File the answers are kept in as they are given (default $XDG_CONFIG_HOME/resimatectl/wizard-draft.json)")
	fl.StringVar(&opts.ValuesFile, "values-file", "resimate-values.yaml", "Where the review saves the values file (the review asks too)")
	fl.BoolVar(&opts.ConfigOnly, "config-only", false, "Stop after saving the values file: install nothing")
	fl.BoolVar(&opts.Accessible, "accessible", false, "Plain prompts, one per line, for screen readers")
	fl.StringSliceVar(&opts.Preflight.Ignore, "ignore-checks", nil, "Check ids whose failures become warnings")
	fl.BoolVar(&opts.Preflight.Offline, "offline", false, "Skip the checks that reach the internet (image registries)")
	fl.BoolVar(&opts.Preflight.SkipUpstream, "skip-upstream", false, "Do not install the upstream platform charts (they are managed elsewhere)")
	shared.AddUpstreamFlags(cmd, &opts.Upstream)
	cmdutil.PositiveDurationVar(cmd, &opts.Timeout, "timeout", 10*time.Minute, "How long the install waits for every component to become Ready")
	fl.StringVar(&opts.KeysFile, "vault-keys-file", "", "File the encrypted Vault keys are written to (default <namespace>-<release>-vault-keys.age)")
	return cmd
}

func runWizard(ctx context.Context, opts *Options) error {
	f := opts.Factory
	draft := wizard.Draft{Path: opts.Draft}
	answers, resumed, err := draft.Load()
	if err != nil {
		return err
	}
	if resumed {
		fmt.Fprintf(opts.IO.ErrOut, "Resuming from %s.\n", opts.Draft)
	}
	contexts, err := kubeContexts(f)
	if err != nil {
		return err
	}
	w := &ui.Wizard{IO: opts.IO, Answers: answers, Accessible: opts.Accessible, ValuesFile: opts.ValuesFile,
		Hooks: ui.WizardHooks{
			Contexts:   contexts,
			UseContext: func(ctx context.Context, name string) (*wizard.Cluster, error) { return useContext(ctx, f, name) },
			Check: func(ctx context.Context, a *wizard.Answers, only ...string) (*preflight.Report, error) {
				return check(ctx, opts, a, only)
			},
			Save:        draft.Save,
			WriteValues: writeValues,
		}}
	if err := w.Run(ctx); err != nil {
		if errors.Is(err, ui.ErrWizardAborted) {
			fmt.Fprintln(opts.IO.ErrOut, err)
			return &cmdutil.SilentError{Code: 130}
		}
		return err
	}
	values := w.ValuesFile
	if opts.ConfigOnly {
		fmt.Fprintf(opts.IO.Out, "Wrote %s. Install with:\n  %s\n", values, answers.InstallCommand(values))
		return draft.Remove()
	}
	res, err := install.Install(ctx, shared.InstallEnv(f, ui.InstallEvents(opts.IO.ErrOut, "")), installOptions(opts, answers, values))
	if err != nil {
		return shared.AsUsage(err)
	}
	if err := shared.PrintInstallResult(opts.IO, "", res); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "\nNext:\n  https://%s\n  resimatectl status -n %s\n  resimatectl access review -n %s\n  The same install again: %s\n",
		answers.Domain, answers.Namespace, answers.Namespace, answers.InstallCommand(values))
	return draft.Remove()
}

// installOptions are install's for the answers: what `install -f values` with the printed
// flags would use.
func installOptions(opts *Options, a *wizard.Answers, values string) install.Options {
	o := install.Options{Chart: render.Options{Profile: a.Profile, Namespace: a.Namespace, ValueFiles: []string{values}},
		Preflight: opts.Preflight, Timeout: opts.Timeout, Upstream: opts.Upstream, LockTTL: 30 * time.Second}
	o.Preflight.Profile, o.Preflight.Namespace, o.Preflight.PostgresURL = a.Profile, a.Namespace, a.PostgresAdminURL
	shares, threshold := a.Shares()
	o.Vault = install.VaultOptions{Manual: a.Vault == wizard.VaultOperators, KeyShares: shares, Threshold: threshold,
		Recipients: a.RecipientList(), KeysFile: opts.KeysFile}
	if o.Vault.KeysFile == "" {
		o.Vault.KeysFile = install.DefaultKeysFile(a.Namespace, render.DefaultRelease)
	}
	return o
}

// kubeContexts lists the kubeconfig's contexts, the current one first.
func kubeContexts(f *cmdutil.Factory) ([]string, error) {
	raw, err := f.KubeFlags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	var names []string
	for name := range raw.Contexts {
		if name != raw.CurrentContext {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if _, ok := raw.Contexts[raw.CurrentContext]; ok {
		names = append([]string{raw.CurrentContext}, names...)
	}
	if len(names) == 0 {
		return nil, errors.New("the kubeconfig has no context: the wizard installs into a cluster you can reach with kubectl")
	}
	return names, nil
}

// useContext points the Factory's clients at the chosen context and reads the cluster.
func useContext(ctx context.Context, f *cmdutil.Factory, name string) (*wizard.Cluster, error) {
	f.KubeFlags.Context = &name
	f.Kube = kube.NewClients(f.KubeFlags)
	set, err := f.Kube.Get()
	if err != nil {
		return nil, err
	}
	return wizard.ReadCluster(ctx, set.Kube)
}

// check renders the chart with the answers' values file, as install -f would, and runs the
// preflight checks on it.
func check(ctx context.Context, opts *Options, a *wizard.Answers, only []string) (*preflight.Report, error) {
	dir, err := os.MkdirTemp("", "resimatectl-wizard")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	values := filepath.Join(dir, "values.yaml")
	if err := writeValues(a, values); err != nil {
		return nil, err
	}
	rendered, err := render.Render(ctx, render.Options{Profile: a.Profile, Namespace: a.Namespace, ValueFiles: []string{values}})
	if err != nil {
		return nil, err
	}
	p := opts.Preflight
	p.Profile, p.Namespace, p.Only = a.Profile, a.Namespace, only
	if a.PostgresAdminURL != "" {
		opts.Factory.Redactor.RegisterURLPassword(a.PostgresAdminURL)
		p.PostgresURL = a.PostgresAdminURL
	}
	cfg, cfgErr := opts.Factory.Kube.Config()
	return preflight.Evaluate(ctx, cfg, cfgErr, rendered, p, nil)
}

// writeValues writes the answers' values file, replacing it atomically.
func writeValues(a *wizard.Answers, path string) error {
	data, err := a.ValuesYAML(path)
	if err != nil {
		return err
	}
	return files.Replace(path, data, 0o644)
}
