package root_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// A terminal that never answers colour or cursor queries (many do not) must not hold a
// command up: nothing outside a live view asks it anything. The old stack wrote ESC]11;? and
// ESC[6n at start-up, even for version, and waited five seconds for the answer.
func TestNoTerminalQueriesOutsideLiveViews(t *testing.T) {
	bin := testenv.Binary(t)
	for _, args := range [][]string{{"version"}, {"version", "--no-color"}, {"--help"}, {"render", "--profile", "local"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "TERM=xterm-256color")
		tty, err := pty.Start(cmd)
		require.NoError(t, err)
		var out bytes.Buffer
		_, _ = io.Copy(&out, tty) // ends with EIO once the command exits; nothing is ever answered
		require.NoError(t, cmd.Wait(), "%v: %s", args, out.String())
		tty.Close()
		assert.NotContains(t, out.String(), "\x1b]11;?", "%v queried the background colour", args)
		assert.NotContains(t, out.String(), "\x1b[6n", "%v queried the cursor position", args)
		assert.NotEmpty(t, out.String(), args)
	}
}
