// Package install takes a namespace from empty to a Ready platform and keeps it so: install,
// upgrade, rollback, uninstall and status, on the Helm v4 SDK with the embedded chart.
package install

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/resimate/resimatectl/internal/buildinfo"
	"github.com/resimate/resimatectl/internal/errtext"
	"github.com/resimate/resimatectl/internal/health"
	"github.com/resimate/resimatectl/internal/helm"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/preflight"
	"github.com/resimate/resimatectl/internal/record"
	"github.com/resimate/resimatectl/internal/redact"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/secrets"
	"github.com/resimate/resimatectl/internal/upstream"
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

// Env is what install needs from its caller: the clients (handed out by the command's
// Factory), the redactor, the logger and where progress goes.
type Env struct {
	Kube *kube.Clients
	// Helm opens the Helm SDK on a namespace.
	Helm     func(ns string) (*helm.Helm, error)
	Redactor *redact.Redactor
	Logger   *slog.Logger
	// Progress receives events as they happen (nil: dropped).
	Progress func(Event)
}

// NewEnv builds an Env whose clients come from getter (tests and library callers; commands use
// the Factory's).
func NewEnv(getter genericclioptions.RESTClientGetter, r *redact.Redactor, logger *slog.Logger, progress func(Event)) *Env {
	return &Env{Kube: kube.NewClients(getter), Helm: func(ns string) (*helm.Helm, error) { return helm.New(getter, ns, logger) },
		Redactor: r, Logger: logger, Progress: progress}
}

func (e *Env) emit(ev Event) {
	if e.Progress != nil {
		ev.Time = time.Now()
		e.Progress(ev)
	}
}

// Options are install's choices.
type Options struct {
	Chart render.Options
	// Preflight holds the checks' settings; its Namespace and Profile follow Chart's.
	Preflight     preflight.Params
	Timeout       time.Duration
	DryRun        bool
	SkipPreflight bool
	// Upstream says where the upstream charts come from (--charts-dir, --charts-digests);
	// Preflight.SkipUpstream leaves them out.
	Upstream    upstream.Source
	ForceUnlock bool
	LockTTL     time.Duration
	// Operation names the run in the lock and the record: install or upgrade.
	Operation string
	// Vault says how install treats the bundled Vault.
	Vault VaultOptions
}

// Result says what happened.
type Result struct {
	Action     string                   `json:"action"` // installed, upgraded, up-to-date, dry-run
	Release    string                   `json:"release"`
	Namespace  string                   `json:"namespace"`
	Revision   int                      `json:"revision"`
	Components []health.ComponentStatus `json:"components,omitempty"`
	Notes      []string                 `json:"notes,omitempty"`
}

