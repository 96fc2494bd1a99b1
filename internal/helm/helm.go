// Package helm runs the Helm v4 SDK's actions on one namespace.
package helm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/resimate/resimatectl/internal/logging"
)

// Helm runs Helm SDK actions on one namespace; releases are stored as Helm stores them (Secrets),
// so the helm CLI can inspect them.
type Helm struct {
	cfg *action.Configuration
	ns  string
}

// New configures the Helm SDK for namespace ns.
func New(getter genericclioptions.RESTClientGetter, ns string, logger *slog.Logger) (*Helm, error) {
	cfg := action.NewConfiguration()
	// Helm logs what it then returns as an error ("upgrade failed"): its lines are ours to show
	// only at debug level.
	cfg.SetLogger(logging.AtDebug(logger.Handler()))
	if err := cfg.Init(nsGetter{getter, ns}, ns, "secret"); err != nil {
		return nil, fmt.Errorf("setting up Helm: %w", err)
	}
	return &Helm{cfg: cfg, ns: ns}, nil
}

// nsGetter pins the namespace whatever the kubeconfig's context says.
type nsGetter struct {
	genericclioptions.RESTClientGetter
	ns string
}

func (g nsGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return nsConfig{g.RESTClientGetter.ToRawKubeConfigLoader(), g.ns}
}

type nsConfig struct {
	base clientcmd.ClientConfig
	ns   string
}

func (c nsConfig) RawConfig() (clientcmdapi.Config, error) { return c.base.RawConfig() }
func (c nsConfig) ClientConfig() (*rest.Config, error)     { return c.base.ClientConfig() }
func (c nsConfig) ConfigAccess() clientcmd.ConfigAccess    { return c.base.ConfigAccess() }
func (c nsConfig) Namespace() (string, bool, error)        { return c.ns, true, nil }

// Latest returns the newest revision of a release, or nil when there is none.
func (h *Helm) Latest(name string) (*release.Release, error) {
	r, err := h.cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading release %s: %w", name, err)
	}
	return asRelease(r)
}

// Revision returns one revision.
func (h *Helm) Revision(name string, version int) (*release.Release, error) {
	r, err := h.cfg.Releases.Get(name, version)
	if err != nil {
		return nil, err
	}
	return asRelease(r)
}

// Install makes revision 1, waits with kstatus, and removes everything when it fails.
func (h *Helm) Install(ctx context.Context, name string, c *chart.Chart, vals map[string]any, timeout time.Duration) (*release.Release, error) {
	in := action.NewInstall(h.cfg)
	in.ReleaseName, in.Namespace = name, h.ns
	in.WaitStrategy, in.WaitForJobs, in.Timeout = kube.StatusWatcherStrategy, true, timeout
	in.RollbackOnFailure = true
	in.ServerSideApply = true
	r, err := in.RunWithContext(ctx, c, vals)
	if err != nil {
		return nil, err
	}
	return asRelease(r)
}

// Upgrade makes a new revision, waits, and rolls back to the previous one when it fails.
func (h *Helm) Upgrade(ctx context.Context, name string, c *chart.Chart, vals map[string]any, timeout time.Duration) (*release.Release, error) {
	up := action.NewUpgrade(h.cfg)
	up.Namespace = h.ns
	up.WaitStrategy, up.WaitForJobs, up.Timeout = kube.StatusWatcherStrategy, true, timeout
	up.RollbackOnFailure, up.CleanupOnFail = true, true
	up.ServerSideApply = "true"
	up.MaxHistory = 10
	r, err := up.RunWithContext(ctx, name, c, vals)
	if err != nil {
		return nil, err
	}
	return asRelease(r)
}

// Rollback returns to revision (0: the previous one) and waits. Helm's rollback takes no
// context: cancelling ctx stops the wait for it, and the revision it leaves pending is
// recovered by the next install or upgrade.
func (h *Helm) Rollback(ctx context.Context, name string, revision int, timeout time.Duration) error {
	rb := action.NewRollback(h.cfg)
	rb.Version, rb.Timeout, rb.WaitStrategy, rb.WaitForJobs = revision, timeout, kube.StatusWatcherStrategy, true
	rb.ServerSideApply = "true"
	rb.MaxHistory = 10
	return untilDone(ctx, func() error { return rb.Run(name) })
}

// Uninstall removes the release's objects (and its history) and waits until they are gone;
// cancelling ctx stops the wait, as with Rollback.
func (h *Helm) Uninstall(ctx context.Context, name string, timeout time.Duration) error {
	un := action.NewUninstall(h.cfg)
	un.WaitStrategy, un.Timeout = kube.StatusWatcherStrategy, timeout
	return untilDone(ctx, func() error {
		_, err := un.Run(name)
		return err
	})
}

// untilDone runs fn and returns its error, or ctx's as soon as ctx is done.
func untilDone(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// MarkFailed records an interrupted revision (a run killed mid-way leaves it pending) as failed
// so that the next upgrade may proceed.
func (h *Helm) MarkFailed(rel *release.Release, why string) error {
	rel.SetStatus(rcommon.StatusFailed, why)
	return h.cfg.Releases.Update(rel)
}

// Pending reports whether a revision was left mid-operation.
func Pending(rel *release.Release) bool {
	switch rel.Info.Status {
	case rcommon.StatusPendingInstall, rcommon.StatusPendingUpgrade, rcommon.StatusPendingRollback, rcommon.StatusUninstalling:
		return true
	}
	return false
}

func asRelease(r any) (*release.Release, error) {
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("unexpected release type %T", r)
	}
	return rel, nil
}
