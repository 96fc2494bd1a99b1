// Package kube hands out the Kubernetes clients of one process, built on first use from
// kubectl's connection flags, and the small helpers every command needs around them.
package kube

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Set is one cluster's clients.
type Set struct {
	Config  *rest.Config
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
}

// Clients builds the Set once, when a command first needs it: commands that never talk to the
// cluster (render, version) never read the kubeconfig.
type Clients struct {
	Getter genericclioptions.RESTClientGetter
	once   sync.Once
	set    *Set
	err    error
}

// NewClients returns lazily built clients for the cluster getter points at.
func NewClients(getter genericclioptions.RESTClientGetter) *Clients {
	return &Clients{Getter: getter}
}

// ForConfig returns clients for a REST configuration that is already known (a library caller's
// or a test's), or that failed to load with err.
func ForConfig(cfg *rest.Config, err error) *Clients {
	c := &Clients{}
	c.once.Do(func() {
		if err != nil {
			c.err = err
			return
		}
		c.set, c.err = fromConfig(cfg)
	})
	return c
}

// Get returns the clients, building them on the first call.
func (c *Clients) Get() (*Set, error) {
	c.once.Do(func() { c.set, c.err = build(c.Getter) })
	return c.set, c.err
}

// Config returns the REST configuration of the cluster (nil with the reason when there is none).
func (c *Clients) Config() (*rest.Config, error) {
	set, err := c.Get()
	if err != nil {
		return nil, err
	}
	return set.Config, nil
}

func build(g genericclioptions.RESTClientGetter) (*Set, error) {
	cfg, err := g.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster configuration: %w", err)
	}
	return fromConfig(cfg)
}

func fromConfig(cfg *rest.Config) (*Set, error) {
	cfg = rest.CopyConfig(cfg)
	// Status reads every object of the release: client-go's default 5 requests/s would make
	// that take seconds.
	cfg.QPS, cfg.Burst = 100, 200
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// In memory, not kubectl's disk cache: CRDs installed minutes ago must be known.
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Set{Config: cfg, Kube: kube, Dynamic: dyn, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// ValidateNamespace says why Kubernetes would refuse a namespace name, or nil.
func ValidateNamespace(ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("invalid namespace %q: %s", ns, errs[0])
	}
	return nil
}

// EnsureNamespace creates ns with the labels given when it does not exist yet.
func EnsureNamespace(ctx context.Context, kube kubernetes.Interface, ns string, labels map[string]string) error {
	_, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return nil
}

// WhoAmI returns the user name the API server sees for these credentials ("unknown" when it
// will not say).
func WhoAmI(ctx context.Context, kube kubernetes.Interface) string {
	r, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r.Status.UserInfo.Username == "" {
		return "unknown"
	}
	return r.Status.UserInfo.Username
}

// APIServerEndpoints returns the API server's addresses as pods reach them (the endpoints of
// the default/kubernetes Service), each as a single-address CIDR, and their ports. A
// NetworkPolicy matches a connection after the Service's translation: the port is the
// endpoint's (6443, 8443...), not the Service's 443.
func APIServerEndpoints(ctx context.Context, kube kubernetes.Interface) (cidrs []string, ports []int32, err error) {
	list, err := kube.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the API server's endpoints: %w", err)
	}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil {
					cidrs = append(cidrs, netip.PrefixFrom(ip, ip.BitLen()).String())
				}
			}
		}
		for _, p := range s.Ports {
			if p.Port != nil && !slices.Contains(ports, *p.Port) {
				ports = append(ports, *p.Port)
			}
		}
	}
	sort.Strings(cidrs)
	slices.Sort(ports)
	return cidrs, ports, nil
}
