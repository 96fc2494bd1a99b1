package root_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmd/root"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/redact"
)

// flagsSeen runs args through the real tree with the named command's run replaced, and
// returns that command (its flags as parsed, config and environment applied) and stderr.
func flagsSeen(t *testing.T, path []string, args ...string) (*cobra.Command, result) {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(streams)
	f.Redactor = &redact.Redactor{}
	cmd := root.NewCmd(f)
	target, _, err := cmd.Find(path)
	require.NoError(t, err)
	target.RunE = func(*cobra.Command, []string) error { return nil }
	cmd.SetArgs(args)
	code := root.PrintError(f, cmd.ExecuteContext(context.Background()))
	return target, result{code: code, stdout: out.String(), err: errOut.String()}
}

func writeConfig(t *testing.T, dir, body string) {
	cfgDir := filepath.Join(dir, "resimatectl")
	require.NoError(t, os.MkdirAll(cfgDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "config.yaml"), []byte(body), 0o600))
}

// --yes, --purge, --force-unlock and --skip-preflight act on one run that a person typed: a
// config file that sets them is refused, an environment variable ignored with a warning.
func TestSafetyFlagsOnlyFromTheCommandLine(t *testing.T) {
	dir := isolateConfig(t)
	for _, key := range []string{"yes", "purge", "force-unlock"} {
		writeConfig(t, dir, "uninstall:\n  "+key+": true\n")
		_, r := flagsSeen(t, []string{"uninstall"}, "uninstall")
		assert.Equal(t, cmdutil.ExitUsage, r.code, key)
		assert.Contains(t, r.err, key+" is taken only from the command line", key)
	}
	writeConfig(t, dir, "skip-preflight: true\n")
	_, r := flagsSeen(t, []string{"install"}, "install", "--profile", "local")
	assert.Contains(t, r.err, "skip-preflight is taken only from the command line")

	writeConfig(t, dir, "")
	t.Setenv("RESIMATE_PURGE", "true")
	t.Setenv("RESIMATE_YES", "true")
	cmd, r := flagsSeen(t, []string{"uninstall"}, "uninstall")
	require.Equal(t, 0, r.code, r.err)
	for _, name := range []string{"purge", "yes"} {
		v, err := cmd.Flags().GetBool(name)
		require.NoError(t, err)
		assert.False(t, v, name)
	}
	assert.Contains(t, r.err, "warning: RESIMATE_PURGE is ignored: --purge is taken only from the command line")
	assert.Contains(t, r.err, "warning: RESIMATE_YES is ignored")

	// On the command line they work.
	cmd, r = flagsSeen(t, []string{"uninstall"}, "uninstall", "--purge", "--yes")
	require.Equal(t, 0, r.code, r.err)
	v, _ := cmd.Flags().GetBool("purge")
	assert.True(t, v)
}

// Values with commas arrive whole: a list in the file is one --set per item, a value in the
// environment is one --set.
func TestConfigValuesWithCommasArriveIntact(t *testing.T) {
	dir := isolateConfig(t)
	writeConfig(t, dir, "render:\n  set:\n    - a=1,b=2\n    - tags={x,y}\n  set-json:\n    - 'j={\"k\":[1,2]}'\n")
	cmd, r := flagsSeen(t, []string{"render"}, "render", "--profile", "local")
	require.Equal(t, 0, r.code, r.err)
	set, _ := cmd.Flags().GetStringArray("set")
	assert.Equal(t, []string{"a=1,b=2", "tags={x,y}"}, set)
	js, _ := cmd.Flags().GetStringArray("set-json")
	assert.Equal(t, []string{`j={"k":[1,2]}`}, js)

	t.Setenv("RESIMATE_SET", "c=3,d=4")
	cmd, r = flagsSeen(t, []string{"render"}, "render", "--profile", "local")
	require.Equal(t, 0, r.code, r.err)
	set, _ = cmd.Flags().GetStringArray("set")
	assert.Equal(t, []string{"c=3,d=4"}, set)

	// A string-slice flag splits on commas, as on the command line.
	os.Unsetenv("RESIMATE_SET")
	t.Setenv("RESIMATE_IGNORE_CHECKS", "dns,smtp")
	cmd, _ = flagsSeen(t, []string{"preflight"}, "preflight", "--profile", "local")
	ignore, _ := cmd.Flags().GetStringSlice("ignore-checks")
	assert.Equal(t, []string{"dns", "smtp"}, ignore)
}

// A key that is no flag (a typo) is an error, not silently nothing.
func TestUnknownConfigKeysAreRefused(t *testing.T) {
	dir := isolateConfig(t)
	for body, want := range map[string]string{
		"profil: aws\n":               `unknown key "profil": not a flag of any command`,
		"preflight:\n  purge: true\n": `unknown key "preflight.purge": not a flag of preflight`,
		"migrate:\n  firebase:\n    auth:\n      batchsize: 5\n": `unknown key "migrate.firebase.auth.batchsize"`,
	} {
		writeConfig(t, dir, body)
		r := run(t, "version")
		assert.Equal(t, cmdutil.ExitUsage, r.code, body)
		assert.Contains(t, r.err, want, body)
	}
	writeConfig(t, dir, "log-level: info\npreflight:\n  profile: aws\n  ignore-checks: [dns]\nmigrate:\n  firebase:\n    auth:\n      batch-size: 5\n")
	r := run(t, "version")
	assert.Equal(t, 0, r.code, r.err)
}

// Every command's JSON log names the operation and ends with its duration, in the platform's
// log format.
func TestJSONLogNamesTheOperationAndItsDuration(t *testing.T) {
	isolateConfig(t)
	r := run(t, "render", "--profile", "local", "--log-format", "json", "--log-level", "info")
	require.Equal(t, 0, r.code, r.err)
	var last map[string]any
	lines := strings.Split(strings.TrimSpace(r.err), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last), r.err)
	assert.Equal(t, "render", last["operation"])
	assert.Equal(t, "finished", last["message"])
	assert.Equal(t, "resimatectl", last["service"])
	assert.Contains(t, last, "duration_ms")
	assert.Contains(t, last, "timestamp")
}
