package firebaseauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kratos "github.com/ory/kratos-client-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
)

// fileUser is what the tests put into export files, with its plaintext password.
type fileUser struct {
	uid, email, password, name string
	verified, disabled         bool
	salt, hash                 []byte
	provider, rawID            string
}

func makeUsers(t *testing.T, p *fa.HashParams, tag string) []fileUser {
	var out []fileUser
	for i, kind := range []string{"plain", "verified", "disabled", "federated"} {
		u := fileUser{uid: fmt.Sprintf("%s-%d-%s", kind, i, tag), email: fmt.Sprintf("%s-%s@example.com", kind, tag),
			name: "User, \"" + kind + "\"", verified: kind == "verified", disabled: kind == "disabled"}
		if kind == "federated" {
			u.provider, u.rawID = "github.com", "gh-"+tag
		} else {
			u.password = "pw-" + kind + "-" + tag
			u.salt = randomBytes(12)
			h, err := p.Hash(u.password, u.salt)
			require.NoError(t, err)
			u.hash = h
		}
		out = append(out, u)
	}
	// The public test vector's own user, whose hash the vector gives.
	out = append(out, fileUser{uid: "vector-" + tag, email: "vector-" + tag + "@example.com", password: vector.password,
		salt: b64(t, vector.salt), hash: b64(t, vector.hash), verified: true})
	return out
}

