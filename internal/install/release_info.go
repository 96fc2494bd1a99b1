package install

import (
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/resimate/resimatectl/internal/logging"
)

// ReleaseInfo is a stored Helm release, for callers outside this package.
type ReleaseInfo = releaseT

// LatestRelease reads a release's newest revision with the kubeconfig at path.
func LatestRelease(kubeconfig, ns, name string) (*ReleaseInfo, error) {
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	h, err := NewHelm(flags, ns, logging.Discard())
	if err != nil {
		return nil, err
	}
	return h.Latest(name)
}
