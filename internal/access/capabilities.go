package access

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// action is one verb on one resource ("pods/exec" for a subresource) of one API group.
type action struct{ verb, group, resource string }

// capability is a permission worth reviewing, as the actions that give it.
type capability struct {
	ID    string
	Title string
	// any of these actions gives the capability.
	any []action
	// match, when set, replaces any.
	match func(rbacv1.PolicyRule) bool
}

func actions(verbs []string, group string, resources ...string) []action {
	var out []action
	for _, r := range resources {
		for _, v := range verbs {
			out = append(out, action{v, group, r})
		}
	}
	return out
}

func join(lists ...[]action) []action { return slices.Concat(lists...) }

var writeVerbs = []string{"create", "update", "patch"}

// capabilities are the permissions the report lists and the rules judge, most powerful first.
var capabilities = []capability{
	{ID: "all", Title: "every verb on every resource (cluster-admin)", any: []action{{"*", "*", "*"}}},
	{ID: "wildcard", Title: "a wildcard verb or resource", match: func(r rbacv1.PolicyRule) bool {
		return len(r.Resources) > 0 && (slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*"))
	}},
	{ID: "impersonate", Title: "impersonate users, groups or ServiceAccounts",
		any: join(actions([]string{"impersonate"}, "", "users", "groups", "serviceaccounts", "uids"),
			actions([]string{"impersonate"}, "authentication.k8s.io", "userextras/*"))},
	{ID: "bind", Title: "bind roles it does not hold", any: actions([]string{"bind"}, "rbac.authorization.k8s.io", "roles", "clusterroles")},
	{ID: "escalate", Title: "escalate roles beyond its own rights", any: actions([]string{"escalate"}, "rbac.authorization.k8s.io", "roles", "clusterroles")},
	{ID: "nodes-proxy", Title: "the kubelet API through nodes/proxy", any: actions([]string{"get", "create"}, "", "nodes/proxy")},
	{ID: "read-secrets", Title: "read Secrets", any: actions([]string{"get", "list", "watch"}, "", "secrets")},
	{ID: "exec", Title: "exec into pods", any: actions([]string{"create", "get"}, "", "pods/exec")},
	{ID: "attach", Title: "attach to pods", any: actions([]string{"create", "get"}, "", "pods/attach")},
	{ID: "port-forward", Title: "port-forward to pods", any: actions([]string{"create", "get"}, "", "pods/portforward")},
	{ID: "ephemeral-containers", Title: "add ephemeral containers to pods", any: actions([]string{"update", "patch"}, "", "pods/ephemeralcontainers")},
	{ID: "serviceaccount-token", Title: "mint ServiceAccount tokens", any: actions([]string{"create"}, "", "serviceaccounts/token")},
	{ID: "approve-csr", Title: "approve certificate signing requests",
		any: actions([]string{"update", "patch"}, "certificates.k8s.io", "certificatesigningrequests/approval")},
	{ID: "admission-webhooks", Title: "change admission webhooks and policies",
		any: actions(slices.Concat(writeVerbs, []string{"delete"}), "admissionregistration.k8s.io",
			"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings")},
	{ID: "write-workloads", Title: "create or change workloads",
		any: join(actions(writeVerbs, "", "pods"), actions(writeVerbs, "apps", "deployments", "statefulsets", "daemonsets", "replicasets"),
			actions(writeVerbs, "batch", "jobs", "cronjobs"), actions(writeVerbs, "serving.knative.dev", "services"))},
}

// capabilityByID finds a capability of the catalogue.
func capabilityByID(id string) capability {
	for _, c := range capabilities {
		if c.ID == id {
			return c
		}
	}
	panic("unknown capability " + id)
}

// gives reports whether a policy rule grants the capability.
func (c capability) gives(r rbacv1.PolicyRule) bool {
	if c.match != nil {
		return c.match(r)
	}
	for _, a := range c.any {
		if allows(r, a) {
			return true
		}
	}
	return false
}

// allows is RBAC's own matching of one rule against one action: "*" matches anything, and a
// subresource also matches "<resource>/*" and "*/<subresource>".
func allows(r rbacv1.PolicyRule, a action) bool {
	return matches(r.Verbs, a.verb) && matches(r.APIGroups, a.group) && resourceMatches(r.Resources, a.resource)
}

func matches(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}

func resourceMatches(list []string, res string) bool {
	if matches(list, res) {
		return true
	}
	parent, sub, ok := strings.Cut(res, "/")
	return ok && (slices.Contains(list, parent+"/*") || slices.Contains(list, "*/"+sub))
}
