// Package netpol evaluates Kubernetes NetworkPolicies offline: given the policies and two pods,
// may the first open a connection to the second on a port? It follows the API's semantics
// (policies are additive allow-lists; a pod is isolated for a direction once any policy of that
// type selects it) and is what the chart tests use to prove the platform's traffic matrix.
package netpol

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Pod is an endpoint of a connection.
type Pod struct {
	Name            string
	Namespace       string
	NamespaceLabels map[string]string
	Labels          map[string]string
	IP              netip.Addr
}

// Evaluator holds a set of policies.
type Evaluator struct {
	policies []networkingv1.NetworkPolicy
}

// New returns an evaluator over policies.
func New(policies []networkingv1.NetworkPolicy) *Evaluator { return &Evaluator{policies: policies} }

// FromUnstructured converts rendered objects, keeping only NetworkPolicies; namespace is given to
// policies that have none (as a rendered chart's do).
func FromUnstructured(objs []*unstructured.Unstructured, namespace string) (*Evaluator, error) {
	var ps []networkingv1.NetworkPolicy
	for _, o := range objs {
		if o.GetKind() != "NetworkPolicy" {
			continue
		}
		var p networkingv1.NetworkPolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &p); err != nil {
			return nil, fmt.Errorf("NetworkPolicy %s: %w", o.GetName(), err)
		}
		if p.Namespace == "" {
			p.Namespace = namespace
		}
		ps = append(ps, p)
	}
	return New(ps), nil
}

// Allowed reports whether src may connect to dst on port/protocol: src's egress and dst's
// ingress must both allow it.
func (e *Evaluator) Allowed(src, dst Pod, port int32, proto corev1.Protocol) bool {
	return e.direction(src, dst, port, proto, networkingv1.PolicyTypeEgress) &&
		e.direction(dst, src, port, proto, networkingv1.PolicyTypeIngress)
}

// direction checks one side. For egress, subject is the source and peer the destination; for
// ingress, subject is the destination and peer the source.
func (e *Evaluator) direction(subject, peer Pod, port int32, proto corev1.Protocol, t networkingv1.PolicyType) bool {
	isolated := false
	for i := range e.policies {
		p := &e.policies[i]
		if p.Namespace != subject.Namespace || !hasType(p, t) || !selects(&p.Spec.PodSelector, subject.Labels) {
			continue
		}
		isolated = true
		if t == networkingv1.PolicyTypeIngress {
			for _, r := range p.Spec.Ingress {
				if peersMatch(r.From, p.Namespace, peer) && portsMatch(r.Ports, port, proto) {
					return true
				}
			}
		} else {
			for _, r := range p.Spec.Egress {
				if peersMatch(r.To, p.Namespace, peer) && portsMatch(r.Ports, port, proto) {
					return true
				}
			}
		}
	}
	return !isolated
}

// hasType applies the API's default: Ingress always, Egress when the policy has egress rules.
func hasType(p *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0
	}
	for _, pt := range p.Spec.PolicyTypes {
		if pt == t {
			return true
		}
	}
	return false
}

func selects(sel *metav1.LabelSelector, lbls map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(lbls))
}

// peersMatch: an empty peer list matches everything.
func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNS string, pod Pod) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if peerMatches(peer, policyNS, pod) {
			return true
		}
	}
	return false
}

func peerMatches(peer networkingv1.NetworkPolicyPeer, policyNS string, pod Pod) bool {
	if peer.IPBlock != nil {
		return inBlock(peer.IPBlock, pod.IP)
	}
	if peer.NamespaceSelector != nil {
		if !selects(peer.NamespaceSelector, pod.NamespaceLabels) {
			return false
		}
	} else if pod.Namespace != policyNS {
		return false
	}
	if peer.PodSelector != nil {
		return selects(peer.PodSelector, pod.Labels)
	}
	return true
}

func inBlock(b *networkingv1.IPBlock, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !cidr.Contains(ip) {
		return false
	}
	for _, ex := range b.Except {
		if e, err := netip.ParsePrefix(ex); err == nil && e.Contains(ip) {
			return false
		}
	}
	return true
}

// portsMatch: an empty list matches every port; named ports are not resolved (the chart uses numbers).
func portsMatch(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.IntVal == 0 && p.Port.StrVal != "" {
			continue
		}
		end := p.Port.IntVal
		if p.EndPort != nil {
			end = *p.EndPort
		}
		if port >= p.Port.IntVal && port <= end {
			return true
		}
	}
	return false
}
