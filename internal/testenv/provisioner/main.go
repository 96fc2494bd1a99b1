// Command provisioner gives the real-pod test cluster's claims their volumes: the node has no
// CSI driver, so for each claim of its StorageClass it makes a folder under ROOT and a local
// PersistentVolume bound to that claim, and removes both once the claim is gone.
// Local volumes (unlike hostPath) take the pod's fsGroup, as a cloud disk would.
//
//	provisioner --kubeconfig FILE --root DIR --node NAME --class NAME
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type provisioner struct {
	cs               kubernetes.Interface
	root, node, name string
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	root := flag.String("root", "", "folder the volumes are made in")
	node := flag.String("node", "", "the node the volumes are on")
	class := flag.String("class", "", "the StorageClass whose claims this provisions")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	p := &provisioner{cs: cs, root: *root, node: *node, name: *class}
	// A poll every second is plenty for tests, and needs no informer machinery.
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := p.sync(ctx); err != nil {
			log.Print(err)
		}
	}, time.Second)
}

func (p *provisioner) sync(ctx context.Context) error {
	claims, err := p.cs.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range claims.Items {
		c := &claims.Items[i]
		if c.Spec.StorageClassName != nil && *c.Spec.StorageClassName == p.name && c.Spec.VolumeName == "" && c.DeletionTimestamp == nil {
			if err := p.provision(ctx, c); err != nil {
				log.Printf("claim %s/%s: %v", c.Namespace, c.Name, err)
			}
		}
	}
	return p.reclaim(ctx)
}

func (p *provisioner) volumeName(c *corev1.PersistentVolumeClaim) string {
	return "pv-" + string(c.UID)
}

func (p *provisioner) provision(ctx context.Context, c *corev1.PersistentVolumeClaim) error {
	name := p.volumeName(c)
	dir := filepath.Join(p.root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	size := c.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"resimate.io/testenv-provisioner": p.name}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   c.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              p.name,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: c.Namespace, Name: c.Name, UID: c.UID},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{p.node}}},
			}}}},
		},
	}
	_, err := p.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err == nil {
		log.Printf("claim %s/%s: volume %s", c.Namespace, c.Name, name)
	}
	return err
}

// reclaim deletes the volumes whose claims are gone, and their folders.
func (p *provisioner) reclaim(ctx context.Context) error {
	pvs, err := p.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{LabelSelector: "resimate.io/testenv-provisioner=" + p.name})
	if err != nil {
		return err
	}
	for _, pv := range pvs.Items {
		if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
			continue
		}
		if err := p.cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s: %w", pv.Name, err)
		}
		if err := os.RemoveAll(filepath.Join(p.root, pv.Name)); err != nil {
			return err
		}
		log.Printf("volume %s: claim gone, removed", pv.Name)
	}
	return nil
}
