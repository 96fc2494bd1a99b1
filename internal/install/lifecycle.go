package install

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/internal/render"
)

// ComponentPlan compares one component's installed and bundled versions.
type ComponentPlan struct {
	Name      string `json:"name"`
	Installed string `json:"installed"`
	Bundled   string `json:"bundled"`
	Changed   bool   `json:"changed"`
}

// UpgradePlan is what `upgrade plan` shows.
type UpgradePlan struct {
	Release          string          `json:"release"`
	Namespace        string          `json:"namespace"`
	Revision         int             `json:"revision"`
	InstalledChart   string          `json:"installedChart"`
	BundledChart     string          `json:"bundledChart"`
	Components       []ComponentPlan `json:"components"`
	ChangedObjects   []string        `json:"changedObjects"`
	Diff             string          `json:"diff"`
	UpToDate         bool            `json:"upToDate"`
	InstalledProfile string          `json:"installedProfile,omitempty"`
}

// Plan renders the bundled chart with the given values and compares it with the installed
// revision, object by object.
func Plan(ctx context.Context, env *Env, opts Options) (*UpgradePlan, error) {
	ns, name := opts.Chart.Namespace, orDefault(opts.Chart.ReleaseName, render.DefaultRelease)
	opts.Chart.ReleaseName = name
	_, rel, err := installedRelease(env, ns, name)
	if err != nil {
		return nil, err
	}
	rendered, err := render.Render(ctx, opts.Chart)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	old, err := render.ParseManifest(rel.Manifest)
	if err != nil {
		return nil, err
	}
	plan := &UpgradePlan{Release: name, Namespace: ns, Revision: rel.Version,
		InstalledChart: rel.Chart.Metadata.Version + " (app " + rel.Chart.Metadata.AppVersion + ")",
		BundledChart:   rendered.Chart.Metadata.Version + " (app " + rendered.Chart.Metadata.AppVersion + ")"}
	plan.Components = compareVersions(old, nonHooks(rendered.Objects))
	plan.Diff, plan.ChangedObjects = diffObjects(old, nonHooks(rendered.Objects))
	plan.UpToDate = sameRendering(rel, rendered)
	return plan, nil
}

func nonHooks(objs []render.Object) []render.Object {
	var out []render.Object
	for _, o := range objs {
		if !o.Hook {
			out = append(out, o)
		}
	}
	return out
}

// versionsByComponent reads each component's version label and images.
func versionsByComponent(objs []render.Object) map[string]string {
	out := map[string]string{}
	for _, o := range objs {
		comp := o.Component()
		if comp == "" {
			continue
		}
		v := o.GetLabels()["app.kubernetes.io/version"]
		var images []string
		walkImages(o.Object, &images)
		if len(images) > 0 {
			v = strings.Join(images, ",")
		}
		if v != "" && (out[comp] == "" || len(images) > 0) {
			out[comp] = v
		}
	}
	return out
}

func walkImages(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "image" {
				*out = append(*out, s)
				continue
			}
			walkImages(val, out)
		}
	case []any:
		for _, val := range x {
			walkImages(val, out)
		}
	}
}

