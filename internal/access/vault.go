package access

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/vault/api"

	"github.com/resimate/resimatectl/internal/vault"
)

// VaultSection is who can log in to Vault and what their policies allow.
type VaultSection struct {
	AuthMethods []AuthMethod  `json:"authMethods"`
	Roles       []VaultRole   `json:"roles"`
	Policies    []VaultPolicy `json:"policies"`
	// KVMount is the platform's KV mount (from the chart's layout), whose paths are reviewed.
	KVMount string `json:"kvMount"`
}

// AuthMethod is one enabled auth mount.
type AuthMethod struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

// VaultRole is one role (or user) of an auth method and the policies its logins get.
type VaultRole struct {
	ID                   string   `json:"id"`
	Mount                string   `json:"mount"`
	Type                 string   `json:"type"`
	Name                 string   `json:"name"`
	BoundServiceAccounts []string `json:"boundServiceAccounts,omitempty"`
	BoundNamespaces      []string `json:"boundNamespaces,omitempty"`
	Audience             string   `json:"audience,omitempty"`
	Policies             []string `json:"policies"`
}

// VaultPolicy is one ACL policy's path rules.
type VaultPolicy struct {
	Name  string     `json:"name"`
	Paths []PathRule `json:"paths"`
}

// PathRule is one path stanza of a policy.
type PathRule struct {
	Path         string   `json:"path"`
	Capabilities []string `json:"capabilities"`
}

// ReviewerPolicy is the least a reviewer's Vault token needs: list and read auth methods, their
// roles and the ACL policies. It reads no secret.
const ReviewerPolicy = `path "sys/auth" { capabilities = ["read"] }
path "sys/policies/acl" { capabilities = ["list"] }
path "sys/policies/acl/*" { capabilities = ["read"] }
path "auth/+/role" { capabilities = ["list"] }
path "auth/+/role/*" { capabilities = ["read"] }
path "auth/+/users" { capabilities = ["list"] }
path "auth/+/users/*" { capabilities = ["read"] }
path "auth/+/certs" { capabilities = ["list"] }
path "auth/+/certs/*" { capabilities = ["read"] }
path "auth/+/groups" { capabilities = ["list"] }
path "auth/+/groups/*" { capabilities = ["read"] }
`

// Role lists: the auth method types whose roles live under role/ or users/.
var roleLists = map[string]string{"kubernetes": "role", "approle": "role", "jwt": "role", "oidc": "role", "userpass": "users", "cert": "certs", "ldap": "groups"}

// readVault reads auth methods, their roles and every ACL policy. It needs a token that may
// read sys/auth, sys/policies/acl and the auth methods' role lists (docs/access.md gives one).
func readVault(ctx context.Context, c *api.Client, layout *vault.Layout) (*VaultSection, []Gap, error) {
	mounts, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing auth methods: %w", err)
	}
	sec := &VaultSection{KVMount: "resimate"}
	if layout != nil {
		sec.KVMount = layout.KVMount
	}
	var gaps []Gap
	for path, m := range mounts {
		path = strings.TrimSuffix(path, "/")
		sec.AuthMethods = append(sec.AuthMethods, AuthMethod{Path: path, Type: m.Type})
		list, ok := roleLists[m.Type]
		if !ok {
			continue
		}
		roles, err := readRoles(ctx, c, path, m.Type, list)
		if err != nil {
			gaps = append(gaps, Gap{Source: SourceVault, What: "roles of auth/" + path, Reason: err.Error()})
		}
		sec.Roles = append(sec.Roles, roles...)
	}
	names, err := c.Sys().ListPoliciesWithContext(ctx)
	if err != nil {
		gaps = append(gaps, Gap{Source: SourceVault, What: "policies", Reason: err.Error()})
	}
	for _, name := range names {
		if name == "root" {
			continue
		}
		text, err := c.Sys().GetPolicyWithContext(ctx, name)
		if err != nil {
			gaps = append(gaps, Gap{Source: SourceVault, What: "policy " + name, Reason: err.Error()})
			continue
		}
		paths, err := parsePolicy(text)
		if err != nil {
			gaps = append(gaps, Gap{Source: SourceVault, What: "policy " + name, Reason: err.Error()})
			continue
		}
		sec.Policies = append(sec.Policies, VaultPolicy{Name: name, Paths: paths})
	}
	slices.SortFunc(sec.AuthMethods, func(a, b AuthMethod) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(sec.Roles, func(a, b VaultRole) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(sec.Policies, func(a, b VaultPolicy) int { return strings.Compare(a.Name, b.Name) })
	return sec, gaps, nil
}

func readRoles(ctx context.Context, c *api.Client, mount, typ, list string) ([]VaultRole, error) {
	s, err := c.Logical().ListWithContext(ctx, "auth/"+mount+"/"+list)
	if err != nil || s == nil {
		return nil, err
	}
	keys, _ := s.Data["keys"].([]any)
	var out []VaultRole
	for _, k := range keys {
		name, _ := k.(string)
		r, err := c.Logical().ReadWithContext(ctx, "auth/"+mount+"/"+list+"/"+name)
		if err != nil {
			return out, err
		}
		if r == nil {
			continue
		}
		role := VaultRole{ID: "vault/" + mount + "/" + list + "/" + name, Mount: mount, Type: typ, Name: name,
			BoundServiceAccounts: stringsOf(r.Data["bound_service_account_names"]),
			BoundNamespaces:      stringsOf(r.Data["bound_service_account_namespaces"])}
		role.Audience, _ = r.Data["audience"].(string)
		for _, p := range append(stringsOf(r.Data["token_policies"]), stringsOf(r.Data["policies"])...) {
			if !slices.Contains(role.Policies, p) {
				role.Policies = append(role.Policies, p)
			}
		}
		sort.Strings(role.Policies)
		out = append(out, role)
	}
	return out, nil
}

func stringsOf(v any) []string {
	var out []string
	switch l := v.(type) {
	case []any:
		for _, x := range l {
			if s, ok := x.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	case string:
		for _, s := range strings.Split(l, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parsePolicy reads an ACL policy's path stanzas with Vault's own HCL dialect.
func parsePolicy(text string) ([]PathRule, error) {
	var doc struct {
		Path map[string]struct {
			Capabilities []string `hcl:"capabilities"`
		} `hcl:"path"`
	}
	if err := hcl.Decode(&doc, text); err != nil {
		return nil, err
	}
	out := make([]PathRule, 0, len(doc.Path))
	for p, rule := range doc.Path {
		caps := slices.Clone(rule.Capabilities)
		sort.Strings(caps)
		out = append(out, PathRule{Path: p, Capabilities: caps})
	}
	slices.SortFunc(out, func(a, b PathRule) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// pathCovers reports whether a policy path (with Vault's trailing * and + segment globs)
// covers the concrete path p.
func pathCovers(pattern, p string) bool {
	ps, cs := strings.Split(pattern, "/"), strings.Split(p, "/")
	for i, seg := range ps {
		if i == len(ps)-1 && strings.HasSuffix(seg, "*") {
			if i >= len(cs) {
				return seg == "*"
			}
			return strings.HasPrefix(strings.Join(cs[i:], "/"), strings.TrimSuffix(seg, "*"))
		}
		if i >= len(cs) || (seg != "+" && seg != cs[i]) {
			return false
		}
	}
	return len(ps) == len(cs)
}

func (p VaultPolicy) summary() string {
	var parts []string
	for _, r := range p.Paths {
		parts = append(parts, r.Path+" ("+strings.Join(r.Capabilities, ",")+")")
	}
	return strings.Join(parts, ", ")
}
