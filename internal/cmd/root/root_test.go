package root_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmd/root"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/redact"
)

type result struct {
	code        int
	stdout, err string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(streams)
	f.Redactor = &redact.Redactor{}
	code := root.Execute(context.Background(), f, args)
	return result{code: code, stdout: out.String(), err: errOut.String()}
}

func isolateConfig(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	return dir
}

func TestVersionJSON(t *testing.T) {
	isolateConfig(t)
	r := run(t, "version", "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	var info map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	for _, k := range []string{"version", "commit", "buildDate", "goVersion", "platform"} {
		assert.NotEmpty(t, info[k], k)
	}
}

func TestUsageErrorsExitTwoWithOneLine(t *testing.T) {
	isolateConfig(t)
	for _, args := range [][]string{
		{"version", "--bogus"},
		{"version", "-o", "xml"},
		{"nosuchcommand"},
		{"version", "extra-arg"},
	} {
		r := run(t, args...)
		assert.Equal(t, cmdutil.ExitUsage, r.code, "%v: %s", args, r.err)
		assert.Regexp(t, `^Error: [^\n]+\n$`, r.err, "%v", args)
		assert.NotContains(t, r.err, "Usage:")
	}
}

func TestEnvironmentAndConfigFileFillFlags(t *testing.T) {
	dir := isolateConfig(t)

	t.Setenv("RESIMATE_LOG_LEVEL", "loud")
	r := run(t, "version")
	assert.Equal(t, cmdutil.ExitUsage, r.code)
	assert.Contains(t, r.err, `invalid log level "loud"`)
	os.Unsetenv("RESIMATE_LOG_LEVEL")

	// The default config file, with a section for one command's own flags.
	cfgDir := filepath.Join(dir, "resimatectl")
	require.NoError(t, os.MkdirAll(cfgDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "config.yaml"), []byte("version:\n  output: yaml\n"), 0o600))
	r = run(t, "version")
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.stdout, "goVersion: ")

	// A flag on the command line wins over the file.
	r = run(t, "version", "-o", "json")
	assert.Contains(t, r.stdout, `"goVersion"`)

	// An explicit --config that does not exist is an error; the missing default is not.
	r = run(t, "version", "--config", filepath.Join(dir, "missing.yaml"))
	assert.Equal(t, cmdutil.ExitUsage, r.code)
	assert.Contains(t, r.err, "missing.yaml")
}

func TestSecretsNeverReachErrorOutput(t *testing.T) {
	isolateConfig(t)
	streams, _, _, errOut := iostreams.Test()
	f := cmdutil.NewFactory(streams)
	f.Redactor = &redact.Redactor{}
	f.Redactor.Register("db-password-123")
	cmd := root.NewCmd(f)
	cmd.AddCommand(&cobra.Command{Use: "leak", RunE: func(*cobra.Command, []string) error {
		return errors.New("connecting with db-password-123 failed")
	}})
	// Execute builds its own tree, so run this one directly through the same error path.
	cmd.SetArgs([]string{"leak"})
	err := cmd.Execute()
	require.Error(t, err)
	code := root.PrintError(f, err)
	assert.Equal(t, 1, code)
	assert.Equal(t, "Error: connecting with [REDACTED] failed\n", errOut.String())
}

func TestSecretsNeverReachOutput(t *testing.T) {
	isolateConfig(t)
	streams, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(streams)
	f.Redactor = &redact.Redactor{}
	streams.WrapOutput(f.Redactor.Writer)
	cmd := root.NewCmd(f)
	cmd.AddCommand(&cobra.Command{Use: "leak", RunE: func(c *cobra.Command, _ []string) error {
		f.Redactor.Register("generated-cookie-secret")
		fmt.Fprintln(streams.Out, "cookie: generated-cookie-secret")
		fmt.Fprintln(streams.ErrOut, "progress with generated-cookie-secret")
		f.Logger.Error("log line", "value", "generated-cookie-secret")
		return nil
	}})
	cmd.SetArgs([]string{"leak", "--log-format", "json"})
	require.NoError(t, cmd.Execute())
	assert.Equal(t, "cookie: [REDACTED]\n", out.String())
	assert.NotContains(t, errOut.String(), "generated-cookie-secret")
	assert.Contains(t, errOut.String(), "progress with [REDACTED]")
	assert.Contains(t, errOut.String(), `"value":"[REDACTED]"`)
}

func TestCompletionScripts(t *testing.T) {
	isolateConfig(t)
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := run(t, "completion", shell)
		assert.Equal(t, 0, r.code, shell)
		assert.Contains(t, r.stdout, "resimatectl", shell)
	}
}
