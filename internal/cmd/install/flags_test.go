package install

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestInstallFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var got *Options
	cmd := NewCmdInstall(f, func(_ context.Context, o *Options) error { got = o; return nil })
	require.NoError(t, cmdtest.Run(f, cmd, "--profile aws -n acme -f a.yaml -f b.yaml --set x=1 --timeout 3m --ignore-checks dns,smtp --offline --skip-upstream -o json"))
	require.NotNil(t, got)
	assert.Equal(t, "aws", got.Install.Chart.Profile)
	assert.Equal(t, "acme", got.Install.Chart.Namespace)
	assert.Equal(t, []string{"a.yaml", "b.yaml"}, got.Install.Chart.ValueFiles)
	assert.Equal(t, []string{"x=1"}, got.Install.Chart.Set)
	assert.Equal(t, 3*time.Minute, got.Install.Timeout)
	assert.Equal(t, []string{"dns", "smtp"}, got.Install.Preflight.Ignore)
	assert.True(t, got.Install.Preflight.Offline)
	assert.Equal(t, "acme", got.Install.Preflight.Namespace, "preflight checks the namespace install uses")
	assert.True(t, got.Install.SkipUpstream)
	assert.Equal(t, "json", got.Output)
	assert.NotNil(t, got.Env)

	got = nil
	err := cmdtest.Run(f, NewCmdInstall(f, func(_ context.Context, o *Options) error { got = o; return nil }), "--profile aws --ignore-checks dsn")
	assert.Equal(t, cmdutil.ExitUsage, cmdutil.ExitCode(err))
	assert.Nil(t, got, "nothing runs after a usage error")
}
