package shared

import (
	"context"
	"fmt"
	"slices"

	chartutil "helm.sh/helm/v4/pkg/chart/common/util"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/buildinfo"
	"github.com/resimate/resimatectl/internal/cmdutil"
)

// BackupSource is the release a backup reads or a restore writes, and how to reach its Vault.
type BackupSource struct {
	Release   string
	Namespace string
	Vault     VaultClientFlags
}

// Complete checks the release name and finds its namespace.
func (o *BackupSource) Complete(f *cmdutil.Factory) error {
	ns, err := CompleteRelease(f, o.Release)
	if err != nil {
		return err
	}
	o.Namespace = ns
	return o.Vault.Validate()
}

// Open reads the release's values and opens what the parts need; close ends its port-forwards.
func (o *BackupSource) Open(ctx context.Context, f *cmdutil.Factory, parts []string) (*backup.Installation, func(), error) {
	set, err := f.Kube.Get()
	if err != nil {
		return nil, nil, err
	}
	h, err := f.Helm(o.Namespace)
	if err != nil {
		return nil, nil, err
	}
	rel, err := h.Latest(o.Release)
	if err != nil {
		return nil, nil, fmt.Errorf("release %s in %s: %w", o.Release, o.Namespace, err)
	}
	if rel == nil {
		return nil, nil, fmt.Errorf("no release %s in namespace %s", o.Release, o.Namespace)
	}
	values, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
	if err != nil {
		return nil, nil, err
	}
	in := &backup.Installation{Kube: set, Namespace: o.Namespace, Release: o.Release, Values: values, UserValues: rel.Config}
	if md := rel.Chart.Metadata; md != nil {
		in.Chart, in.AppVersion = md.Name+"-"+md.Version, md.AppVersion
	}
	closeVault := func() {}
	if slices.Contains(parts, "vault") {
		client, done, err := o.Vault.Open(ctx, f, o.Namespace, o.Release,
			"no Vault token: set VAULT_TOKEN or --vault-token-file (docs/backup.md#vault gives the policy a backup needs), or leave vault out of the parts")
		if err != nil {
			return nil, nil, err
		}
		in.Vault, closeVault = &backup.Vault{Client: client}, done
	}
	return in, func() { in.Close(); closeVault() }, nil
}

// TakeBackup writes one set of the release's parts into store: backup create, and upgrade apply
// before it changes anything.
func TakeBackup(ctx context.Context, f *cmdutil.Factory, src *BackupSource, store *backup.Store, parts []string, sealing backup.Sealing, progress func(string, ...any)) (*backup.Manifest, error) {
	in, done, err := src.Open(ctx, f, parts)
	if err != nil {
		return nil, err
	}
	defer done()
	ps, err := in.Parts(ctx, parts)
	if err != nil {
		return nil, err
	}
	about := backup.Manifest{Tool: "resimatectl " + buildinfo.Version, Namespace: in.Namespace, Release: in.Release, Chart: in.Chart, AppVersion: in.AppVersion}
	m, err := backup.Create(ctx, store, backup.CreateOptions{Parts: ps, Sealing: sealing, About: about, Progress: progress})
	if ierr := cmdutil.Interrupted(ctx); err != nil && ierr != nil {
		return nil, ierr
	}
	return m, err
}
