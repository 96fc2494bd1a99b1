// Package wizard holds what the interactive installer asks and makes of the answers: the
// answers themselves (kept in a draft file as they are given), the values file they become, and
// the checks each answer must pass, the same ones the flags and the chart's schema apply.
package wizard

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/internal/agekeys"
	"github.com/resimate/resimatectl/internal/files"
	"github.com/resimate/resimatectl/internal/render"
)

// TLS sources of the ingress certificate.
const (
	TLSACME   = "acme"
	TLSCA     = "ca"
	TLSSecret = "secret"
)

// Vault choices: bundled and initialised by install, bundled and initialised by the site's
// operators (a key ceremony), or an external Vault.
const (
	VaultBundled   = "bundled"
	VaultOperators = "bundled-manual"
	VaultExternal  = "external"
)

// Answers are everything the wizard asks. Strings where the form takes text, so that a draft
// holds exactly what was typed.
type Answers struct {
	// Step is the step to resume at.
	Step         string `json:"step"`
	Context      string `json:"context"`
	Profile      string `json:"profile"`
	Namespace    string `json:"namespace"`
	Domain       string `json:"domain"`
	TLS          string `json:"tls"`
	Issuer       string `json:"issuer"`
	TLSSecret    string `json:"tlsSecret"`
	StorageClass string `json:"storageClass"`
	IngressClass string `json:"ingressClass"`
	Postgres     string `json:"postgres"`
	PostgresHost string `json:"postgresHost"`
	PostgresPort string `json:"postgresPort"`
	Vault        string `json:"vault"`
	KeyShares    string `json:"keyShares"`
	KeyThreshold string `json:"keyThreshold"`
	// Recipients are the age or SSH public keys the unseal keys are encrypted to, separated by
	// commas (an SSH key holds spaces).
	Recipients string `json:"recipients"`
	// PostgresAdminURL is the external server's admin URL, for the connection test and install:
	// a secret, so never in the draft, and asked again on resume.
	PostgresAdminURL string `json:"-"`
	VaultAddress     string `json:"vaultAddress"`
	// VaultCAFile is a PEM file of the CA that signed the external Vault's certificate; empty
	// for the system's CAs. Its content goes into the values (a CA certificate is no secret).
	VaultCAFile string `json:"vaultCAFile"`
	SMTPHost    string `json:"smtpHost"`
	SMTPPort    string `json:"smtpPort"`
	Monitoring  bool   `json:"monitoring"`
	Logging     bool   `json:"logging"`
}

// Defaults are the answers an on-prem administrator starts from.
func Defaults() *Answers {
	return &Answers{Profile: "onprem", Namespace: render.DefaultNamespace, TLS: TLSACME, Issuer: "letsencrypt", TLSSecret: "resimate-tls",
		Postgres: "operator", PostgresPort: "5432", Vault: VaultBundled, KeyShares: "5", KeyThreshold: "3", SMTPPort: "587"}
}

// Values is the values file the answers make: only what the wizard asked, over the profile's.
func (a *Answers) Values() map[string]any {
	v := map[string]any{
		"global":      map[string]any{"domain": a.Domain},
		"storage":     map[string]any{"className": a.StorageClass},
		"ingress":     map[string]any{"className": a.IngressClass, "tls": map[string]any{"enabled": true, "secretName": a.TLSSecret}},
		"certManager": map[string]any{"enabled": false},
		"postgres":    map[string]any{"mode": a.Postgres},
		"vault":       map[string]any{"mode": "bundled"},
		"apis":        map[string]any{"campaigns": map[string]any{"smtp": map[string]any{"host": a.SMTPHost, "port": atoi(a.SMTPPort, 587)}}},
		"monitoring":  map[string]any{"enabled": a.Monitoring},
		"logging":     map[string]any{"enabled": a.Logging},
	}
	if a.TLS != TLSSecret {
		v["certManager"] = map[string]any{"enabled": true, "issuerKind": "ClusterIssuer", "issuerName": a.Issuer}
	}
	if a.Postgres == "external" {
		v["postgres"].(map[string]any)["external"] = map[string]any{"host": a.PostgresHost, "port": atoi(a.PostgresPort, 5432)}
	}
	if a.Vault == VaultExternal {
		external := map[string]any{"address": a.VaultAddress}
		if ca, err := os.ReadFile(a.VaultCAFile); a.VaultCAFile != "" && err == nil {
			external["caCert"] = string(ca)
		}
		v["vault"] = map[string]any{"mode": "external", "external": external}
	}
	return v
}

