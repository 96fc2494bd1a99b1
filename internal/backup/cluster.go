package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/internal/files"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/record"
	"github.com/resimate/resimatectl/internal/secrets"
)

// ClusterState is what reinstalls a release elsewhere: its chart, profile and values, its
// install record, and the Secrets resimatectl generated for it (the database logins the
// restored databases expect, Kratos' cookie and cipher secrets).
type ClusterState struct {
	Release   string          `json:"release"`
	Namespace string          `json:"namespace"`
	Chart     string          `json:"chart"`
	Profile   string          `json:"profile"`
	Values    map[string]any  `json:"values"`
	Record    *record.Record  `json:"record,omitempty"`
	Secrets   []corev1.Secret `json:"secrets"`
}

// Cluster is the cluster part of one release: read from its namespace, restored into Target's.
type Cluster struct {
	Kube      kubernetes.Interface
	Namespace string
	Release   string
	// Values are the release's own values (what was given on top of the chart's), for the dump.
	Values map[string]any
	Chart  string
	// ValuesFile is where a restore writes the values to reinstall with; Restored hears what
	// was restored.
	ValuesFile string
	Restored   func(*ClusterState)
}

// Dump writes the cluster state as JSON.
func (c Cluster) Dump(ctx context.Context, w io.Writer) (Facts, error) {
	st := ClusterState{Release: c.Release, Namespace: c.Namespace, Chart: c.Chart, Values: c.Values}
	rec, err := record.Load(ctx, c.Kube, c.Namespace, c.Release)
	if err != nil {
		return Facts{}, err
	}
	if rec != nil {
		st.Record, st.Profile = rec, rec.Profile
	}
	for _, name := range secrets.Names(c.Release) {
		s, err := c.Kube.CoreV1().Secrets(c.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return Facts{}, fmt.Errorf("reading Secret %s/%s: %w", c.Namespace, name, err)
		}
		st.Secrets = append(st.Secrets, corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: s.Labels}, Type: s.Type, Data: s.Data})
	}
	version, err := c.Kube.Discovery().ServerVersion()
	if err != nil {
		return Facts{}, err
	}
	return Facts{Server: "Kubernetes " + version.GitVersion}, json.NewEncoder(w).Encode(st)
}

// IsEmpty reports whether the target namespace holds none of the release's Secrets.
func (c Cluster) IsEmpty(ctx context.Context) (bool, error) {
	for _, name := range secrets.Names(c.Release) {
		_, err := c.Kube.CoreV1().Secrets(c.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return false, nil
		}
		if !apierrors.IsNotFound(err) {
			return false, err
		}
	}
	return true, nil
}

// Restore recreates the Secrets in the target namespace and writes the values file that
// reinstalls the same configuration there (install -f).
func (c Cluster) Restore(ctx context.Context, r io.Reader, _ PartRecord) error {
	st, err := c.restore(ctx, r)
	if err == nil && c.Restored != nil {
		c.Restored(st)
	}
	return err
}

func (c Cluster) restore(ctx context.Context, r io.Reader) (*ClusterState, error) {
	var st ClusterState
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return nil, fmt.Errorf("reading the cluster state: %w", err)
	}
	if st.Release != c.Release {
		return nil, fmt.Errorf("the set holds release %s, not %s: give --release %s", st.Release, c.Release, st.Release)
	}
	if err := kube.EnsureNamespace(ctx, c.Kube, c.Namespace, nil); err != nil {
		return nil, err
	}
	values, err := yaml.Marshal(st.Values)
	if err != nil {
		return nil, err
	}
	if err := files.Replace(c.ValuesFile, values, 0o600); err != nil {
		return nil, fmt.Errorf("writing the values file: %w", err)
	}
	for _, s := range st.Secrets {
		s.Namespace = c.Namespace
		_, err := c.Kube.CoreV1().Secrets(c.Namespace).Create(ctx, &s, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			_, err = c.Kube.CoreV1().Secrets(c.Namespace).Update(ctx, &s, metav1.UpdateOptions{})
		}
		if err != nil {
			return nil, fmt.Errorf("restoring Secret %s/%s: %w", c.Namespace, s.Name, err)
		}
	}
	return &st, nil
}
