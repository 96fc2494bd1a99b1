package uninstall

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestUninstallFlagsAndConfirmation(t *testing.T) {
	f, in, _, errOut := cmdtest.Factory(t)
	var got *Options
	runF := func(_ context.Context, o *Options) error { got = o; return nil }

	// No terminal: plain uninstall goes ahead (scripts), --purge needs --yes.
	require.NoError(t, cmdtest.Run(f, NewCmdUninstall(f, runF), "-n acme"))
	assert.Equal(t, "acme", got.Namespace)
	got = nil
	err := cmdtest.Run(f, NewCmdUninstall(f, runF), "--purge")
	assert.Equal(t, cmdutil.ExitUsage, cmdutil.ExitCode(err))
	assert.Nil(t, got)
	require.NoError(t, cmdtest.Run(f, NewCmdUninstall(f, runF), "--purge --yes"))
	assert.True(t, got.Purge)

	// On a terminal it asks; anything but yes removes nothing.
	f.IOStreams.SetTTY(true, true, true)
	got = nil
	in.WriteString("n\n")
	err = cmdtest.Run(f, NewCmdUninstall(f, runF), "-n acme")
	assert.EqualError(t, err, "not confirmed: nothing was removed")
	assert.Nil(t, got)
	assert.Contains(t, errOut.String(), "Remove release resimate from acme? Volumes, secrets and the install record stay. [y/N]")
	in.WriteString("y\n")
	require.NoError(t, cmdtest.Run(f, NewCmdUninstall(f, runF), "-n acme"))
	assert.NotNil(t, got)

	got = nil
	in.WriteString("yes\n")
	err = cmdtest.Run(f, NewCmdUninstall(f, runF), "-n acme --purge")
	assert.Error(t, err, "--purge wants the release's name typed, not yes")
	assert.Nil(t, got)
	in.WriteString("resimate\n")
	require.NoError(t, cmdtest.Run(f, NewCmdUninstall(f, runF), "-n acme --purge"))
	assert.True(t, got.Purge)

	got = nil
	require.NoError(t, cmdtest.Run(f, NewCmdUninstall(f, runF), "-n acme -y"), "-y skips the question")
	assert.NotNil(t, got)

	// --drop-databases goes with --purge and the admin URL.
	f.IOStreams.SetTTY(false, false, false)
	got = nil
	for _, args := range []string{"--drop-databases --yes", "--drop-databases --purge --yes"} {
		err = cmdtest.Run(f, NewCmdUninstall(f, runF), args)
		assert.Equal(t, cmdutil.ExitUsage, cmdutil.ExitCode(err), args)
		assert.ErrorContains(t, err, "--drop-databases needs --purge and the admin URL", args)
	}
	assert.Nil(t, got)
	require.NoError(t, cmdtest.Run(f, NewCmdUninstall(f, runF), "--drop-databases --purge --yes --postgres-url postgres://admin:sup3r-s3cret@db.example.com/postgres"))
	assert.True(t, got.DropDatabases)
	assert.Equal(t, "postgres://admin:sup3r-s3cret@db.example.com/postgres", got.PostgresURL)
}
