// Package access builds the access review: who can reach the platform and its data through
// Kubernetes RBAC, Kratos identities and Vault, the findings of a catalogue of rules over those
// facts, the signed records of reviews, and revocation.
package access

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// APIVersion names the report's format.
const APIVersion = "access.resimate.io/v1"

// Report is one review's whole picture. Its JSON form is what a record's SHA-256 covers.
type Report struct {
	APIVersion string    `json:"apiVersion"`
	Generated  time.Time `json:"generated"`
	Scope      Scope     `json:"scope"`
	// Gaps say what could not be read: a partial report says so instead of looking whole.
	Gaps       []Gap            `json:"gaps,omitempty"`
	Kubernetes *KubeSection     `json:"kubernetes,omitempty"`
	Identities *IdentitySection `json:"identities,omitempty"`
	Vault      *VaultSection    `json:"vault,omitempty"`
	Findings   []Finding        `json:"findings"`
}

// Scope is what the review covered and what it left out on purpose.
type Scope struct {
	Namespaces []string `json:"namespaces"`
	// Excluded are the default exclusions in force (none with --include-system).
	Excluded  []string `json:"excluded,omitempty"`
	Subjects  []string `json:"subjects,omitempty"`
	StaleDays int      `json:"staleDays"`
}

// Gap is one thing a source could not show, and why.
type Gap struct {
	Source string `json:"source"`
	What   string `json:"what"`
	Reason string `json:"reason"`
}

// Severity orders findings.
type Severity string

// Severities, worst first.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
)

func (s Severity) rank() int {
	return slices.Index([]Severity{Critical, High, Medium, Low}, s)
}

// Finding is one rule's verdict on one subject.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Source   string   `json:"source"`
	Subject  string   `json:"subject"`
	Evidence string   `json:"evidence"`
}

// SubjectRef is one subject of the review, whatever its source: the unit of decisions and diffs.
type SubjectRef struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	// Name is what a person recognises: a user name, an e-mail address, a role.
	Name string `json:"name"`
	// Access is a one-line summary of what it can do.
	Access string `json:"access"`
}

// Subjects lists every subject of the report.
func (r *Report) Subjects() []SubjectRef {
	var out []SubjectRef
	if r.Kubernetes != nil {
		for _, s := range r.Kubernetes.Subjects {
			out = append(out, SubjectRef{ID: s.ID, Source: SourceKubernetes, Name: s.displayName(), Access: s.summary()})
		}
	}
	if r.Identities != nil {
		for _, i := range r.Identities.Identities {
			out = append(out, SubjectRef{ID: i.SubjectID(), Source: SourceKratos, Name: i.Identifier, Access: i.summary()})
		}
	}
	if r.Vault != nil {
		for _, v := range r.Vault.Roles {
			out = append(out, SubjectRef{ID: v.ID, Source: SourceVault, Name: v.Mount + " " + v.Name, Access: strings.Join(v.Policies, ", ")})
		}
		for _, p := range r.Vault.Policies {
			out = append(out, SubjectRef{ID: "vault/policy/" + p.Name, Source: SourceVault, Name: "policy " + p.Name, Access: p.summary()})
		}
	}
	// By source and name, which a reader scans, not by id (identities' ids are random).
	slices.SortFunc(out, func(a, b SubjectRef) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out
}

// FindingsOf returns the findings about one subject.
func (r *Report) FindingsOf(id string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Subject == id {
			out = append(out, f)
		}
	}
	return out
}

// Canonical is the report's JSON as recorded and hashed.
func (r *Report) Canonical() ([]byte, error) { return json.Marshal(r) }

// Digest is the SHA-256 of Canonical, hex.
func Digest(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// Sources of facts.
const (
	SourceKubernetes = "kubernetes"
	SourceKratos     = "kratos"
	SourceVault      = "vault"
)

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		if d := a.Severity.rank() - b.Severity.rank(); d != 0 {
			return d
		}
		// Evidence names what a reader recognises (bindings, addresses) before the subject's id.
		return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.Evidence, b.Evidence), strings.Compare(a.Subject, b.Subject))
	})
}
