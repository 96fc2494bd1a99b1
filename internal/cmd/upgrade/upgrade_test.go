package upgrade

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestUpgradeFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var got *Options
	runF := func(_ context.Context, o *Options) error { got = o; return nil }
	require.NoError(t, cmdtest.Run(f, NewCmdUpgrade(f, runF), "apply --profile onprem -n acme --set global.imageTag=1.0.1 --skip-backup"))
	assert.Equal(t, "upgrade", got.Install.Operation)
	assert.Equal(t, []string{"global.imageTag=1.0.1"}, got.Install.Chart.Set)
	assert.True(t, got.SkipBackup)

	got = nil
	require.NoError(t, cmdtest.Run(f, NewCmdUpgrade(f, runF), "plan --profile onprem -n acme -o json"))
	assert.Empty(t, got.Install.Operation)
	assert.Equal(t, "json", got.Output)

	got = nil
	assert.Error(t, cmdtest.Run(f, NewCmdUpgrade(f, runF), "apply --profile onprem --timeout 0"))
	assert.Nil(t, got)
}
