package access

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Change is one difference between two reviews.
type Change struct {
	// Kind: new-subject, removed-subject, new-admin, new-privilege, removed-privilege,
	// new-finding, resolved-finding.
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Detail  string `json:"detail"`
}

// Diff lists what changed from an earlier report to a later one: the questions an auditor
// asks first (new privileges, new administrators, removed subjects) come first.
func Diff(before, after *Report, adminRoles []string) []Change {
	var out []Change
	b, a := privileges(before, adminRoles), privileges(after, adminRoles)
	for id, privs := range a {
		old, existed := b[id]
		if !existed {
			out = append(out, Change{Kind: "new-subject", Subject: id, Detail: strings.Join(slices.Sorted(maps.Keys(privs)), "; ")})
		}
		for p := range privs {
			if old[p] {
				continue
			}
			kind := "new-privilege"
			if strings.HasPrefix(p, adminPrefix) {
				kind = "new-admin"
			}
			if existed || kind == "new-admin" {
				out = append(out, Change{Kind: kind, Subject: id, Detail: p})
			}
		}
	}
	for id, privs := range b {
		now, exists := a[id]
		if !exists {
			out = append(out, Change{Kind: "removed-subject", Subject: id, Detail: strings.Join(slices.Sorted(maps.Keys(privs)), "; ")})
			continue
		}
		for p := range privs {
			if !now[p] {
				out = append(out, Change{Kind: "removed-privilege", Subject: id, Detail: p})
			}
		}
	}
	bf, af := findingSet(before), findingSet(after)
	for k, f := range af {
		if _, ok := bf[k]; !ok {
			out = append(out, Change{Kind: "new-finding", Subject: f.Subject, Detail: fmt.Sprintf("%s (%s): %s", f.Rule, f.Severity, f.Evidence)})
		}
	}
	for k, f := range bf {
		if _, ok := af[k]; !ok {
			out = append(out, Change{Kind: "resolved-finding", Subject: f.Subject, Detail: fmt.Sprintf("%s (%s): %s", f.Rule, f.Severity, f.Evidence)})
		}
	}
	order := []string{"new-admin", "new-privilege", "new-subject", "removed-subject", "removed-privilege", "new-finding", "resolved-finding"}
	slices.SortFunc(out, func(x, y Change) int {
		if d := slices.Index(order, x.Kind) - slices.Index(order, y.Kind); d != 0 {
			return d
		}
		if c := strings.Compare(x.Subject, y.Subject); c != 0 {
			return c
		}
		return strings.Compare(x.Detail, y.Detail)
	})
	return out
}

const adminPrefix = "admin: "

// privileges maps each subject to the privileges a diff compares; administrator rights are
// prefixed so that gaining them reads as a new admin.
func privileges(r *Report, adminRoles []string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	add := func(id, p string) {
		if out[id] == nil {
			out[id] = map[string]bool{}
		}
		if p != "" {
			out[id][p] = true
		}
	}
	if r.Kubernetes != nil {
		for _, s := range r.Kubernetes.Subjects {
			add(s.ID, "")
			for _, p := range s.Permissions {
				desc := fmt.Sprintf("%s in %s via %s", p.Capability, p.Scope, p.Via)
				if p.Capability == "all" {
					desc = adminPrefix + desc
				}
				add(s.ID, desc)
			}
		}
	}
	if r.Identities != nil {
		for _, i := range r.Identities.Identities {
			add(i.SubjectID(), "state "+i.State)
			for _, role := range i.Roles {
				desc := "role " + role
				if slices.Contains(adminRoles, role) {
					desc = adminPrefix + desc
				}
				add(i.SubjectID(), desc)
			}
		}
	}
	if r.Vault != nil {
		for _, v := range r.Vault.Roles {
			add(v.ID, "")
			for _, p := range v.Policies {
				add(v.ID, "policy "+p)
			}
		}
		for _, p := range r.Vault.Policies {
			add("vault/policy/"+p.Name, "")
			for _, rule := range p.Paths {
				add("vault/policy/"+p.Name, strings.Join(rule.Capabilities, ",")+" on "+rule.Path)
			}
		}
	}
	return out
}

func findingSet(r *Report) map[string]Finding {
	out := map[string]Finding{}
	for _, f := range r.Findings {
		out[f.Rule+"\x00"+f.Subject+"\x00"+f.Evidence] = f
	}
	return out
}
