package wizard

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Cluster is what the wizard shows of the chosen cluster and offers to choose from.
type Cluster struct {
	Version             string
	Nodes, ReadyNodes   int
	StorageClasses      []string
	DefaultStorageClass string
	IngressClasses      []string
}

// defaultClassAnnotation marks the cluster's default StorageClass.
const defaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// ReadCluster asks the API server for its version, nodes, storage and ingress classes.
func ReadCluster(ctx context.Context, c kubernetes.Interface) (*Cluster, error) {
	v, err := c.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("the cluster does not answer: %w", err)
	}
	out := &Cluster{Version: v.GitVersion}
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	out.Nodes = len(nodes.Items)
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				out.ReadyNodes++
			}
		}
	}
	if scs, err := c.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{}); err == nil {
		for _, sc := range scs.Items {
			out.StorageClasses = append(out.StorageClasses, sc.Name)
			if sc.Annotations[defaultClassAnnotation] == "true" {
				out.DefaultStorageClass = sc.Name
			}
		}
	}
	if ics, err := c.NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{}); err == nil {
		for _, ic := range ics.Items {
			out.IngressClasses = append(out.IngressClasses, ic.Name)
		}
	}
	slices.Sort(out.StorageClasses)
	slices.Sort(out.IngressClasses)
	return out, nil
}

// Describe is the one line the cluster step shows.
func (c *Cluster) Describe() string {
	return fmt.Sprintf("Kubernetes %s, %d node(s), %d Ready", c.Version, c.Nodes, c.ReadyNodes)
}
