package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// KubeSection is what RBAC gives each subject on the platform's namespaces and the cluster.
type KubeSection struct {
	Subjects     []KubeSubject `json:"subjects"`
	LegacyTokens []LegacyToken `json:"legacyTokens,omitempty"`
}

// KubeSubject is a user, group or ServiceAccount named by a binding.
type KubeSubject struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// Missing: a ServiceAccount bound but not in the cluster.
	Missing     bool         `json:"missing,omitempty"`
	Grants      []Grant      `json:"grants"`
	Permissions []Permission `json:"permissions,omitempty"`
}

// Grant is one binding of the subject and the role it binds.
type Grant struct {
	// Scope is "cluster" or the namespace the binding grants in.
	Scope   string `json:"scope"`
	Binding string `json:"binding"`
	Role    string `json:"role"`
	// RoleMissing: the binding names a role that does not exist.
	RoleMissing bool `json:"roleMissing,omitempty"`
	// Chart: the binding is one of the release's own.
	Chart bool `json:"chart,omitempty"`
	// Default: one of the API server's own bootstrap bindings.
	Default bool                `json:"default,omitempty"`
	rules   []rbacv1.PolicyRule `json:"-"`
}

// Permission is one capability of the catalogue the subject holds, where and through what.
type Permission struct {
	Capability string `json:"capability"`
	Scope      string `json:"scope"`
	Via        string `json:"via"`
}

// LegacyToken is a long-lived ServiceAccount token Secret.
type LegacyToken struct {
	Secret         string    `json:"secret"`
	ServiceAccount string    `json:"serviceAccount"`
	Created        time.Time `json:"created"`
	// LastUsed is the API server's kubernetes.io/legacy-token-last-used label (a day); empty
	// when never used since the label was introduced.
	LastUsed string `json:"lastUsed,omitempty"`
}

const clusterScope = "cluster"

// bootstrapLabel marks the RBAC objects the API server creates and reconciles itself.
const bootstrapLabel = "kubernetes.io/bootstrapping"

// Label the API server puts on legacy token Secrets it has seen used.
const legacyTokenLastUsed = "kubernetes.io/legacy-token-last-used"

func (s KubeSubject) displayName() string {
	if s.Namespace != "" {
		return s.Namespace + "/" + s.Name
	}
	return s.Name
}

func (s KubeSubject) summary() string {
	var caps []string
	for _, p := range s.Permissions {
		if !slices.Contains(caps, p.Capability) {
			caps = append(caps, p.Capability)
		}
	}
	if len(caps) == 0 {
		return fmt.Sprintf("%d binding(s), no reviewed capability", len(s.Grants))
	}
	return strings.Join(caps, ", ")
}

// kubeFacts is everything read from the API server.
type kubeFacts struct {
	// clusterRoles and roles are nil (cluster) or absent (a namespace) when they could not be
	// listed: a binding to them is then unknown, not dangling.
	clusterRoles map[string]*rbacv1.ClusterRole
	roles        map[string]*rbacv1.Role
	rolesRead    map[string]bool
	crbs         []rbacv1.ClusterRoleBinding
	rbs          []rbacv1.RoleBinding
	// serviceAccounts holds "ns/name" of every ServiceAccount; nil when they could not be listed.
	serviceAccounts map[string]bool
	// platformAccounts are the release's own ServiceAccounts.
	platformAccounts map[string]bool
	tokens           []LegacyToken
	gaps             []Gap
}

// readKube lists RBAC and ServiceAccounts. Each list the caller may not make becomes a gap.
func readKube(ctx context.Context, c kubernetes.Interface, namespaces []string, release string) *kubeFacts {
	f := &kubeFacts{roles: map[string]*rbacv1.Role{}, rolesRead: map[string]bool{}, platformAccounts: map[string]bool{}}
	gap := func(what string, err error) {
		f.gaps = append(f.gaps, Gap{Source: SourceKubernetes, What: what, Reason: err.Error()})
	}
	opts := metav1.ListOptions{}
	if l, err := c.RbacV1().ClusterRoles().List(ctx, opts); err != nil {
		gap("clusterroles", err)
	} else {
		f.clusterRoles = map[string]*rbacv1.ClusterRole{}
		for i := range l.Items {
			f.clusterRoles[l.Items[i].Name] = &l.Items[i]
		}
	}
	if l, err := c.RbacV1().ClusterRoleBindings().List(ctx, opts); err != nil {
		gap("clusterrolebindings", err)
	} else {
		f.crbs = l.Items
	}
	for _, ns := range namespaces {
		if l, err := c.RbacV1().Roles(ns).List(ctx, opts); err != nil {
			gap("roles in "+ns, err)
		} else {
			f.rolesRead[ns] = true
			for i := range l.Items {
				f.roles[ns+"/"+l.Items[i].Name] = &l.Items[i]
			}
		}
		if l, err := c.RbacV1().RoleBindings(ns).List(ctx, opts); err != nil {
			gap("rolebindings in "+ns, err)
		} else {
			f.rbs = append(f.rbs, l.Items...)
		}
	}
	if l, err := c.CoreV1().ServiceAccounts("").List(ctx, opts); err != nil {
		gap("serviceaccounts (bindings to missing ones cannot be told)", err)
	} else {
		f.serviceAccounts = map[string]bool{}
		for _, sa := range l.Items {
			key := sa.Namespace + "/" + sa.Name
			f.serviceAccounts[key] = true
			if sa.Annotations["meta.helm.sh/release-name"] == release && slices.Contains(namespaces, sa.Namespace) &&
				sa.Annotations["meta.helm.sh/release-namespace"] == sa.Namespace {
				f.platformAccounts[key] = true
			}
		}
	}
	tokens, err := c.CoreV1().Secrets("").List(ctx, metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeServiceAccountToken)})
	if err != nil {
		gap("legacy ServiceAccount token Secrets", err)
	} else {
		for _, s := range tokens.Items {
			f.tokens = append(f.tokens, LegacyToken{Secret: s.Namespace + "/" + s.Name,
				ServiceAccount: s.Namespace + "/" + s.Annotations[corev1.ServiceAccountNameKey],
				Created:        s.CreationTimestamp.UTC(), LastUsed: s.Labels[legacyTokenLastUsed]})
		}
	}
	return f
}

