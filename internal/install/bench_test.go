package install_test

import (
	"context"
	"testing"

	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/testenv"
)

// BenchmarkInstallLocal is `install --profile local` from an empty namespace to every component
// Ready on the loopback cluster (preflight included, upstream charts skipped).
func BenchmarkInstallLocal(b *testing.B) {
	testenv.EnsureCRDs(b, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	for b.Loop() {
		b.StopTimer()
		ns := testenv.Namespace(b, nil)
		env, _ := testEnv(b)
		b.StartTimer()
		if _, err := install.Install(context.Background(), env, options(ns, "local")); err != nil {
			b.Fatal(err)
		}
	}
}
