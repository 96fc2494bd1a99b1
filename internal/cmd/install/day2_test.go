package install_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// What a user sees through a release's life: status shows what the pods run after an upgrade
// that changed only the image tag; a failed upgrade prints one error line and no library log
// lines; uninstall reports only what existed, twice over.
func TestStatusUpgradeUninstallAsAUserSeesThem(t *testing.T) {
	e := testenv.Require(t, testenv.Kubernetes)
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	ns := testenv.Namespace(t, nil)
	vault := withVault(t, ns)
	r := cli(t, e.Kubeconfig, installArgs(ns, vault...)...)
	require.Equal(t, 0, r.Code, r.Stderr)

	upgradeStart := time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	up := append([]string{"upgrade", "apply", "--skip-backup"}, installArgs(ns, append(vault, "--set", "global.imageTag=1.0.1")...)[1:]...)
	r = cli(t, e.Kubeconfig, up...)
	require.Equal(t, 0, r.Code, r.Stderr)

	st := cli(t, e.Kubeconfig, "status", "-n", ns, "-o", "json")
	require.Equal(t, 0, st.Code, st.Stderr)
	var status struct {
		Components []struct {
			Name, Version  string
			LastTransition *time.Time
			Desired        int64
		}
	}
	require.NoError(t, json.Unmarshal([]byte(st.Stdout), &status))
	// Our own images carry global.imageTag; Kratos and Vault keep their upstream versions.
	byName := map[string]int{}
	for i, c := range status.Components {
		byName[c.Name] = i
	}
	for _, name := range []string{"frontend", "core-model-api", "campaigns-api", "config-api"} {
		i, ok := byName[name]
		require.True(t, ok, "status lists %s", name)
		c := status.Components[i]
		assert.Equal(t, "1.0.1", c.Version, c.Name)
		require.NotNil(t, c.LastTransition, c.Name)
		assert.False(t, c.LastTransition.Before(upgradeStart), "%s: last change %s is before the upgrade at %s", c.Name, c.LastTransition, upgradeStart)
	}

	// A failing upgrade: one error line, none of Helm's own log lines, a value Helm warns about
	// (a table replaced by a string) kept out of sight too.
	bad := append([]string{"upgrade", "apply", "--skip-backup"}, installArgs(ns, "--skip-preflight", "--timeout", "10s",
		"--set", "global.nodeSelector.pool=none-such")[1:]...)
	bad = removeFlag(bad, "--log-level", "debug")
	r = cli(t, e.Kubeconfig, bad...)
	assert.Equal(t, 1, r.Code)
	assert.Equal(t, 1, strings.Count(r.Stderr, "Error: "), r.Stderr)
	assert.NotContains(t, r.Stderr, "level=WARN")
	assert.NotContains(t, r.Stderr, "level=ERROR")
	r = cli(t, e.Kubeconfig, "render", "--profile", "local", "--set", "global.nodeSelector=flat")
	assert.Equal(t, "Error: invalid values: at '/global/nodeSelector': got string, want object\n", r.Stderr, "Helm's log.Printf stays off stderr")

	r = cli(t, e.Kubeconfig, "uninstall", "-n", ns)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "removed release resimate from "+ns)
	kept := []string{"PersistentVolumeClaim/data-resimate-vault-0", "PersistentVolumeClaim/data-resimate-vault-1", "PersistentVolumeClaim/data-resimate-vault-2",
		"Secret/resimate-db-app", "Secret/resimate-db-kratos", "Secret/resimate-kratos", "Secret/resimate-vault-tls",
		"ConfigMap/resimate-vault-state", "ConfigMap/resimate-install-record"}
	assert.Contains(t, r.Stdout, "kept 9 objects (--purge removes them): "+strings.Join(kept, ", "))

	r = cli(t, e.Kubeconfig, "uninstall", "-n", ns, "--purge", "--yes", "-o", "json")
	require.Equal(t, 0, r.Code, r.Stderr)
	var res struct {
		Removed      bool
		Purged, Kept []string
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res))
	assert.False(t, res.Removed)
	assert.Equal(t, kept, res.Purged)
	assert.Empty(t, res.Kept)

	r = cli(t, e.Kubeconfig, "uninstall", "-n", ns, "--purge", "--yes")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, "no release resimate in "+ns+"\nno volumes, generated secrets or install record were left\n", r.Stdout)
}

// removeFlag drops a flag and its value from args.
func removeFlag(args []string, flag, value string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag && i+1 < len(args) && args[i+1] == value {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}
