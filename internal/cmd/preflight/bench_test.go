package preflight

import (
	"context"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/resimate/resimatectl/internal/testenv"
)

// BenchmarkPreflight is a whole `resimatectl preflight --profile local --offline` against the
// loopback test cluster: rendering, every check, the report.
func BenchmarkPreflight(b *testing.B) {
	testenv.EnsureCRDs(b, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	cfg := testenv.RestConfig(b)
	for b.Loop() {
		opts, _ := options(func() (*rest.Config, error) { return rest.CopyConfig(cfg), nil }, "local")
		_ = runPreflight(context.Background(), opts)
	}
}
