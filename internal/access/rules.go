package access

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/resimate/resimatectl/internal/vault"
)

// Rule is one entry of the catalogue: what it looks for, what it means, how to fix it. Each
// is documented under its id in docs/access.md.
type Rule struct {
	ID       string
	Severity Severity
	Source   string
	Title    string
	Fix      string
	check    func(*facts) []evidence
}

// evidence is a rule's verdict on one subject, before the rule's fields are added.
type evidence struct {
	subject string
	lines   []string
}

// facts are what the rules look at.
type facts struct {
	kube             *KubeSection
	platformAccounts map[string]bool
	identities       *IdentitySection
	vault            *VaultSection
	layout           *vault.Layout
	now              time.Time
	staleDays        int
	adminRoles       []string
}

// Rules is the catalogue, in the order docs/access.md lists it.
var Rules = []Rule{
	capabilityRule("cluster-admin", Critical, "Every verb on every resource", "Bind a role that names the resources and verbs the subject needs; keep cluster-admin for break-glass accounts.", "all"),
	{ID: "wildcard-rule", Severity: High, Source: SourceKubernetes, Title: "A role grants a wildcard verb or resource",
		Fix: "List the verbs and resources the role needs: a wildcard also grants every resource added later.", check: wildcardRule},
	capabilityRule("privilege-escalation", Critical, "Can impersonate, bind or escalate roles", "Remove impersonate, bind and escalate from the role; grant them only to the accounts that administer RBAC.", "impersonate", "bind", "escalate"),
	capabilityRule("nodes-proxy", Critical, "Can reach the kubelet API through nodes/proxy", "Remove nodes/proxy: it bypasses admission and audit of pod access.", "nodes-proxy"),
	capabilityRule("read-secrets", High, "Can read Secrets", "Grant get on the named Secrets the subject needs (resourceNames), or none.", "read-secrets"),
	capabilityRule("pod-access", High, "Can exec, attach, port-forward or add ephemeral containers", "Remove pods/exec, pods/attach, pods/portforward and pods/ephemeralcontainers outside break-glass roles.", "exec", "attach", "port-forward", "ephemeral-containers"),
	capabilityRule("serviceaccount-token", High, "Can mint ServiceAccount tokens", "Remove create on serviceaccounts/token: it lets the subject act as any ServiceAccount it may mint for.", "serviceaccount-token"),
	capabilityRule("approve-csr", High, "Can approve certificate signing requests", "Remove update on certificatesigningrequests/approval: an approved CSR can be a client certificate for any user.", "approve-csr"),
	capabilityRule("admission-webhooks", High, "Can change admission webhooks or policies", "Remove write access to admission configuration: it can disable the cluster's guards or read every object admitted.", "admission-webhooks"),
	capabilityRule("write-workloads", Medium, "Can create or change workloads", "Keep workload writes to the deploying identity (CI, install); people read.", "write-workloads"),
	{ID: "anonymous-access", Severity: Critical, Source: SourceKubernetes, Title: "Unauthenticated callers are granted something",
		Fix: "Delete the binding to system:anonymous or system:unauthenticated.", check: anonymousAccess},
	{ID: "dangling-binding", Severity: Medium, Source: SourceKubernetes, Title: "A binding names a subject or role that does not exist",
		Fix: "Delete the binding: whoever later takes the missing name gets its rights.", check: danglingBinding},
	{ID: "platform-account-drift", Severity: High, Source: SourceKubernetes, Title: "A platform ServiceAccount has more than the chart grants it",
		Fix: "Delete the bindings the chart did not make (resimatectl access revoke --binding NS/NAME).", check: platformAccountDrift},
	{ID: "stale-legacy-token", Severity: Medium, Source: SourceKubernetes, Title: "A legacy ServiceAccount token Secret has not been used for --stale-days",
		Fix: "Delete the Secret; pods get short-lived projected tokens.", check: staleLegacyToken},
	{ID: "stale-identity", Severity: Medium, Source: SourceKratos, Title: "An active identity has not signed in for --stale-days",
		Fix: "Deactivate it (resimatectl access revoke --identity ID) or confirm with its owner.", check: staleIdentity},
	{ID: "inactive-with-sessions", Severity: High, Source: SourceKratos, Title: "An inactive identity still has live sessions",
		Fix: "Revoke its sessions (resimatectl access revoke --sessions ID).", check: inactiveWithSessions},
	{ID: "admin-without-second-factor", Severity: High, Source: SourceKratos, Title: "An administrator has no second factor",
		Fix: "Have the administrator add TOTP or a security key; require AAL2 for administration.", check: adminWithoutSecondFactor},
	{ID: "shared-account", Severity: Medium, Source: SourceKratos, Title: "A shared or role account",
		Fix: "Give each person their own identity; a shared login cannot be attributed or revoked for one person.", check: sharedAccount},
	{ID: "vault-policy-wider", Severity: High, Source: SourceVault, Title: "A Vault policy allows more than the platform's layout needs",
		Fix: "Rerun install (it rewrites the platform's policies) or narrow the policy to read on the paths the layout names.", check: vaultPolicyWider},
	{ID: "vault-role-any-account", Severity: Medium, Source: SourceVault, Title: "A Vault Kubernetes role accepts any ServiceAccount or namespace",
		Fix: "Bind the role to the ServiceAccount and namespace that use it.", check: vaultRoleAnyAccount},
}

