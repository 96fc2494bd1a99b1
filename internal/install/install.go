// Package install takes a namespace from empty to a Ready platform and keeps it so: install,
// upgrade, rollback, uninstall and status, on the Helm v4 SDK with the embedded chart.
package install

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/resimate/resimatectl/internal/buildinfo"
	"github.com/resimate/resimatectl/internal/preflight"
	"github.com/resimate/resimatectl/internal/redact"
	"github.com/resimate/resimatectl/internal/render"
)

// Event is one line of progress.
type Event struct {
	Time      time.Time `json:"time"`
	Type      string    `json:"type"` // phase, component, note
	Message   string    `json:"message"`
	Component string    `json:"component,omitempty"`
	Status    string    `json:"status,omitempty"`
	Ready     int64     `json:"ready,omitempty"`
	Desired   int64     `json:"desired,omitempty"`
}

// Env is what install needs from its caller.
type Env struct {
	Getter   genericclioptions.RESTClientGetter
	Redactor *redact.Redactor
	Logger   *slog.Logger
	// Progress receives events as they happen (nil: dropped).
	Progress func(Event)
}

func (e *Env) emit(ev Event) {
	if e.Progress != nil {
		ev.Time = time.Now()
		e.Progress(ev)
	}
}

// Options are install's choices.
type Options struct {
	Chart         render.Options
	Timeout       time.Duration
	DryRun        bool
	SkipPreflight bool
	Ignore        []string
	Offline       bool
	PostgresURL   string
	ChartsDir     string
	SkipUpstream  bool
	ForceUnlock   bool
	LockTTL       time.Duration
	// Operation names the run in the lock and the record: install or upgrade.
	Operation string
}

// Result says what happened.
type Result struct {
	Action     string            `json:"action"` // installed, upgraded, up-to-date, dry-run
	Release    string            `json:"release"`
	Namespace  string            `json:"namespace"`
	Revision   int               `json:"revision"`
	Components []ComponentStatus `json:"components,omitempty"`
	Notes      []string          `json:"notes,omitempty"`
}

