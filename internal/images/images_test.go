package images_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/images"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/testenv"
	"github.com/resimate/resimatectl/internal/upstream"
)

// list renders profile with every upstream chart it can need and lists its images.
func list(t *testing.T, profile string, set ...string) []images.Image {
	src := testenv.MirrorSource(t)
	ctx := context.Background()
	set = append([]string{"monitoring.enabled=true", "logging.enabled=true"}, set...)
	rendered, err := render.Render(ctx, render.Options{Profile: profile, Set: set})
	require.NoError(t, err)
	needed, err := upstream.Needed(rendered.Effective)
	require.NoError(t, err)
	loaded, err := upstream.LoadAll(needed, src)
	require.NoError(t, err)
	list, err := images.ForInstall(ctx, rendered, needed, loaded)
	require.NoError(t, err)
	return list
}

func names(list []images.Image) []string {
	var out []string
	for _, i := range list {
		out = append(out, i.Image)
	}
	return out
}

func TestEveryImageOfAnInstallIsListed(t *testing.T) {
	got := names(list(t, "onprem"))
	for _, want := range []string{
		"registry.resimate.io/resimate/frontend:1.0.0",
		"docker.io/oryd/kratos:v1.3.1",
		"docker.io/hashicorp/vault:1.21.4",
		"quay.io/jetstack/cert-manager-controller:v1.21.1",
		"quay.io/jetstack/cert-manager-acmesolver:v1.21.1", // a flag of the controller's
		"ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0",
		"ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie", // the operator's own default
		"gcr.io/knative-releases/knative.dev/operator/cmd/operator:v1.23.0",
		"quay.io/prometheus/prometheus:v3.14.0-distroless", // a custom resource's field
		"quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
		"docker.io/grafana/loki:3.7.6",
		"cr.fluentbit.io/fluent/fluent-bit:5.1.1",
	} {
		assert.Contains(t, got, want)
	}
}

// One value moves every image, the upstream charts' and their operators' included, to a mirror.
func TestOneRegistryValueMovesEveryImage(t *testing.T) {
	const mirror = "mirror.example.com:5000/resimate"
	for _, profile := range render.Profiles() {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			got := list(t, profile, "global.imageRegistry="+mirror)
			require.NotEmpty(t, got)
			for _, i := range got {
				assert.True(t, strings.HasPrefix(i.Image, mirror+"/"), "%s (from %s) is outside the mirror", i.Image, i.From)
			}
			assert.Contains(t, names(got), mirror+"/oryd/kratos:v1.3.1")
		})
	}
}

func TestRewrite(t *testing.T) {
	for in, want := range map[string]string{
		"oryd/kratos:v1.3.1":               "m.example/oryd/kratos:v1.3.1",
		"busybox":                          "m.example/library/busybox",
		"quay.io/jetstack/cert-manager:v1": "m.example/jetstack/cert-manager:v1",
		"localhost:5000/x@sha256:" + sha(): "m.example/x@sha256:" + sha(),
	} {
		got, err := images.Rewrite(in, "m.example/")
		require.NoError(t, err)
		assert.Equal(t, want, got, in)
	}
	_, err := images.Rewrite("Not An Image", "m.example")
	assert.Error(t, err)
}

func sha() string { return strings.Repeat("a", 64) }
