package access

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	kratos "github.com/ory/kratos-client-go"

	"github.com/resimate/resimatectl/internal/kratospage"
)

// IdentitySection is what Kratos knows of the platform's users.
type IdentitySection struct {
	Identities []Identity `json:"identities"`
	// Note says what the sign-in dates can and cannot show.
	Note string `json:"note"`
}

// Identity is one Kratos identity, as a reviewer needs it.
type Identity struct {
	ID          string    `json:"id"`
	Identifier  string    `json:"identifier"`
	State       string    `json:"state"`
	Roles       []string  `json:"roles,omitempty"`
	Verified    []string  `json:"verifiedAddresses,omitempty"`
	Credentials []string  `json:"credentials"`
	Created     time.Time `json:"created"`
	// LastSignIn is the latest authenticated_at of the sessions Kratos still keeps; nil when it
	// keeps none (they expired and were cleaned up, or there never was one): unknown, not never.
	LastSignIn     *time.Time `json:"lastSignIn,omitempty"`
	ActiveSessions int        `json:"activeSessions"`
	Devices        []string   `json:"devices,omitempty"`
}

// SubjectID is the identity's subject id in reviews and decisions.
func (i Identity) SubjectID() string { return "identity/" + i.ID }

func (i Identity) summary() string {
	roles := "no role"
	if len(i.Roles) > 0 {
		roles = strings.Join(i.Roles, "+")
	}
	return fmt.Sprintf("%s, %s, %s", i.State, roles, strings.Join(i.Credentials, "+"))
}

// secondFactors are the credential types that give a second factor (AAL2).
var secondFactors = []string{"totp", "webauthn", "lookup_secret", "passkey"}

const sessionNote = "Kratos keeps no last-login field: the last sign-in is the latest authenticated_at of the sessions it still holds. Where none is held (expired and cleaned up, or never signed in) it is unknown."

// listedIdentity is what the review reads of a listed identity: the generated client's models
// decode every field, twice, and a list of fifty thousand identities spent most of its time there.
type listedIdentity struct {
	ID             string    `json:"id"`
	State          string    `json:"state"`
	CreatedAt      time.Time `json:"created_at"`
	Traits         any       `json:"traits"`
	MetadataPublic any       `json:"metadata_public"`
	MetadataAdmin  any       `json:"metadata_admin"`
	Credentials    map[string]struct {
		Identifiers []string `json:"identifiers"`
		Config      struct {
			Credentials []json.RawMessage `json:"credentials"`
		} `json:"config"`
	} `json:"credentials"`
	VerifiableAddresses []struct {
		Value    string `json:"value"`
		Verified bool   `json:"verified"`
	} `json:"verifiable_addresses"`
}

type listedSession struct {
	AuthenticatedAt *time.Time `json:"authenticated_at"`
	ExpiresAt       *time.Time `json:"expires_at"`
	Identity        *struct {
		ID string `json:"id"`
	} `json:"identity"`
	Devices []struct {
		IPAddress string `json:"ip_address"`
		UserAgent string `json:"user_agent"`
	} `json:"devices"`
}

