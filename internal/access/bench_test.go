package access_test

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	kratos "github.com/ory/kratos-client-go"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/resimate/resimatectl/internal/access"
	"github.com/resimate/resimatectl/internal/testenv"
)

const (
	benchBindings   = 5000
	benchIdentities = 50000
	// kubectl is run for this many subjects and its mean scaled to all of them: all 5 000
	// would add minutes and no information.
	benchKubectlSample = 200
)

// BenchmarkReview reviews a namespace with 5 000 RoleBindings (each to its own user, binding the
// aggregated ClusterRole view) and 50 000 Kratos identities, against the baseline of
// `kubectl auth can-i --list` run per subject.
func BenchmarkReview(b *testing.B) {
	e := testenv.Require(b, testenv.Kubernetes, testenv.Kratos)
	ns := testenv.Namespace(b, nil)
	cs := testenv.Clientset(b)
	tag := testenv.UniqueName("bench")
	ctx := context.Background()

	var g errgroup.Group
	g.SetLimit(32)
	for i := range benchBindings {
		g.Go(func() error {
			_, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("b%d", i)},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
				Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("%s-%d", tag, i)}}}, metav1.CreateOptions{})
			return err
		})
	}
	require.NoError(b, g.Wait())
	admin := testenv.KratosAdmin(b)
	ids := createIdentities(b, admin, tag)
	b.Cleanup(func() { deleteIdentities(admin, ids) })

	p := access.Params{Kube: cs, Namespace: ns, Release: "resimate", Namespaces: []string{ns}, Kratos: admin,
		Subjects: []string{tag + "-*"}, StaleDays: 90, AdminRoles: []string{"admin"}}
	b.ResetTimer()
	var review time.Duration
	for b.Loop() {
		p.Now = time.Now()
		start := time.Now()
		r, err := access.Review(ctx, p)
		review = time.Since(start)
		require.NoError(b, err)
		require.Len(b, r.Kubernetes.Subjects, benchBindings)
		require.Len(b, r.Identities.Identities, benchIdentities)
	}
	b.StopTimer()
	// Where the time goes: each source alone.
	timed := func(p access.Params) float64 {
		p.Now = time.Now()
		start := time.Now()
		_, err := access.Review(ctx, p)
		require.NoError(b, err)
		return time.Since(start).Seconds()
	}
	kubeOnly, kratosOnly := p, p
	kubeOnly.Kratos, kratosOnly.Kube = nil, nil
	b.ReportMetric(timed(kubeOnly), "rbac-s")
	b.ReportMetric(timed(kratosOnly), "identities-s")

	start := time.Now()
	for i := range benchKubectlSample {
		out, err := exec.Command("kubectl", "--kubeconfig", e.Kubeconfig, "auth", "can-i", "--list", "-n", ns,
			"--as", fmt.Sprintf("%s-%d", tag, i*benchBindings/benchKubectlSample)).CombinedOutput()
		require.NoError(b, err, "%s", out)
	}
	kubectl := time.Since(start) / benchKubectlSample * benchBindings
	b.ReportMetric(review.Seconds(), "review-s")
	b.ReportMetric(kubectl.Seconds(), "kubectl-can-i-s")
	b.ReportMetric(kubectl.Seconds()/review.Seconds(), "ratio")
}

func createIdentities(b *testing.B, admin *kratos.APIClient, tag string) []string {
	const batch = 1000
	ids := make([][]string, benchIdentities/batch)
	var g errgroup.Group
	g.SetLimit(4)
	for n := range benchIdentities / batch {
		g.Go(func() error {
			body := kratos.PatchIdentitiesBody{}
			for i := range batch {
				email := fmt.Sprintf("%s-%d@example.com", tag, n*batch+i)
				body.Identities = append(body.Identities, kratos.IdentityPatch{Create: &kratos.CreateIdentityBody{SchemaId: "user_v1",
					Traits: map[string]any{"email": email}, MetadataPublic: map[string]any{"role": []string{"admin", "user"}[i%2]}}})
			}
			res, _, err := admin.IdentityAPI.BatchPatchIdentities(context.Background()).PatchIdentitiesBody(body).Execute()
			if err != nil {
				return err
			}
			for _, r := range res.Identities {
				if r.Identity != nil {
					ids[n] = append(ids[n], *r.Identity)
				}
			}
			return nil
		})
	}
	require.NoError(b, g.Wait())
	var all []string
	for _, l := range ids {
		all = append(all, l...)
	}
	require.Len(b, all, benchIdentities)
	return all
}

// deleteIdentities leaves the shared Kratos as it was.
func deleteIdentities(admin *kratos.APIClient, ids []string) {
	var g errgroup.Group
	g.SetLimit(16)
	for _, id := range ids {
		g.Go(func() error {
			_, err := admin.IdentityAPI.DeleteIdentity(context.Background(), id).Execute()
			return err
		})
	}
	_ = g.Wait()
}
