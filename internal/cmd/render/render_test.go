package render

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/render"
)

func TestRenderPrintsWhatHelmWouldApply(t *testing.T) {
	streams, _, out, _ := iostreams.Test()
	opts := &Options{IO: streams, Chart: render.Options{Profile: "gcp", Set: []string{"global.domain=resimate.example.org"}}}
	require.NoError(t, runRender(context.Background(), opts))
	assert.Contains(t, out.String(), "# Source: resimate/templates/frontend.yaml")
	assert.Contains(t, out.String(), "ingressClassName: gce")
	assert.Contains(t, out.String(), `"resimate.example.org"`)
	// Hooks come last, as in `helm template`.
	assert.Greater(t, strings.Index(out.String(), "kind: Job"), strings.LastIndex(out.String(), "kind: HorizontalPodAutoscaler"))
}

func TestRenderWritesOneFilePerComponent(t *testing.T) {
	streams, _, _, errOut := iostreams.Test()
	dir := filepath.Join(t.TempDir(), "out")
	opts := &Options{IO: streams, Chart: render.Options{Profile: "onprem"}, OutputDir: dir}
	require.NoError(t, runRender(context.Background(), opts))
	for _, f := range []string{"frontend.yaml", "kratos.yaml", "kratos-migrate.yaml", "vault.yaml", "postgres.yaml", "core-model-api.yaml", "network-policy.yaml", "ingress.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err, f)
		assert.Contains(t, string(b), "app.kubernetes.io/component:", f)
	}
	assert.Contains(t, errOut.String(), "files to "+dir)
}
