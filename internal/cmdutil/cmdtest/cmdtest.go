// Package cmdtest runs one command's constructor the way the root command would, for tests of
// flag parsing through the run function hook (runF): nothing reaches a cluster or a server.
package cmdtest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/redact"
)

// Factory returns a Factory on test streams (no terminal) with a redactor of its own, and the
// buffers of stdin, stdout and stderr.
func Factory(t testing.TB) (*cmdutil.Factory, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	streams, in, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(streams)
	f.Redactor = &redact.Redactor{}
	return f, in, out, errOut
}

// Run executes cmd with the space-separated args, with the Factory's connection flags (-n,
// --kubeconfig) as the root command gives them, and returns its error.
func Run(f *cmdutil.Factory, cmd *cobra.Command, args string) error {
	f.KubeFlags.AddFlags(cmd.PersistentFlags())
	cmd.SetArgs(strings.Fields(args))
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.Execute()
}
