package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary builds resimatectl once per test process, for tests that run it as a user would (and
// kill it), and returns its path. There is one binary per checkout, under the system's
// temporary folder: each process builds to a name of its own and renames it into place, so
// processes running side by side never see half a binary, and none leaves a copy behind.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		_, self, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(filepath.Dir(self)))
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), "resimatectl-test-bin-"+hex.EncodeToString(sum[:6]))
		if binErr = os.MkdirAll(dir, 0o755); binErr != nil {
			return
		}
		tmp := filepath.Join(dir, fmt.Sprintf(".resimatectl-%d", os.Getpid()))
		out, err := exec.Command("go", "build", "-o", tmp, "github.com/resimate/resimatectl/cmd/resimatectl").CombinedOutput()
		if err != nil {
			_ = os.Remove(tmp)
			binErr = &buildError{err: err, out: string(out)}
			return
		}
		binPath = filepath.Join(dir, "resimatectl")
		binErr = os.Rename(tmp, binPath)
	})
	if binErr != nil {
		t.Fatalf("building resimatectl: %v", binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// Buffer collects a command's output while tests read it: safe for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset empties the buffer (a test reading one run's output at a time).
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// Result is one run of the built binary: its exit code and output.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs the built binary with args against kubeconfig, in a fresh config home so that no
// developer's config file applies; env adds variables (NAME=value).
func Run(t testing.TB, kubeconfig string, env []string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir()), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return Result{code, out.String(), errOut.String()}
}
