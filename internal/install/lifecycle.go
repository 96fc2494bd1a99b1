package install

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/resimate/resimatectl/internal/helm"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/lock"
	"github.com/resimate/resimatectl/internal/record"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/secrets"
	"github.com/resimate/resimatectl/internal/vault"
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
	ns, name := opts.Chart.Namespace, cmp.Or(opts.Chart.ReleaseName, render.DefaultRelease)
	opts.Chart.ReleaseName = name
	_, rel, err := installedRelease(env, ns, name)
	if err != nil {
		return nil, err
	}
	opts.Chart.Upgrade = true // what the upgrade would apply
	rendered, err := renderForCluster(ctx, env, opts.Chart)
	if err != nil {
		return nil, err
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
	plan.UpToDate = sameRendering(ctx, rel, rendered, opts.Chart)
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
		out = append(out, ComponentPlan{Name: n, Installed: cmp.Or(a[n], "(none)"), Bundled: cmp.Or(b[n], "(removed)"), Changed: a[n] != b[n]})
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
	c, err := env.Kube.Get()
	if err != nil {
		return 0, err
	}
	ctx, unlock, err := takeLock(ctx, env, c, ns, name, kube.WhoAmI(ctx, c.Kube), "rollback", force, 0)
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
	if err := h.Rollback(ctx, name, revision, timeout); err != nil {
		return 0, fmt.Errorf("rollback failed: %w", err)
	}
	now, err := h.Latest(name)
	if err != nil {
		return 0, err
	}
	return now.Version, nil
}

// UninstallResult says what uninstall removed and what it kept; each list names only what
// existed.
type UninstallResult struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	// Removed is true when there was a release to remove.
	Removed bool `json:"removed"`
	// Purged lists what --purge deleted; Kept what is still there ("Kind/name").
	Purged []string `json:"purged"`
	Kept   []string `json:"kept"`
}

// UninstallOptions say how far an uninstall goes.
type UninstallOptions struct {
	Timeout time.Duration
	// Purge deletes what an uninstall keeps: volumes, the generated Secrets, the install record.
	Purge bool
	// DropDatabases (with Purge) also drops, on an external PostgreSQL, the roles and databases
	// install made, through PostgresURL, the admin URL (a secret).
	DropDatabases bool
	PostgresURL   string
	ForceUnlock   bool
}

// Uninstall removes the release. PersistentVolumeClaims, the generated Secrets (database
// passwords) and the install record stay unless opts.Purge; an external PostgreSQL's databases
// stay unless opts.DropDatabases too.
func Uninstall(ctx context.Context, env *Env, ns, name string, opts UninstallOptions) (*UninstallResult, error) {
	c, err := env.Kube.Get()
	if err != nil {
		return nil, err
	}
	ctx, unlock, err := takeLock(ctx, env, c, ns, name, kube.WhoAmI(ctx, c.Kube), "uninstall", opts.ForceUnlock, 0)
	if err != nil {
		return nil, err
	}
	defer unlock()
	h, err := env.Helm(ns)
	if err != nil {
		return nil, err
	}
	rel, err := h.Latest(name)
	if err != nil {
		return nil, err
	}
	res := &UninstallResult{Release: name, Namespace: ns, Purged: []string{}, Kept: []string{}}
	// What to drop is read before the release and its Secrets go.
	var drop func() error
	if opts.Purge && opts.DropDatabases {
		if drop, err = databaseDropper(ctx, c, ns, name, rel, opts.PostgresURL, res); err != nil {
			return nil, err
		}
	}
	if rel != nil {
		if err := h.Uninstall(ctx, name, opts.Timeout); err != nil {
			return nil, fmt.Errorf("uninstall failed: %w", err)
		}
		res.Removed = true
	}
	left, err := leftBehind(ctx, c.Kube, ns, name)
	if err != nil {
		return nil, err
	}
	if !opts.Purge {
		res.Kept = left.names()
		return res, nil
	}
	for _, o := range left {
		err := o.delete(ctx)
		if apierrors.IsNotFound(err) {
			continue // gone meanwhile: not ours to report
		}
		if err != nil {
			return nil, fmt.Errorf("purging %s: %w", o.name, err)
		}
		res.Purged = append(res.Purged, o.name)
	}
	if drop != nil {
		return res, drop()
	}
	return res, nil
}

// keptObject is something an uninstall leaves unless --purge: a volume, a generated Secret, the
// install record.
type keptObject struct {
	name   string
	delete func(context.Context) error
}

type keptObjects []keptObject

func (k keptObjects) names() []string {
	out := make([]string, 0, len(k))
	for _, o := range k {
		out = append(out, o.name)
	}
	return out
}

// leftBehind lists what of the release's data is still in the namespace.
func leftBehind(ctx context.Context, kc kubernetes.Interface, ns, name string) (keptObjects, error) {
	var out keptObjects
	pvcs := kc.CoreV1().PersistentVolumeClaims(ns)
	for _, sel := range []string{"app.kubernetes.io/instance=" + name, "cnpg.io/cluster=" + name + "-postgres"} {
		list, err := pvcs.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, err
		}
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				continue // already going (held by pvc-protection until its pods are gone)
			}
			out = append(out, keptObject{"PersistentVolumeClaim/" + p.Name, func(ctx context.Context) error { return pvcs.Delete(ctx, p.Name, metav1.DeleteOptions{}) }})
		}
	}
	secretAPI := kc.CoreV1().Secrets(ns)
	for _, s := range append(secrets.Names(name), vault.TLSSecretName(name)) {
		sec, err := secretAPI.Get(ctx, s, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && sec.Labels["app.kubernetes.io/managed-by"] != "resimatectl") {
			continue // a site's own Secret stays
		} else if err != nil {
			return nil, err
		}
		out = append(out, keptObject{"Secret/" + s, func(ctx context.Context) error { return secretAPI.Delete(ctx, s, metav1.DeleteOptions{}) }})
	}
	cms := kc.CoreV1().ConfigMaps(ns)
	for _, cm := range []string{vault.StateName(name), record.Name(name)} {
		if _, err := cms.Get(ctx, cm, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, keptObject{"ConfigMap/" + cm, func(ctx context.Context) error { return cms.Delete(ctx, cm, metav1.DeleteOptions{}) }})
	}
	return out, nil
}

// takeLock holds the namespace lock for op and returns the context the work under it uses
// (cancelled if the lock is lost) and the function that releases it.
func takeLock(ctx context.Context, env *Env, c *kube.Set, ns, name, user, op string, force bool, ttl time.Duration) (context.Context, func(), error) {
	l := lock.New(c.Kube, ns, name, user, op, cmp.Or(ttl, 30*time.Second))
	lockCtx, note, err := l.Acquire(ctx, force)
	if err != nil {
		return nil, nil, err
	}
	if note != "" {
		env.emit(Event{Type: "note", Message: note})
	}
	return lockCtx, func() { l.Release(context.WithoutCancel(ctx)) }, nil
}

// installedRelease opens Helm on ns and reads the release's newest revision; no release is an
// error that says what to do.
func installedRelease(env *Env, ns, name string) (*helm.Helm, *releaseT, error) {
	h, err := env.Helm(ns)
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
