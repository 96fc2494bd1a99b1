package firestore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestFirestoreFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var got *Options
	runF := func(_ context.Context, o *Options) error { got = o; return nil }
	require.NoError(t, cmdtest.Run(f, NewCmdFirestore(f, runF), "--from-ndjson d.ndjson --tenant acme --batch-size 10 --page-size 20 --mapping m.yaml"))
	assert.Equal(t, "d.ndjson", got.FromNDJSON)
	assert.Equal(t, "acme", got.Tenant)
	assert.Equal(t, 10, got.BatchSize)
	assert.Equal(t, 20, got.PageSize)

	got = nil
	require.NoError(t, cmdtest.Run(f, NewCmdFirestore(f, runF), "verify --project p"))
	assert.Equal(t, "p", got.Project)
	for _, bad := range []string{"--batch-size 0", "--batch-size -5", "--page-size 0"} {
		assert.Error(t, cmdtest.Run(f, NewCmdFirestore(f, runF), bad), bad)
	}
}
