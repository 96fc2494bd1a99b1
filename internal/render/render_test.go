package render_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/action"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/resimate/resimatectl/internal/render"
)

func renderProfile(t *testing.T, profile string, set ...string) *render.Result {
	t.Helper()
	res, err := render.Render(context.Background(), render.Options{Profile: profile, Set: set})
	require.NoError(t, err, profile)
	return res
}

func find(t *testing.T, res *render.Result, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range res.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o.Unstructured
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func TestLintWithHelmSDK(t *testing.T) {
	c, err := render.Chart()
	require.NoError(t, err)
	dir := t.TempDir()
	// Lint reads a chart folder: write the embedded chart out.
	for _, f := range c.Raw {
		p := filepath.Join(dir, "resimate", f.Name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, f.Data, 0o644))
	}
	for _, profile := range render.Profiles() {
		vals, err := render.Values(render.Options{Profile: profile})
		require.NoError(t, err)
		lint := action.NewLint()
		lint.Namespace = render.DefaultNamespace
		res := lint.Run([]string{filepath.Join(dir, "resimate")}, vals)
		for _, m := range res.Messages {
			assert.Less(t, int(m.Severity), 2, "%s: %s", profile, m.Err) // info only: no warnings or errors
		}
		assert.Empty(t, res.Errors, profile)
	}
}

func TestEveryProfileRenders(t *testing.T) {
	profiles := render.Profiles()
	assert.Equal(t, []string{"aws", "azure", "gcp", "local", "onprem"}, profiles)
	for _, p := range profiles {
		res := renderProfile(t, p)
		assert.NotEmpty(t, res.Objects, p)
		for _, o := range res.Objects {
			l := o.GetLabels()
			assert.Equal(t, "resimate", l["app.kubernetes.io/part-of"], "%s %s/%s", p, o.GetKind(), o.GetName())
			for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/component", "app.kubernetes.io/managed-by"} {
				assert.NotEmpty(t, l[k], "%s %s/%s lacks %s", p, o.GetKind(), o.GetName(), k)
			}
		}
	}
}

// The design's scaling table, read from the rendered objects of every profile.
func TestScalingTable(t *testing.T) {
	apis := []struct {
		name string
		max  int64
	}{{"core-model-api", 50}, {"campaigns-api", 25}, {"config-api", 10}}

	for _, p := range render.Profiles() {
		t.Run(p, func(t *testing.T) {
			res := renderProfile(t, p)
			assertHPA(t, find(t, res, "HorizontalPodAutoscaler", "resimate-frontend"), "Deployment", 2, 10, map[string]int64{"cpu": 70, "memory": 80})
			assertHPA(t, find(t, res, "HorizontalPodAutoscaler", "resimate-kratos"), "StatefulSet", 2, 5, map[string]int64{"cpu": 60})
			vault := find(t, res, "StatefulSet", "resimate-vault")
			replicas, _, _ := unstructured.NestedInt64(vault.Object, "spec", "replicas")
			assert.EqualValues(t, 3, replicas, "vault replicas")

			mode, _, _ := unstructured.NestedString(res.Effective, "apis", "mode")
			for _, api := range apis {
				if mode == "knative" {
					ksvc := find(t, res, "Service", "resimate-"+api.name)
					require.Equal(t, "serving.knative.dev/v1", ksvc.GetAPIVersion())
					ann, _, _ := unstructured.NestedStringMap(ksvc.Object, "spec", "template", "metadata", "annotations")
					assert.Equal(t, "0", ann["autoscaling.knative.dev/minScale"], api.name)
					assert.Equal(t, itoa(api.max), ann["autoscaling.knative.dev/maxScale"], api.name)
					assert.Equal(t, "70", ann["autoscaling.knative.dev/target"], api.name)
					cc, _, _ := unstructured.NestedInt64(ksvc.Object, "spec", "template", "spec", "containerConcurrency")
					assert.EqualValues(t, 100, cc, api.name)
				} else {
					// Without Knative an HPA cannot scale to zero: one replica is the floor.
					assertHPA(t, find(t, res, "HorizontalPodAutoscaler", "resimate-"+api.name), "Deployment", 1, api.max, map[string]int64{"cpu": 70})
				}
			}
			pgMode, _, _ := unstructured.NestedString(res.Effective, "postgres", "mode")
			if pgMode == "operator" {
				pg := find(t, res, "Cluster", "resimate-postgres")
				n, _, _ := unstructured.NestedInt64(pg.Object, "spec", "instances")
				assert.EqualValues(t, 3, n)
			}
		})
	}
}

