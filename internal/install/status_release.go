package install

import (
	"context"
	"fmt"

	"github.com/resimate/resimatectl/internal/health"
	"github.com/resimate/resimatectl/internal/record"
	"github.com/resimate/resimatectl/internal/render"
)

// PlatformStatus is what `resimatectl status` reports.
type PlatformStatus struct {
	Release      string                   `json:"release"`
	Namespace    string                   `json:"namespace"`
	Revision     int                      `json:"revision"`
	HelmStatus   string                   `json:"helmStatus"`
	Profile      string                   `json:"profile,omitempty"`
	ChartVersion string                   `json:"chartVersion"`
	Components   []health.ComponentStatus `json:"components"`
	Ready        bool                     `json:"ready"`
	Verdict      string                   `json:"verdict"`
}

// Status reads the latest revision's objects from the cluster and sums them up per component.
func Status(ctx context.Context, env *Env, ns, name string) (*PlatformStatus, error) {
	c, err := env.Kube.Get()
	if err != nil {
		return nil, err
	}
	_, rel, err := installedRelease(env, ns, name)
	if err != nil {
		return nil, err
	}
	objects, err := render.ParseManifest(rel.Manifest)
	if err != nil {
		return nil, err
	}
	comps, err := health.Statuses(ctx, c.Dynamic, c.Mapper, ns, objects)
	if err != nil {
		return nil, err
	}
	st := &PlatformStatus{Release: name, Namespace: ns, Revision: rel.Version, HelmStatus: string(rel.Info.Status),
		ChartVersion: rel.Chart.Metadata.Version, Components: comps}
	if rec, err := record.Load(ctx, c.Kube, ns, name); err == nil && rec != nil {
		st.Profile = rec.Profile
	}
	bad := health.NotReady(comps)
	st.Ready = len(bad) == 0 && rel.Info.Status == "deployed"
	switch {
	case st.Ready:
		st.Verdict = fmt.Sprintf("Ready: all %d components are Current", len(comps))
	case len(bad) > 0:
		st.Verdict = fmt.Sprintf("Not ready: %d of %d components are not Current (first: %s %s: %s)", len(bad), len(comps), bad[0].Name, bad[0].Status, bad[0].Message)
	default:
		st.Verdict = fmt.Sprintf("Not ready: the release is %s", rel.Info.Status)
	}
	return st, nil
}
