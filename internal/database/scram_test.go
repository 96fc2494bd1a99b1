package database

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// The verifier is PostgreSQL's own form: the server stores it as it is, and a verifier the server
// made from a password matches that password and no other.
func TestSCRAMVerifierIsPostgresOwn(t *testing.T) {
	pool, _ := testenv.Pool(t)
	ctx := context.Background()
	role := "scram_" + testenv.UniqueName("r")[2:10]
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	_, err := pool.Exec(ctx, "CREATE ROLE "+role+" PASSWORD 'made by the server'")
	require.NoError(t, err)
	var stored string
	require.NoError(t, pool.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&stored))
	assert.True(t, scramMatches(stored, "made by the server"))
	assert.False(t, scramMatches(stored, "another"))

	ours, err := scramVerifier("made by us")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ALTER ROLE "+role+" PASSWORD "+quoteLiteral(ours))
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&stored))
	assert.Equal(t, ours, stored, "kept as given, not hashed again")
	assert.True(t, scramMatches(stored, "made by us"))
	assert.False(t, scramMatches("md5abc", "made by us"))
}