// The design's resource table, for every component of every profile.
func TestResourceTable(t *testing.T) {
	type rr struct{ reqMem, reqCPU, limMem, limCPU string }
	frontend := rr{"512Mi", "250m", "1Gi", "1000m"}
	api := rr{"256Mi", "100m", "512Mi", "500m"}
	kratos := rr{"512Mi", "250m", "1Gi", "500m"}
	vault := rr{"1Gi", "500m", "2Gi", "1000m"}
	postgres := rr{"2Gi", "1000m", "4Gi", "2000m"}

	for _, p := range render.Profiles() {
		t.Run(p, func(t *testing.T) {
			res := renderProfile(t, p)
			check := func(what string, obj map[string]any, path []string, want rr) {
				t.Helper()
				r, found, err := unstructured.NestedMap(obj, path...)
				require.True(t, found && err == nil, "%s: no resources at %v", what, path)
				q := func(kind, res string) resource.Quantity {
					s, _, _ := unstructured.NestedFieldNoCopy(r, kind, res)
					return resource.MustParse(toString(s))
				}
				for _, c := range []struct {
					kind, res, want string
				}{{"requests", "memory", want.reqMem}, {"requests", "cpu", want.reqCPU}, {"limits", "memory", want.limMem}, {"limits", "cpu", want.limCPU}} {
					got := q(c.kind, c.res)
					assert.Zero(t, got.Cmp(resource.MustParse(c.want)), "%s %s.%s = %s, want %s", what, c.kind, c.res, got.String(), c.want)
				}
			}
			container := []string{"spec", "template", "spec", "containers"}
			first := func(o *unstructured.Unstructured) map[string]any {
				cs, _, _ := unstructured.NestedSlice(o.Object, container...)
				require.NotEmpty(t, cs)
				return cs[0].(map[string]any)
			}
			check("frontend", first(find(t, res, "Deployment", "resimate-frontend")), []string{"resources"}, frontend)
			check("kratos", first(find(t, res, "StatefulSet", "resimate-kratos")), []string{"resources"}, kratos)
			check("vault", first(find(t, res, "StatefulSet", "resimate-vault")), []string{"resources"}, vault)
			for _, name := range []string{"core-model-api", "campaigns-api", "config-api"} {
				for _, o := range res.Objects {
					if o.GetName() == "resimate-"+name && (o.GetKind() == "Deployment" || o.GetAPIVersion() == "serving.knative.dev/v1") {
						check(name, first(o.Unstructured), []string{"resources"}, api)
					}
				}
			}
			if pgMode, _, _ := unstructured.NestedString(res.Effective, "postgres", "mode"); pgMode == "operator" {
				check("postgres", find(t, res, "Cluster", "resimate-postgres").Object, []string{"spec", "resources"}, postgres)
			}
		})
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	cases := map[string]struct {
		set  []string
		file string
		want string
	}{
		"unknown key":       {set: []string{"frontend.replica.min=3"}, want: "at '/frontend': additional properties 'replica' not allowed"},
		"wrong type":        {set: []string{"kratos.replicas.max=five"}, want: "at '/kratos/replicas/max': got string, want integer"},
		"bad enum":          {set: []string{"postgres.mode=sqlite"}, want: "/postgres/mode"},
		"external needs it": {set: []string{"vault.mode=external"}, want: "at '/vault/external/address'"},
		"typo in a file":    {file: "frontend:\n  autoscalling: {cpuUtilization: 50}\n", want: "additional properties 'autoscalling' not allowed"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			opts := render.Options{Profile: "onprem", Set: c.set}
			if c.file != "" {
				f := filepath.Join(t.TempDir(), "values.yaml")
				require.NoError(t, os.WriteFile(f, []byte(c.file), 0o600))
				opts.ValueFiles = []string{f}
			}
			_, err := render.Render(context.Background(), opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), "invalid values")
		})
	}
	_, err := render.Render(context.Background(), render.Options{Profile: "mars"})
	assert.ErrorContains(t, err, `unknown profile "mars"`)
}

func assertHPA(t *testing.T, hpa *unstructured.Unstructured, targetKind string, min, max int64, targets map[string]int64) {
	t.Helper()
	kind, _, _ := unstructured.NestedString(hpa.Object, "spec", "scaleTargetRef", "kind")
	assert.Equal(t, targetKind, kind, hpa.GetName())
	gotMin, _, _ := unstructured.NestedInt64(hpa.Object, "spec", "minReplicas")
	gotMax, _, _ := unstructured.NestedInt64(hpa.Object, "spec", "maxReplicas")
	assert.Equal(t, min, gotMin, "%s minReplicas", hpa.GetName())
	assert.Equal(t, max, gotMax, "%s maxReplicas", hpa.GetName())
	metrics, _, _ := unstructured.NestedSlice(hpa.Object, "spec", "metrics")
	got := map[string]int64{}
	for _, m := range metrics {
		name, _, _ := unstructured.NestedString(m.(map[string]any), "resource", "name")
		u, _, _ := unstructured.NestedInt64(m.(map[string]any), "resource", "target", "averageUtilization")
		got[name] = u
	}
	assert.Equal(t, targets, got, "%s metrics", hpa.GetName())
}

func itoa(n int64) string { return resource.NewQuantity(n, resource.DecimalSI).String() }

func toString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case int64:
		return itoa(s)
	case float64:
		return resource.NewMilliQuantity(int64(s*1000), resource.DecimalSI).String()
	}
	return ""
}