// Install renders, checks, and applies the platform, waiting until it is Ready. Cancelling ctx
// (Ctrl-C) stops the wait: Helm records the revision as failed and undoes it, and the lock is
// released.
func Install(ctx context.Context, env *Env, opts Options) (*Result, error) {
	opts.Operation = cmp.Or(opts.Operation, "install")
	ns, name := opts.Chart.Namespace, cmp.Or(opts.Chart.ReleaseName, render.DefaultRelease)
	opts.Chart.ReleaseName = name
	_, installed, notInstalled := installedRelease(env, ns, name)
	if notInstalled == nil && installed.Info.Status == "deployed" {
		// What Helm applies to an installed release is its upgrade rendering.
		opts.Chart.Upgrade = true
	}
	rendered, err := renderForCluster(ctx, env, opts.Chart)
	if err != nil {
		return nil, err
	}
	res := &Result{Release: name, Namespace: ns}
	if opts.Operation == "upgrade" && notInstalled != nil {
		// An upgrade needs an install to upgrade: say so before touching anything.
		return nil, notInstalled
	}

	if !opts.SkipPreflight {
		env.emit(Event{Type: "phase", Message: "preflight"})
		if err := runPreflight(ctx, env, opts, rendered); err != nil {
			return nil, err
		}
	}
	c, err := env.Kube.Get()
	if err != nil {
		return nil, err
	}
	needed, err := upstream.Needed(rendered.Effective)
	if err != nil {
		return nil, err
	}
	if opts.Preflight.SkipUpstream {
		needed = nil
	}
	// Every archive is verified before anything changes.
	upstreamCharts, err := upstream.LoadAll(needed, opts.Upstream)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return dryRun(ctx, env, rendered, opts.Chart, res)
	}
	vaultPhase, err := vaultSetup(env, c, rendered, opts)
	if err != nil {
		return nil, err
	}

	if err := kube.EnsureNamespace(ctx, c.Kube, ns, namespaceLabels); err != nil {
		return nil, err
	}
	user := kube.WhoAmI(ctx, c.Kube)
	ctx, unlock, err := takeLock(ctx, env, c, ns, name, user, opts.Operation, opts.ForceUnlock, opts.LockTTL)
	if err != nil {
		return nil, err
	}
	defer unlock()

	created, err := secrets.Ensure(ctx, c.Kube, ns, name, env.Redactor)
	if err != nil {
		return nil, err
	}
	if created > 0 {
		env.emit(Event{Type: "note", Message: fmt.Sprintf("generated %d platform secrets (kept in namespace %s; never printed)", created, ns)})
	}

	if err := ensureVaultTLS(ctx, env, c, rendered, ns); err != nil {
		return nil, err
	}

	if err := prepareDatabases(ctx, env, c, ns, name, rendered, opts.Preflight.PostgresURL); err != nil {
		return nil, err
	}

	if len(needed) > 0 {
		env.emit(Event{Type: "phase", Message: "upstream platform charts"})
		in := &upstream.Installer{Helm: env.Helm, Kube: c, User: user, Timeout: opts.Timeout, LockTTL: opts.LockTTL,
			Progress: func(m string) { env.emit(Event{Type: "note", Message: m}) }}
		if err := in.Install(ctx, needed, upstreamCharts); err != nil {
			return nil, err
		}
	}

	h, err := env.Helm(ns)
	if err != nil {
		return nil, err
	}
	// Vault's pods become Ready only once initialised and unsealed, so its phase runs while
	// Helm waits; its failure ends the wait.
	relCtx, stopRelease := context.WithCancelCause(ctx)
	defer stopRelease(nil)
	vaultDone := make(chan error, 1)
	if vaultPhase != nil {
		go func() {
			notes, err := runVault(relCtx, env, vaultPhase)
			res.Notes = append(res.Notes, notes...)
			if err != nil {
				stopRelease(err)
			}
			vaultDone <- err
		}()
	} else {
		vaultDone <- nil
	}
	rel, action, err := applyRelease(relCtx, env, c, h, rendered, opts)
	if cause := context.Cause(relCtx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		env.Logger.Debug("the release stopped with Vault's phase", "error", err.Error())
		return nil, fmt.Errorf("%w (Helm undid the revision; run the same command again once this is fixed)", cause)
	}
	if err != nil {
		stopRelease(err)
		<-vaultDone
		return nil, err
	}
	if err := <-vaultDone; err != nil {
		return nil, err
	}
	res.Action, res.Revision = action, rel.Version
	if res.Components, err = health.Statuses(ctx, c.Dynamic, c.Mapper, ns, rendered.Objects); err != nil {
		return nil, err
	}
	if action != "up-to-date" {
		host, _ := os.Hostname()
		rec := record.Record{Profile: opts.Chart.Profile, Release: name, Revision: rel.Version, ChartVersion: rendered.Chart.Metadata.Version,
			AppVersion: rendered.Chart.Metadata.AppVersion, ToolVersion: buildinfo.Version, Time: time.Now().UTC(), User: user, Host: host,
			Upstream: map[string]string{}}
		for _, u := range needed {
			rec.Upstream[u.Name] = u.Version
		}
		if err := record.Save(ctx, c.Kube, ns, rec); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// renderForCluster renders the chart with what only the cluster knows and the values leave out:
// the API server's addresses and ports, which the network policies let Vault and PostgreSQL reach.
func renderForCluster(ctx context.Context, env *Env, opts render.Options) (*render.Result, error) {
	opts.Set = append(slices.Clone(opts.Set), apiServerValues(ctx, env, opts)...)
	rendered, err := render.Render(ctx, opts)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	return rendered, nil
}

// apiServerValues sets the cluster's API server addresses and ports when the network policies
// need them and the values do not give them (the chart's defaults: policies on, none given).
// Any error leaves them out: Render reports bad values, preflight an unreachable cluster.
func apiServerValues(ctx context.Context, env *Env, opts render.Options) []string {
	vals, err := render.Values(opts)
	if err != nil {
		return nil
	}
	if enabled, found, _ := unstructured.NestedBool(vals, "networkPolicies", "enabled"); found && !enabled {
		return nil
	}
	c, err := env.Kube.Get()
	if err != nil {
		return nil
	}
	cidrs, ports, err := kube.APIServerEndpoints(ctx, c.Kube)
	if err != nil {
		return nil
	}
	var set []string
	if given, _, _ := unstructured.NestedSlice(vals, "networkPolicies", "apiServerCIDRs"); len(given) == 0 && len(cidrs) > 0 {
		set = append(set, "networkPolicies.apiServerCIDRs={"+strings.Join(cidrs, ",")+"}")
	}
	if given, _, _ := unstructured.NestedSlice(vals, "networkPolicies", "apiServerPorts"); len(given) == 0 && len(ports) > 0 {
		words := make([]string, len(ports))
		for i, p := range ports {
			words[i] = strconv.Itoa(int(p))
		}
		set = append(set, "networkPolicies.apiServerPorts={"+strings.Join(words, ",")+"}")
	}
	return set
}

// namespaceLabels are those of a namespace install creates: PodSecurity's restricted level,
// which every platform pod meets.
var namespaceLabels = map[string]string{
	"pod-security.kubernetes.io/enforce": "restricted",
	"pod-security.kubernetes.io/warn":    "restricted",
	"app.kubernetes.io/part-of":          "resimate",
}

// InputError is a mistake in what the user gave (values, profile): a usage error.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func runPreflight(ctx context.Context, env *Env, opts Options, rendered *render.Result) error {
	cfg, cfgErr := env.Kube.Config()
	p := opts.Preflight
	p.Profile, p.Namespace = opts.Chart.Profile, opts.Chart.Namespace
	rep, err := preflight.Evaluate(ctx, cfg, cfgErr, rendered, p, nil)
	if err != nil {
		return err
	}
	if failed := rep.Failures(); len(failed) > 0 {
		return fmt.Errorf("preflight failed, nothing was changed: %s (see 'resimatectl preflight'; --ignore-checks or --skip-preflight to go on anyway)", strings.Join(failed, "; "))
	}
	env.emit(Event{Type: "note", Message: fmt.Sprintf("preflight: %d checks passed, %d warned, %d skipped", rep.Summary.Passed, rep.Summary.Warnings, rep.Summary.Skipped)})
	return nil
}

