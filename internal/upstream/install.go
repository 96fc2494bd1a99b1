package upstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	release "helm.sh/helm/v4/pkg/release/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/resimate/resimatectl/internal/errtext"
	"github.com/resimate/resimatectl/internal/helm"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/lock"
)

// Installer installs the needed upstream charts on one cluster.
type Installer struct {
	Helm func(ns string) (*helm.Helm, error)
	Kube *kube.Set
	// User names the run in the charts' locks.
	User    string
	Timeout time.Duration
	LockTTL time.Duration
	// Progress receives one line per step.
	Progress func(string)
}

// LoadAll loads and verifies every archive, so that a refused one stops install before it
// changes anything.
func LoadAll(needed []Chart, src Source) ([]*chart.Chart, error) {
	loaded := make([]*chart.Chart, len(needed))
	for i, u := range needed {
		c, err := u.Load(src)
		if err != nil {
			return nil, err
		}
		loaded[i] = c
	}
	return loaded, nil
}

// Install installs or upgrades the charts (loaded by LoadAll) in parallel, as they do not
// depend on each other, each as its own release in its own namespace, and applies their
// objects. A chart already deployed at its pinned version with the same values is left alone:
// no new revision.
func (in *Installer) Install(ctx context.Context, needed []Chart, loaded []*chart.Chart) error {
	var wg sync.WaitGroup
	errs := make([]error, len(needed))
	for i, u := range needed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := in.installOne(ctx, u, loaded[i]); err != nil {
				errs[i] = fmt.Errorf("upstream chart %s: %w", u.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (in *Installer) installOne(ctx context.Context, u Chart, c *chart.Chart) error {
	if err := kube.EnsureNamespace(ctx, in.Kube.Kube, u.Namespace, namespaceLabels(u.PodSecurity)); err != nil {
		return err
	}
	// Upstream releases are the cluster's, shared by every Resimate install on it: one run at a
	// time changes each.
	ctx, unlock, err := in.lock(ctx, u)
	if err != nil {
		return err
	}
	defer unlock()
	h, err := in.Helm(u.Namespace)
	if err != nil {
		return err
	}
	latest, err := h.Latest(u.Name)
	if err != nil {
		return err
	}
	switch {
	case latest != nil && latest.Info.Status == "deployed" && unchanged(latest, c, u.Values):
		in.Progress(fmt.Sprintf("upstream %s %s: up to date in %s", u.Chart, u.Version, u.Namespace))
	case latest == nil || latest.Version == 1 && latest.Info.Status != "deployed":
		if latest != nil {
			// The first install never finished: start over.
			if err := h.Uninstall(ctx, u.Name, in.Timeout); err != nil {
				return err
			}
		}
		in.Progress(fmt.Sprintf("upstream %s %s: installing into %s", u.Chart, u.Version, u.Namespace))
		if _, err := h.Install(ctx, u.Name, c, u.Values, in.Timeout); err != nil {
			return err
		}
	default:
		if helm.Pending(latest) {
			if err := h.MarkFailed(latest, "left pending by an interrupted run"); err != nil {
				return err
			}
		}
		in.Progress(fmt.Sprintf("upstream %s: upgrading %s to %s in %s", u.Chart, latest.Chart.Metadata.Version, u.Version, u.Namespace))
		if _, err := h.Upgrade(ctx, u.Name, c, u.Values, in.Timeout); err != nil {
			return err
		}
	}
	if err := in.applyObjects(ctx, u); err != nil {
		return err
	}
	if err := in.waitBrought(ctx, u); err != nil {
		return err
	}
	in.Progress(fmt.Sprintf("upstream %s %s: ready", u.Chart, u.Version))
	return nil
}

// unchanged reports whether the release already runs this chart version with these values.
func unchanged(rel *release.Release, c *chart.Chart, values map[string]any) bool {
	if rel.Chart == nil || rel.Chart.Metadata == nil || rel.Chart.Metadata.Version != c.Metadata.Version {
		return false
	}
	return reflect.DeepEqual(jsonCopy(rel.Config), jsonCopy(values))
}

// lock takes the chart's Lease in its namespace, waiting while another run holds it.
func (in *Installer) lock(ctx context.Context, u Chart) (context.Context, func(), error) {
	l := lock.New(in.Kube.Kube, u.Namespace, u.Name, in.User, "upstream install", cmp.Or(in.LockTTL, 30*time.Second))
	var locked context.Context
	said := false
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		c, _, err := l.Acquire(ctx, false)
		if errors.Is(err, lock.ErrLocked) {
			if !said {
				in.Progress(fmt.Sprintf("upstream %s: waiting: %s", u.Chart, errtext.FirstLine(err)))
				said = true
			}
			return false, nil
		}
		locked = c
		return err == nil, err
	})
	if err != nil {
		return nil, nil, err
	}
	return locked, func() { l.Release(context.WithoutCancel(ctx)) }, nil
}

// applyObjects applies the chart's objects server-side, creating their namespaces.
func (in *Installer) applyObjects(ctx context.Context, u Chart) error {
	for _, raw := range u.Objects {
		obj := &unstructured.Unstructured{Object: jsonCopy(raw)}
		if ns := obj.GetNamespace(); ns != "" {
			if err := kube.EnsureNamespace(ctx, in.Kube.Kube, ns, namespaceLabels(u.PodSecurity)); err != nil {
				return err
			}
		}
		ri, err := in.resource(obj)
		if err != nil {
			return err
		}
		data, err := obj.MarshalJSON()
		if err != nil {
			return err
		}
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "resimatectl", Force: ptr.To(true)}); err != nil {
			return fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// resource returns the dynamic client of obj's kind in its namespace.
func (in *Installer) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := in.Kube.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s is not served: %w", gvk.Kind, err)
	}
	return in.Kube.Dynamic.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitBrought waits until the chart's objects are Ready and the CRDs it brings are established,
// saying what it still waits for when the time is up.
func (in *Installer) waitBrought(ctx context.Context, u Chart) error {
	var pending []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, in.Timeout, true, func(ctx context.Context) (bool, error) {
		pending = pending[:0]
		for _, raw := range u.Objects {
			obj := &unstructured.Unstructured{Object: raw}
			ri, err := in.resource(obj)
			if err != nil {
				return false, err
			}
			live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if res, err := status.Compute(live); err != nil || res.Status != status.CurrentStatus {
				pending = append(pending, obj.GetKind()+" "+obj.GetName())
			}
		}
		for _, name := range u.Brings {
			crd, err := in.Kube.Dynamic.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil || !established(crd) {
				pending = append(pending, "CRD "+name)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil && len(pending) > 0 {
		return fmt.Errorf("not ready after %s: %s", in.Timeout, strings.Join(pending, ", "))
	}
	return err
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// namespaceLabels are those of a namespace created for an upstream chart.
func namespaceLabels(level string) map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce": level,
		"pod-security.kubernetes.io/warn":    level,
		"app.kubernetes.io/managed-by":       "resimatectl",
	}
}