// readKratos lists every identity and every session: paged lists whatever the number of
// identities, never one request per identity.
func readKratos(ctx context.Context, admin *kratos.APIClient, sel *selection) (*IdentitySection, error) {
	byID := map[string]*Identity{}
	// Without include_credential the list has no credentials at all; webauthn and passkey give
	// their public keys, which tell a registered key from an empty placeholder. No type whose
	// configuration holds a secret (password, totp, lookup_secret) is included.
	q := url.Values{"page_size": {"1000"}, "include_credential": {"webauthn", "passkey"}}
	err := kratospage.Each(ctx, admin, "/admin/identities", q, func(body io.Reader) (int, error) {
		var page []listedIdentity
		if err := json.NewDecoder(body).Decode(&page); err != nil {
			return 0, err
		}
		for _, k := range page {
			if id := identityOf(k); sel.matchName(id.Identifier) {
				byID[id.ID] = &id
			}
		}
		return len(page), nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing identities: %w", err)
	}
	// Two lists: every session kept gives the last sign-in; the stored-active ones are live. A
	// session's own "active" is false while its identity is inactive, but it comes back to life
	// when the identity is reactivated, so the stored flag (the list's filter) is what counts.
	for _, live := range []bool{false, true} {
		q := url.Values{"page_size": {"1000"}, "expand": {"identity", "devices"}}
		if live {
			q.Set("active", "true")
		}
		err := kratospage.Each(ctx, admin, "/admin/sessions", q, func(body io.Reader) (int, error) {
			var page []listedSession
			if err := json.NewDecoder(body).Decode(&page); err != nil {
				return 0, err
			}
			for _, s := range page {
				if s.Identity != nil && byID[s.Identity.ID] != nil {
					byID[s.Identity.ID].addSession(s, live)
				}
			}
			return len(page), nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing sessions: %w", err)
		}
	}
	out := &IdentitySection{Note: sessionNote, Identities: make([]Identity, 0, len(byID))}
	for _, i := range byID {
		sort.Strings(i.Devices)
		out.Identities = append(out.Identities, *i)
	}
	slices.SortFunc(out.Identities, func(a, b Identity) int {
		return cmp.Or(strings.Compare(a.Identifier, b.Identifier), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (i *Identity) addSession(s listedSession, live bool) {
	if !live {
		if s.AuthenticatedAt != nil && (i.LastSignIn == nil || s.AuthenticatedAt.After(*i.LastSignIn)) {
			t := s.AuthenticatedAt.UTC()
			i.LastSignIn = &t
		}
		return
	}
	if s.ExpiresAt != nil && s.ExpiresAt.Before(time.Now()) {
		return
	}
	i.ActiveSessions++
	for _, d := range s.Devices {
		// Without a proxy in front, Kratos records the client's port too; a port is no device.
		ip := d.IPAddress
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		desc := strings.TrimSpace(d.UserAgent + " " + ip)
		if desc != "" && !slices.Contains(i.Devices, desc) {
			i.Devices = append(i.Devices, desc)
		}
	}
}

func identityOf(k listedIdentity) Identity {
	id := Identity{ID: k.ID, State: cmp.Or(k.State, "active"), Created: k.CreatedAt.UTC()}
	id.Identifier = emailOf(k.Traits)
	for typ, c := range k.Credentials {
		// Kratos lists webauthn and passkey for every identity whose schema names an identifier
		// for them, keys or none.
		if (typ == "webauthn" || typ == "passkey") && len(c.Config.Credentials) == 0 {
			continue
		}
		id.Credentials = append(id.Credentials, typ)
		if id.Identifier == "" && len(c.Identifiers) > 0 {
			id.Identifier = c.Identifiers[0]
		}
	}
	sort.Strings(id.Credentials)
	for _, a := range k.VerifiableAddresses {
		if a.Verified {
			id.Verified = append(id.Verified, a.Value)
		}
	}
	id.Roles = rolesOf(k.MetadataPublic, k.MetadataAdmin)
	return id
}

// emailOf is the identity's address, its identifier in the platform's schema.
func emailOf(traits any) string {
	m, _ := traits.(map[string]any)
	email, _ := m["email"].(string)
	return email
}

// rolesOf reads roles the way Firebase custom claims carry them, which the migration keeps in
// metadata: "role": "admin", "roles": ["admin"], or "admin": true.
func rolesOf(metadata ...any) []string {
	var roles []string
	add := func(r string) {
		if r != "" && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	for _, m := range metadata {
		obj, ok := m.(map[string]any)
		if !ok {
			continue
		}
		if r, ok := obj["role"].(string); ok {
			add(r)
		}
		if list, ok := obj["roles"].([]any); ok {
			for _, r := range list {
				s, _ := r.(string)
				add(s)
			}
		}
		if b, ok := obj["admin"].(bool); ok && b {
			add("admin")
		}
	}
	sort.Strings(roles)
	return roles
}
