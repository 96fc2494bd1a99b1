package testenv

import (
	"context"
	"embed"
	"path"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml
var crdFiles embed.FS

// CRD fixture groups, by the platform component that needs them.
const (
	CRDsKnative    = "serving.knative.dev"
	CRDsCNPG       = "postgresql.cnpg.io"
	CRDsPrometheus = "monitoring.coreos.com"
)

// EnsureCRDs makes the CRDs of the given API groups exist (cluster-wide, shared by every test,
// never removed) and waits until they are established. The operators' own groups (CNPG,
// Prometheus) come from their real upstream charts in the mirror, installed as install would;
// Knative Serving's, which its operator would create at run time, from a minimal fixture.
func EnsureCRDs(t testing.TB, groups ...string) {
	t.Helper()
	ensureUpstream(t, groups)
	cs, err := apiextensions.NewForConfig(RestConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entries, err := crdFiles.ReadDir("crds")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !wanted(e.Name(), groups) {
			continue
		}
		data, err := crdFiles.ReadFile(path.Join("crds", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating CRD %s: %v", crd.Name, err)
		}
		names = append(names, crd.Name)
	}
	for _, name := range names {
		Eventually(t, 30*time.Second, "CRD "+name+" established", func() (bool, error) {
			crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
	}
}

func wanted(file string, groups []string) bool {
	for _, g := range groups {
		if strings.HasPrefix(file, g+"-") {
			return true
		}
	}
	return false
}
