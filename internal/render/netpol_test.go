package render_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/resimate/resimatectl/internal/netpol"
	"github.com/resimate/resimatectl/internal/render"
)

// endpoint is a party of the traffic matrix: a pod and the port it listens on.
type endpoint struct {
	pod  netpol.Pod
	port int32
}

// The platform's security design, both ways: exactly these connections are allowed.
var wantAllowed = map[string]bool{
	"ingress->frontend":    true,
	"ingress->kratos":      true,
	"frontend->core-model": true,
	"frontend->campaigns":  true,
	"frontend->config":     true,
	"frontend->kratos":     true,
	"core-model->postgres": true,
	"campaigns->postgres":  true,
	"config->postgres":     true,
	"core-model->vault":    true,
	"campaigns->vault":     true,
	"config->vault":        true,
	"kratos->postgres":     true,
	"postgres->postgres":   true, // replication between instances
	"vault->vault":         true, // Raft between nodes
}

func TestNetworkPolicyMatrix(t *testing.T) {
	for _, profile := range render.Profiles() {
		t.Run(profile, func(t *testing.T) {
			res := renderProfile(t, profile)
			objs := make([]*unstructured.Unstructured, 0, len(res.Objects))
			for _, o := range res.Objects {
				objs = append(objs, o.Unstructured)
			}
			eval, err := netpol.FromUnstructured(objs, render.DefaultNamespace)
			require.NoError(t, err)

			parties := matrixParties(t, profile, res)
			checked := 0
			for srcName, src := range parties {
				for dstName, dst := range parties {
					if dst.port == 0 {
						continue // not a server
					}
					if src.pod.Namespace != render.DefaultNamespace && dst.pod.Namespace != render.DefaultNamespace {
						// Neither end is the release's: its policies decide nothing here (a managed
						// database outside the cluster is guarded by the cloud's firewall).
						continue
					}
					key := srcName + "->" + dstName
					got := eval.Allowed(src.pod, dst.pod, dst.port, corev1.ProtocolTCP)
					assert.Equal(t, wantAllowed[key], got, "%s: %s on port %d", profile, key, dst.port)
					checked++
				}
			}
			// Kratos' admin API is reachable from no one.
			for srcName, src := range parties {
				assert.False(t, eval.Allowed(src.pod, parties["kratos"].pod, 4434, corev1.ProtocolTCP), "%s: %s->kratos admin", profile, srcName)
			}
			assert.GreaterOrEqual(t, checked, 9*6)
		})
	}
}

// matrixParties builds the pods of the matrix: the platform's own (labelled as the rendered
// workloads label them), the ingress controller as the profile describes it, and an outsider.
func matrixParties(t *testing.T, profile string, res *render.Result) map[string]endpoint {
	ns := render.DefaultNamespace
	nsLabels := map[string]string{"kubernetes.io/metadata.name": ns}
	ip := 10
	pod := func(labels map[string]string) netpol.Pod {
		ip++
		return netpol.Pod{Namespace: ns, NamespaceLabels: nsLabels, Labels: labels, IP: netip.MustParseAddr(fmt.Sprintf("10.244.1.%d", ip))}
	}
	podLabels := func(kind, name string) map[string]string {
		for _, o := range res.Objects {
			if o.GetKind() == kind && o.GetName() == name {
				l, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
				return l
			}
		}
		t.Fatalf("no %s %s", kind, name)
		return nil
	}
	apiKind := "Deployment"
	if mode, _, _ := unstructured.NestedString(res.Effective, "apis", "mode"); mode == "knative" {
		apiKind = "Service"
	}
	parties := map[string]endpoint{
		"frontend":   {pod(podLabels("Deployment", "resimate-frontend")), 3000},
		"core-model": {pod(podLabels(apiKind, "resimate-core-model-api")), 8080},
		"campaigns":  {pod(podLabels(apiKind, "resimate-campaigns-api")), 8080},
		"config":     {pod(podLabels(apiKind, "resimate-config-api")), 8080},
		"kratos":     {pod(podLabels("StatefulSet", "resimate-kratos")), 4433},
		"vault":      {pod(podLabels("StatefulSet", "resimate-vault")), 8200},
		// Another namespace's pod: nothing may let it in past the ingress.
		"outsider": {pod: netpol.Pod{Namespace: "elsewhere", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "elsewhere"}, IP: netip.MustParseAddr("10.244.9.9")}},
	}
	if mode, _, _ := unstructured.NestedString(res.Effective, "postgres", "mode"); mode == "operator" {
		// CloudNativePG labels its instance pods with the cluster's name.
		parties["postgres"] = endpoint{pod(map[string]string{"cnpg.io/cluster": "resimate-postgres"}), 5432}
	} else {
		// The managed server lives outside the cluster (a documentation address stands in for it).
		parties["postgres"] = endpoint{netpol.Pod{Namespace: "outside-the-cluster", IP: netip.MustParseAddr("203.0.113.5")}, 5432}
	}
	parties["ingress"] = endpoint{pod: ingressController(t, profile)}
	return parties
}

// ingressSources says, by hand and per profile, where ingress traffic comes from: the
// ingress-nginx controller's pods in their namespace (onprem, and local for the matrix), or a
// cloud load balancer sending from an address of its network (outside any namespace).
var ingressSources = map[string]netpol.Pod{
	"aws":   {Namespace: "", IP: netip.MustParseAddr("10.0.3.17")},    // the ALB, in the VPC 10.0.0.0/16
	"azure": {Namespace: "", IP: netip.MustParseAddr("10.225.0.9")},   // the Application Gateway's subnet
	"gcp":   {Namespace: "", IP: netip.MustParseAddr("35.191.12.34")}, // Google's load balancer range
	"onprem": {Namespace: "ingress-nginx", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"},
		Labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}, IP: netip.MustParseAddr("10.244.7.7")},
	"local": {Namespace: "ingress-nginx", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"},
		Labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}, IP: netip.MustParseAddr("10.244.7.7")},
}

// ingressController is the profile's ingress source from the hand-written table.
func ingressController(t *testing.T, profile string) netpol.Pod {
	src, ok := ingressSources[profile]
	require.True(t, ok, "no ingress source written down for profile %s", profile)
	return src
}
