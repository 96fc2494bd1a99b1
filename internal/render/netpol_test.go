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

// The flows the platform needs, and why; every other pair of the matrix must be denied. The
// seed's six rules are among them: default deny (every pair not listed, the outsider's and the
// internet's included), frontend to the APIs, the APIs to the database and to Vault, and no
// direct traffic from outside to the database or Vault (internet->postgres, outsider->vault...).
var wantAllowed = map[string]bool{
	// DNS to kube-dns is checked apart, over UDP.
	"ingress->frontend":        true, // users reach the web app
	"ingress->kratos":          true, // and Kratos' public API (sign-in, registration)
	"frontend->core-model":     true, // the web app calls the APIs
	"frontend->campaigns":      true,
	"frontend->config":         true,
	"frontend->kratos":         true, // and Kratos for the session
	"core-model->postgres":     true, // each API keeps its data in PostgreSQL
	"campaigns->postgres":      true,
	"config->postgres":         true,
	"core-model->vault":        true, // and reads its secrets from Vault
	"campaigns->vault":         true,
	"config->vault":            true,
	"core-model->kratos":       true, // and validates every session token with Kratos
	"campaigns->kratos":        true,
	"config->kratos":           true,
	"kratos->postgres":         true, // identities live in PostgreSQL
	"kratos-migrate->postgres": true, // the migration Job changes that schema
	"kratos-courier->postgres": true, // the courier reads the mail the flows queue
	"postgres->postgres":       true, // replication between instances
	"vault->vault":             true, // Raft between nodes
	"vault->apiserver":         true, // TokenReview for Kubernetes auth
	"postgres->apiserver":      true, // CloudNativePG's instance manager reads its Cluster
	"prometheus->frontend":     true, // Prometheus scrapes what the monitors name
	"prometheus->core-model":   true,
	"prometheus->campaigns":    true,
	"prometheus->config":       true,
	"prometheus->vault":        true,
}

// Values every matrix renders with: monitoring on, an SMTP server (so Kratos' courier runs), and
// the API server's address as install finds it.
var matrixValues = []string{"monitoring.enabled=true", "apis.campaigns.smtp.host=mail.example.com", "networkPolicies.apiServerCIDRs={192.0.2.10/32}"}

func TestNetworkPolicyMatrix(t *testing.T) {
	for _, profile := range render.Profiles() {
		t.Run(profile, func(t *testing.T) {
			res := renderProfile(t, profile, matrixValues...)
			eval := evaluator(t, res)

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
			// Every pod of the release resolves names through the cluster's DNS, and only there.
			dns := netpol.Pod{Namespace: "kube-system", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"},
				Labels: map[string]string{"k8s-app": "kube-dns"}, IP: netip.MustParseAddr("10.244.0.10")}
			for srcName, src := range parties {
				if src.pod.Namespace == render.DefaultNamespace {
					assert.True(t, eval.Allowed(src.pod, dns, 53, corev1.ProtocolUDP), "%s: %s->dns", profile, srcName)
					assert.False(t, eval.Allowed(src.pod, parties["internet"].pod, 53, corev1.ProtocolUDP), "%s: %s->internet dns", profile, srcName)
				}
			}
			// Kratos' admin API is reachable from no one.
			for srcName, src := range parties {
				assert.False(t, eval.Allowed(src.pod, parties["kratos"].pod, 4434, corev1.ProtocolTCP), "%s: %s->kratos admin", profile, srcName)
			}
			assert.GreaterOrEqual(t, checked, 10*6)
		})
	}
}

// An external PostgreSQL is reached by its addresses, not by any address.
func TestExternalPostgresEgressByAddress(t *testing.T) {
	kratos := netpol.Pod{Namespace: render.DefaultNamespace, NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": render.DefaultNamespace},
		Labels: map[string]string{"app.kubernetes.io/instance": "resimate", "app.kubernetes.io/component": "kratos"}, IP: netip.MustParseAddr("10.244.1.2")}
	server := func(ip string) netpol.Pod { return netpol.Pod{IP: netip.MustParseAddr(ip)} }
	for set, want := range map[string]map[string]bool{
		"postgres.external.cidrs[0]=10.0.5.0/24": {"10.0.5.4": true, "203.0.113.5": false},
		"postgres.external.host=10.0.5.4":        {"10.0.5.4": true, "10.0.5.5": false},
	} {
		eval := evaluator(t, renderProfile(t, "aws", set))
		for ip, allowed := range want {
			assert.Equal(t, allowed, eval.Allowed(kratos, server(ip), 5432, corev1.ProtocolTCP), "%s: kratos->%s", set, ip)
		}
	}
}

