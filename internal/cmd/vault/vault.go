// Package vault implements `resimatectl vault`: the bundled Vault's state, and unsealing it
// after its pods restart.
package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/resimate/resimatectl/internal/agekeys"
	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/ui"
	"github.com/resimate/resimatectl/internal/vault"
)

// Options are the inputs of the vault commands.
type Options struct {
	IO        *iostreams.IOStreams
	Kube      *kube.Clients
	Secret    func(...string)
	Namespace string
	Release   string
	Output    string
	// KeysFile and Identity: unseal's keys (without Identity they are asked for on the terminal).
	KeysFile string
	Identity string
}

// NewCmdVault returns `resimatectl vault`.
func NewCmdVault(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "The bundled Vault: its state, and unsealing it",
	}
	cmd.AddCommand(NewCmdStatus(f, nil), NewCmdUnseal(f, nil))
	return cmd
}

func complete(f *cmdutil.Factory, opts *Options) error {
	if err := output.Validate(opts.Output); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	ns, err := shared.CompleteRelease(f, opts.Release)
	if err != nil {
		return err
	}
	opts.Namespace, opts.Kube, opts.Secret = ns, f.Kube, f.Redactor.Register
	return nil
}

// NewCmdStatus returns `resimatectl vault status`; runF replaces the run function in tests.
func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each Vault pod: initialised, sealed, Raft role and version",
		Long: `Ask each pod of the bundled Vault, through a port-forward and its TLS certificate, whether it
is initialised and sealed, its Raft role and its version. Exit status 1 when any pod is not
Ready (unreachable, uninitialised, sealed, or not in the cluster).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := complete(f, opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runStatus(cmd.Context(), opts)
		},
	}
	shared.AddReleaseFlag(cmd, &opts.Release)
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

func target(ctx context.Context, opts *Options) (vault.Target, error) {
	c, err := opts.Kube.Get()
	if err != nil {
		return vault.Target{}, err
	}
	return vault.Of(ctx, c, opts.Namespace, opts.Release)
}

func runStatus(ctx context.Context, opts *Options) error {
	t, err := target(ctx, opts)
	if err != nil {
		return err
	}
	return printPods(opts, t.Statuses(ctx))
}

// printPods prints the pods' states; any pod not Ready gives exit 1.
func printPods(opts *Options, pods []vault.PodStatus) error {
	err := output.Print(opts.IO.Out, opts.Output, pods, func(w io.Writer) error {
		ui.VaultTable(w, pods)
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range pods {
		if !p.Ready() {
			return cmdutil.ErrSilent
		}
	}
	return nil
}

// NewCmdUnseal returns `resimatectl vault unseal`; runF replaces the run function in tests.
func NewCmdUnseal(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "unseal",
		Short: "Unseal the Vault pods that are sealed (after a restart)",
		Long: `Unseal every sealed pod of the bundled Vault. The keys come from the key file install wrote,
decrypted with --vault-identity, or, without it, from key shares typed at the terminal (not
echoed). Keys are never printed or logged. Prints each pod's state after; exit status 1 when
any pod is still not Ready.`,
		Example: `  resimatectl vault unseal --vault-identity ~/.config/age/keys.txt
  resimatectl vault unseal --vault-keys-file resimate-resimate-vault-keys.age --vault-identity ~/.ssh/id_ed25519
  resimatectl vault unseal      # asks for the key shares`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := complete(f, opts); err != nil {
				return err
			}
			if opts.KeysFile == "" {
				opts.KeysFile = install.DefaultKeysFile(opts.Namespace, opts.Release)
			}
			if opts.Identity == "" && !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("give --vault-identity to decrypt %s, or run on a terminal to type the key shares", opts.KeysFile)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runUnseal(cmd.Context(), opts)
		},
	}
	shared.AddReleaseFlag(cmd, &opts.Release)
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	cmd.Flags().StringVar(&opts.KeysFile, "vault-keys-file", "", "The encrypted key file install wrote (default <namespace>-<release>-vault-keys.age)")
	cmd.Flags().StringVar(&opts.Identity, "vault-identity", "", "age identity or SSH private key file that decrypts the key file")
	return cmd
}

func runUnseal(ctx context.Context, opts *Options) error {
	t, err := target(ctx, opts)
	if err != nil {
		return err
	}
	quorum, err := unsealKeys(opts)
	if err != nil {
		return err
	}
	pods, err := vault.Unseal(ctx, t, quorum, func(m string) { fmt.Fprintln(opts.IO.ErrOut, m) })
	if err != nil {
		return err
	}
	return printPods(opts, pods)
}

// unsealKeys decrypts the key file, or reads shares from the terminal until an empty line.
func unsealKeys(opts *Options) ([]string, error) {
	if opts.Identity != "" {
		ids, err := agekeys.ReadIdentities(opts.Identity)
		if err != nil {
			return nil, &cmdutil.FlagError{Err: fmt.Errorf("--vault-identity: %w", err)}
		}
		keys, err := vault.ReadKeys(opts.KeysFile, ids)
		if err != nil {
			return nil, err
		}
		opts.Secret(keys.Secrets()...)
		return keys.Quorum(), nil
	}
	in, ok := opts.IO.In.(*os.File)
	if !ok {
		return nil, errors.New("no terminal to read key shares from")
	}
	var quorum []string
	for {
		fmt.Fprintf(opts.IO.ErrOut, "Unseal key share %d (empty line when done): ", len(quorum)+1)
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(opts.IO.ErrOut)
		if err != nil {
			return nil, err
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			break
		}
		opts.Secret(k)
		quorum = append(quorum, k)
	}
	if len(quorum) == 0 {
		return nil, errors.New("no key share given: nothing was unsealed")
	}
	return quorum, nil
}
