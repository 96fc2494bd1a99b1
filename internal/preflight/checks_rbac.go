package preflight

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

// permission is one verb on one resource, in a namespace or cluster-wide ("").
type permission struct {
	Verb, Group, Resource, Namespace string
}

func (p permission) String() string {
	res := p.Resource
	if p.Group != "" {
		res += "." + p.Group
	}
	ns := p.Namespace
	if ns == "" {
		ns = "cluster"
	}
	return fmt.Sprintf("%s %s (%s)", p.Verb, res, ns)
}

// manageVerbs are what Helm needs on every object it owns: create, read, update, delete, watch.
var manageVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// requiredPermissions derives the permissions install needs from the rendered chart, plus what
// install itself touches: the namespace, Helm's release Secrets and generated Secrets, the lock
// Lease, and reads of CRDs, pods and events for status.
func requiredPermissions(t *Target, mapper meta.RESTMapper) []permission {
	set := map[permission]bool{}
	add := func(group, resource, ns string, verbs ...string) {
		for _, v := range verbs {
			set[permission{Verb: v, Group: group, Resource: resource, Namespace: ns}] = true
		}
	}
	for _, o := range t.Rendered.Objects {
		gvk := o.GroupVersionKind()
		var gvr schema.GroupVersionResource
		namespaced := true
		if m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			gvr, namespaced = m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace
		} else {
			// Not served yet (its CRD comes with an upstream chart): guess the plural.
			gvr, _ = meta.UnsafeGuessKindToResource(gvk)
			namespaced = !clusterScopedKinds[gvk.Kind]
		}
		ns := ""
		if namespaced {
			ns = t.Namespace
		}
		add(gvr.Group, gvr.Resource, ns, manageVerbs...)
	}
	add("", "namespaces", "", "get", "create")
	add("", "secrets", t.Namespace, manageVerbs...)
	add("coordination.k8s.io", "leases", t.Namespace, "get", "create", "update", "delete")
	add("apiextensions.k8s.io", "customresourcedefinitions", "", "get", "list")
	add("", "pods", t.Namespace, "get", "list", "watch")
	add("", "events", t.Namespace, "list")
	list := make([]permission, 0, len(set))
	for p := range set {
		list = append(list, p)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
	return list
}

// Kinds that are cluster-scoped, for objects whose API is not served yet.
var clusterScopedKinds = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "StorageClass": true, "Namespace": true,
	"CustomResourceDefinition": true, "ClusterIssuer": true, "IngressClass": true,
}

func checkRBAC(ctx context.Context, t *Target) Outcome {
	groups, err := restmapper.GetAPIGroupResources(memory.NewMemCacheClient(t.Kube.Discovery()))
	if err != nil {
		return Failf("cannot discover the cluster's APIs: %v", shortErr(err))
	}
	perms := requiredPermissions(t, restmapper.NewDiscoveryRESTMapper(groups))

	var mu sync.Mutex
	var missing []string
	var firstErr error
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, p := range perms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			review := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authzv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource, Namespace: p.Namespace},
			}}
			res, err := t.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			if !res.Status.Allowed {
				missing = append(missing, p.String())
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return Failf("cannot review permissions: %v", shortErr(firstErr))
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Outcome{Status: StatusFail, Details: missing,
			Message: fmt.Sprintf("%d of %d permissions missing: %s", len(missing), len(perms), summarise(missing, 6))}
	}
	return Passf("all %d permissions install needs are granted", len(perms))
}

// summarise lists up to n items and counts the rest.
func summarise(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", and %d more (see details)", len(items)-n)
}