func compareVersions(old, new []render.Object) []ComponentPlan {
	a, b := versionsByComponent(old), versionsByComponent(new)
	names := map[string]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	var out []ComponentPlan
	for n := range names {
		out = append(out, ComponentPlan{Name: n, Installed: orDefault(a[n], "(none)"), Bundled: orDefault(b[n], "(removed)"), Changed: a[n] != b[n]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// diffObjects returns a unified diff, object by object, and the keys of changed objects.
func diffObjects(old, new []render.Object) (string, []string) {
	key := func(o render.Object) string { return o.GetKind() + "/" + o.GetName() }
	text := func(o render.Object) string {
		b, _ := yaml.Marshal(o.Object)
		return string(b)
	}
	before, after := map[string]string{}, map[string]string{}
	for _, o := range old {
		before[key(o)] = text(o)
	}
	for _, o := range new {
		after[key(o)] = text(o)
	}
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var b strings.Builder
	var changed []string
	for _, k := range sorted {
		if before[k] == after[k] {
			continue
		}
		changed = append(changed, k)
		d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(before[k]), B: difflib.SplitLines(after[k]),
			FromFile: "installed " + k, ToFile: "bundled " + k, Context: 3,
		})
		b.WriteString(d)
	}
	return b.String(), changed
}

// Rollback returns the release to revision (0: the previous one) under the lock.
func Rollback(ctx context.Context, env *Env, ns, name string, revision int, timeout time.Duration, force bool) (int, error) {
	c, err := newClients(env.Getter)
	if err != nil {
		return 0, err
	}
	unlock, err := lockFor(ctx, env, c, ns, name, "rollback", force)
	if err != nil {
		return 0, err
	}
	defer unlock()
	h, _, err := installedRelease(env, ns, name)
	if err != nil {
		return 0, err
	}
	if revision != 0 {
		if _, err := h.Revision(name, revision); err != nil {
			return 0, fmt.Errorf("release %s has no revision %d (see 'resimatectl status' and the release history)", name, revision)
		}
	}
	if err := h.Rollback(name, revision, timeout); err != nil {
		return 0, fmt.Errorf("rollback failed: %w", err)
	}
	now, err := h.Latest(name)
	if err != nil {
		return 0, err
	}
	return now.Version, nil
}

// Uninstall removes the release. PersistentVolumeClaims, the generated Secrets (database
// passwords) and the install record stay unless purge.
func Uninstall(ctx context.Context, env *Env, ns, name string, purge bool, timeout time.Duration, force bool) ([]string, error) {
	c, err := newClients(env.Getter)
	if err != nil {
		return nil, err
	}
	unlock, err := lockFor(ctx, env, c, ns, name, "uninstall", force)
	if err != nil {
		return nil, err
	}
	defer unlock()
	h, err := NewHelm(env.Getter, ns, env.Logger)
	if err != nil {
		return nil, err
	}
	rel, err := h.Latest(name)
	if err != nil {
		return nil, err
	}
	var notes []string
	if rel != nil {
		if err := h.Uninstall(name, timeout); err != nil {
			return nil, fmt.Errorf("uninstall failed: %w", err)
		}
		notes = append(notes, fmt.Sprintf("removed release %s", name))
	} else {
		notes = append(notes, fmt.Sprintf("no release %s in %s", name, ns))
	}
	if !purge {
		notes = append(notes, "kept volumes, databases, generated secrets and the install record (--purge removes them)")
		return notes, nil
	}
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name}
	pvcs, err := c.kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, sel)
	if err != nil {
		return nil, err
	}
	cnpg, err := c.kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{LabelSelector: "cnpg.io/cluster=" + name + "-postgres"})
	if err != nil {
		return nil, err
	}
	for _, p := range append(pvcs.Items, cnpg.Items...) {
		if err := c.kube.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !isNotFoundErr(err) {
			return nil, err
		}
	}
	for _, s := range SecretNames(name) {
		if err := c.kube.CoreV1().Secrets(ns).Delete(ctx, s, metav1.DeleteOptions{}); err != nil && !isNotFoundErr(err) {
			return nil, err
		}
	}
	if err := c.kube.CoreV1().ConfigMaps(ns).Delete(ctx, recordName(name), metav1.DeleteOptions{}); err != nil && !isNotFoundErr(err) {
		return nil, err
	}
	notes = append(notes, fmt.Sprintf("purged %d volumes, %d generated secrets and the install record", len(pvcs.Items)+len(cnpg.Items), len(SecretNames(name))))
	return notes, nil
}

func lockFor(ctx context.Context, env *Env, c *clients, ns, name, op string, force bool) (func(), error) {
	user := whoAmI(ctx, c.kube)
	host, _ := os.Hostname()
	lock := NewLock(c.kube, ns, name, user, host, op, 30*time.Second)
	note, err := lock.Acquire(ctx, user, host, force)
	if err != nil {
		return nil, err
	}
	if note != "" {
		env.emit(Event{Type: "note", Message: note})
	}
	return func() { lock.Release(context.WithoutCancel(ctx)) }, nil
}

// installedRelease opens Helm on ns and reads the release's newest revision; no release is an
// error that says what to do.
func installedRelease(env *Env, ns, name string) (*Helm, *releaseT, error) {
	h, err := NewHelm(env.Getter, ns, env.Logger)
	if err != nil {
		return nil, nil, err
	}
	rel, err := h.Latest(name)
	if err != nil {
		return nil, nil, err
	}
	if rel == nil {
		return nil, nil, fmt.Errorf("no release %s in namespace %s: install it with 'resimatectl install'", name, ns)
	}
	return h, rel, nil
}