// writeJSON writes users in the auth:export JSON format (standard base64).
func writeJSON(t *testing.T, users []fileUser) string {
	type provider struct {
		ProviderID string `json:"providerId"`
		RawID      string `json:"rawId"`
	}
	type user struct {
		LocalID          string     `json:"localId"`
		Email            string     `json:"email,omitempty"`
		EmailVerified    bool       `json:"emailVerified"`
		PasswordHash     string     `json:"passwordHash,omitempty"`
		Salt             string     `json:"salt,omitempty"`
		DisplayName      string     `json:"displayName,omitempty"`
		CreatedAt        string     `json:"createdAt"`
		Disabled         bool       `json:"disabled"`
		ProviderUserInfo []provider `json:"providerUserInfo,omitempty"`
	}
	var doc struct {
		Users []user `json:"users"`
	}
	for _, u := range users {
		e := user{LocalID: u.uid, Email: u.email, EmailVerified: u.verified, DisplayName: u.name, CreatedAt: "1700000000000", Disabled: u.disabled}
		if u.hash != nil {
			e.PasswordHash, e.Salt = base64.StdEncoding.EncodeToString(u.hash), base64.StdEncoding.EncodeToString(u.salt)
		}
		if u.provider != "" {
			e.ProviderUserInfo = []provider{{ProviderID: u.provider, RawID: u.rawID}}
		}
		doc.Users = append(doc.Users, e)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "users.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// writeCSV writes users in the auth:export CSV layout (providers at their fixed columns).
func writeCSV(t *testing.T, users []fileUser) string {
	var b strings.Builder
	for _, u := range users {
		row := make([]string, 28)
		row[0], row[1], row[2] = u.uid, u.email, fmt.Sprint(u.verified)
		if u.hash != nil {
			row[3], row[4] = base64.StdEncoding.EncodeToString(u.hash), base64.StdEncoding.EncodeToString(u.salt)
		}
		row[5] = `"` + strings.ReplaceAll(u.name, `"`, `""`) + `"`
		if u.provider == "github.com" {
			row[19] = u.rawID
		}
		row[23], row[26] = "1700000000000", fmt.Sprint(u.disabled)
		b.WriteString(strings.Join(row, ",") + "\n")
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func TestFileMigrationKeepsPasswords(t *testing.T) {
	params := vectorParams(t) // the vector user needs the vector's parameters
	for _, format := range []string{"json", "csv"} {
		t.Run(format, func(t *testing.T) {
			tag := fmt.Sprintf("%s%x", format, randomBytes(3))
			users := makeUsers(t, params, tag)
			path := writeJSON(t, users)
			if format == "csv" {
				path = writeCSV(t, users)
			}
			run, _ := newRun(t, &fa.FileSource{Path: path}, params, "file-"+tag)
			run.Canaries = []fa.Canary{{Email: users[len(users)-1].email, Password: vector.password}}
			rep, err := run.Execute(context.Background())
			require.NoError(t, err)
			require.True(t, rep.OK(), "%+v", rep.Problems)
			assert.Equal(t, len(users), rep.Totals[fa.OutcomeImported])
			assert.Equal(t, []string{fa.LongPasswordNote}, rep.Notes, "users with passwords are told about Kratos' 72-character limit")
			for _, u := range users {
				if u.password == "" {
					continue
				}
				want := http.StatusOK
				if u.disabled {
					want = http.StatusUnauthorized
				}
				assert.Equal(t, want, login(t, u.email, u.password), u.email)
			}
			_, diffs, err := fa.Verify(context.Background(), run)
			require.NoError(t, err)
			assert.Empty(t, diffs)
		})
	}
}

func TestBadInputIsReportedNotLost(t *testing.T) {
	params := vectorParams(t)
	tag := fmt.Sprintf("bad%x", randomBytes(3))
	users := makeUsers(t, params, tag)

	// A wrong signer key: the canary stops the run before anything is written.
	wrong := *params
	wrong.SignerKey = randomBytes(64)
	run, pool := newRun(t, &fa.FileSource{Path: writeJSON(t, users)}, &wrong, "canary-"+tag)
	run.Canaries = []fa.Canary{{Email: users[0].email, Password: users[0].password}}
	_, err := run.Execute(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "canary "+users[0].email+": the password does not match its hash")
	var exists bool
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT to_regclass('resimate_migration.firebase_auth_ledger') IS NOT NULL").Scan(&exists))
	assert.False(t, exists, "nothing was written")

	// A malformed file: the error names the line and the field.
	csvPath := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte("u1,a@example.com,true,,,A,,,,,,,,,,,,,,,,,,1700000000000,,,false\nu2,b@example.com,maybe,,,B,,,,,,,,,,,,,,,,,,1,,,false\n"), 0o600))
	run, _ = newRun(t, &fa.FileSource{Path: csvPath}, params, "malformed-"+tag)
	_, err = run.Execute(context.Background())
	assert.EqualError(t, err, `bad.csv line 2 (uid u2): field Email Verified: strconv.ParseBool: parsing "maybe": invalid syntax`)
	jsonPath := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(jsonPath, []byte(`{"users":[{"localId":"u1","email":"a@example.com"},{"localId":"u2","passwordHash":"@@@"}]}`), 0o600))
	run, _ = newRun(t, &fa.FileSource{Path: jsonPath}, params, "malformed2-"+tag)
	_, err = run.Execute(context.Background())
	assert.ErrorContains(t, err, `bad.json user 2 (uid u2): field passwordHash: not base64`)

	// Users that cannot be imported are reported with the reason; the rest go in; a rerun after
	// the fix picks them up.
	extra := append(users,
		fileUser{uid: "okta-" + tag, email: "okta-" + tag + "@example.com"},
		fileUser{uid: "nobody-" + tag},
		fileUser{uid: "case-" + tag, email: strings.ToUpper(users[0].email[:1]) + users[0].email[1:]},
		fileUser{uid: "invalid-" + tag, email: "not an email"},
	)
	path := writeJSON(t, extra)
	// The JSON writer knows no custom providers: put okta in by hand.
	data, _ := os.ReadFile(path)
	data = []byte(strings.Replace(string(data), `"localId": "okta-`+tag+`",`, `"localId": "okta-`+tag+`", "providerUserInfo": [{"providerId": "oidc.okta", "rawId": "o1-`+tag+`"}],`, 1))
	require.NoError(t, os.WriteFile(path, data, 0o600))

	run, _ = newRun(t, &fa.FileSource{Path: path}, params, "rejects-"+tag)
	rep, err := run.Execute(context.Background())
	require.NoError(t, err)
	assert.False(t, rep.OK())
	assert.Equal(t, len(users), rep.Totals[fa.OutcomeImported])
	reasons := map[string]string{}
	for _, p := range rep.Problems {
		reasons[p.UID] = p.Reason
	}
	assert.Equal(t, "provider oidc.okta has no Kratos provider: add --provider-map oidc.okta=<kratos provider id>", reasons["okta-"+tag])
	assert.Equal(t, "no email and no phone number: nothing to sign in with", reasons["nobody-"+tag])
	assert.Contains(t, reasons["case-"+tag], "differs only in case from user "+users[0].uid)
	assert.Equal(t, `invalid email "not an email"`, reasons["invalid-"+tag])

	run.Mapping.Providers["oidc.okta"] = "okta"
	rep, err = run.Execute(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Totals[fa.OutcomeImported], "the fixed user is picked up")
	assert.Equal(t, len(users), rep.Totals["already"])
}

func kratosBody(email string) *kratos.CreateIdentityBody {
	pw := "an-unrelated-password-1"
	b := kratos.NewCreateIdentityBody("user_v1", map[string]any{"email": email})
	b.Credentials = &kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
		Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &pw}}}
	return b
}
