package auth

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestAuthFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var got *Options
	runF := func(_ context.Context, o *Options) error { got = o; return nil }
	require.NoError(t, cmdtest.Run(f, NewCmdAuth(f, runF), "--from-file users.json --hash-config h.txt --canary-file c.txt --batch-size 100 --provider-map oidc.okta=okta"))
	assert.Equal(t, "users.json", got.FromFile)
	assert.Equal(t, "c.txt", got.CanaryFile)
	assert.Equal(t, 100, got.BatchSize)
	assert.Equal(t, []string{"oidc.okta=okta"}, got.ProviderMap)

	got = nil
	require.NoError(t, cmdtest.Run(f, NewCmdAuth(f, runF), "verify --project p --hash-config h.txt"))
	assert.Equal(t, "p", got.Project)
	assert.Error(t, cmdtest.Run(f, NewCmdAuth(f, runF), "--concurrency 0"))
}
