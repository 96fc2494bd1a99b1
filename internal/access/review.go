package access

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	kratos "github.com/ory/kratos-client-go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/resimate/resimatectl/internal/vault"
)

// Params are the sources and settings of one review. A nil source is not read, and the
// report says why (its Reason).
type Params struct {
	Kube kubernetes.Interface
	// Namespace and Release are the installed platform's.
	Namespace, Release string
	// Namespaces are the platform's namespaces whose Roles and RoleBindings count.
	Namespaces []string
	Kratos     *kratos.APIClient
	Vault      *api.Client
	// Unread says why a nil source was not read, by source.
	Unread        map[string]string
	IncludeSystem bool
	Subjects      []string
	StaleDays     int
	AdminRoles    []string
	Now           time.Time
	// Progress, when set, hears which source is being read.
	Progress func(string)
}

// Review reads every source it was given and applies the rules. Only a setting it cannot use
// is an error; a source that fails is a gap in the report.
func Review(ctx context.Context, p Params) (*Report, error) {
	sel, err := newSelection(p.IncludeSystem, p.Subjects)
	if err != nil {
		return nil, err
	}
	if p.StaleDays <= 0 {
		return nil, errors.New("--stale-days must be at least 1")
	}
	r := &Report{APIVersion: APIVersion, Generated: p.Now.UTC().Truncate(time.Second),
		Scope: Scope{Namespaces: p.Namespaces, Excluded: sel.exclusions(), Subjects: p.Subjects, StaleDays: p.StaleDays}}
	f := &facts{now: p.Now, staleDays: p.StaleDays, adminRoles: p.AdminRoles}
	for _, src := range []string{SourceKubernetes, SourceKratos, SourceVault} {
		if why := p.Unread[src]; why != "" {
			r.Gaps = append(r.Gaps, Gap{Source: src, What: "everything", Reason: why})
		}
	}
	progress := func(m string) {
		if p.Progress != nil {
			p.Progress(m)
		}
	}
	if p.Kube != nil {
		progress("Reading Kubernetes RBAC…")
		kf := readKube(ctx, p.Kube, p.Namespaces, p.Release)
		r.Gaps = append(r.Gaps, kf.gaps...)
		r.Kubernetes = &KubeSection{Subjects: kf.subjects(p.Release, sel)}
		for _, t := range kf.tokens {
			if sel.keepToken(t) {
				r.Kubernetes.LegacyTokens = append(r.Kubernetes.LegacyTokens, t)
			}
		}
		f.kube, f.platformAccounts = r.Kubernetes, kf.platformAccounts
	}
	if p.Kratos != nil {
		progress("Reading Kratos identities and sessions…")
		if r.Identities, err = readKratos(ctx, p.Kratos, sel); err != nil {
			r.Gaps = append(r.Gaps, Gap{Source: SourceKratos, What: "identities and sessions", Reason: err.Error()})
		}
		f.identities = r.Identities
	}
	if p.Vault != nil {
		progress("Reading Vault's auth methods and policies…")
		if p.Kube != nil {
			if f.layout, err = readLayout(ctx, p.Kube, p.Namespace, p.Release); err != nil {
				r.Gaps = append(r.Gaps, Gap{Source: SourceVault, What: "the chart's layout", Reason: err.Error()})
			}
		}
		var gaps []Gap
		r.Vault, gaps, err = readVault(ctx, p.Vault, f.layout)
		if err != nil {
			gaps = append(gaps, Gap{Source: SourceVault, What: "auth methods and policies", Reason: err.Error()})
		}
		r.Gaps = append(r.Gaps, gaps...)
		f.vault = r.Vault
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.Findings = findings(f)
	slices.SortStableFunc(r.Gaps, func(a, b Gap) int { return strings.Compare(a.Source, b.Source) })
	return r, nil
}

// readLayout reads the chart's Vault layout; nil without a bundled or external Vault layout.
func readLayout(ctx context.Context, c kubernetes.Interface, ns, release string) (*vault.Layout, error) {
	cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, release+"-vault-layout", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return vault.ParseLayout(cm.Data["layout.json"])
}
