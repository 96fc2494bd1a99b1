// Package firebaseauth moves Firebase Authentication users into Ory Kratos identities, keeping
// their passwords (Firebase's scrypt hashes are imported as they are), their federated logins,
// their verified addresses and their claims. A ledger in PostgreSQL makes every run resumable.
package firebaseauth

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// User is a Firebase user, whatever source it came from.
type User struct {
	UID           string
	Email         string
	EmailVerified bool
	DisplayName   string
	PhoneNumber   string
	PhotoURL      string
	Disabled      bool
	PasswordHash  []byte
	PasswordSalt  []byte
	Providers     []Provider
	// CustomClaims is the user's custom claims object.
	CustomClaims map[string]any
	CreatedAt    time.Time
	LastSignIn   time.Time
	// MFA lists enrolled second factors ("phone +1555..."), which cannot be carried over.
	MFA []string
	// Where the user was read, for error messages ("users.csv line 7").
	Origin string
}

// Provider is a federated login of a user.
type Provider struct {
	ProviderID string // google.com, apple.com, ...
	RawID      string // the provider's subject
	Email      string
}

// HasPassword reports whether the user signs in with a password.
func (u *User) HasPassword() bool { return len(u.PasswordHash) > 0 }

// decodeBase64 reads Firebase's base64 in any of the forms it comes in: the Admin SDK and the
// emulator return URL-safe without padding, export files the standard alphabet.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	// The value is a secret or part of one (a signer key, a password hash): never quote it.
	return nil, fmt.Errorf("not base64 (%d characters)", len(s))
}

// millis parses Firebase's epoch-milliseconds timestamps ("1712345678901").
func millis(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return time.Time{}, fmt.Errorf("not a timestamp in milliseconds: %q", s)
	}
	return time.UnixMilli(n).UTC(), nil
}