// findings runs every rule.
func findings(f *facts) []Finding {
	var out []Finding
	for _, r := range Rules {
		for _, e := range r.check(f) {
			out = append(out, Finding{Rule: r.ID, Severity: r.Severity, Source: r.Source, Subject: e.subject, Evidence: strings.Join(e.lines, "; ")})
		}
	}
	sortFindings(out)
	return out
}

// capabilityRule finds the subjects holding any of the capabilities. A grant that gives
// everything is reported once, as cluster-admin, not again under every narrower rule.
func capabilityRule(id string, sev Severity, title, fix string, caps ...string) Rule {
	return Rule{ID: id, Severity: sev, Source: SourceKubernetes, Title: title, Fix: fix, check: func(f *facts) []evidence {
		if f.kube == nil {
			return nil
		}
		var out []evidence
		for _, s := range f.kube.Subjects {
			// One line per binding: "exec into pods, attach to pods in ns via B → R".
			var order []string
			titles := map[string][]string{}
			for _, p := range s.Permissions {
				if !slices.Contains(caps, p.Capability) || (p.Capability != "all" && s.hasAllVia(p.Via)) {
					continue
				}
				where := fmt.Sprintf("in %s via %s", p.Scope, p.Via)
				if titles[where] == nil {
					order = append(order, where)
				}
				titles[where] = append(titles[where], capabilityByID(p.Capability).Title)
			}
			var lines []string
			for _, where := range order {
				lines = append(lines, strings.Join(titles[where], ", ")+" "+where)
			}
			if len(lines) > 0 {
				out = append(out, evidence{s.ID, lines})
			}
		}
		return out
	}}
}

func (s KubeSubject) hasAllVia(via string) bool {
	return slices.ContainsFunc(s.Permissions, func(p Permission) bool { return p.Capability == "all" && p.Via == via })
}

func wildcardRule(f *facts) []evidence {
	return capabilityRule("", "", "", "", "wildcard").check(f)
}

// perGrant collects, for each Kubernetes subject keep accepts, the lines line gives for its
// grants; a subject with none is no finding.
func perGrant(f *facts, keep func(KubeSubject) bool, line func(KubeSubject, Grant) []string) []evidence {
	var out []evidence
	for _, s := range kubeSubjects(f) {
		if !keep(s) {
			continue
		}
		var lines []string
		for _, g := range s.Grants {
			lines = append(lines, line(s, g)...)
		}
		if len(lines) > 0 {
			out = append(out, evidence{s.ID, lines})
		}
	}
	return out
}

func anonymousAccess(f *facts) []evidence {
	return perGrant(f, func(s KubeSubject) bool { return neverExcluded[s.Name] }, func(_ KubeSubject, g Grant) []string {
		// The API server's own public-info and discovery bindings are not a finding.
		if g.Default {
			return nil
		}
		return []string{fmt.Sprintf("%s binds %s in %s", g.Binding, g.Role, g.Scope)}
	})
}

func danglingBinding(f *facts) []evidence {
	return perGrant(f, func(KubeSubject) bool { return true }, func(s KubeSubject, g Grant) []string {
		var lines []string
		if s.Missing {
			lines = append(lines, fmt.Sprintf("%s binds ServiceAccount %s/%s, which does not exist", g.Binding, s.Namespace, s.Name))
		}
		if g.RoleMissing {
			lines = append(lines, fmt.Sprintf("%s binds %s, which does not exist", g.Binding, g.Role))
		}
		return lines
	})
}

func platformAccountDrift(f *facts) []evidence {
	platform := func(s KubeSubject) bool {
		return s.Kind == "ServiceAccount" && f.platformAccounts[s.Namespace+"/"+s.Name]
	}
	return perGrant(f, platform, func(_ KubeSubject, g Grant) []string {
		if g.Chart {
			return nil
		}
		return []string{fmt.Sprintf("%s binds %s in %s, not part of the release", g.Binding, g.Role, g.Scope)}
	})
}

func staleLegacyToken(f *facts) []evidence {
	if f.kube == nil {
		return nil
	}
	var out []evidence
	cutoff := f.now.AddDate(0, 0, -f.staleDays)
	for _, t := range f.kube.LegacyTokens {
		line := fmt.Sprintf("Secret %s, created %s, never used since the API server began recording use", t.Secret, t.Created.Format(time.DateOnly))
		since := t.Created
		if t.LastUsed != "" {
			used, err := time.Parse(time.DateOnly, t.LastUsed)
			if err == nil {
				since = used
			}
			line = fmt.Sprintf("Secret %s, last used %s", t.Secret, t.LastUsed)
		}
		if since.After(cutoff) {
			continue
		}
		out = append(out, evidence{"serviceaccount/" + t.ServiceAccount, []string{line}})
	}
	return out
}

func kubeSubjects(f *facts) []KubeSubject {
	if f.kube == nil {
		return nil
	}
	return f.kube.Subjects
}

