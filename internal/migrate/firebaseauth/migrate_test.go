package firebaseauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"firebase.google.com/go/v4/auth"
	"firebase.google.com/go/v4/auth/hash"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
	"github.com/resimate/resimatectl/internal/testenv"
)

// Firebase's published scrypt test vector.
var vector = struct{ key, sep, salt, hash, password string }{
	key:      "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==",
	sep:      "Bw==",
	salt:     "42xEC+ixf3L2lw==",
	hash:     "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
	password: "user1password",
}

func b64(t testing.TB, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func vectorParams(t testing.TB) *fa.HashParams {
	return &fa.HashParams{SignerKey: b64(t, vector.key), SaltSeparator: b64(t, vector.sep), Rounds: 8, MemCost: 14}
}

func TestHashMatchesFirebaseTestVector(t *testing.T) {
	p := vectorParams(t)
	got, err := p.Hash(vector.password, b64(t, vector.salt))
	require.NoError(t, err)
	assert.Equal(t, vector.hash, base64.StdEncoding.EncodeToString(got))
	ok, err := p.Verify("wrong", b64(t, vector.salt), got)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, "$firescrypt$ln=14,r=8,p=1$42xEC+ixf3L2lw==$"+vector.hash+"$Bw==$"+vector.key, p.KratosHash(got, b64(t, vector.salt)))
}

