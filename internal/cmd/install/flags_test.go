package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
	assert.True(t, got.Install.Preflight.SkipUpstream)
	assert.Equal(t, "json", got.Output)
	assert.NotNil(t, got.Env)

	got = nil
	err := cmdtest.Run(f, NewCmdInstall(f, func(_ context.Context, o *Options) error { got = o; return nil }), "--profile aws --ignore-checks dsn")
	assert.Equal(t, cmdutil.ExitUsage, cmdutil.ExitCode(err))
	assert.Nil(t, got, "nothing runs after a usage error")
}

func TestChartsDigestsFlag(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	dir := t.TempDir()
	sums := filepath.Join(dir, "SHA256SUMS")
	sum := strings.Repeat("ab", 32)
	require.NoError(t, os.WriteFile(sums, []byte("# vetted 2026-11-28\n"+sum+"  loki-18.11.0.tgz\n"), 0o644))
	var got *Options
	run := func(args string) error {
		got = nil
		return cmdtest.Run(f, NewCmdInstall(f, func(_ context.Context, o *Options) error { got = o; return nil }), args)
	}
	require.NoError(t, run("--profile local --charts-dir "+dir+" --charts-digests "+sums))
	assert.Equal(t, map[string]string{"loki-18.11.0.tgz": sum}, got.Install.Upstream.Digests)

	for args, want := range map[string]string{
		"--profile local --charts-digests " + sums:                                   "--charts-digests lists the digests of the archives in --charts-dir: give both",
		"--profile local --charts-dir " + dir + " --charts-digests " + dir + "/nope": "no such file",
	} {
		err := run(args)
		assert.Equal(t, cmdutil.ExitUsage, cmdutil.ExitCode(err), args)
		assert.ErrorContains(t, err, want)
		assert.Nil(t, got)
	}
	require.NoError(t, os.WriteFile(sums, []byte("abc loki.tgz\n"), 0o644))
	assert.ErrorContains(t, run("--profile local --charts-dir "+dir+" --charts-digests "+sums), `line 1: want "<sha256 hex>  <file name>", got "abc loki.tgz"`)
}
