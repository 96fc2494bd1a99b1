package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"

	"github.com/resimate/resimatectl/internal/agekeys"
)

// Sealing is how a set's objects are encrypted: to age or SSH recipients, to a passphrase, or
// (only when asked for) not at all.
type Sealing struct {
	recipients []age.Recipient
	// Names are the recipients' public identities, kept in the manifest.
	Names []string
}

// Plain reports whether objects are written unencrypted (--insecure-no-encryption).
func (s Sealing) Plain() bool { return len(s.recipients) == 0 }

// SealTo encrypts to the given recipients (age, age post-quantum hybrid or SSH public keys, or
// files of them) and to the passphrase in passphraseFile when one is named.
func SealTo(recipients []string, passphraseFile string) (Sealing, error) {
	var s Sealing
	for _, r := range recipients {
		rs, err := agekeys.ParseRecipient(r)
		if err != nil {
			return Sealing{}, err
		}
		s.recipients = append(s.recipients, rs...)
		s.Names = append(s.Names, publicName(r))
	}
	if passphraseFile != "" {
		if len(s.recipients) > 0 {
			// age refuses to mix a passphrase with other recipients: a passphrase file must be
			// the only way in.
			return Sealing{}, errors.New("a passphrase file cannot be combined with recipients: give one or the other")
		}
		pass, err := readPassphrase(passphraseFile)
		if err != nil {
			return Sealing{}, err
		}
		r, err := age.NewScryptRecipient(pass)
		if err != nil {
			return Sealing{}, err
		}
		s.recipients = append(s.recipients, r)
		s.Names = append(s.Names, "passphrase (scrypt)")
	}
	if len(s.recipients) == 0 {
		return Sealing{}, errors.New("no recipient: give --recipient or --passphrase-file (or --insecure-no-encryption)")
	}
	return s, nil
}

// publicName is what the manifest says of a recipient: the key itself, or the file it came from.
func publicName(r string) string {
	r = strings.TrimSpace(r)
	if strings.HasPrefix(r, "age1") || strings.HasPrefix(r, "ssh-") {
		return r
	}
	return "keys of file " + r
}

func readPassphrase(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("passphrase file: %w", err)
	}
	pass := strings.TrimRight(string(b), "\r\n")
	if len(pass) < 12 {
		return "", fmt.Errorf("passphrase file %s: the passphrase has %d characters; 12 or more are needed", path, len(pass))
	}
	return pass, nil
}

// seal returns a writer that encrypts into w (binary age, not armored: parts are large).
func (s Sealing) seal(w io.Writer) (io.WriteCloser, error) {
	if s.Plain() {
		return nopCloser{w}, nil
	}
	return age.Encrypt(w, s.recipients...)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Keys open sealed sets: identities from files, or a passphrase file.
type Keys struct {
	identities []age.Identity
}

// KeysFrom reads the identity files (age or unencrypted SSH private keys) and the passphrase file.
func KeysFrom(identityFiles []string, passphraseFile string) (Keys, error) {
	var k Keys
	for _, f := range identityFiles {
		ids, err := agekeys.ReadIdentities(f)
		if err != nil {
			return Keys{}, err
		}
		k.identities = append(k.identities, ids...)
	}
	if passphraseFile != "" {
		pass, err := readPassphrase(passphraseFile)
		if err != nil {
			return Keys{}, err
		}
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return Keys{}, err
		}
		k.identities = append(k.identities, id)
	}
	return k, nil
}

// open decrypts r; a set sealed to nobody here gets an error that says so.
func (k Keys) open(r io.Reader, plain bool) (io.Reader, error) {
	if plain {
		return r, nil
	}
	if len(k.identities) == 0 {
		return nil, errors.New("the set is encrypted: give --identity or --passphrase-file")
	}
	out, err := age.Decrypt(r, k.identities...)
	var noMatch *age.NoIdentityMatchError
	if errors.As(err, &noMatch) {
		return nil, errors.New("none of the given identities can decrypt this set (it was encrypted to other recipients)")
	}
	if err != nil {
		return nil, &IntegrityError{What: "encryption header", Err: err}
	}
	return out, nil
}

// IntegrityError is a part or manifest whose bytes are not the ones written.
type IntegrityError struct {
	What string
	Err  error
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("integrity check failed: %s: %v", e.What, e.Err)
}

func (e *IntegrityError) Unwrap() error { return e.Err }
