package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/resimate/resimatectl/internal/testenv"
)

// A pod under PodSecurity restricted starts, passes its probe, resolves cluster names and no
// other, reaches nothing off the machine, and a NetworkPolicy really stops it.
func TestRealPodsRunEnforceAndStayOnTheMachine(t *testing.T) {
	rp := testenv.RealPodsEnv(t)
	ns := rp.Namespace(t)
	ctx := context.Background()
	_, err := rp.Client.AppsV1().Deployments(ns).Create(ctx, standinDeployment(rp), metav1.CreateOptions{})
	require.NoError(t, err)
	testenv.Eventually(t, 2*time.Minute, "the pod to be Ready by its probe", func() (bool, error) {
		d, err := rp.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 1, err
	})
	pod := rp.PodOf(t, ns, "app=web")

	out, err := rp.Exec(ctx, ns, pod, "web", "/standin", "lookup", "kubernetes.default.svc.cluster.local")
	require.NoError(t, err, out)
	assert.Equal(t, "10.201.0.1", out, "the API server's Service, from CoreDNS")
	out, err = rp.Exec(ctx, ns, pod, "web", "/standin", "lookup", "example.com")
	assert.Error(t, err, "a name outside the cluster has no answer: %s", out)
	connected, out, err := rp.Dial(ctx, ns, pod, "web", "192.0.2.1:80")
	require.NoError(t, err)
	assert.False(t, connected, "no route off the machine: %s", out)

	// The host's address on the bridge is outside the cluster and routable from the pod.
	addr, accepted := rp.HostListener(t)
	connected, out, err = rp.Dial(ctx, ns, pod, "web", addr)
	require.NoError(t, err)
	require.True(t, connected, "before any policy: %s", out)
	testenv.Eventually(t, 5*time.Second, "the listener to count the connection", func() (bool, error) { return accepted() == 1, nil })

	_, err = rp.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-egress"},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	testenv.Eventually(t, 30*time.Second, "kube-router to enforce the policy", func() (bool, error) {
		connected, _, err := rp.Dial(ctx, ns, pod, "web", addr)
		return err == nil && !connected, err
	})
	// Dials made while the rules were being written may have arrived; from now on none does.
	before := accepted()
	connected, out, err = rp.Dial(ctx, ns, pod, "web", addr)
	require.NoError(t, err)
	assert.False(t, connected, "under the policy: %s", out)
	assert.Equal(t, before, accepted(), "the denied connection never arrived")
}

func standinDeployment(rp *testenv.RealPodsCluster) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](10001),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name: "web", Image: rp.Image("resimate/frontend:1.0.0"),
						Env:            []corev1.EnvVar{{Name: "NEXT_PUBLIC_BASE_URL", Value: "http://web"}, {Name: "PORT", Value: "3000"}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/api/health", Port: intstr.FromInt32(3000)}}, PeriodSeconds: 1},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
				},
			},
		},
	}
}
