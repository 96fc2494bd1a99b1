package shared

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/vault"
)

// VaultClientFlags reach a release's Vault with a token: the bundled Vault through a
// port-forward to its first pod, or an external one by its address.
type VaultClientFlags struct {
	Address   string
	CACert    string
	TokenFile string
}

// AddVaultClientFlags adds --vault-address, --vault-ca-cert and --vault-token-file; tokenUse
// says what the token must be allowed to do.
func AddVaultClientFlags(cmd *cobra.Command, v *VaultClientFlags, tokenUse string) {
	fl := cmd.Flags()
	fl.StringVar(&v.Address, "vault-address", "", "An external Vault's address (default: the release's bundled Vault, through a port-forward)")
	fl.StringVar(&v.CACert, "vault-ca-cert", "", "PEM file of the CA that signed the external Vault's certificate")
	fl.StringVar(&v.TokenFile, "vault-token-file", "", "File holding a Vault token that "+tokenUse+" (default: $VAULT_TOKEN)")
}

// Validate refuses a CA file without an address.
func (v VaultClientFlags) Validate() error {
	if v.CACert != "" && v.Address == "" {
		return cmdutil.FlagErrorf("--vault-ca-cert needs --vault-address: the bundled Vault's CA is read from the cluster")
	}
	return nil
}

// Open returns a client with the token, and what ends its port-forward. noToken is the error's
// advice when neither VAULT_TOKEN nor --vault-token-file gives a token.
func (v VaultClientFlags) Open(ctx context.Context, f *cmdutil.Factory, ns, release, noToken string) (*api.Client, func(), error) {
	token := strings.TrimSpace(os.Getenv("VAULT_TOKEN"))
	if v.TokenFile != "" {
		b, err := os.ReadFile(v.TokenFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--vault-token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return nil, nil, errors.New(noToken)
	}
	f.Redactor.Register(token)
	if v.Address != "" {
		cfg := api.DefaultConfig()
		cfg.Address = v.Address
		cfg.MaxRetries = 0
		if v.CACert != "" {
			if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: v.CACert}); err != nil {
				return nil, nil, fmt.Errorf("--vault-ca-cert: %w", err)
			}
		}
		c, err := api.NewClient(cfg)
		if err != nil {
			return nil, nil, err
		}
		c.SetToken(token)
		c.ClearNamespace()
		return c, func() {}, nil
	}
	set, err := f.Kube.Get()
	if err != nil {
		return nil, nil, err
	}
	t, err := vault.Of(ctx, set, ns, release)
	if err != nil {
		return nil, nil, fmt.Errorf("%w, and no --vault-address given", err)
	}
	conn, err := t.Open(ctx, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("the bundled Vault: %w", err)
	}
	conn.Client.SetToken(token)
	return conn.Client, conn.Close, nil
}