// rulesOf resolves a role reference, aggregated ClusterRoles included: the controller that
// fills an aggregated role's rules may lag or not run, so the selectors are applied here too.
// missing is true only when the role's kind could be listed and it is not there.
func (f *kubeFacts) rulesOf(ns string, ref rbacv1.RoleRef) (rules []rbacv1.PolicyRule, missing bool) {
	if ref.Kind == "Role" {
		r, ok := f.roles[ns+"/"+ref.Name]
		if !ok {
			return nil, f.rolesRead[ns]
		}
		return r.Rules, false
	}
	cr, ok := f.clusterRoles[ref.Name]
	if !ok {
		return nil, f.clusterRoles != nil
	}
	rules = slices.Clone(cr.Rules)
	if cr.AggregationRule != nil {
		for _, sel := range cr.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				continue
			}
			for name, other := range f.clusterRoles {
				if name != cr.Name && s.Matches(labels.Set(other.Labels)) {
					rules = append(rules, other.Rules...)
				}
			}
		}
	}
	return rules, false
}

// subjects joins bindings to subjects, with the capabilities each grant gives.
func (f *kubeFacts) subjects(release string, sel *selection) []KubeSubject {
	bySubject := map[string]*KubeSubject{}
	add := func(s rbacv1.Subject, bindingNS string, g Grant) {
		ks := kubeSubject(s, bindingNS)
		if !sel.keepKube(ks) {
			return
		}
		cur := bySubject[ks.ID]
		if cur == nil {
			if ks.Kind == rbacv1.ServiceAccountKind && f.serviceAccounts != nil {
				ks.Missing = !f.serviceAccounts[ks.Namespace+"/"+ks.Name]
			}
			cur = &ks
			bySubject[ks.ID] = cur
		}
		cur.Grants = append(cur.Grants, g)
	}
	for _, b := range f.crbs {
		rules, missing := f.rulesOf("", b.RoleRef)
		g := Grant{Scope: clusterScope, Binding: "ClusterRoleBinding/" + b.Name, Role: b.RoleRef.Kind + "/" + b.RoleRef.Name,
			RoleMissing: missing, Chart: ownedBy(b.Annotations, release, ""), Default: b.Labels[bootstrapLabel] == "rbac-defaults", rules: rules}
		for _, s := range b.Subjects {
			add(s, "", g)
		}
	}
	for _, b := range f.rbs {
		rules, missing := f.rulesOf(b.Namespace, b.RoleRef)
		role := b.RoleRef.Kind + "/" + b.RoleRef.Name
		if b.RoleRef.Kind == "Role" {
			role = "Role/" + b.Namespace + "/" + b.RoleRef.Name
		}
		g := Grant{Scope: b.Namespace, Binding: "RoleBinding/" + b.Namespace + "/" + b.Name, Role: role,
			RoleMissing: missing, Chart: ownedBy(b.Annotations, release, b.Namespace), Default: b.Labels[bootstrapLabel] == "rbac-defaults", rules: rules}
		for _, s := range b.Subjects {
			add(s, b.Namespace, g)
		}
	}
	out := make([]KubeSubject, 0, len(bySubject))
	for _, s := range bySubject {
		slices.SortFunc(s.Grants, func(a, b Grant) int { return strings.Compare(a.Binding, b.Binding) })
		for _, g := range s.Grants {
			for _, c := range capabilities {
				if slices.ContainsFunc(g.rules, c.gives) {
					s.Permissions = append(s.Permissions, Permission{Capability: c.ID, Scope: g.Scope, Via: g.Binding + " → " + g.Role})
				}
			}
		}
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b KubeSubject) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func ownedBy(annotations map[string]string, release, ns string) bool {
	return annotations["meta.helm.sh/release-name"] == release && (ns == "" || annotations["meta.helm.sh/release-namespace"] == ns)
}

// kubeSubject names a binding's subject; a ServiceAccount without a namespace is in the
// binding's, and a user named system:serviceaccount:ns:name is that ServiceAccount.
func kubeSubject(s rbacv1.Subject, bindingNS string) KubeSubject {
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNS
		}
		return KubeSubject{ID: "serviceaccount/" + ns + "/" + s.Name, Kind: s.Kind, Name: s.Name, Namespace: ns}
	case rbacv1.GroupKind:
		return KubeSubject{ID: "group/" + s.Name, Kind: s.Kind, Name: s.Name}
	default:
		if rest, ok := strings.CutPrefix(s.Name, "system:serviceaccount:"); ok {
			if ns, name, ok := strings.Cut(rest, ":"); ok {
				return KubeSubject{ID: "serviceaccount/" + ns + "/" + name, Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
			}
		}
		return KubeSubject{ID: "user/" + s.Name, Kind: rbacv1.UserKind, Name: s.Name}
	}
}
