package install_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/testenv"
)

// With an external PostgreSQL, install makes the roles and databases with the generated
// passwords, least privilege, idempotently; it never touches a role that is not its own.
func TestExternalPostgresGetsRolesAndDatabases(t *testing.T) {
	crds(t)
	e := testenv.Require(t, testenv.Postgres)
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, e.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	testenv.DropPlatformRoles(t, admin)
	t.Cleanup(func() { testenv.DropPlatformRoles(t, admin) })

	server, err := url.Parse(e.DatabaseURL)
	require.NoError(t, err)
	env, out := testEnv(t)
	ns := testenv.Namespace(t, nil)
	appDB, kratosDB := strings.ReplaceAll(testenv.UniqueName("app"), "-", "_"), strings.ReplaceAll(testenv.UniqueName("ids"), "-", "_")
	opts := options(ns, "aws", "postgres.external.host="+server.Hostname(), "postgres.external.port="+server.Port(),
		"postgres.external.sslmode=disable", "postgres.database="+appDB, "postgres.kratosDatabase="+kratosDB, "global.tenant=acme")
	opts.Preflight.PostgresURL = e.DatabaseURL
	_, err = install.Install(ctx, env, opts)
	require.NoError(t, err, out.String())
	for _, change := range []string{"created role resimate", "created role kratos", "created database " + appDB, "created database " + kratosDB, "created schema tenant_acme in " + appDB} {
		assert.Contains(t, out.String(), change)
	}

	login := func(role, db string) (*pgx.Conn, error) {
		s, err := testenv.Clientset(t).CoreV1().Secrets(ns).Get(ctx, "resimate-db-"+map[string]string{"resimate": "app", "kratos": "kratos"}[role], metav1.GetOptions{})
		require.NoError(t, err)
		u := *server
		u.User, u.Path = url.UserPassword(role, string(s.Data["password"])), "/"+db
		return pgx.Connect(ctx, u.String())
	}
	app, err := login("resimate", appDB)
	require.NoError(t, err, "the app role logs in with the Secret's password")
	_, err = app.Exec(ctx, "CREATE TABLE tenant_acme.campaigns (id text PRIMARY KEY)")
	assert.NoError(t, err, "and owns its tenant schema")
	app.Close(ctx)
	_, err = login("resimate", kratosDB)
	assert.ErrorContains(t, err, "permission denied for database", "but cannot connect to Kratos' database")
	var super, createDB, createRole bool
	require.NoError(t, admin.QueryRow(ctx, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'kratos'").Scan(&super, &createDB, &createRole))
	assert.Equal(t, []bool{false, false, false}, []bool{super, createDB, createRole}, "least privilege")

	// A rerun changes nothing; a password changed behind install's back is set back.
	out.Reset()
	_, err = install.Install(ctx, env, opts)
	require.NoError(t, err, out.String())
	assert.NotContains(t, out.String(), "created ")
	_, err = admin.Exec(ctx, "ALTER ROLE kratos PASSWORD 'changed-elsewhere'")
	require.NoError(t, err)
	out.Reset()
	_, err = install.Install(ctx, env, opts)
	require.NoError(t, err, out.String())
	assert.Contains(t, out.String(), "set the password of role kratos to the one in its Secret")
	ids, err := login("kratos", kratosDB)
	require.NoError(t, err)
	ids.Close(ctx)

	// A role that is not this installation's is never touched.
	_, err = admin.Exec(ctx, "COMMENT ON ROLE kratos IS 'the billing team''s'")
	require.NoError(t, err)
	_, err = install.Install(ctx, env, opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `role kratos exists on the server and is not this installation's (its comment is "the billing team's"`)
	assert.NotContains(t, out.String()+err.Error(), strings.TrimPrefix(e.DatabaseURL, "postgres://"), "no admin URL in output")

	// uninstall --purge --drop-databases drops only what is this installation's.
	res, err := install.Uninstall(ctx, env, ns, "resimate", install.UninstallOptions{Timeout: time.Minute, Purge: true, DropDatabases: true, PostgresURL: e.DatabaseURL})
	require.NoError(t, err, out.String())
	assert.Subset(t, res.Purged, []string{"database " + appDB, "role resimate", "database " + kratosDB})
	assert.Contains(t, res.Kept, "role kratos (not this installation's)")
	var left int
	require.NoError(t, admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname IN ($1, $2)", appDB, kratosDB).Scan(&left))
	assert.Zero(t, left)
}
