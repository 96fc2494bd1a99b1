package access

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"sigs.k8s.io/yaml"
)

// Record is one recorded review: the report, who reviewed it, their decisions, signed.
type Record struct {
	ID           int64      `json:"id"`
	Time         time.Time  `json:"time"`
	Reviewer     string     `json:"reviewer"`
	ReportSHA256 string     `json:"reportSHA256"`
	Decisions    []Decision `json:"decisions"`
	// Previous is the digest of the review recorded before this one: the chain that shows a
	// removed or altered record.
	Previous  string `json:"previous"`
	PublicKey string `json:"publicKey"`
	Signature string `json:"signature"`
	Report    []byte `json:"-"`
	signer    ssh.Signer
}

// Decision is the reviewer's verdict on one subject.
type Decision struct {
	Subject  string `json:"subject"`
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
}

// Decisions a reviewer may take; subjects the decisions file leaves out are undecided.
var decisionValues = []string{"keep", "revoke", "change"}

const undecided = "undecided"

// NewRecord prepares a record of report, to be signed with the key in keyFile when stored.
func NewRecord(report *Report, reviewer, keyFile string, decisions []Decision) (*Record, error) {
	canonical, err := report.Canonical()
	if err != nil {
		return nil, err
	}
	signer, err := readSigner(keyFile)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, d := range decisions {
		known[d.Subject] = true
	}
	all := slices.Clone(decisions)
	for _, s := range report.Subjects() {
		if !known[s.ID] {
			all = append(all, Decision{Subject: s.ID, Decision: undecided})
		}
	}
	slices.SortFunc(all, func(a, b Decision) int { return strings.Compare(a.Subject, b.Subject) })
	// PostgreSQL keeps microseconds: the time signed is the time stored.
	return &Record{Time: time.Now().UTC().Truncate(time.Microsecond), Reviewer: reviewer, Report: canonical, ReportSHA256: Digest(canonical),
		Decisions: all, PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), signer: signer}, nil
}

// ReadDecisions reads a decisions file (YAML or JSON: a list under "decisions") and checks
// each entry against the report's subjects.
func ReadDecisions(path string, report *Report) ([]Decision, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Decisions []Decision `json:"decisions"`
	}
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	subjects := map[string]bool{}
	for _, s := range report.Subjects() {
		subjects[s.ID] = true
	}
	seen := map[string]bool{}
	for i, d := range doc.Decisions {
		switch {
		case !subjects[d.Subject]:
			return nil, fmt.Errorf("%s: decision %d is about %q, which is not a subject of this review", path, i+1, d.Subject)
		case !slices.Contains(decisionValues, d.Decision):
			return nil, fmt.Errorf("%s: decision %d (%s) is %q: use one of %s", path, i+1, d.Subject, d.Decision, strings.Join(decisionValues, ", "))
		case seen[d.Subject]:
			return nil, fmt.Errorf("%s: %s is decided twice", path, d.Subject)
		case d.Decision != "keep" && strings.TrimSpace(d.Reason) == "":
			return nil, fmt.Errorf("%s: decision %d (%s, %s) needs a reason", path, i+1, d.Subject, d.Decision)
		}
		seen[d.Subject] = true
	}
	return doc.Decisions, nil
}

// readSigner reads the reviewer's private key: OpenSSH (ed25519, ECDSA, RSA) or PKCS#8.
func readSigner(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the reviewer's key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("the reviewer's key %s is protected by a passphrase: give a key an agent-free run can read, or decrypt a copy to a private folder", path)
	}
	if err != nil {
		return nil, fmt.Errorf("the reviewer's key %s: %w", path, err)
	}
	if signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		// SHA-1 signatures (ssh-rsa) are not accepted as evidence.
		if as, ok := signer.(ssh.AlgorithmSigner); ok {
			return ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA256})
		}
	}
	return signer, nil
}

// signedPayload is exactly what the signature covers.
func (r *Record) signedPayload() []byte {
	b, _ := json.Marshal(struct {
		Format       string     `json:"format"`
		Time         string     `json:"time"`
		Reviewer     string     `json:"reviewer"`
		ReportSHA256 string     `json:"reportSHA256"`
		Decisions    []Decision `json:"decisions"`
		Previous     string     `json:"previous"`
		PublicKey    string     `json:"publicKey"`
	}{"resimate-access-review/v1", r.Time.UTC().Format(time.RFC3339Nano), r.Reviewer, r.ReportSHA256, r.Decisions, r.Previous, r.PublicKey})
	return b
}

func (r *Record) sign() error {
	if r.signer == nil {
		return errors.New("the record has no signer")
	}
	sig, err := r.signer.Sign(rand.Reader, r.signedPayload())
	if err != nil {
		return fmt.Errorf("signing the review: %w", err)
	}
	r.Signature = base64.StdEncoding.EncodeToString(ssh.Marshal(sig))
	return nil
}

// Digest identifies the record in the chain: its payload and signature.
func (r *Record) Digest() string {
	sum := sha256.Sum256(append(r.signedPayload(), r.Signature...))
	return hex.EncodeToString(sum[:])
}

// Fingerprint is the signing key's SHA256 fingerprint, as ssh-keygen -l prints it.
func (r *Record) Fingerprint() string {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(r.PublicKey))
	if err != nil {
		return "unreadable key"
	}
	return ssh.FingerprintSHA256(pub)
}

// Verify checks the record on its own and as the successor of previous (nil for the first):
// the stored report matches its SHA-256, the signature matches the payload, the chain holds,
// and, with trusted keys given, the key is one of them. It returns every problem found.
func (r *Record) Verify(previous *Record, trusted []ssh.PublicKey) []string {
	var problems []string
	if Digest(r.Report) != r.ReportSHA256 {
		problems = append(problems, "the stored report does not match its SHA-256")
	}
	want := ""
	if previous != nil {
		want = previous.Digest()
	}
	if r.Previous != want {
		problems = append(problems, "the chain is broken: the review before it was altered or removed")
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(r.PublicKey))
	if err != nil {
		return append(problems, "the signing key is unreadable: "+err.Error())
	}
	raw, err := base64.StdEncoding.DecodeString(r.Signature)
	var sig ssh.Signature
	if err == nil {
		err = ssh.Unmarshal(raw, &sig)
	}
	if err == nil {
		err = pub.Verify(r.signedPayload(), &sig)
	}
	if err != nil {
		problems = append(problems, "the signature does not match the record")
	}
	if len(trusted) > 0 && !slices.ContainsFunc(trusted, func(k ssh.PublicKey) bool { return string(k.Marshal()) == string(pub.Marshal()) }) {
		problems = append(problems, "signed by "+ssh.FingerprintSHA256(pub)+", which is not a trusted reviewer key")
	}
	return problems
}

// ReadTrustedKeys reads an authorized_keys-style file of reviewers' public keys.
func ReadTrustedKeys(path string) ([]ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []ssh.PublicKey
	for len(strings.TrimSpace(string(data))) > 0 {
		pub, _, _, rest, err := ssh.ParseAuthorizedKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		keys, data = append(keys, pub), rest
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no public key", path)
	}
	return keys, nil
}

// ParseReport reads a recorded report back.
func ParseReport(canonical []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(canonical, &r); err != nil {
		return nil, fmt.Errorf("the recorded report is unreadable: %w", err)
	}
	return &r, nil
}
