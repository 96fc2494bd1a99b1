package preflight

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestPreflightFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var got *Options
	runF := func(_ context.Context, o *Options) error { got = o; return nil }
	require.NoError(t, cmdtest.Run(f, NewCmdPreflight(f, runF), "--profile onprem -n acme --ignore-checks dns --offline --postgres-url postgres://u:pw1234@h/db"))
	assert.Equal(t, "onprem", got.Preflight.Profile)
	assert.Equal(t, "acme", got.Preflight.Namespace)
	assert.Equal(t, []string{"dns"}, got.Preflight.Ignore)
	assert.True(t, got.Preflight.Offline)
	assert.Equal(t, "x [REDACTED] y", f.Redactor.String("x pw1234 y"), "the URL's password is registered before anything runs")
}
