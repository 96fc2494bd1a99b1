// Package access implements `resimatectl access`: the access review across Kubernetes RBAC,
// Kratos identities and Vault, its signed records, their history and diffs, and revocation.
package access

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/access"
	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/upstream"
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
	Vault          shared.VaultClientFlags
	NoVault        bool
	IncludeSystem  bool
	Subjects       []string
	StaleDays      int
	AdminRoles     []string
}

func addSourceFlags(cmd *cobra.Command, o *SourceOptions) {
	shared.AddReleaseFlag(cmd, &o.Release)
	shared.AddVaultClientFlags(cmd, &o.Vault, "may read auth roles and policies")
	fl := cmd.Flags()
	fl.StringSliceVar(&o.Namespaces, "scope-namespaces", nil, "The platform's namespaces whose Roles and RoleBindings count (default: the release's and the upstream charts')")
	fl.StringVar(&o.KratosAdminURL, "kratos-admin-url", "", "Kratos admin API; without it identities are not reviewed and the report says so")
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
	if err := o.Vault.Validate(); err != nil {
		return err
	}
	if o.NoVault && (o.Vault.Address != "" || o.Vault.TokenFile != "") {
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
		client, closeVault, err := o.Vault.Open(ctx, f, o.Namespace, o.Release,
			"no Vault token: set VAULT_TOKEN or --vault-token-file (docs/access.md#vault gives a read-only policy for reviewers)")
		if err != nil {
			p.Unread[access.SourceVault] = err.Error()
		} else {
			defer closeVault()
			p.Vault = client
		}
	}
	return access.Review(ctx, p)
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
