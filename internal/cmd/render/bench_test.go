package render

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/resimate/resimatectl/charts"
	"github.com/resimate/resimatectl/internal/testenv"
)

// BenchmarkRenderVsHelmTemplate runs `resimatectl render` and `helm template` (the helm CLI
// built from the module proxy) on the same chart and values, alternately, as processes, and
// reports each one's time per run and their ratio.
func BenchmarkRenderVsHelmTemplate(b *testing.B) {
	e := testenv.Require(b) // only for the tools folder
	helm := filepath.Join(e.BinDir, "helm-v4.3.1")
	if _, err := os.Stat(helm); err != nil {
		b.Skipf("helm CLI not built (bash hack/testenv/build.sh helm): %v", err)
	}
	dir := b.TempDir()
	if err := os.CopyFS(dir, mustSub(b, charts.FS)); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "resimatectl")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/resimate/resimatectl/cmd/resimatectl").CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	ours := []string{bin, "render", "--profile", "onprem", "--set", "monitoring.enabled=true"}
	theirs := []string{helm, "template", "resimate", filepath.Join(dir, "resimate"), "-n", "resimate",
		"-f", filepath.Join(dir, "profiles", "onprem.yaml"), "--set", "monitoring.enabled=true", "--kube-version", "v1.37.0"}
	var tOurs, tTheirs time.Duration
	for b.Loop() {
		tOurs += timeRun(b, ours)
		tTheirs += timeRun(b, theirs)
	}
	n := float64(b.N)
	b.ReportMetric(float64(tOurs.Milliseconds())/n, "resimatectl-ms/op")
	b.ReportMetric(float64(tTheirs.Milliseconds())/n, "helm-ms/op")
	b.ReportMetric(float64(tOurs)/float64(tTheirs), "ratio")
}

func timeRun(b *testing.B, args []string) time.Duration {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+b.TempDir(), "HELM_CACHE_HOME="+b.TempDir(), "HELM_CONFIG_HOME="+b.TempDir())
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%v: %v: %s", args, err, out)
	}
	return time.Since(start)
}

func mustSub(_ *testing.B, f fs.FS) fs.FS { return f }
