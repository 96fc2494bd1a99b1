package install

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
)

// Helm runs Helm SDK actions on one namespace; releases are stored as Helm stores them (Secrets),
// so the helm CLI can inspect them.
type Helm struct {
	cfg *action.Configuration
	ns  string
}

// NewHelm configures the Helm SDK for namespace ns.
func NewHelm(getter genericclioptions.RESTClientGetter, ns string, logger *slog.Logger) (*Helm, error) {
	cfg := action.NewConfiguration()
	cfg.SetLogger(logger.Handler())
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

// History returns every stored revision, oldest first.
func (h *Helm) History(name string) ([]*release.Release, error) {
	list, err := action.NewHistory(h.cfg).Run(name)
	if err != nil {
		return nil, err
	}
	out := make([]*release.Release, 0, len(list))
	for _, r := range list {
		rel, err := asRelease(r)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, nil
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

// Rollback returns to revision (0: the previous one) and waits.
func (h *Helm) Rollback(name string, revision int, timeout time.Duration) error {
	rb := action.NewRollback(h.cfg)
	rb.Version, rb.Timeout, rb.WaitStrategy, rb.WaitForJobs = revision, timeout, kube.StatusWatcherStrategy, true
	rb.ServerSideApply = "true"
	rb.MaxHistory = 10
	return rb.Run(name)
}

// Uninstall removes the release's objects (and its history) and waits until they are gone.
func (h *Helm) Uninstall(name string, timeout time.Duration) error {
	un := action.NewUninstall(h.cfg)
	un.WaitStrategy, un.Timeout = kube.StatusWatcherStrategy, timeout
	_, err := un.Run(name)
	return err
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
