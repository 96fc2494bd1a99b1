package preflight_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// On a terminal the checks run in a live view that takes the keyboard: Ctrl-C there stops the
// checks and the command (exit 130) instead of being swallowed.
func TestCtrlCInTheLiveViewStopsTheChecks(t *testing.T) {
	e := testenv.Require(t, testenv.Kubernetes)
	// A PostgreSQL that accepts connections and never answers keeps one check running.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	host, port, _ := net.SplitHostPort(silent.Addr().String())

	cmd := exec.Command(testenv.Binary(t), "--kubeconfig", e.Kubeconfig, "preflight", "--profile", "aws", "--offline",
		"--set", "postgres.external.host="+host, "--set", "postgres.external.port="+port, "--set", "postgres.external.sslmode=disable")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "TERM=xterm-256color",
		"RESIMATE_POSTGRES_URL=postgres://admin:pw@"+silent.Addr().String()+"/postgres")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 160})
	require.NoError(t, err)
	defer tty.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	drained := make(chan struct{}) // the reader saw the end of the process's output
	go func() {
		defer close(drained)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(screen.String(), s) }

	deadline := time.Now().Add(time.Minute)
	for !seen("external PostgreSQL reachable") {
		require.True(t, time.Now().Before(deadline), "the live view never showed the running check:\n%s", screen.String())
		time.Sleep(20 * time.Millisecond)
	}
	_, err = io.WriteString(tty, "\x03")
	require.NoError(t, err)
	_ = cmd.Wait()
	<-drained // the last words may still be on their way through the terminal
	assert.Equal(t, 130, cmd.ProcessState.ExitCode(), screen.String())
	assert.True(t, seen("interrupted by SIGINT"), screen.String())
}
