package rollback

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestRollbackFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var got *Options
	runF := func(_ context.Context, o *Options) error { got = o; return nil }
	require.NoError(t, cmdtest.Run(f, NewCmdRollback(f, runF), "3 -n acme --timeout 90s --force-unlock"))
	assert.Equal(t, 3, got.Revision)
	assert.Equal(t, "acme", got.Namespace)
	assert.Equal(t, 90*time.Second, got.Timeout)
	assert.True(t, got.ForceUnlock)

	for _, bad := range []string{"0", "x", "--timeout 0", "1 2"} {
		got = nil
		err := cmdtest.Run(f, NewCmdRollback(f, runF), bad)
		assert.Error(t, err, bad)
		assert.Nil(t, got, bad)
	}
}
