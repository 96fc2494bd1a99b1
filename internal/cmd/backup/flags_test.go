package backup

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

// Usage mistakes are exit 2 before anything runs; good flags reach the run function.
func TestBackupFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var created *CreateOptions
	create := func(_ context.Context, o *CreateOptions) error { created = o; return nil }
	require.NoError(t, cmdtest.Run(f, NewCmdCreate(f, create), "--to /tmp/sets -r age1x --parts vault,db -n acme"))
	assert.Equal(t, "/tmp/sets", created.Store.URL, "--to is --store")
	assert.Equal(t, []string{"db", "vault"}, created.Parts, "parts in restore order")

	var restored *RestoreOptions
	restore := func(_ context.Context, o *RestoreOptions) error { restored = o; return nil }
	require.NoError(t, cmdtest.Run(f, NewCmdRestore(f, restore), "20261129T020000Z-abcdef --from /tmp/sets --parts cluster --into-namespace staging --yes"))
	assert.Equal(t, "staging", restored.Installation.Namespace)
	assert.Equal(t, "staging-resimate-values.yaml", restored.ValuesFile)

	var pruned *PruneOptions
	require.NoError(t, cmdtest.Run(f, NewCmdPrune(f, func(_ context.Context, o *PruneOptions) error { pruned = o; return nil }), "--store /tmp/sets --retention 36h"))
	assert.Equal(t, 36*time.Hour, pruned.Retention)
	assert.Equal(t, 24*time.Hour, pruned.Stale)

	never := func(context.Context, *ScheduleOptions) error { t.Fatal("ran"); return nil }
	for _, bad := range []struct {
		name string
		err  error
	}{
		{"create --parts files", cmdtest.Run(f, NewCmdCreate(f, create), "--to /tmp/sets --parts files")},
		{"create --insecure with a recipient", cmdtest.Run(f, NewCmdCreate(f, create), "--to /tmp/sets -r age1x --insecure-no-encryption")},
		{"restore cluster with db", cmdtest.Run(f, NewCmdRestore(f, restore), "ID --store /tmp/sets --parts cluster,db --yes")},
		{"restore into a bad namespace", cmdtest.Run(f, NewCmdRestore(f, restore), "ID --store /tmp/sets --into-namespace Bad_NS --yes")},
		{"restore off a terminal without --yes", cmdtest.Run(f, NewCmdRestore(f, restore), "ID --store /tmp/sets")},
		{"prune --retention 0d", cmdtest.Run(f, NewCmdPrune(f, nil), "--store /tmp/sets --retention 0d")},
		{"prune --retention weekly", cmdtest.Run(f, NewCmdPrune(f, nil), "--store /tmp/sets --retention weekly")},
		{"schedule a bad cron", cmdtest.Run(f, NewCmdSchedule(f, never), "--cron nightly --to /tmp/sets -r age1x --image i")},
		{"schedule without a store", cmdtest.Run(f, NewCmdSchedule(f, never), "--cron @daily -r age1x --image i")},
		{"verify --deep without a database", cmdtest.Run(f, NewCmdVerify(f, nil), "ID --store /tmp/sets --deep")},
	} {
		assert.Equal(t, cmdutil.ExitUsage, cmdutil.ExitCode(bad.err), "%s: %v", bad.name, bad.err)
	}
}
