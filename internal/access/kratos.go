package access

import (
	"cmp"
	"context"
	"fmt"
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

// readKratos lists every identity and every session, two paged lists whatever the number of
// identities.
func readKratos(ctx context.Context, admin *kratos.APIClient, sel *selection) (*IdentitySection, error) {
	byID := map[string]*Identity{}
	var order []string
	token := ""
	for {
		// Without include_credential the list has no credentials at all; webauthn and passkey
		// give their public keys, which tell a registered key from an empty placeholder. No
		// type whose configuration holds a secret (password, totp, lookup_secret) is included.
		req := admin.IdentityAPI.ListIdentities(ctx).PageSize(1000).IncludeCredential([]string{"webauthn", "passkey"})
		if token != "" {
			req = req.PageToken(token)
		}
		list, resp, err := req.Execute()
		if err != nil {
			return nil, fmt.Errorf("listing identities: %w", err)
		}
		for _, k := range list {
			id := identityOf(k)
			if !sel.matchName(id.Identifier) {
				continue
			}
			byID[id.ID] = &id
			order = append(order, id.ID)
		}
		if token = kratospage.Next(resp); token == "" || len(list) == 0 {
			break
		}
	}
	// Two lists: every session kept gives the last sign-in; the stored-active ones are live. A
	// session's own "active" is false while its identity is inactive, but it comes back to life
	// when the identity is reactivated, so the stored flag is what counts.
	for _, live := range []bool{false, true} {
		err := eachSession(ctx, admin, live, func(s kratos.Session) {
			if s.Identity == nil || byID[s.Identity.Id] == nil {
				return
			}
			byID[s.Identity.Id].addSession(s, live)
		})
		if err != nil {
			return nil, err
		}
	}
	out := &IdentitySection{Note: sessionNote, Identities: make([]Identity, 0, len(order))}
	for _, id := range order {
		i := byID[id]
		sort.Strings(i.Devices)
		out.Identities = append(out.Identities, *i)
	}
	slices.SortFunc(out.Identities, func(a, b Identity) int {
		return cmp.Or(strings.Compare(a.Identifier, b.Identifier), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

func eachSession(ctx context.Context, admin *kratos.APIClient, live bool, fn func(kratos.Session)) error {
	token := ""
	for {
		req := admin.IdentityAPI.ListSessions(ctx).PageSize(1000).Expand([]string{"identity", "devices"})
		if live {
			req = req.Active(true)
		}
		if token != "" {
			req = req.PageToken(token)
		}
		list, resp, err := req.Execute()
		if err != nil {
			return fmt.Errorf("listing sessions: %w", err)
		}
		for _, s := range list {
			fn(s)
		}
		if token = kratospage.Next(resp); token == "" || len(list) == 0 {
			return nil
		}
	}
}

func (i *Identity) addSession(s kratos.Session, live bool) {
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
		desc := strings.TrimSpace(deref(d.UserAgent) + " " + deref(d.IpAddress))
		if desc != "" && !slices.Contains(i.Devices, desc) {
			i.Devices = append(i.Devices, desc)
		}
	}
}

func identityOf(k kratos.Identity) Identity {
	id := Identity{ID: k.Id, State: "active"}
	if k.State != nil {
		id.State = *k.State
	}
	if k.CreatedAt != nil {
		id.Created = k.CreatedAt.UTC()
	}
	if traits, ok := k.Traits.(map[string]any); ok {
		id.Identifier, _ = traits["email"].(string)
	}
	if k.Credentials != nil {
		for typ, c := range *k.Credentials {
			if !registered(typ, c) {
				continue
			}
			id.Credentials = append(id.Credentials, typ)
			if id.Identifier == "" && len(c.Identifiers) > 0 {
				id.Identifier = c.Identifiers[0]
			}
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

// registered tells a credential from a placeholder: Kratos lists webauthn and passkey for every
// identity whose schema names an identifier for them, keys or none.
func registered(typ string, c kratos.IdentityCredentials) bool {
	if typ != "webauthn" && typ != "passkey" {
		return true
	}
	keys, _ := c.Config["credentials"].([]any)
	return len(keys) > 0
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
