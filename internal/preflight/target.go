package preflight

import (
	"context"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/resimate/resimatectl/internal/render"
)

// Target is what the checks inspect: the cluster, the rendered chart and the external services.
type Target struct {
	Profile   string
	Namespace string
	Release   string
	// Rendered is the chart as install would apply it.
	Rendered *render.Result

	// RESTConfig is nil when no kubeconfig could be loaded; ConfigErr says why.
	RESTConfig *rest.Config
	ConfigErr  error
	Kube       kubernetes.Interface
	Extensions apiextensions.Interface

	// PostgresURL holds the credentials of an external PostgreSQL (a secret: never printed).
	PostgresURL string
	// Brought maps the CRDs that install's upstream charts will bring to the chart that brings
	// each: their absence now is no failure.
	Brought map[string]string
	// Offline skips the checks that reach the internet (image registries).
	Offline bool
	// ProbeTimeout bounds each network probe.
	ProbeTimeout time.Duration
	// HTTP is the client for probes outside the cluster (Vault, registries).
	HTTP *http.Client
	// Now is the local clock (a test may move it).
	Now func() time.Time

	nodesOnce sync.Once
	nodes     []corev1.Node
	nodesErr  error
	crds      sync.Map // name -> *crdLookup
}

type crdLookup struct {
	once sync.Once
	crd  *apiextensionsv1.CustomResourceDefinition
	err  error
}

// NewTarget builds the clients for cfg (which may be nil with cfgErr set).
func NewTarget(cfg *rest.Config, cfgErr error, rendered *render.Result) (*Target, error) {
	t := &Target{
		Rendered:     rendered,
		RESTConfig:   cfg,
		ConfigErr:    cfgErr,
		ProbeTimeout: 3 * time.Second,
		HTTP:         &http.Client{Timeout: 3 * time.Second},
		Now:          time.Now,
	}
	if cfg == nil {
		return t, nil
	}
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 100, 200
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	var err error
	if t.Kube, err = kubernetes.NewForConfig(c); err != nil {
		return nil, err
	}
	if t.Extensions, err = apiextensions.NewForConfig(c); err != nil {
		return nil, err
	}
	return t, nil
}

// value reads a value the templates saw, by path.
func (t *Target) value(path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(t.Rendered.Effective, path...)
	return v
}

func (t *Target) str(path ...string) string {
	s, _ := t.value(path...).(string)
	return s
}

func (t *Target) boolean(path ...string) bool {
	b, _ := t.value(path...).(bool)
	return b
}

// Nodes lists the cluster's nodes once for every check that needs them.
func (t *Target) Nodes(ctx context.Context) ([]corev1.Node, error) {
	t.nodesOnce.Do(func() {
		list, err := t.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.nodesErr = err
			return
		}
		t.nodes = list.Items
	})
	return t.nodes, t.nodesErr
}

// CRD fetches a CustomResourceDefinition by name once; (nil, nil) when it does not exist.
func (t *Target) CRD(ctx context.Context, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	v, _ := t.crds.LoadOrStore(name, &crdLookup{})
	l := v.(*crdLookup)
	l.once.Do(func() {
		crd, err := t.Extensions.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			l.crd = crd
		} else if !apierrors.IsNotFound(err) {
			l.err = err
		}
	})
	return l.crd, l.err
}
