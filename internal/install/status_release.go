package install

import (
	"context"
	"fmt"

	"github.com/resimate/resimatectl/internal/health"
	"github.com/resimate/resimatectl/internal/record"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/vault"
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
	// Vault is each bundled Vault pod's own word (Kubernetes' readiness is not enough: a pod
	// whose probe has not run yet may still be sealed).
	Vault   []vault.PodStatus `json:"vault,omitempty"`
	Ready   bool              `json:"ready"`
	Verdict string            `json:"verdict"`
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
	if t, err := vault.Of(ctx, c, ns, name); err == nil {
		st.Vault = t.Statuses(ctx)
		vaultVerdict(st.Components, st.Vault)
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

// vaultVerdict marks the vault component not Ready when one of its pods says it is not.
func vaultVerdict(comps []health.ComponentStatus, pods []vault.PodStatus) {
	for _, p := range pods {
		if p.Ready() {
			continue
		}
		why := "sealed"
		switch {
		case p.Error != "":
			why = "unreachable: " + p.Error
		case !p.Initialized:
			why = "not initialised"
		case !p.Sealed:
			why = "not in the Raft cluster"
		}
		for i := range comps {
			if comps[i].Name == "vault" {
				comps[i].Status, comps[i].Message = "InProgress", fmt.Sprintf("pod %s is %s", p.Pod, why)
			}
		}
		return
	}
}