func identities(f *facts) []Identity {
	if f.identities == nil {
		return nil
	}
	return f.identities.Identities
}

func staleIdentity(f *facts) []evidence {
	var out []evidence
	cutoff := f.now.AddDate(0, 0, -f.staleDays)
	for _, i := range identities(f) {
		if i.State != "active" {
			continue
		}
		switch {
		case i.LastSignIn != nil && i.LastSignIn.Before(cutoff):
			out = append(out, evidence{i.SubjectID(), []string{fmt.Sprintf("%s last signed in %s", i.Identifier, i.LastSignIn.Format(time.DateOnly))}})
		case i.LastSignIn == nil && i.Created.Before(cutoff):
			out = append(out, evidence{i.SubjectID(), []string{fmt.Sprintf("%s: no session kept, last sign-in unknown; created %s", i.Identifier, i.Created.Format(time.DateOnly))}})
		}
	}
	return out
}

func inactiveWithSessions(f *facts) []evidence {
	var out []evidence
	for _, i := range identities(f) {
		if i.State != "active" && i.ActiveSessions > 0 {
			out = append(out, evidence{i.SubjectID(), []string{fmt.Sprintf("%s is %s with %d active session(s)", i.Identifier, i.State, i.ActiveSessions)}})
		}
	}
	return out
}

func adminWithoutSecondFactor(f *facts) []evidence {
	var out []evidence
	for _, i := range identities(f) {
		admin := slices.ContainsFunc(i.Roles, func(r string) bool { return slices.Contains(f.adminRoles, r) })
		if admin && i.State == "active" && !slices.ContainsFunc(i.Credentials, func(c string) bool { return slices.Contains(secondFactors, c) }) {
			out = append(out, evidence{i.SubjectID(), []string{fmt.Sprintf("%s has role %s and credentials %s only", i.Identifier, strings.Join(i.Roles, ", "), strings.Join(i.Credentials, ", "))}})
		}
	}
	return out
}

// sharedLocalParts are the mailbox names of teams and functions rather than people.
var sharedLocalParts = []string{"admin", "administrator", "billing", "contact", "devops", "hello", "info", "it", "noreply", "no-reply",
	"office", "ops", "root", "sales", "security", "service", "shared", "support", "team", "test"}

func sharedAccount(f *facts) []evidence {
	var out []evidence
	for _, i := range identities(f) {
		local, _, _ := strings.Cut(strings.ToLower(i.Identifier), "@")
		local, _, _ = strings.Cut(local, "+")
		if slices.Contains(sharedLocalParts, local) {
			out = append(out, evidence{i.SubjectID(), []string{fmt.Sprintf("%s is a function's mailbox, not a person's", i.Identifier)}})
		}
	}
	return out
}

// vaultPolicyWider compares each policy a platform role gets with the layout's: read on the
// role's paths and nothing else. Any other policy is wider when it reaches the platform's
// whole KV mount, or sudo anywhere.
func vaultPolicyWider(f *facts) []evidence {
	if f.vault == nil {
		return nil
	}
	expected := map[string][]string{}
	if f.layout != nil {
		for _, r := range f.layout.Roles {
			for _, p := range r.Paths {
				expected[vault.PolicyName(r)] = append(expected[vault.PolicyName(r)], f.layout.KVMount+"/data/"+p)
			}
		}
	}
	var out []evidence
	for _, p := range f.vault.Policies {
		want, platform := expected[p.Name]
		var lines []string
		for _, rule := range p.Paths {
			switch {
			case platform && (!slices.Contains(want, rule.Path) || !slices.Equal(rule.Capabilities, []string{"read"})):
				lines = append(lines, fmt.Sprintf("%s on %s (the layout gives read on %s)", strings.Join(rule.Capabilities, ","), rule.Path, strings.Join(want, ", ")))
			case !platform && slices.Contains(rule.Capabilities, "sudo"):
				lines = append(lines, fmt.Sprintf("sudo on %s", rule.Path))
			case !platform && !slices.Contains(rule.Capabilities, "deny") && pathCovers(rule.Path, f.vault.KVMount+"/data/any/platform/secret"):
				lines = append(lines, fmt.Sprintf("%s on %s: the whole %s mount", strings.Join(rule.Capabilities, ","), rule.Path, f.vault.KVMount))
			}
		}
		if len(lines) > 0 {
			out = append(out, evidence{"vault/policy/" + p.Name, lines})
		}
	}
	return out
}

func vaultRoleAnyAccount(f *facts) []evidence {
	if f.vault == nil {
		return nil
	}
	var out []evidence
	for _, r := range f.vault.Roles {
		if r.Type != "kubernetes" {
			continue
		}
		var lines []string
		if slices.Contains(r.BoundServiceAccounts, "*") {
			lines = append(lines, "bound_service_account_names is *")
		}
		if slices.Contains(r.BoundNamespaces, "*") {
			lines = append(lines, "bound_service_account_namespaces is *")
		}
		if len(lines) > 0 {
			out = append(out, evidence{r.ID, lines})
		}
	}
	return out
}
