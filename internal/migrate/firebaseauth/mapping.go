package firebaseauth

import (
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"time"

	kratos "github.com/ory/kratos-client-go"
)

// DefaultProviders maps Firebase provider ids to the Kratos OIDC provider ids of the platform's
// configuration; --provider-map adds or overrides.
var DefaultProviders = map[string]string{
	"google.com": "google", "apple.com": "apple", "microsoft.com": "microsoft",
	"github.com": "github", "facebook.com": "facebook",
}

// Mapping says how users become identities.
type Mapping struct {
	SchemaID string
	Hash     *HashParams
	// Providers maps Firebase provider ids to Kratos provider ids.
	Providers map[string]string
	// ClaimsTo is where custom claims go: "metadata_public" (default) or "none".
	ClaimsTo string
}

// Rejection explains why a user cannot be imported.
type Rejection struct {
	UID    string `json:"uid"`
	Email  string `json:"email,omitempty"`
	Origin string `json:"origin"`
	Reason string `json:"reason"`
}

// Prepared is the result of mapping a whole source.
type Prepared struct {
	Identities map[string]*kratos.CreateIdentityBody // by uid
	Order      []string                              // uids in source order
	Users      map[string]*User
	Rejected   []Rejection
	// MFA lists users whose second factors cannot be carried over.
	MFA []Rejection
}

// Prepare maps every user, rejecting (never dropping) those that cannot be imported: no email
// and no phone, an invalid email, an email that differs from an earlier user's only in case, a
// password with no hash parameters or a hash Firebase's scrypt cannot have made, a provider with
// no mapping.
func (m *Mapping) Prepare(users []User) *Prepared {
	p := &Prepared{Identities: map[string]*kratos.CreateIdentityBody{}, Users: map[string]*User{}}
	seenEmail := map[string]string{} // lower-cased email -> uid
	for i := range users {
		u := &users[i]
		p.Users[u.UID] = u
		reject := func(format string, a ...any) {
			p.Rejected = append(p.Rejected, Rejection{UID: u.UID, Email: u.Email, Origin: u.Origin, Reason: fmt.Sprintf(format, a...)})
		}
		if u.Email != "" {
			if addr, err := mail.ParseAddress(u.Email); err != nil || addr.Address != u.Email {
				reject("invalid email %q", u.Email)
				continue
			}
			key := strings.ToLower(u.Email)
			if first, dup := seenEmail[key]; dup {
				reject("email %q differs only in case from user %s's: merge or change one, then rerun", u.Email, first)
				continue
			}
			seenEmail[key] = u.UID
		}
		if u.Email == "" && u.PhoneNumber == "" {
			reject("no email and no phone number: nothing to sign in with")
			continue
		}
		body, err := m.identity(u)
		if err != nil {
			reject("%v", err)
			continue
		}
		if len(u.MFA) > 0 {
			p.MFA = append(p.MFA, Rejection{UID: u.UID, Email: u.Email, Origin: u.Origin,
				Reason: "second factors not carried over (re-enrol in Kratos): " + strings.Join(u.MFA, ", ")})
		}
		p.Identities[u.UID] = body
		p.Order = append(p.Order, u.UID)
	}
	return p
}

// identity builds the Kratos import body of one user.
func (m *Mapping) identity(u *User) (*kratos.CreateIdentityBody, error) {
	traits := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			traits[k] = v
		}
	}
	set("email", u.Email)
	set("name", u.DisplayName)
	set("phone", u.PhoneNumber)
	set("picture", u.PhotoURL)
	body := kratos.NewCreateIdentityBody(m.SchemaID, traits)
	if u.Disabled {
		body.SetState("inactive")
	} else {
		body.SetState("active")
	}
	if u.Email != "" {
		status := "pending"
		if u.EmailVerified {
			status = "completed"
		}
		// Recovery addresses come from the identity schema; the client type of an explicit one
		// sends an empty id that Kratos refuses.
		body.VerifiableAddresses = []kratos.VerifiableIdentityAddress{{Value: u.Email, Verified: u.EmailVerified, Via: "email", Status: status}}
	}
	creds := kratos.IdentityWithCredentials{}
	if u.HasPassword() {
		if m.Hash == nil {
			return nil, fmt.Errorf("has a password but no hash parameters were given (--hash-key, --salt-separator, --rounds, --mem-cost)")
		}
		if err := m.Hash.CheckShape(u.PasswordHash, u.PasswordSalt); err != nil {
			return nil, err
		}
		h := m.Hash.KratosHash(u.PasswordHash, u.PasswordSalt)
		creds.Password = &kratos.IdentityWithCredentialsPassword{Config: &kratos.IdentityWithCredentialsPasswordConfig{HashedPassword: &h}}
	}
	var oidc []kratos.IdentityWithCredentialsOidcConfigProvider
	for _, pr := range u.Providers {
		id, ok := m.Providers[pr.ProviderID]
		if !ok {
			return nil, fmt.Errorf("provider %s has no Kratos provider: add --provider-map %s=<kratos provider id>", pr.ProviderID, pr.ProviderID)
		}
		oidc = append(oidc, kratos.IdentityWithCredentialsOidcConfigProvider{Provider: id, Subject: pr.RawID})
	}
	if len(oidc) > 0 {
		sort.Slice(oidc, func(i, j int) bool { return oidc[i].Provider < oidc[j].Provider })
		creds.Oidc = &kratos.IdentityWithCredentialsOidc{Config: &kratos.IdentityWithCredentialsOidcConfig{Providers: oidc}}
	}
	if creds.Password != nil || creds.Oidc != nil {
		body.Credentials = &creds
	}
	if len(u.CustomClaims) > 0 && m.ClaimsTo != "none" {
		body.MetadataPublic = u.CustomClaims
	}
	admin := map[string]any{"firebase_uid": u.UID}
	if !u.CreatedAt.IsZero() {
		admin["firebase_created_at"] = u.CreatedAt.Format(time.RFC3339Nano)
	}
	if !u.LastSignIn.IsZero() {
		admin["firebase_last_sign_in_at"] = u.LastSignIn.Format(time.RFC3339Nano)
	}
	body.MetadataAdmin = admin
	return body, nil
}
