package shared

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/ui"
	"github.com/resimate/resimatectl/internal/upstream"
)

// AddInstallFlags adds the flags of install, upgrade plan and upgrade apply.
func AddInstallFlags(cmd *cobra.Command, o *install.Options, format *string) {
	AddChartFlags(cmd, &o.Chart)
	AddPreflightFlags(cmd, &o.Preflight)
	cmdutil.AddOutputFlag(cmd, format)
	fl := cmd.Flags()
	cmdutil.PositiveDurationVar(cmd, &o.Timeout, "timeout", 10*time.Minute, "How long to wait for every component to become Ready")
	fl.BoolVar(&o.DryRun, "dry-run", false, "Render and check, and say what would change, without changing anything")
	fl.BoolVar(&o.SkipPreflight, "skip-preflight", false, "Do not run the preflight checks first")
	AddUpstreamFlags(cmd, &o.Upstream)
	fl.BoolVar(&o.ForceUnlock, "force-unlock", false, "Break the namespace's install lock even if it looks alive")
	cmdutil.PositiveDurationVar(cmd, &o.LockTTL, "lock-ttl", 30*time.Second, "How long a lock outlives its holder's last renewal")
	_ = fl.MarkHidden("lock-ttl")
	cmdutil.MarkCommandLineOnly(cmd, "skip-preflight", "force-unlock")
	AddVaultFlags(cmd, &o.Vault)
}

// AddVaultFlags adds the flags of the bundled Vault's initialisation.
func AddVaultFlags(cmd *cobra.Command, o *install.VaultOptions) {
	fl := cmd.Flags()
	fl.Var(&vaultInit{&o.Manual}, "vault-init", "Who initialises the bundled Vault: auto (install: init, unseal, configure) or manual (your operators; install waits for Vault to be Ready)")
	cmdutil.PositiveIntVar(cmd, &o.KeyShares, "vault-key-shares", 5, "Number of Shamir key shares (recovery keys with an auto-unseal seal) Vault's master key is split into")
	cmdutil.PositiveIntVar(cmd, &o.Threshold, "vault-key-threshold", 3, "Number of key shares needed to unseal Vault or make a root token")
	fl.StringArrayVar(&o.Recipients, "vault-recipient", nil, "age (age1...) or SSH (ssh-ed25519/ssh-rsa) public key, or a file of them, the Vault keys are encrypted to (repeatable; needed to initialise Vault)")
	fl.StringVar(&o.KeysFile, "vault-keys-file", "", "File the encrypted Vault keys are written to on init and read from later (default <namespace>-<release>-vault-keys.age)")
	fl.StringVar(&o.Identity, "vault-identity", "", "age identity or SSH private key file that decrypts --vault-keys-file, when Vault must be unsealed or reconfigured")
	_ = cmd.RegisterFlagCompletionFunc("vault-init", cobra.FixedCompletions([]string{"auto", "manual"}, cobra.ShellCompDirectiveNoFileComp))
}

// vaultInit is --vault-init: auto or manual.
type vaultInit struct{ manual *bool }

func (v *vaultInit) String() string {
	if v.manual != nil && *v.manual {
		return "manual"
	}
	return "auto"
}
func (v *vaultInit) Type() string { return "string" }
func (v *vaultInit) Set(s string) error {
	switch s {
	case "auto", "manual":
		*v.manual = s == "manual"
		return nil
	}
	return fmt.Errorf("%q is neither auto nor manual", s)
}

// AddUpstreamFlags adds the flags that say where the upstream charts come from.
func AddUpstreamFlags(cmd *cobra.Command, src *upstream.Source) {
	cmd.Flags().StringVar(&src.Dir, "charts-dir", "", "Folder with the upstream charts as <chart>-<version>.tgz (air-gapped sites)")
	cmd.Flags().StringVar(&src.DigestsFile, "charts-digests", "", "SHA256SUMS file of the archives in --charts-dir, for a site's repackaged charts (default: the published digests pinned in the tool)")
}

// CompleteUpstream reads --charts-digests, which needs --charts-dir.
func CompleteUpstream(src *upstream.Source) error {
	if src.DigestsFile == "" {
		return nil
	}
	if src.Dir == "" {
		return &cmdutil.FlagError{Err: fmt.Errorf("--charts-digests lists the digests of the archives in --charts-dir: give both")}
	}
	digests, err := upstream.ReadDigests(src.DigestsFile)
	if err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	src.Digests = digests
	return nil
}

// CompleteInstall checks the install flags; the events go where -o says.
func CompleteInstall(f *cmdutil.Factory, o *install.Options, format string) (*install.Env, error) {
	if err := CompleteChart(f, &o.Chart); err != nil {
		return nil, err
	}
	if err := CompletePreflight(f, &o.Preflight, o.Chart); err != nil {
		return nil, err
	}
	if err := output.Validate(format); err != nil {
		return nil, &cmdutil.FlagError{Err: err}
	}
	if err := CompleteUpstream(&o.Upstream); err != nil {
		return nil, err
	}
	if err := o.Vault.Complete(); err != nil {
		return nil, &cmdutil.FlagError{Err: err}
	}
	return InstallEnv(f, ui.InstallEvents(eventWriter(f.IOStreams, format), format)), nil
}

// eventWriter: JSON events go to stdout (they are the output); readable lines to stderr.
func eventWriter(s *iostreams.IOStreams, format string) io.Writer {
	if format == output.JSON {
		return s.Out
	}
	return s.ErrOut
}

// PrintInstallResult prints what install or upgrade apply did.
func PrintInstallResult(s *iostreams.IOStreams, format string, res *install.Result) error {
	if format == output.JSON {
		return output.Print(s.Out, output.JSON, map[string]any{"type": "result", "result": res}, nil)
	}
	return output.Print(s.Out, format, res, func(w io.Writer) error {
		switch res.Action {
		case "up-to-date":
			fmt.Fprintf(s.Out, "release %s in %s is already up to date (revision %d): nothing changed\n", res.Release, res.Namespace, res.Revision)
		case "dry-run":
			for _, n := range res.Notes {
				fmt.Fprintf(s.Out, "dry run: %s\n", n)
			}
			return nil
		default:
			fmt.Fprintf(s.Out, "release %s %s in %s: revision %d, every component Ready\n", res.Release, res.Action, res.Namespace, res.Revision)
		}
		fmt.Fprintln(s.Out)
		ui.ComponentTable(w, res.Components)
		return nil
	})
}

// Flush flushes w when it is output.Print's tabwriter, so that lines written to the stream
// directly come after the table.
func Flush(w io.Writer) {
	if tw, ok := w.(*tabwriter.Writer); ok {
		_ = tw.Flush()
	}
}
