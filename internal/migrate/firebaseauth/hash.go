package firebaseauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/scrypt"
)

// HashParams are a Firebase project's password hash parameters (Authentication > Users >
// "Password hash parameters" in the console). They are secret.
type HashParams struct {
	SignerKey     []byte
	SaltSeparator []byte
	Rounds        int
	MemCost       int
}

// Validate reports missing or out-of-range parameters.
func (p HashParams) Validate() error {
	switch {
	case len(p.SignerKey) == 0:
		return errors.New("the signer key (base64_signer_key) is missing")
	case p.Rounds < 1 || p.Rounds > 8:
		return fmt.Errorf("rounds must be 1 to 8, not %d", p.Rounds)
	case p.MemCost < 1 || p.MemCost > 14:
		return fmt.Errorf("memory cost must be 1 to 14, not %d", p.MemCost)
	}
	return nil
}

// Hash computes Firebase's modified scrypt: scrypt(password, salt+separator, N=2^memCost,
// r=rounds, p=1, 32 bytes) used as an AES-256-CTR key (zero IV) to encrypt the signer key.
func (p HashParams) Hash(password string, salt []byte) ([]byte, error) {
	s := append(append([]byte{}, salt...), p.SaltSeparator...)
	key, err := scrypt.Key([]byte(password), s, 1<<p.MemCost, p.Rounds, 1, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(p.SignerKey))
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out, p.SignerKey)
	return out, nil
}

// Verify reports whether password produces hash with these parameters.
func (p HashParams) Verify(password string, salt, hash []byte) (bool, error) {
	got, err := p.Hash(password, salt)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, hash) == 1, nil
}

// CheckShape refuses a hash and salt that Firebase's scrypt cannot have produced with these
// parameters: the hash is the signer key encrypted, so exactly as long, and every hash is salted.
// Such a user imported could never sign in.
func (p HashParams) CheckShape(hash, salt []byte) error {
	switch {
	case len(salt) == 0:
		return errors.New("password hash without a salt: Firebase salts every scrypt hash, so this one is damaged")
	case len(hash) != len(p.SignerKey):
		return fmt.Errorf("password hash of %d bytes: Firebase's scrypt hashes of this project are %d bytes (the signer key's length), so this one is damaged", len(hash), len(p.SignerKey))
	}
	return nil
}

// KratosHash is the string Kratos imports a Firebase scrypt hash as; every part standard, padded
// base64: $firescrypt$ln=<mem_cost>,r=<rounds>,p=1$<salt>$<hash>$<salt separator>$<signer key>.
func (p HashParams) KratosHash(hash, salt []byte) string {
	b := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("$firescrypt$ln=%d,r=%d,p=1$%s$%s$%s$%s", p.MemCost, p.Rounds, b(salt), b(hash), b(p.SaltSeparator), b(p.SignerKey))
}
