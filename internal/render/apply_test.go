package render_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/testenv"
)

// warnings collects the API server's warnings (PodSecurity's among them).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// Every object of every profile is admitted by the real API server (server-side dry-run, strict
// field validation) into a namespace that enforces PodSecurity "restricted", with no warning.
func TestEveryProfileIsAdmittedByTheAPIServer(t *testing.T) {
	testenv.EnsureCRDs(t, testenv.CRDsKnative, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	cfg := testenv.RestConfig(t)
	w := &warnings{}
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	ns := testenv.Namespace(t, map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	})
	ctx := context.Background()

	for _, profile := range render.Profiles() {
		t.Run(profile, func(t *testing.T) {
			res, err := render.Render(ctx, render.Options{
				Profile: profile, Namespace: ns, ReleaseName: "r" + profile,
				Set: []string{"monitoring.enabled=true", "logging.enabled=true"},
			})
			require.NoError(t, err)
			for _, o := range res.Objects {
				gvk := o.GroupVersionKind()
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				require.NoError(t, err, "%s: no API for %s", profile, gvk)
				var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
				if m.Scope.Name() == "namespace" {
					o.SetNamespace(ns)
					ri = dyn.Resource(m.Resource).Namespace(ns)
				}
				body, err := o.MarshalJSON()
				require.NoError(t, err)
				_, err = ri.Patch(ctx, o.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
					DryRun: []string{metav1.DryRunAll}, FieldManager: "resimatectl-test",
					FieldValidation: "Strict", Force: ptrTo(true),
				})
				assert.NoError(t, err, "%s: %s %s", profile, gvk.Kind, o.GetName())
				assert.Empty(t, w.take(), "%s: warnings for %s %s", profile, gvk.Kind, o.GetName())

				// PodSecurity enforces on pods: admit each workload's pod template as a pod.
				if tmpl, ok := podTemplate(o.Unstructured); ok {
					// Dry-run created no ServiceAccounts; PodSecurity does not look at them.
					tmpl.ServiceAccountName = ""
					pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: o.GetName() + "-pod", Namespace: ns}, Spec: tmpl}
					_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
					assert.NoError(t, err, "%s: pod of %s %s", profile, gvk.Kind, o.GetName())
				}
			}
		})
	}
}

// podTemplate returns the pod spec inside a workload (Deployment, StatefulSet, Job, Knative Service).
func podTemplate(o *unstructured.Unstructured) (corev1.PodSpec, bool) {
	var spec corev1.PodSpec
	switch o.GetKind() {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
	case "Service":
		if !strings.HasPrefix(o.GetAPIVersion(), "serving.knative.dev/") {
			return spec, false
		}
	default:
		return spec, false
	}
	raw, found, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
	if !found {
		return spec, false
	}
	delete(raw, "containerConcurrency") // Knative's field, not a pod's
	u := &unstructured.Unstructured{Object: map[string]any{"spec": raw}}
	var pod corev1.Pod
	if err := runtimeFromUnstructured(u.Object, &pod); err != nil {
		return spec, false
	}
	// A StatefulSet's claim templates become volumes of its pods.
	claims, _, _ := unstructured.NestedSlice(o.Object, "spec", "volumeClaimTemplates")
	for _, c := range claims {
		name, _, _ := unstructured.NestedString(c.(map[string]any), "metadata", "name")
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	return pod.Spec, true
}

func ptrTo[T any](v T) *T { return &v }

func runtimeFromUnstructured(obj map[string]any, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into)
}
