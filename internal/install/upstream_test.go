package install_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/resimate/resimatectl/internal/health"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/testenv"
	"github.com/resimate/resimatectl/internal/upstream"
)

// withMirror installs the upstream charts from the charts mirror, as an air-gapped site that
// repackaged them would: --charts-dir with its own --charts-digests.
func withMirror(t *testing.T, opts install.Options) install.Options {
	opts.Upstream = testenv.MirrorSource(t)
	opts.Preflight.SkipUpstream = false
	opts.Chart.Set = append(opts.Chart.Set, testenv.UpstreamSet...)
	opts.Timeout = 5 * time.Minute
	return opts
}

// helmRevisions counts the revisions Helm stores of a release (one Secret each).
func helmRevisions(t *testing.T, ns, name string) int {
	list, err := testenv.Clientset(t).CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	require.NoError(t, err)
	return len(list.Items)
}

func TestEveryProfileInstallsWithTheUpstreamCharts(t *testing.T) {
	// Knative's operator would create Serving's CRDs for the KnativeServing install applies;
	// kwok runs no operator, so the fixture stands in for it.
	testenv.EnsureCRDs(t, testenv.CRDsKnative)
	for _, profile := range render.Profiles() {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			env, out := testEnv(t)
			ns := testenv.Namespace(t, nil)
			ctx := context.Background()
			// Monitoring and logging on, so that every upstream chart is installed by some profile.
			opts := withMirror(t, options(ns, profile, "monitoring.enabled=true", "logging.enabled=true"))
			res, err := install.Install(ctx, env, opts)
			require.NoError(t, err, out.String())
			assert.Equal(t, "installed", res.Action)
			assert.Empty(t, health.NotReady(res.Components), "%+v", res.Components)

			rendered, err := render.Render(ctx, opts.Chart)
			require.NoError(t, err)
			needed, err := upstream.Needed(rendered.Effective)
			require.NoError(t, err)
			require.NotEmpty(t, needed)
			ps := testenv.Clientset(t).CoreV1().Namespaces()
			for _, u := range needed {
				assert.Equal(t, 1, helmRevisions(t, u.Namespace, u.Name), "%s: installed once, by whichever profile came first", u.Name)
				nsObj, err := ps.Get(ctx, u.Namespace, metav1.GetOptions{})
				require.NoError(t, err)
				assert.Equal(t, u.PodSecurity, nsObj.Labels["pod-security.kubernetes.io/enforce"], u.Namespace)
			}

			out.Reset()
			again, err := install.Install(ctx, env, opts)
			require.NoError(t, err, out.String())
			assert.Equal(t, "up-to-date", again.Action)
			assert.Equal(t, 1, helmRevisions(t, ns, render.DefaultRelease))
			for _, u := range needed {
				assert.Equal(t, 1, helmRevisions(t, u.Namespace, u.Name), "%s: the rerun made no new revision", u.Name)
				assert.Contains(t, out.String(), fmt.Sprintf("upstream %s %s: up to date in %s", u.Chart, u.Version, u.Namespace))
			}
		})
	}
}

func TestArchiveWithAnotherDigestIsRefused(t *testing.T) {
	dir, sums := testenv.ChartsMirror(t)
	env, out := testEnv(t)
	ns := testenv.Namespace(t, nil)
	ctx := context.Background()

	// Without the site's list, the mirror's rebuilds are held to the published digests.
	opts := withMirror(t, options(ns, "local"))
	opts.Upstream.Digests, opts.Upstream.DigestsFile = nil, ""
	_, err := install.Install(ctx, env, opts)
	require.ErrorIs(t, err, upstream.ErrDigest)
	assert.Contains(t, err.Error(), "cloudnative-pg-0.29.0.tgz has SHA-256 45c052d743927986322f77d183f0e8072637fde9d5b02ba564377159911293af, not 668e065ff53508d58238788fd35b355a925060843629a951df0e6a9362e6d32f (the digest pinned in charts/upstream.yaml)")

	// One changed byte in an archive the site's list vouches for.
	tampered := t.TempDir()
	for _, name := range []string{"cloudnative-pg-0.29.0.tgz", "SHA256SUMS"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		if name != "SHA256SUMS" {
			data[len(data)/2] ^= 0xff
		}
		require.NoError(t, os.WriteFile(filepath.Join(tampered, name), data, 0o644))
	}
	opts = withMirror(t, options(ns, "local"))
	opts.Upstream.Dir = tampered
	_, err = install.Install(ctx, env, opts)
	require.ErrorIs(t, err, upstream.ErrDigest)
	assert.Contains(t, err.Error(), "not 45c052d743927986322f77d183f0e8072637fde9d5b02ba564377159911293af (the digest in "+sums+")")

	// Refused before anything changed: no secrets, no release, no lock.
	list, err := testenv.Clientset(t).CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, list.Items, out.String())
}
