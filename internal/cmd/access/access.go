// Package access implements `resimatectl access`: the access review across Kubernetes RBAC,
// Kratos identities and Vault, its signed records, their history and diffs, and revocation.
package access

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/access"
	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/upstream"
	"github.com/resimate/resimatectl/internal/vault"
)

// NewCmdAccess returns `resimatectl access`.
func NewCmdAccess(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Review who can reach the platform and its data, keep the evidence, revoke",
		Long: `Review access to the platform in one report: Kubernetes RBAC on the platform's namespaces and
the cluster, the application's Kratos identities, and Vault's auth roles and policies; record
signed reviews in the platform's PostgreSQL; compare with the last review; revoke. The rules are
documented in docs/access.md.`,
	}
	cmd.AddCommand(NewCmdReview(f, nil), NewCmdHistory(f, nil), NewCmdDiff(f, nil), NewCmdRevoke(f, nil))
	return cmd
}

// SourceOptions say where the facts come from and how to judge them; review and diff share them.
type SourceOptions struct {
	Release        string
	Namespace      string
	Namespaces     []string
	KratosAdminURL string
	VaultAddress   string
	VaultCACert    string
	VaultTokenFile string
	NoVault        bool
	IncludeSystem  bool
	Subjects       []string
	StaleDays      int
	AdminRoles     []string
}

func addSourceFlags(cmd *cobra.Command, o *SourceOptions) {
	shared.AddReleaseFlag(cmd, &o.Release)
	fl := cmd.Flags()
	fl.StringSliceVar(&o.Namespaces, "scope-namespaces", nil, "The platform's namespaces whose Roles and RoleBindings count (default: the release's and the upstream charts')")
	fl.StringVar(&o.KratosAdminURL, "kratos-admin-url", "", "Kratos admin API; without it identities are not reviewed and the report says so")
	fl.StringVar(&o.VaultAddress, "vault-address", "", "An external Vault's address (default: the release's bundled Vault, through a port-forward)")
	fl.StringVar(&o.VaultCACert, "vault-ca-cert", "", "PEM file of the CA that signed the external Vault's certificate")
	fl.StringVar(&o.VaultTokenFile, "vault-token-file", "", "File holding a Vault token that may read auth roles and policies (default: $VAULT_TOKEN)")
	fl.BoolVar(&o.NoVault, "no-vault", false, "Do not review Vault")
	fl.BoolVar(&o.IncludeSystem, "include-system", false, "Also review system:* users and groups and kube-system's ServiceAccounts (excluded by default)")
	fl.StringArrayVar(&o.Subjects, "subject", nil, "Only subjects whose name (or identity identifier) matches this glob, e.g. 'ci-*' (repeatable)")
	fl.IntVar(&o.StaleDays, "stale-days", 90, "Days without a sign-in or token use after which an identity or legacy token is stale")
	fl.StringSliceVar(&o.AdminRoles, "admin-roles", []string{"admin", "owner"}, "Identity roles that make an administrator")
}

func (o *SourceOptions) complete(f *cmdutil.Factory) error {
	ns, err := shared.CompleteRelease(f, o.Release)
	if err != nil {
		return err
	}
	o.Namespace = ns
	if o.StaleDays < 1 {
		return cmdutil.FlagErrorf("--stale-days must be at least 1, not %d", o.StaleDays)
	}
	if o.VaultCACert != "" && o.VaultAddress == "" {
		return cmdutil.FlagErrorf("--vault-ca-cert needs --vault-address: the bundled Vault's CA is read from the cluster")
	}
	if o.NoVault && (o.VaultAddress != "" || o.VaultTokenFile != "") {
		return cmdutil.FlagErrorf("--no-vault cannot be combined with --vault-address or --vault-token-file")
	}
	if len(o.Namespaces) == 0 {
		o.Namespaces = defaultNamespaces(ns)
	}
	return nil
}

