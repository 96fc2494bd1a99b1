// Package health computes each platform component's state from its objects in the cluster,
// with kstatus: what status, install and upgrade report.
package health

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/resimate/resimatectl/internal/render"
)

// ObjectStatus is one object's kstatus.
type ObjectStatus struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// ComponentStatus sums up one platform component.
type ComponentStatus struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Desired and Ready count the component's pods (replicas, instances or completions).
	Desired int64 `json:"desired"`
	Ready   int64 `json:"ready"`
	// Status is kstatus' verdict: Current, InProgress, Failed, NotFound, Terminating or Unknown.
	Status         string         `json:"status"`
	Message        string         `json:"message,omitempty"`
	LastTransition *time.Time     `json:"lastTransition,omitempty"`
	Objects        []ObjectStatus `json:"objects"`
}

// IsReady reports whether every object of the component is Current.
func (c ComponentStatus) IsReady() bool { return c.Status == string(status.CurrentStatus) }

// kinds whose readiness makes a component's; the rest (Services, ConfigMaps...) are ready once
// they exist.
var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "Job": true, "DaemonSet": true, "Cluster": true, "PersistentVolumeClaim": true}

// Statuses reads every object of a release from the cluster and computes each component's
// status with kstatus.
func Statuses(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, ns string, objects []render.Object) ([]ComponentStatus, error) {
	byName := map[string]*ComponentStatus{}
	for _, o := range objects {
		comp := o.Component()
		if comp == "" || o.Hook {
			continue
		}
		cs := byName[comp]
		if cs == nil {
			cs = &ComponentStatus{Name: comp, Status: string(status.CurrentStatus)}
			byName[comp] = cs
		}
		gvk := o.GroupVersionKind()
		isWorkload := workloadKinds[gvk.Kind] || strings.HasPrefix(gvk.Group, "serving.knative.dev")
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			cs.add(ObjectStatus{Kind: gvk.Kind, Name: o.GetName(), Status: string(status.UnknownStatus), Message: "API not served: " + err.Error()})
			continue
		}
		ri := dyn.Resource(m.Resource).Namespace(ns)
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace("")
		}
		live, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cs.add(ObjectStatus{Kind: gvk.Kind, Name: o.GetName(), Status: string(status.NotFoundStatus), Message: "not found"})
			continue
		}
		if err != nil {
			return nil, err
		}
		res, err := status.Compute(live)
		if err != nil {
			cs.add(ObjectStatus{Kind: gvk.Kind, Name: o.GetName(), Status: string(status.UnknownStatus), Message: err.Error()})
			continue
		}
		if !isWorkload && res.Status == status.CurrentStatus {
			continue // listed only when something is wrong
		}
		cs.add(ObjectStatus{Kind: gvk.Kind, Name: o.GetName(), Status: string(res.Status), Message: res.Message})
		if isWorkload {
			cs.count(live)
		}
	}
	out := make([]ComponentStatus, 0, len(byName))
	for _, c := range byName {
		if c.Objects == nil {
			c.Objects = []ObjectStatus{}
		}
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// rank orders statuses from best to worst; a component shows its worst object's.
var rank = map[string]int{"Current": 0, "InProgress": 1, "Unknown": 2, "Terminating": 3, "NotFound": 4, "Failed": 5}

func (c *ComponentStatus) add(o ObjectStatus) {
	c.Objects = append(c.Objects, o)
	if rank[o.Status] > rank[c.Status] {
		c.Status = o.Status
		c.Message = o.Kind + " " + o.Name + ": " + o.Message
	}
}

// count adds a workload's pods and its newest condition change.
func (c *ComponentStatus) count(u *unstructured.Unstructured) {
	var desired, ready int64
	switch u.GetKind() {
	case "Deployment", "StatefulSet":
		desired, _, _ = unstructured.NestedInt64(u.Object, "spec", "replicas")
		ready, _, _ = unstructured.NestedInt64(u.Object, "status", "readyReplicas")
	case "Job":
		desired, _, _ = unstructured.NestedInt64(u.Object, "spec", "completions")
		ready, _, _ = unstructured.NestedInt64(u.Object, "status", "succeeded")
	case "Cluster":
		desired, _, _ = unstructured.NestedInt64(u.Object, "spec", "instances")
		ready, _, _ = unstructured.NestedInt64(u.Object, "status", "readyInstances")
	}
	c.Desired += desired
	c.Ready += ready
	if v := runningVersion(u); v != "" && c.Version == "" {
		c.Version = v
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, raw := range conds {
		cond, _ := raw.(map[string]any)
		// A rollout moves lastUpdateTime on while a condition keeps its status.
		for _, key := range []string{"lastTransitionTime", "lastUpdateTime"} {
			s, _ := cond[key].(string)
			if t, err := time.Parse(time.RFC3339, s); err == nil && (c.LastTransition == nil || t.After(*c.LastTransition)) {
				c.LastTransition = &t
			}
		}
	}
}

// runningVersion is the tag of the workload's first container image: what the pods run, which
// an upgrade with another image tag changes while the chart's version label stays. Without a
// tag (a digest, or no pod template) it is the version label.
func runningVersion(u *unstructured.Unstructured) string {
	containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	if len(containers) > 0 {
		first, _ := containers[0].(map[string]any)
		image, _ := first["image"].(string)
		if tag := imageTag(image); tag != "" {
			return tag
		}
	}
	return u.GetLabels()["app.kubernetes.io/version"]
}

// imageTag returns the tag of registry/repo:tag, or "" when there is none (a port is no tag).
func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	i := strings.LastIndexByte(image, ':')
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	return image[i+1:]
}

// NotReady returns the components that are not Current.
func NotReady(list []ComponentStatus) []ComponentStatus {
	var out []ComponentStatus
	for _, c := range list {
		if !c.IsReady() {
			out = append(out, c)
		}
	}
	return out
}
