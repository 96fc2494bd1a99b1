// Package record keeps the install record: what an install or upgrade left in the cluster.
package record

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Record is what an install or upgrade leaves in the cluster for upgrade, status and backup to
// read: what was installed, how, by whom and when. It lives in a ConfigMap, which the cluster's
// view role can read, so it holds no value the user supplied: those stay in the Helm release,
// a Secret.
type Record struct {
	Profile      string            `json:"profile"`
	Release      string            `json:"release"`
	Revision     int               `json:"revision"`
	ChartVersion string            `json:"chartVersion"`
	AppVersion   string            `json:"appVersion"`
	Upstream     map[string]string `json:"upstream,omitempty"`
	ToolVersion  string            `json:"toolVersion"`
	Time         time.Time         `json:"time"`
	User         string            `json:"user"`
	Host         string            `json:"host"`
}

// Name is the record's ConfigMap name for a release.
func Name(release string) string { return release + "-install-record" }

// Save writes the record as a ConfigMap, replacing the previous one.
func Save(ctx context.Context, kube kubernetes.Interface, ns string, rec Record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: Name(rec.Release), Namespace: ns, Labels: map[string]string{
			"app.kubernetes.io/part-of": "resimate", "app.kubernetes.io/instance": rec.Release, "app.kubernetes.io/managed-by": "resimatectl",
		}},
		Data: map[string]string{"record.json": string(data)},
	}
	_, err = kube.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("saving the install record: %w", err)
	}
	return nil
}

// Load reads the record; (nil, nil) when there is none.
func Load(ctx context.Context, kube kubernetes.Interface, ns, release string) (*Record, error) {
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, Name(release), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal([]byte(cm.Data["record.json"]), &rec); err != nil {
		return nil, fmt.Errorf("install record %s is damaged: %w", cm.Name, err)
	}
	return &rec, nil
}