// Vault reaches the API server on the endpoints' port that install found (the policy sees the
// connection after the Service's 443 became it), and on no other.
func TestAPIServerEgressOnItsOwnPort(t *testing.T) {
	vault := netpol.Pod{Namespace: render.DefaultNamespace, NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": render.DefaultNamespace},
		Labels: map[string]string{"app.kubernetes.io/instance": "resimate", "app.kubernetes.io/component": "vault"}, IP: netip.MustParseAddr("10.244.1.2")}
	apiServer := netpol.Pod{IP: netip.MustParseAddr("192.0.2.10")}
	for set, want := range map[string]map[int32]bool{
		"networkPolicies.apiServerPorts=null":    {443: true, 6443: true, 8443: false},
		"networkPolicies.apiServerPorts={16443}": {16443: true, 443: false, 6443: false},
	} {
		eval := evaluator(t, renderProfile(t, "onprem", set, "networkPolicies.apiServerCIDRs={192.0.2.10/32}"))
		for port, allowed := range want {
			assert.Equal(t, allowed, eval.Allowed(vault, apiServer, port, corev1.ProtocolTCP), "%s: vault->apiserver:%d", set, port)
		}
	}
}

// evaluator holds the rendered chart's policies.
func evaluator(t *testing.T, res *render.Result) *netpol.Evaluator {
	t.Helper()
	objs := make([]*unstructured.Unstructured, 0, len(res.Objects))
	for _, o := range res.Objects {
		objs = append(objs, o.Unstructured)
	}
	eval, err := netpol.FromUnstructured(objs, render.DefaultNamespace)
	require.NoError(t, err)
	return eval
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
		// Clients only: the migration Job and the courier.
		"kratos-migrate": {pod: pod(podLabels("Job", "resimate-kratos-migrate"))},
		"kratos-courier": {pod: pod(podLabels("Deployment", "resimate-kratos-courier"))},
		// Another namespace's pod, and an address on the internet: nothing may let them in past
		// the ingress.
		"outsider": {pod: netpol.Pod{Namespace: "elsewhere", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "elsewhere"}, IP: netip.MustParseAddr("10.244.9.9")}},
		"internet": {pod: netpol.Pod{IP: netip.MustParseAddr("198.51.100.7")}},
		// kube-prometheus-stack's Prometheus, in the monitoring namespace.
		"prometheus": {pod: netpol.Pod{Namespace: "monitoring", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"},
			Labels: map[string]string{"app.kubernetes.io/name": "prometheus"}, IP: netip.MustParseAddr("10.244.5.5")}},
		// The API server, at the address matrixValues gives.
		"apiserver": {netpol.Pod{IP: netip.MustParseAddr("192.0.2.10")}, 6443},
	}
	if mode, _, _ := unstructured.NestedString(res.Effective, "postgres", "mode"); mode == "operator" {
		// CloudNativePG labels its instance pods with the cluster's name.
		parties["postgres"] = endpoint{pod(map[string]string{"cnpg.io/cluster": "resimate-postgres"}), 5432}
	} else {
		// The managed server lives outside the cluster, at the profile's address when it names
		// one (a documentation address stands in for a host name).
		addr := netip.MustParseAddr("203.0.113.5")
		if host, _, _ := unstructured.NestedString(res.Effective, "postgres", "external", "host"); host != "" {
			if a, err := netip.ParseAddr(host); err == nil {
				addr = a
			}
		}
		parties["postgres"] = endpoint{netpol.Pod{Namespace: "outside-the-cluster", IP: addr}, 5432}
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

// With an auto-unseal seal, Vault reaches the seal's service: the transit Vault's port, or a
// cloud KMS over HTTPS; with Shamir keys it reaches nothing outside.
func TestVaultReachesItsSeal(t *testing.T) {
	vault := netpol.Pod{Namespace: render.DefaultNamespace, NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": render.DefaultNamespace},
		Labels: map[string]string{"app.kubernetes.io/instance": "resimate", "app.kubernetes.io/component": "vault"}, IP: netip.MustParseAddr("10.244.1.2")}
	kms := netpol.Pod{IP: netip.MustParseAddr("203.0.113.9")}
	for _, c := range []struct {
		set  []string
		port int32
		want bool
	}{
		{nil, 443, false},
		{[]string{"vault.bundled.seal.type=awskms", "vault.bundled.seal.parameters.region=eu-west-1", "vault.bundled.seal.parameters.kms_key_id=k"}, 443, true},
		{[]string{"vault.bundled.seal.type=transit", "vault.bundled.seal.parameters.address=https://vault.example.org:8443",
			"vault.bundled.seal.parameters.key_name=k", "vault.bundled.seal.parameters.mount_path=transit/"}, 8443, true},
	} {
		// The API server at its own address, so that port 443 elsewhere is not the API's.
		eval := evaluator(t, renderProfile(t, "onprem", append(c.set, "networkPolicies.apiServerCIDRs={192.0.2.10/32}")...))
		assert.Equal(t, c.want, eval.Allowed(vault, kms, c.port, corev1.ProtocolTCP), "%v", c.set)
	}
}
