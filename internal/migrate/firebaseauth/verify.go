package firebaseauth

import (
	"context"
	"fmt"
	"sort"
)

// Difference is one way Kratos does not hold what the source says.
type Difference struct {
	UID    string `json:"uid"`
	Email  string `json:"email,omitempty"`
	Field  string `json:"field"`
	Source string `json:"source"`
	Kratos string `json:"kratos"`
}

// Verify re-reads the source and Kratos and compares every importable user's traits, state,
// verified address and credential types.
func Verify(ctx context.Context, r *Run) (int, []Difference, error) {
	users, err := readUsers(ctx, r.Source)
	if err != nil {
		return 0, nil, err
	}
	prepared := r.Mapping.Prepare(users)
	ledger, err := r.Importer.Ledger.Load(ctx)
	if err != nil {
		return 0, nil, err
	}
	var diffs []Difference
	for _, uid := range prepared.Order {
		want := prepared.Identities[uid]
		u := prepared.Users[uid]
		add := func(field, src, got string) {
			diffs = append(diffs, Difference{UID: uid, Email: u.Email, Field: field, Source: src, Kratos: got})
		}
		e, ok := ledger[uid]
		if !ok || e.IdentityID == "" {
			add("identity", "to migrate", "none recorded in the ledger")
			continue
		}
		got, _, err := r.Importer.Admin.IdentityAPI.GetIdentity(ctx, e.IdentityID).IncludeCredential([]string{"password", "oidc"}).Execute()
		if err != nil {
			add("identity", e.IdentityID, "cannot be read: "+err.Error())
			continue
		}
		traits, _ := got.Traits.(map[string]any)
		for _, k := range []string{"email", "name", "phone", "picture"} {
			if fmt.Sprint(want.Traits[k]) != fmt.Sprint(traits[k]) {
				add("traits."+k, fmt.Sprint(want.Traits[k]), fmt.Sprint(traits[k]))
			}
		}
		if want.GetState() != got.GetState() {
			add("state", want.GetState(), got.GetState())
		}
		if u.Email != "" {
			verified := false
			for _, a := range got.VerifiableAddresses {
				if a.Value == u.Email {
					verified = a.Verified
				}
			}
			if verified != u.EmailVerified {
				add("verified address "+u.Email, fmt.Sprint(u.EmailVerified), fmt.Sprint(verified))
			}
		}
		wantTypes, gotTypes := credentialTypes(want.Credentials != nil && want.Credentials.Password != nil, want.Credentials != nil && want.Credentials.Oidc != nil), []string{}
		for t, c := range got.GetCredentials() {
			switch t {
			case "oidc":
				gotTypes = append(gotTypes, t)
			case "password":
				// Kratos keeps an identifier-only password credential for every email: only one
				// with a hash is a password.
				if h, _ := c.Config["hashed_password"].(string); h != "" {
					gotTypes = append(gotTypes, t)
				}
			}
		}
		sort.Strings(gotTypes)
		if fmt.Sprint(wantTypes) != fmt.Sprint(gotTypes) {
			add("credentials", fmt.Sprint(wantTypes), fmt.Sprint(gotTypes))
		}
	}
	return len(prepared.Order), diffs, nil
}

func credentialTypes(password, oidc bool) []string {
	out := []string{}
	if oidc {
		out = append(out, "oidc")
	}
	if password {
		out = append(out, "password")
	}
	return out
}
