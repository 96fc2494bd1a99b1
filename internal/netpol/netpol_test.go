package netpol

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestSemantics(t *testing.T) {
	port := func(n int) []networkingv1.NetworkPolicyPort {
		p := intstr.FromInt(n)
		return []networkingv1.NetworkPolicyPort{{Port: &p}}
	}
	app := func(v string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": v}}
	}
	policies := []networkingv1.NetworkPolicy{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a"}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *app("db"),
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: app("api")}, {IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24", Except: []string{"192.0.2.128/25"}}}},
				Ports: port(5432),
			}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a"}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *app("api"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: app("db")}}}},
		}},
	}
	e := New(policies)
	pod := func(ns, app, ip string) Pod {
		return Pod{Namespace: ns, Labels: map[string]string{"app": app}, IP: netip.MustParseAddr(ip)}
	}
	api, db, web := pod("a", "api", "10.0.0.1"), pod("a", "db", "10.0.0.2"), pod("a", "web", "10.0.0.3")
	otherAPI := pod("b", "api", "10.0.0.4")

	assert.True(t, e.Allowed(api, db, 5432, corev1.ProtocolTCP), "selected peer, listed port")
	assert.False(t, e.Allowed(api, db, 5433, corev1.ProtocolTCP), "port not listed")
	assert.False(t, e.Allowed(api, db, 5432, corev1.ProtocolUDP), "protocol differs")
	assert.False(t, e.Allowed(web, db, 5432, corev1.ProtocolTCP), "peer not selected")
	assert.False(t, e.Allowed(otherAPI, db, 5432, corev1.ProtocolTCP), "podSelector alone means the policy's namespace")
	assert.False(t, e.Allowed(api, web, 80, corev1.ProtocolTCP), "api egress is isolated")
	assert.True(t, e.Allowed(web, api, 80, corev1.ProtocolTCP), "api ingress is not isolated")
	assert.True(t, e.Allowed(pod("x", "", "192.0.2.7"), db, 5432, corev1.ProtocolTCP), "inside the block")
	assert.False(t, e.Allowed(pod("x", "", "192.0.2.200"), db, 5432, corev1.ProtocolTCP), "in the block's exception")
}