// applyRelease installs, upgrades, or does nothing when the release already holds exactly this
// rendering and is Ready. A revision left pending by a killed run is cleared first.
func applyRelease(ctx context.Context, env *Env, c *kube.Set, h *helm.Helm, rendered *render.Result, opts Options) (*releaseT, string, error) {
	name, ns := rendered.ReleaseName(), opts.Chart.Namespace
	latest, err := h.Latest(name)
	if err != nil {
		return nil, "", err
	}
	if latest != nil && helm.Pending(latest) {
		msg := fmt.Sprintf("revision %d was left %s by an interrupted run", latest.Version, latest.Info.Status)
		env.emit(Event{Type: "note", Message: msg + ": recovering"})
		if latest.Version == 1 {
			// Nothing ever became Ready: start over, removing what the first try created.
			if err := h.Uninstall(ctx, name, opts.Timeout); err != nil {
				return nil, "", fmt.Errorf("%s, and removing it failed: %w", msg, err)
			}
			latest = nil
		} else if err := h.MarkFailed(latest, msg); err != nil {
			return nil, "", err
		}
	}
	if latest != nil && latest.Info.Status == "deployed" && sameRendering(ctx, latest, rendered, opts.Chart) {
		statuses, err := health.Statuses(ctx, c.Dynamic, c.Mapper, ns, rendered.Objects)
		if err == nil && len(health.NotReady(statuses)) == 0 {
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
func failure(action string, previous *releaseT, stuck []health.ComponentStatus, err error) error {
	undo := "the install was removed"
	if previous != nil {
		undo = fmt.Sprintf("rolled back to revision %d", previous.Version)
	}
	verb := map[string]string{"installed": "install", "upgraded": "upgrade"}[action]
	var parts []string
	for _, c := range stuck {
		parts = append(parts, fmt.Sprintf("component %s: %s is %s", c.Name, c.Message, c.Status))
	}
	why := errtext.FirstLine(err)
	if len(parts) > 0 {
		why = strings.Join(parts, "; ") + " (" + why + ")"
	}
	return fmt.Errorf("%s failed and %s: %s", verb, undo, why)
}

// helmNotReady matches Helm's "resource Kind/namespace/name not ready. status: S, message: M".
var helmNotReady = regexp.MustCompile(`resource (\w+)/[^/\s]+/(\S+) not ready\. status: (\w+), message: ([^\n]*)`)

// notReadyFromHelm names the components of the objects Helm's wait gave up on.
func notReadyFromHelm(err error, objects []render.Object) []health.ComponentStatus {
	var out []health.ComponentStatus
	for _, m := range helmNotReady.FindAllStringSubmatch(err.Error(), -1) {
		kind, name, status, msg := m[1], m[2], m[3], strings.TrimSpace(m[4])
		comp := "unknown"
		for _, o := range objects {
			if o.GetKind() == kind && o.GetName() == name && o.Component() != "" {
				comp = o.Component()
			}
		}
		out = append(out, health.ComponentStatus{Name: comp, Status: status, Message: kind + " " + name + ": " + msg})
	}
	return out
}

// sameRendering reports whether the release holds exactly this rendering: the same chart version,
// values and manifest. The manifest may be the install's or the upgrade's rendering of them (they
// differ only in what the first install alone sets, such as an autoscaled workload's replicas).
func sameRendering(ctx context.Context, rel *releaseT, rendered *render.Result, opts render.Options) bool {
	if rel.Chart == nil || rel.Chart.Metadata.Version != rendered.Chart.Metadata.Version {
		return false
	}
	a, err1 := json.Marshal(rel.Config)
	b, err2 := json.Marshal(rendered.Values)
	if err1 != nil || err2 != nil || string(a) != string(b) {
		return false
	}
	held := strings.TrimSpace(rel.Manifest)
	if held == strings.TrimSpace(rendered.ReleaseManifest) {
		return true
	}
	opts.Upgrade = !opts.Upgrade
	other, err := render.RenderValues(ctx, rendered.Chart, rendered.Values, opts)
	return err == nil && held == strings.TrimSpace(other.ReleaseManifest)
}

// watcher reports component progress while Helm waits.
type watcher struct {
	cancel  context.CancelFunc
	done    chan struct{}
	env     *Env
	c       *kube.Set
	ns      string
	objects []render.Object
	mu      sync.Mutex
	last    []health.ComponentStatus
	seen    map[string]string
}

// poll reads the components once and reports those that changed.
func (w *watcher) poll(ctx context.Context) {
	list, err := health.Statuses(ctx, w.c.Dynamic, w.c.Mapper, w.ns, w.objects)
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

func startWatching(ctx context.Context, env *Env, c *kube.Set, ns string, objects []render.Object) *watcher {
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
func (w *watcher) stop() []health.ComponentStatus {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	stuck := health.NotReady(w.last)
	sort.Slice(stuck, func(i, j int) bool { return stuck[i].Name < stuck[j].Name })
	return stuck
}

func dryRun(ctx context.Context, env *Env, rendered *render.Result, opts render.Options, res *Result) (*Result, error) {
	res.Action = "dry-run"
	h, err := env.Helm(res.Namespace)
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
	case latest.Info.Status == "deployed" && sameRendering(ctx, latest, rendered, opts):
		res.Notes = append(res.Notes, "already up to date: nothing would change")
	default:
		res.Notes = append(res.Notes, fmt.Sprintf("would upgrade release %s from revision %d (see 'resimatectl upgrade plan' for the diff)", res.Release, latest.Version))
	}
	return res, nil
}

// releaseT is Helm's stored release.
type releaseT = release.Release
