package testenv_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"firebase.google.com/go/v4/auth"
	"firebase.google.com/go/v4/auth/hash"
	kratos "github.com/ory/kratos-client-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/resimate/resimatectl/internal/testenv"
)

func TestKubernetesDeploymentBecomesAvailableAndPVCBinds(t *testing.T) {
	t.Parallel()
	cs := testenv.Clientset(t)
	ns := testenv.Namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	ctx := context.Background()

	labels := map[string]string{"app": "smoke"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:  "app",
						Image: "registry.invalid/smoke:1",
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)

	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			},
		},
	}
	_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{})
	require.NoError(t, err)

	testenv.Eventually(t, 60*time.Second, "deployment available", func() (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "smoke", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.AvailableReplicas == 2, nil
	})
	testenv.Eventually(t, 60*time.Second, "pvc bound", func() (bool, error) {
		c, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return c.Status.Phase == corev1.ClaimBound, nil
	})

	// PodSecurity admission is on: a pod without the restricted settings is refused.
	_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "unrestricted"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "registry.invalid/x:1"}}},
	}, metav1.CreateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "violates PodSecurity")
}

func TestPostgresSelect(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Pool(t)
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT 40 + 2").Scan(&n))
	assert.Equal(t, 42, n)
	var version int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT current_setting('server_version_num')::int").Scan(&version))
	assert.GreaterOrEqual(t, version, 150000)
}

func TestKratosCreateAndFetchIdentity(t *testing.T) {
	t.Parallel()
	admin := testenv.KratosAdmin(t)
	ctx := context.Background()
	email := testenv.UniqueName("smoke") + "@example.com"
	body := kratos.NewCreateIdentityBody("user_v1", map[string]any{"email": email, "name": "Smoke Test"})
	created, _, err := admin.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(*body).Execute()
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.IdentityAPI.DeleteIdentity(context.Background(), created.Id).Execute() })

	got, _, err := admin.IdentityAPI.GetIdentity(ctx, created.Id).Execute()
	require.NoError(t, err)
	traits := got.Traits.(map[string]any)
	assert.Equal(t, email, traits["email"])
	assert.Equal(t, "Smoke Test", traits["name"])
}

func TestFirebaseAuthImportScryptUser(t *testing.T) {
	t.Parallel()
	client, _ := testenv.FirebaseAuthClient(t)
	ctx := context.Background()
	// Firebase's published scrypt test vector.
	key := mustB64(t, "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==")
	salt := mustB64(t, "42xEC+ixf3L2lw==")
	pwHash := mustB64(t, "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==")

	user := (&auth.UserToImport{}).UID("smoke-user").Email("smoke@example.com").PasswordHash(pwHash).PasswordSalt(salt)
	res, err := client.ImportUsers(ctx, []*auth.UserToImport{user}, auth.WithHash(hash.Scrypt{
		Key: key, SaltSeparator: mustB64(t, "Bw=="), Rounds: 8, MemoryCost: 14,
	}))
	require.NoError(t, err)
	require.Equal(t, 1, res.SuccessCount, "import errors: %v", res.Errors)

	it := client.Users(ctx, "")
	exported, err := it.Next()
	require.NoError(t, err)
	assert.Equal(t, "smoke@example.com", exported.Email)
	// The emulator returns hashes URL-safe and unpadded.
	assert.Equal(t, pwHash, mustB64URL(t, exported.PasswordHash))
	assert.Equal(t, salt, mustB64URL(t, exported.PasswordSalt))
}

func TestFirestoreDocumentWithSubcollection(t *testing.T) {
	t.Parallel()
	client, _ := testenv.FirestoreClient(t)
	ctx := context.Background()
	campaign := client.Collection("campaigns").Doc("spring")
	_, err := campaign.Set(ctx, map[string]any{"name": "Spring", "sent": int64(3)})
	require.NoError(t, err)
	_, err = campaign.Collection("recipients").Doc("r1").Set(ctx, map[string]any{"email": "a@example.com"})
	require.NoError(t, err)

	snap, err := campaign.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "Spring", snap.Data()["name"])
	subs, err := campaign.Collections(ctx).GetAll()
	require.NoError(t, err)
	require.Len(t, subs, 1)
	assert.Equal(t, "recipients", subs[0].ID)
	r, err := subs[0].Doc("r1").Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "a@example.com", r.Data()["email"])
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func mustB64URL(t *testing.T, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}