// seeded is a user the test put into the emulator, with its plaintext password.
type seeded struct {
	uid, email, password string
	disabled             bool
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// seed imports a set covering every case into a fresh emulator project, hashing random
// passwords with params.
func seed(t *testing.T, client *auth.Client, params *fa.HashParams, tag string) []seeded {
	ctx := context.Background()
	var users []*auth.UserToImport
	var out []seeded
	add := func(uid, email, password string, configure func(*auth.UserToImport)) {
		u := (&auth.UserToImport{}).UID(uid)
		if email != "" {
			u.Email(email)
		}
		if password != "" {
			salt := randomBytes(12)
			h, err := params.Hash(password, salt)
			require.NoError(t, err)
			u.PasswordHash(h).PasswordSalt(salt)
		}
		if configure != nil {
			configure(u)
		}
		users = append(users, u)
		s := seeded{uid: uid, email: email, password: password}
		out = append(out, s)
	}
	pw := func() string { return "pw-" + hex.EncodeToString(randomBytes(8)) }
	add("verified-"+tag, "verified-"+tag+"@example.com", pw(), func(u *auth.UserToImport) { u.EmailVerified(true).DisplayName("Ada Lovelace") })
	add("unverified-"+tag, "unverified-"+tag+"@example.com", pw(), nil)
	add("disabled-"+tag, "disabled-"+tag+"@example.com", pw(), func(u *auth.UserToImport) { u.Disabled(true) })
	out[len(out)-1].disabled = true
	add("claims-"+tag, "claims-"+tag+"@example.com", pw(), func(u *auth.UserToImport) {
		u.CustomClaims(map[string]any{"role": "admin", "tenant": "main"})
	})
	add("google-only-"+tag, "google-"+tag+"@example.com", "", func(u *auth.UserToImport) {
		u.ProviderData([]*auth.UserProvider{{ProviderID: "google.com", UID: "g-" + tag, Email: "google-" + tag + "@example.com"}})
	})
	add("both-"+tag, "both-"+tag+"@example.com", pw(), func(u *auth.UserToImport) {
		u.ProviderData([]*auth.UserProvider{{ProviderID: "github.com", UID: "gh-" + tag}})
	})
	add("phone-"+tag, "", "", func(u *auth.UserToImport) {
		u.PhoneNumber(fmt.Sprintf("+1555%07d", int(randomBytes(3)[0])*10000+int(randomBytes(2)[1])))
	})

	res, err := client.ImportUsers(ctx, users, auth.WithHash(hash.Scrypt{
		Key: params.SignerKey, SaltSeparator: params.SaltSeparator, Rounds: params.Rounds, MemoryCost: params.MemCost,
	}))
	require.NoError(t, err)
	require.Equal(t, len(users), res.SuccessCount, "%v", res.Errors)
	return out
}

// login signs in through Kratos' public API (the native login flow) and reports the status.
func login(t *testing.T, email, password string) int {
	e := testenv.Require(t, testenv.Kratos)
	resp, err := http.Get(e.KratosPublicURL + "/self-service/login/api")
	require.NoError(t, err)
	var flow struct{ ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&flow))
	resp.Body.Close()
	body, _ := json.Marshal(map[string]string{"method": "password", "identifier": email, "password": password})
	resp, err = http.Post(e.KratosPublicURL+"/self-service/login?flow="+flow.ID, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func newRun(t *testing.T, source fa.Source, params *fa.HashParams, project string) (*fa.Run, *pgxpool.Pool) {
	pool, _ := testenv.Pool(t)
	providers := map[string]string{}
	for k, v := range fa.DefaultProviders {
		providers[k] = v
	}
	return &fa.Run{
		Source:  source,
		Project: project,
		Mapping: &fa.Mapping{SchemaID: "user_v1", Hash: params, Providers: providers},
		Importer: &fa.Importer{Admin: testenv.KratosAdmin(t), Ledger: &fa.Ledger{Pool: pool, Project: project},
			BatchSize: 3, Concurrency: 2},
	}, pool
}

func TestLiveMigrationKeepsPasswords(t *testing.T) {
	client, project := testenv.FirebaseAuthClient(t)
	tag := hex.EncodeToString(randomBytes(3))
	// A random parameter set of the test's own, cheaper than production's.
	params := &fa.HashParams{SignerKey: randomBytes(64), SaltSeparator: randomBytes(1), Rounds: 4, MemCost: 10}
	users := seed(t, client, params, tag)

	run, _ := newRun(t, &fa.LiveSource{Client: client, Project: project}, params, project)
	run.Canaries = []fa.Canary{{Email: users[0].email, Password: users[0].password}}
	rep, err := run.Execute(context.Background())
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%+v", rep.Problems)
	assert.Equal(t, len(users), rep.Totals[fa.OutcomeImported], "%+v", rep.Totals)

	for _, u := range users {
		if u.password == "" {
			continue
		}
		want := http.StatusOK
		if u.disabled {
			want = http.StatusUnauthorized // an inactive identity cannot sign in
		}
		assert.Equal(t, want, login(t, u.email, u.password), "%s signs in with the original password", u.email)
		assert.Equal(t, http.StatusBadRequest, login(t, u.email, u.password+"x"), "%s: a wrong password fails", u.email)
	}

	// A rerun imports nothing new.
	again, err := run.Execute(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 0, again.Totals[fa.OutcomeImported])
	assert.Equal(t, len(users), again.Totals["already"])

	checked, diffs, err := fa.Verify(context.Background(), run)
	require.NoError(t, err)
	assert.Equal(t, len(users), checked)
	assert.Empty(t, diffs)
}

// The public test vector's user, imported into the emulator with the vector's parameters,
// signs in through Kratos with its published password.
func TestLiveMigrationOfTheTestVectorUser(t *testing.T) {
	client, project := testenv.FirebaseAuthClient(t)
	p := vectorParams(t)
	email := fmt.Sprintf("vector-%x@example.com", randomBytes(4))
	u := (&auth.UserToImport{}).UID("vector").Email(email).PasswordHash(b64(t, vector.hash)).PasswordSalt(b64(t, vector.salt))
	res, err := client.ImportUsers(context.Background(), []*auth.UserToImport{u}, auth.WithHash(hash.Scrypt{
		Key: p.SignerKey, SaltSeparator: p.SaltSeparator, Rounds: p.Rounds, MemoryCost: p.MemCost}))
	require.NoError(t, err)
	require.Equal(t, 1, res.SuccessCount)
	run, _ := newRun(t, &fa.LiveSource{Client: client, Project: project}, p, project)
	rep, err := run.Execute(context.Background())
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Problems)
	assert.Equal(t, http.StatusOK, login(t, email, vector.password))
}

// An identity Kratos already has is matched and recorded only when this migration made it (its
// metadata_admin.firebase_uid is the user's uid); one someone else made with the same address
// is never attached: that user is rejected with the reason. A dry run writes nothing.
func TestExistingIdentityIsMatchedOnlyByUIDAndDryRunWritesNothing(t *testing.T) {
	p := vectorParams(t)
	tag := fmt.Sprintf("ex%x", randomBytes(3))
	users := makeUsers(t, p, tag)
	admin := testenv.KratosAdmin(t)
	foreign, _, err := admin.IdentityAPI.CreateIdentity(context.Background()).CreateIdentityBody(
		*kratosBody(users[0].email)).Execute()
	require.NoError(t, err)
	ours := kratosBody(users[1].email)
	ours.MetadataAdmin = map[string]any{"firebase_uid": users[1].uid}
	earlier, _, err := admin.IdentityAPI.CreateIdentity(context.Background()).CreateIdentityBody(*ours).Execute()
	require.NoError(t, err)

	run, pool := newRun(t, &fa.FileSource{Path: writeJSON(t, users)}, p, "existing-"+tag)
	run.DryRun = true
	rep, err := run.Execute(context.Background())
	require.NoError(t, err)
	assert.Equal(t, len(users), rep.Totals["importable"])
	var exists bool
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT to_regclass('resimate_migration.firebase_auth_ledger') IS NOT NULL").Scan(&exists))
	assert.False(t, exists, "a dry run writes nothing")

	run.DryRun = false
	rep, err = run.Execute(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Totals[fa.OutcomeExisting])
	assert.Equal(t, 1, rep.Totals[fa.OutcomeRejected])
	assert.Equal(t, len(users)-2, rep.Totals[fa.OutcomeImported])
	require.Len(t, rep.Problems, 1)
	assert.Equal(t, users[0].uid, rep.Problems[0].UID)
	assert.Contains(t, rep.Problems[0].Reason, "an identity with this address exists that the migration did not create")

	var id string
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT identity_id::text FROM resimate_migration.firebase_auth_ledger WHERE uid = $1", users[1].uid).Scan(&id))
	assert.Equal(t, earlier.Id, id)
	var attached int
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT count(*) FROM resimate_migration.firebase_auth_ledger WHERE identity_id::text = $1", foreign.Id).Scan(&attached))
	assert.Zero(t, attached, "the foreign identity is attached to nobody")
	list, _, err := admin.IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier(users[1].email).Execute()
	require.NoError(t, err)
	assert.Len(t, list, 1, "not duplicated")
}