// clients are the Kubernetes clients of one run.
type clients struct {
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func newClients(g genericclioptions.RESTClientGetter) (*clients, error) {
	cfg, err := g.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster configuration: %w", err)
	}
	// Status reads every object of the release: client-go's default 5 requests/s would make
	// that take seconds.
	cfg.QPS, cfg.Burst = 100, 200
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// In memory, not kubectl's disk cache: CRDs installed minutes ago must be known.
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &clients{kube: kube, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// Install renders, checks, and applies the platform, waiting until it is Ready.
func Install(ctx context.Context, env *Env, opts Options) (*Result, error) {
	if opts.Operation == "" {
		opts.Operation = "install"
	}
	ns, name := opts.Chart.Namespace, orDefault(opts.Chart.ReleaseName, render.DefaultRelease)
	opts.Chart.ReleaseName = name
	rendered, err := render.Render(ctx, opts.Chart)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	res := &Result{Release: name, Namespace: ns}
	if opts.Operation == "upgrade" {
		// An upgrade needs an install to upgrade: say so before touching anything.
		if _, _, err := installedRelease(env, ns, name); err != nil {
			return nil, err
		}
	}

	if !opts.SkipPreflight {
		env.emit(Event{Type: "phase", Message: "preflight"})
		if err := runPreflight(ctx, env, opts, rendered); err != nil {
			return nil, err
		}
	}
	c, err := newClients(env.Getter)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return dryRun(env, rendered, res)
	}

	if err := ensureNamespace(ctx, c.kube, ns); err != nil {
		return nil, err
	}
	user := whoAmI(ctx, c.kube)
	host, _ := os.Hostname()
	lock := NewLock(c.kube, ns, name, user, host, opts.Operation, orDuration(opts.LockTTL, 30*time.Second))
	note, err := lock.Acquire(ctx, user, host, opts.ForceUnlock)
	if err != nil {
		return nil, err
	}
	defer lock.Release(context.WithoutCancel(ctx))
	if note != "" {
		res.Notes = append(res.Notes, note)
		env.emit(Event{Type: "note", Message: note})
	}

	created, err := EnsureSecrets(ctx, c.kube, ns, name, env.Redactor)
	if err != nil {
		return nil, err
	}
	if created > 0 {
		env.emit(Event{Type: "note", Message: fmt.Sprintf("generated %d platform secrets (kept in namespace %s; never printed)", created, ns)})
	}

	upstream, err := neededUpstream(rendered)
	if err != nil {
		return nil, err
	}
	if len(upstream) > 0 && !opts.SkipUpstream {
		env.emit(Event{Type: "phase", Message: "upstream platform charts"})
		helmFor := func(ns string) (*Helm, error) { return NewHelm(env.Getter, ns, env.Logger) }
		if err := InstallUpstream(ctx, upstream, opts.ChartsDir, helmFor, opts.Timeout, func(m string) { env.emit(Event{Type: "note", Message: m}) }); err != nil {
			return nil, err
		}
	}

	h, err := NewHelm(env.Getter, ns, env.Logger)
	if err != nil {
		return nil, err
	}
	rel, action, err := applyRelease(ctx, env, c, h, rendered, opts)
	if err != nil {
		return nil, err
	}
	res.Action, res.Revision = action, rel.Version
	if res.Components, err = Statuses(ctx, c.dyn, c.mapper, ns, rendered.Objects); err != nil {
		return nil, err
	}
	if action != "up-to-date" {
		rec := Record{Profile: opts.Chart.Profile, Release: name, Revision: rel.Version, ChartVersion: rendered.Chart.Metadata.Version,
			AppVersion: rendered.Chart.Metadata.AppVersion, ToolVersion: buildinfo.Version, Time: time.Now().UTC(), User: user, Host: host,
			Upstream: map[string]string{}}
		for _, u := range upstream {
			rec.Upstream[u.Name] = u.Version
		}
		if err := SaveRecord(ctx, c.kube, ns, rec, rendered.Values, env.Redactor); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// InputError is a mistake in what the user gave (values, profile): a usage error.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func runPreflight(ctx context.Context, env *Env, opts Options, rendered *render.Result) error {
	cfg, cfgErr := env.Getter.ToRESTConfig()
	t, err := preflight.NewTarget(cfg, cfgErr, rendered)
	if err != nil {
		return err
	}
	t.Profile, t.Namespace, t.Release = opts.Chart.Profile, opts.Chart.Namespace, rendered.ReleaseName()
	t.Offline, t.PostgresURL = opts.Offline, opts.PostgresURL
	runner := &preflight.Runner{Checks: preflight.Checks(), Ignore: map[string]bool{}}
	for _, id := range opts.Ignore {
		runner.Ignore[id] = true
	}
	rep, err := runner.Run(ctx, t)
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range rep.Results {
		if r.Status == preflight.StatusFail {
			failed = append(failed, r.ID+": "+r.Message)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("preflight failed, nothing was changed: %s (see 'resimatectl preflight'; --ignore-checks or --skip-preflight to go on anyway)", strings.Join(failed, "; "))
	}
	env.emit(Event{Type: "note", Message: fmt.Sprintf("preflight: %d checks passed, %d warned, %d skipped", rep.Summary.Passed, rep.Summary.Warnings, rep.Summary.Skipped)})
	return nil
}

func neededUpstream(rendered *render.Result) ([]UpstreamChart, error) {
	all, err := UpstreamCharts()
	if err != nil {
		return nil, err
	}
	var needed []UpstreamChart
	for _, u := range all {
		if u.Needed(rendered.Effective) {
			needed = append(needed, u)
		}
	}
	return needed, nil
}

// applyRelease installs, upgrades, or does nothing when the release already holds exactly this
// rendering and is Ready. A revision left pending by a killed run is cleared first.
func applyRelease(ctx context.Context, env *Env, c *clients, h *Helm, rendered *render.Result, opts Options) (*releaseT, string, error) {
	name, ns := rendered.ReleaseName(), opts.Chart.Namespace
	latest, err := h.Latest(name)
	if err != nil {
		return nil, "", err
	}
	if latest != nil && Pending(latest) {
		msg := fmt.Sprintf("revision %d was left %s by an interrupted run", latest.Version, latest.Info.Status)
		env.emit(Event{Type: "note", Message: msg + ": recovering"})
		if latest.Version == 1 {
			// Nothing ever became Ready: start over, removing what the first try created.
			if err := h.Uninstall(name, opts.Timeout); err != nil {
				return nil, "", fmt.Errorf("%s, and removing it failed: %w", msg, err)
			}
			latest = nil
		} else if err := h.MarkFailed(latest, msg); err != nil {
			return nil, "", err
		}
	}
	if latest != nil && latest.Info.Status == "deployed" && sameRendering(latest, rendered) {
		statuses, err := Statuses(ctx, c.dyn, c.mapper, ns, rendered.Objects)
		if err == nil && len(NotReady(statuses)) == 0 {
			return latest, "up-to-date", nil
		}
	}

	watch := startWatching(ctx, env, c, ns, rendered.Objects)
	var rel *releaseT
	action := "installed"
	if latest == nil {
		env.emit(Event{Type: "phase", Message: fmt.Sprintf("installing release %s in %s", name, ns)})
		rel, err = h.Install(ctx, name, rendered.Chart, rendered.Values, opts.Timeout)
	} else {
		action = "upgraded"
		env.emit(Event{Type: "phase", Message: fmt.Sprintf("upgrading release %s from revision %d", name, latest.Version)})
		rel, err = h.Upgrade(ctx, name, rendered.Chart, rendered.Values, opts.Timeout)
	}
	stuck := watch.stop()
	if err != nil {
		if named := notReadyFromHelm(err, rendered.Objects); len(named) > 0 {
			stuck = named // Helm's own verdict at the deadline beats our last poll
		}
		return nil, "", failure(action, latest, stuck, err)
	}
	watch.final(ctx)
	return rel, action, nil
}

// failure explains a failed install or upgrade: what Helm did about it, and which component and
// object were not Ready, with their condition.
func failure(action string, previous *releaseT, stuck []ComponentStatus, err error) error {
	undo := "the install was removed"
	if previous != nil {
		undo = fmt.Sprintf("rolled back to revision %d", previous.Version)
	}
	verb := map[string]string{"installed": "install", "upgraded": "upgrade"}[action]
	var parts []string
	for _, c := range stuck {
		parts = append(parts, fmt.Sprintf("component %s: %s is %s", c.Name, c.Message, c.Status))
	}
	why := firstLine(err)
	if len(parts) > 0 {
		why = strings.Join(parts, "; ") + " (" + why + ")"
	}
	return fmt.Errorf("%s failed and %s: %s", verb, undo, why)
}

// helmNotReady matches Helm's "resource Kind/namespace/name not ready. status: S, message: M".
var helmNotReady = regexp.MustCompile(`resource (\w+)/[^/\s]+/(\S+) not ready\. status: (\w+), message: ([^\n]*)`)

// notReadyFromHelm names the components of the objects Helm's wait gave up on.
func notReadyFromHelm(err error, objects []render.Object) []ComponentStatus {
	var out []ComponentStatus
	for _, m := range helmNotReady.FindAllStringSubmatch(err.Error(), -1) {
		kind, name, status, msg := m[1], m[2], m[3], strings.TrimSpace(m[4])
		comp := "unknown"
		for _, o := range objects {
			if o.GetKind() == kind && o.GetName() == name && o.Component() != "" {
				comp = o.Component()
			}
		}
		out = append(out, ComponentStatus{Name: comp, Status: status, Message: kind + " " + name + ": " + msg})
	}
	return out
}

// sameRendering: the stored revision has exactly this chart version, values and manifest.
func sameRendering(rel *releaseT, rendered *render.Result) bool {
	if rel.Chart == nil || rel.Chart.Metadata.Version != rendered.Chart.Metadata.Version {
		return false
	}
	a, err1 := json.Marshal(rel.Config)
	b, err2 := json.Marshal(rendered.Values)
	if err1 != nil || err2 != nil || string(a) != string(b) {
		return false
	}
	return strings.TrimSpace(rel.Manifest) == strings.TrimSpace(rendered.ReleaseManifest)
}

// watcher reports component progress while Helm waits.
type watcher struct {
	cancel  context.CancelFunc
	done    chan struct{}
	env     *Env
	c       *clients
	ns      string
	objects []render.Object
	mu      sync.Mutex
	last    []ComponentStatus
	seen    map[string]string
}

// poll reads the components once and reports those that changed.
func (w *watcher) poll(ctx context.Context) {
	list, err := Statuses(ctx, w.c.dyn, w.c.mapper, w.ns, w.objects)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = list
	for _, s := range list {
		key := fmt.Sprintf("%s %d/%d", s.Status, s.Ready, s.Desired)
		if w.seen[s.Name] != key {
			w.seen[s.Name] = key
			w.env.emit(Event{Type: "component", Component: s.Name, Status: s.Status, Ready: s.Ready, Desired: s.Desired, Message: s.Message})
		}
	}
}

// final reports the state Helm's wait ended in.
func (w *watcher) final(ctx context.Context) { w.poll(ctx) }

func startWatching(ctx context.Context, env *Env, c *clients, ns string, objects []render.Object) *watcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{cancel: cancel, done: make(chan struct{}), env: env, c: c, ns: ns, objects: objects, seen: map[string]string{}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			w.poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the watch and returns the components last seen not Ready.
func (w *watcher) stop() []ComponentStatus {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	stuck := NotReady(w.last)
	sort.Slice(stuck, func(i, j int) bool { return stuck[i].Name < stuck[j].Name })
	return stuck
}

func dryRun(env *Env, rendered *render.Result, res *Result) (*Result, error) {
	res.Action = "dry-run"
	h, err := NewHelm(env.Getter, res.Namespace, env.Logger)
	if err != nil {
		return nil, err
	}
	latest, err := h.Latest(res.Release)
	if err != nil {
		return nil, err
	}
	switch {
	case latest == nil:
		res.Notes = append(res.Notes, fmt.Sprintf("would install release %s (revision 1) with %d objects", res.Release, len(rendered.Objects)))
	case latest.Info.Status == "deployed" && sameRendering(latest, rendered):
		res.Notes = append(res.Notes, "already up to date: nothing would change")
	default:
		res.Notes = append(res.Notes, fmt.Sprintf("would upgrade release %s from revision %d (see 'resimatectl upgrade plan' for the diff)", res.Release, latest.Version))
	}
	return res, nil
}

func ensureNamespace(ctx context.Context, kube kubernetes.Interface, ns string) error {
	_, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
		"app.kubernetes.io/part-of":          "resimate",
	}}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return nil
}

func whoAmI(ctx context.Context, kube kubernetes.Interface) string {
	r, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r.Status.UserInfo.Username == "" {
		return "unknown"
	}
	return r.Status.UserInfo.Username
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// releaseT is Helm's stored release.
type releaseT = release.Release
