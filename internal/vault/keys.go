package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"github.com/resimate/resimatectl/internal/agekeys"
)

// keysKind marks a key file, so that another age file given by mistake is named as such.
const keysKind = "resimate-vault-keys"

// Keys is what initialising Vault returns once and never again: the unseal keys (or, with an
// auto-unseal seal, the recovery keys) and the initial root token. It exists in plaintext only
// in memory; on disk it is encrypted to the operator's recipients.
type Keys struct {
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace"`
	Vault     string    `json:"vault"`
	Created   time.Time `json:"created"`
	// Seal is shamir, or the auto-unseal seal's type (transit, awskms, azurekeyvault, gcpckms).
	Seal      string `json:"seal"`
	Threshold int    `json:"threshold"`
	// UnsealKeys (Shamir) or RecoveryKeys (auto-unseal), base64.
	UnsealKeys   []string `json:"unsealKeys,omitempty"`
	RecoveryKeys []string `json:"recoveryKeys,omitempty"`
	RootToken    string   `json:"rootToken"`
}

// Quorum returns the threshold of key shares that unseal Vault (Shamir) or authorise a new
// root token (both seals).
func (k *Keys) Quorum() []string {
	keys := k.UnsealKeys
	if len(keys) == 0 {
		keys = k.RecoveryKeys
	}
	return keys[:min(k.Threshold, len(keys))]
}

// Secrets lists every secret value, for the redactor.
func (k *Keys) Secrets() []string {
	return append(append([]string{k.RootToken}, k.UnsealKeys...), k.RecoveryKeys...)
}

// ErrKeysFileExists means a key file is already there: it may hold another Vault's keys.
var ErrKeysFileExists = errors.New("key file exists")

// WriteKeys encrypts k to recipients into path, which must not exist yet. The file appears
// whole or not at all (written beside it, synced, then renamed), readable by its owner only.
func WriteKeys(path string, k *Keys, recipients []age.Recipient) error {
	k.Kind = keysKind
	plain, err := json.Marshal(k)
	if err != nil {
		return err
	}
	var sealed bytes.Buffer
	w, err := agekeys.Encrypt(&sealed, recipients)
	if err != nil {
		return err
	}
	if _, err := w.Write(plain); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".vault-keys-*")
	if err != nil {
		return fmt.Errorf("writing the Vault key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(sealed.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link rather than rename: a file that appeared meanwhile is never replaced.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", path, ErrKeysFileExists)
		}
		return fmt.Errorf("writing the Vault key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReadKeys decrypts a key file with the operator's identities.
func ReadKeys(path string, identities []age.Identity) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the Vault key file: %w", err)
	}
	defer f.Close()
	r, err := agekeys.Decrypt(f, identities)
	if err != nil {
		return nil, fmt.Errorf("the Vault key file %s: %w", path, err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("the Vault key file %s: %w", path, err)
	}
	var k Keys
	if err := json.Unmarshal(plain, &k); err != nil || k.Kind != keysKind {
		return nil, fmt.Errorf("%s is not a Vault key file written by resimatectl", path)
	}
	return &k, nil
}