// ValuesYAML is Values as the file the administrator keeps at path.
func (a *Answers) ValuesYAML(path string) ([]byte, error) {
	b, err := yaml.Marshal(a.Values())
	if err != nil {
		return nil, err
	}
	return append([]byte("# Written by resimatectl wizard. Install with:\n#   "+a.InstallCommand(path)+"\n"), b...), nil
}

// InstallCommand is the install that gives what the wizard installs, with the values file.
func (a *Answers) InstallCommand(valuesFile string) string {
	cmd := fmt.Sprintf("resimatectl install --profile %s -n %s -f %s", a.Profile, a.Namespace, valuesFile)
	switch a.Vault {
	case VaultBundled:
		cmd += " --vault-key-shares " + a.KeyShares + " --vault-key-threshold " + a.KeyThreshold
		for _, r := range a.RecipientList() {
			cmd += fmt.Sprintf(" --vault-recipient %q", r)
		}
	case VaultOperators:
		cmd += " --vault-init manual"
	}
	return cmd
}

// Shares are the key shares and threshold as numbers (0 for what is not one).
func (a *Answers) Shares() (shares, threshold int) {
	return atoi(a.KeyShares, 0), atoi(a.KeyThreshold, 0)
}

// RecipientList splits the recipients field into keys.
func (a *Answers) RecipientList() []string { return splitList(a.Recipients) }

func splitList(s string) []string {
	var out []string
	for _, k := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func atoi(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return n
}

// Check validates what the answers so far make against the chart's schema: the same check
// install applies to a values file, with the path of the mistake.
func (a *Answers) Check() error {
	return render.CheckValues(a.Profile, a.Values())
}

// Field checks, the same rules the flags apply. Each takes what was typed.

// CheckNamespace is -n's check.
func CheckNamespace(s string) error {
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return fmt.Errorf("not a namespace name: %s", strings.Join(errs, "; "))
	}
	return nil
}

// CheckDomain is global.domain's schema rule, and a DNS name.
func CheckDomain(s string) error {
	if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
		return fmt.Errorf("not a domain name: %s", strings.Join(errs, "; "))
	}
	return nil
}

// CheckPort takes a TCP port.
func CheckPort(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 65535 {
		return errors.New("a port is a number from 1 to 65535")
	}
	return nil
}

// CheckKeyShares is --vault-key-shares' rule.
func CheckKeyShares(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 255 {
		return errors.New("key shares are a number from 1 to 255")
	}
	return nil
}

// CheckThreshold is --vault-key-threshold's rule against the shares given.
func (a *Answers) CheckThreshold(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > atoi(a.KeyShares, 0) {
		return fmt.Errorf("the threshold is a number from 1 to the key shares (%s)", a.KeyShares)
	}
	return nil
}

// CheckRecipients is --vault-recipient's rule: age or SSH public keys, at least one.
func CheckRecipients(s string) error {
	keys := splitList(s)
	if len(keys) == 0 {
		return errors.New("give at least one age or SSH public key: the unseal keys are encrypted to it")
	}
	_, err := agekeys.ParseRecipients(keys)
	return err
}

// CheckCAFile takes an empty name or a file holding a PEM certificate.
func CheckCAFile(path string) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if block, _ := pem.Decode(b); block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("%s holds no PEM certificate", path)
	}
	return nil
}

// CheckURL takes an http(s) address.
func CheckURL(s string) error {
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		return errors.New("an address starts with https://")
	}
	return nil
}

// Draft is the file the answers are kept in as they are given: mode 0600, replaced atomically.
type Draft struct{ Path string }

// DefaultDraft is the draft's place under the user's state folder.
func DefaultDraft() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "resimatectl", "wizard-draft.json")
}

// Load reads the draft; defaults when there is none.
func (d Draft) Load() (*Answers, bool, error) {
	b, err := os.ReadFile(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Defaults(), false, nil
	}
	if err != nil {
		return nil, false, err
	}
	a := Defaults()
	if err := json.Unmarshal(b, a); err != nil {
		return nil, false, fmt.Errorf("the wizard's draft %s is damaged (%v): remove it to start again", d.Path, err)
	}
	return a, true, nil
}

// Save writes the answers.
func (d Draft) Save(a *Answers) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o700); err != nil {
		return err
	}
	return files.Replace(d.Path, b, 0o600)
}

// Remove deletes the draft once the wizard has finished.
func (d Draft) Remove() error {
	err := os.Remove(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
