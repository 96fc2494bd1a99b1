// Package agekeys reads the age recipients and identities an operator gives (age's own keys,
// its post-quantum hybrid keys, or SSH keys) and encrypts to and decrypts from them, ASCII-armored.
// Vault's unseal keys and backups are written with it.
package agekeys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"
)

// ParseRecipient reads one recipient: an age public key (age1…, age1pq1…), an SSH public key
// (ssh-ed25519 or ssh-rsa, as in authorized_keys), or the name of a file of such lines.
func ParseRecipient(s string) ([]age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "age1"):
		rs, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", s, err)
		}
		return rs, nil
	case strings.HasPrefix(s, "ssh-"):
		r, err := agessh.ParseRecipient(s)
		if err != nil {
			return nil, err
		}
		return []age.Recipient{r}, nil
	}
	if kind := privateKind(s); kind != "" {
		return nil, fmt.Errorf("a recipient is %s, not a public key: give its public key (never the private one)", kind)
	}
	data, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("recipient %q is not an age or SSH public key, nor a readable file of them", s)
	}
	var out []age.Recipient
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The line is never repeated: a file given by mistake may hold a private key.
		if kind := privateKind(line); kind != "" {
			return nil, fmt.Errorf("recipients file %s, line %d: %s, not a public key: give the public key (for age, `age-keygen -y` prints it)", s, n+1, kind)
		}
		if !strings.HasPrefix(line, "age1") && !strings.HasPrefix(line, "ssh-") {
			return nil, fmt.Errorf("recipients file %s, line %d: not an age (age1...) or SSH (ssh-ed25519, ssh-rsa) public key", s, n+1)
		}
		rs, err := ParseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("recipients file %s: %w", s, err)
		}
		out = append(out, rs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("recipients file %s holds no key", s)
	}
	return out, nil
}

// privateKind names the private key s is or begins, or is empty: what an error may say of it
// instead of its text.
func privateKind(s string) string {
	switch {
	case strings.HasPrefix(s, "AGE-SECRET-KEY-"), strings.HasPrefix(s, "AGE-PLUGIN-"):
		return "an age private key"
	case strings.HasPrefix(s, "-----BEGIN") && strings.Contains(s, "PRIVATE KEY"):
		return "a private key (PEM or OpenSSH)"
	}
	return ""
}

// ParseRecipients reads every recipient of a repeatable flag.
func ParseRecipients(values []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, v := range values {
		rs, err := ParseRecipient(v)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// ReadIdentities reads an identity file: age's (AGE-SECRET-KEY-… lines) or an unencrypted
// OpenSSH private key.
func ReadIdentities(path string) ([]age.Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		id, err := agessh.ParseIdentity(data)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("identity %s is a passphrase-protected SSH key: use an age identity or an unencrypted copy of the key", path)
		}
		if err != nil {
			return nil, fmt.Errorf("identity %s: %w", path, err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	return ids, nil
}

// Encrypt returns a writer whose plaintext reaches dst encrypted to recipients and armored;
// Close it to finish the file.
func Encrypt(dst io.Writer, recipients []age.Recipient) (io.WriteCloser, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no recipient to encrypt to")
	}
	a := armor.NewWriter(dst)
	w, err := age.Encrypt(a, recipients...)
	if err != nil {
		return nil, err
	}
	return &closeBoth{WriteCloser: w, outer: a}, nil
}

type closeBoth struct {
	io.WriteCloser
	outer io.Closer
}

func (c *closeBoth) Close() error {
	if err := c.WriteCloser.Close(); err != nil {
		return err
	}
	return c.outer.Close()
}

// Decrypt reads an armored age file with identities. A file none of them opens gets an error
// that says so.
func Decrypt(src io.Reader, identities []age.Identity) (io.Reader, error) {
	r, err := age.Decrypt(armor.NewReader(src), identities...)
	var noMatch *age.NoIdentityMatchError
	if errors.As(err, &noMatch) {
		return nil, errors.New("none of the given identities can decrypt it (it was encrypted to other recipients)")
	}
	return r, err
}
