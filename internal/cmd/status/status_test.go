package status

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestStatusFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var got *Options
	runF := func(_ context.Context, o *Options) error { got = o; return nil }
	require.NoError(t, cmdtest.Run(f, NewCmdStatus(f, runF), "-n acme --release r2 -o yaml"))
	assert.Equal(t, "acme", got.Namespace)
	assert.Equal(t, "r2", got.Release)
	assert.Equal(t, "yaml", got.Output)

	got = nil
	err := cmdtest.Run(f, NewCmdStatus(f, runF), "-o xml")
	assert.Equal(t, cmdutil.ExitUsage, cmdutil.ExitCode(err))
	assert.Nil(t, got)
}
