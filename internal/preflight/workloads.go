package preflight

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/resimate/resimatectl/internal/render"
)

// workload is a group of identical pods the chart asks for.
type workload struct {
	Kind, Name string
	// Replicas is the count at rest: the HPA's minimum, Knative's minScale, CNPG's instances.
	Replicas int64
	// Hook pods run once, before the others (migrations): they must fit, but do not add up.
	Hook bool
	Meta metav1.ObjectMeta
	Spec corev1.PodSpec
}

// requests returns the pod's CPU and memory requests: its containers' sum, or its largest init
// container when that is more (init containers run one at a time, before the others).
func (w workload) requests() (cpu, mem resource.Quantity) {
	for _, c := range w.Spec.Containers {
		cpu.Add(*c.Resources.Requests.Cpu())
		mem.Add(*c.Resources.Requests.Memory())
	}
	for _, c := range w.Spec.InitContainers {
		if c.Resources.Requests.Cpu().Cmp(cpu) > 0 {
			cpu = c.Resources.Requests.Cpu().DeepCopy()
		}
		if c.Resources.Requests.Memory().Cmp(mem) > 0 {
			mem = c.Resources.Requests.Memory().DeepCopy()
		}
	}
	return cpu, mem
}

// workloads reads the pods the rendered chart will run, with their counts at rest.
func workloads(res *render.Result) []workload {
	hpaMin := map[string]int64{}
	for _, o := range res.Objects {
		if o.GetKind() == "HorizontalPodAutoscaler" {
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "scaleTargetRef", "kind")
			name, _, _ := unstructured.NestedString(o.Object, "spec", "scaleTargetRef", "name")
			min, found, _ := unstructured.NestedInt64(o.Object, "spec", "minReplicas")
			if !found {
				min = 1
			}
			hpaMin[kind+"/"+name] = min
		}
	}
	var out []workload
	for _, o := range res.Objects {
		w := workload{Kind: o.GetKind(), Name: o.GetName(), Hook: o.Hook}
		var template map[string]any
		switch {
		case w.Kind == "Deployment" || w.Kind == "StatefulSet":
			w.Replicas = 1
			if n, found, _ := unstructured.NestedInt64(o.Object, "spec", "replicas"); found {
				w.Replicas = n
			}
			if min, ok := hpaMin[w.Kind+"/"+w.Name]; ok {
				w.Replicas = min
			}
			template, _, _ = unstructured.NestedMap(o.Object, "spec", "template")
		case w.Kind == "Job":
			w.Replicas = 1
			template, _, _ = unstructured.NestedMap(o.Object, "spec", "template")
		case w.Kind == "Service" && strings.HasPrefix(o.GetAPIVersion(), "serving.knative.dev/"):
			min, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "annotations", "autoscaling.knative.dev/minScale")
			w.Replicas, _ = strconv.ParseInt(min, 10, 64)
			template, _, _ = unstructured.NestedMap(o.Object, "spec", "template")
			if spec, ok := template["spec"].(map[string]any); ok {
				delete(spec, "containerConcurrency")
			}
		case w.Kind == "Cluster" && strings.HasPrefix(o.GetAPIVersion(), "postgresql.cnpg.io/"):
			// CloudNativePG makes one pod per instance with the cluster's resources.
			w.Replicas, _, _ = unstructured.NestedInt64(o.Object, "spec", "instances")
			resources, _, _ := unstructured.NestedMap(o.Object, "spec", "resources")
			sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "affinity", "nodeSelector")
			// Its pods carry the security settings CloudNativePG documents (PodSecurity "restricted").
			template = map[string]any{"spec": map[string]any{
				"nodeSelector":    toAnyMap(sel),
				"securityContext": map[string]any{"runAsNonRoot": true, "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
				"containers": []any{map[string]any{"name": "postgres", "image": "postgres", "resources": resources,
					"securityContext": map[string]any{"allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []any{"ALL"}}}}},
			}}
		default:
			continue
		}
		var pod corev1.Pod
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(template, &pod); err != nil {
			continue
		}
		w.Meta, w.Spec = pod.ObjectMeta, pod.Spec
		out = append(out, w)
	}
	return out
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