// defaultNamespaces are the release's namespace and those its upstream charts install into.
func defaultNamespaces(ns string) []string {
	out := []string{ns, "knative-serving"}
	if charts, err := upstream.Pinned(); err == nil {
		for _, c := range charts {
			out = append(out, c.Namespace)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// review gathers the facts from every source that can be opened and applies the rules.
func (o *SourceOptions) review(ctx context.Context, f *cmdutil.Factory) (*access.Report, error) {
	p := access.Params{Namespace: o.Namespace, Release: o.Release, Namespaces: o.Namespaces, Unread: map[string]string{},
		IncludeSystem: o.IncludeSystem, Subjects: o.Subjects, StaleDays: o.StaleDays, AdminRoles: o.AdminRoles, Now: time.Now()}
	if f.IOStreams.IsStderrTTY() {
		p.Progress = func(m string) { fmt.Fprintln(f.IOStreams.ErrOut, m) }
	}
	set, err := f.Kube.Get()
	if err != nil {
		p.Unread[access.SourceKubernetes] = err.Error()
	} else {
		p.Kube = set.Kube
	}
	if o.KratosAdminURL != "" {
		f.Redactor.RegisterURLPassword(o.KratosAdminURL)
		p.Kratos = f.KratosAdmin(o.KratosAdminURL)
	} else {
		p.Unread[access.SourceKratos] = "no --kratos-admin-url (or RESIMATE_KRATOS_ADMIN_URL) given"
	}
	if !o.NoVault {
		client, closeVault, why := o.openVault(ctx, f)
		if client == nil {
			p.Unread[access.SourceVault] = why
		} else {
			defer closeVault()
			p.Vault = client
		}
	}
	return access.Review(ctx, p)
}

// openVault returns a client with the reviewer's token, or why there is none.
func (o *SourceOptions) openVault(ctx context.Context, f *cmdutil.Factory) (*api.Client, func(), string) {
	token := strings.TrimSpace(os.Getenv("VAULT_TOKEN"))
	if o.VaultTokenFile != "" {
		b, err := os.ReadFile(o.VaultTokenFile)
		if err != nil {
			return nil, nil, "--vault-token-file: " + err.Error()
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return nil, nil, "no Vault token: set VAULT_TOKEN or --vault-token-file (docs/access.md#vault gives a read-only policy for reviewers)"
	}
	f.Redactor.Register(token)
	if o.VaultAddress != "" {
		cfg := api.DefaultConfig()
		cfg.Address = o.VaultAddress
		cfg.MaxRetries = 0
		if o.VaultCACert != "" {
			if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: o.VaultCACert}); err != nil {
				return nil, nil, "--vault-ca-cert: " + err.Error()
			}
		}
		c, err := api.NewClient(cfg)
		if err != nil {
			return nil, nil, err.Error()
		}
		c.SetToken(token)
		c.ClearNamespace()
		return c, func() {}, ""
	}
	set, err := f.Kube.Get()
	if err != nil {
		return nil, nil, err.Error()
	}
	t, err := vault.Of(ctx, set, o.Namespace, o.Release)
	if err != nil {
		return nil, nil, fmt.Sprintf("%v, and no --vault-address given", err)
	}
	conn, err := t.Open(ctx, 0)
	if err != nil {
		return nil, nil, "the bundled Vault: " + err.Error()
	}
	conn.Client.SetToken(token)
	return conn.Client, conn.Close, ""
}

// StoreOptions say where reviews and audit entries are kept.
type StoreOptions struct {
	DatabaseURL string
}

func addStoreFlag(cmd *cobra.Command, o *StoreOptions, usage string) {
	cmd.Flags().StringVar(&o.DatabaseURL, "database-url", "", usage+" (also RESIMATE_DATABASE_URL)")
	cmdutil.MarkSecret(cmd, "database-url")
}

func (o *StoreOptions) open(ctx context.Context, f *cmdutil.Factory) (*access.Store, error) {
	if o.DatabaseURL == "" {
		return nil, cmdutil.FlagErrorf("--database-url (or RESIMATE_DATABASE_URL) is required: reviews and revocations are kept in the platform's PostgreSQL")
	}
	pool, err := f.Postgres(ctx, o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	s := &access.Store{Pool: pool}
	return s, s.Init(ctx)
}
