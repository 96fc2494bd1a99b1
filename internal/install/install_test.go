package install_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/resimate/resimatectl/internal/health"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/lock"
	"github.com/resimate/resimatectl/internal/logging"
	"github.com/resimate/resimatectl/internal/preflight"
	"github.com/resimate/resimatectl/internal/record"
	"github.com/resimate/resimatectl/internal/redact"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/secrets"
	"github.com/resimate/resimatectl/internal/testenv"
)

// testEnv returns an install environment on the test cluster whose progress and logs go to a
// buffer (so tests can search everything the run printed).
func testEnv(t testing.TB) (*install.Env, *testenv.Buffer) {
	e := testenv.Require(t, testenv.Kubernetes)
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &e.Kubeconfig
	out := &testenv.Buffer{}
	r := &redact.Redactor{}
	logger, err := logging.New(out, r, logging.Options{Format: "json", Level: "debug"})
	require.NoError(t, err)
	return install.NewEnv(flags, r, logger, func(ev install.Event) {
		b, _ := json.Marshal(ev)
		out.Write(append(b, '\n'))
	}), out
}

// kwokValues make a profile installable on the test cluster: volumes of the class kwok binds,
// and a domain that resolves here. Everything else stays the profile's.
var kwokValues = []string{"storage.className=kwok-volume", "storage.createClass.enabled=false", "global.domain=localhost"}

func options(ns, profile string, set ...string) install.Options {
	return install.Options{
		Chart:   render.Options{Profile: profile, Namespace: ns, Set: append(append([]string{}, kwokValues...), set...)},
		Timeout: 2 * time.Minute, LockTTL: 3 * time.Second,
		// No Vault runs behind these pods: tests of Vault start one (vaultOptions).
		Vault: install.VaultOptions{Manual: true},
		// The test cluster has no ingress controllers, cert-manager or managed PostgreSQL.
		Preflight: preflight.Params{Offline: true, SkipUpstream: true, Ignore: []string{"ingress-class", "cert-manager", "postgres-external", "smtp", "cloud"}},
	}
}

func crds(t *testing.T) {
	testenv.EnsureCRDs(t, testenv.CRDsKnative, testenv.CRDsCNPG, testenv.CRDsPrometheus)
}

func TestInstallEveryProfileThenRerunIsANoOp(t *testing.T) {
	crds(t)
	for _, profile := range render.Profiles() {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			env, out := testEnv(t)
			ns := testenv.Namespace(t, nil)
			ctx := context.Background()
			res, err := install.Install(ctx, env, options(ns, profile))
			require.NoError(t, err, out.String())
			assert.Equal(t, "installed", res.Action)
			assert.Equal(t, 1, res.Revision)
			assert.Empty(t, health.NotReady(res.Components), "%+v", res.Components)
			// Vault reaches the API server at its own addresses, which install looked up.
			apiServer, _, err := kube.APIServerEndpoints(ctx, testenv.Clientset(t))
			require.NoError(t, err)
			require.NotEmpty(t, apiServer)
			np, err := testenv.Clientset(t).NetworkingV1().NetworkPolicies(ns).Get(ctx, "resimate-vault", metav1.GetOptions{})
			require.NoError(t, err)
			last := np.Spec.Egress[len(np.Spec.Egress)-1]
			require.Len(t, last.To, len(apiServer))
			assert.Equal(t, apiServer[0], last.To[0].IPBlock.CIDR)

			again, err := install.Install(ctx, env, options(ns, profile))
			require.NoError(t, err)
			assert.Equal(t, "up-to-date", again.Action)
			assert.Equal(t, 1, again.Revision, "no new Helm revision")
			revisions, err := testenv.Clientset(t).CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + render.DefaultRelease})
			require.NoError(t, err)
			assert.Len(t, revisions.Items, 1, "Helm stores one Secret per revision")

			rec, err := record.Load(ctx, testenv.Clientset(t), ns, render.DefaultRelease)
			require.NoError(t, err)
			require.NotNil(t, rec)
			assert.Equal(t, profile, rec.Profile)
			assert.Equal(t, "0.1.0", rec.ChartVersion)
			// The record is a ConfigMap, which the view role reads: no value the user gave.
			cm, err := testenv.Clientset(t).CoreV1().ConfigMaps(ns).Get(ctx, record.Name(render.DefaultRelease), metav1.GetOptions{})
			require.NoError(t, err)
			assert.NotContains(t, cm.Data["record.json"], "kwok-volume")
			assert.NotContains(t, cm.Data["record.json"], "localhost")
		})
	}
}

// installedLocal installs the local profile; withVault runs its Vault for real and lets install
// initialise it.
func installedLocal(t *testing.T, withVault bool) (*install.Env, *testenv.Buffer, string) {
	crds(t)
	env, out := testEnv(t)
	ns := testenv.Namespace(t, nil)
	opts := options(ns, "local")
	if withVault {
		op := testenv.NewVaultOperator(t, ns, render.DefaultRelease)
		opts.Chart.Set = append(opts.Chart.Set, op.Set)
		opts.Vault = install.VaultOptions{Recipients: []string{op.Recipient}, Identity: op.Identity, KeysFile: op.KeysFile, KeyShares: 1, Threshold: 1}
	}
	_, err := install.Install(context.Background(), env, opts)
	require.NoError(t, err, out.String())
	return env, out, ns
}

func TestUpgradeAndAutomaticRollback(t *testing.T) {
	env, out, ns := installedLocal(t, true)
	ctx := context.Background()
	cs := testenv.Clientset(t)
	secretsBefore := secretData(t, cs, ns)

	// A changed value makes a new revision.
	res, err := install.Install(ctx, env, options(ns, "local", "frontend.replicas.min=3"))
	require.NoError(t, err)
	assert.Equal(t, "upgraded", res.Action)
	assert.Equal(t, 2, res.Revision)

	// Preflight sees that pods bound to nodes that do not exist cannot run...
	bad := options(ns, "local", "frontend.replicas.min=3", "global.nodeSelector.pool=none-such")
	bad.Timeout = 15 * time.Second
	_, err = install.Install(ctx, env, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "preflight failed, nothing was changed: nodes: none of the")
	// ...and without it, the upgrade never becomes Ready (here its pre-upgrade hook cannot be
	// scheduled) and rolls back by itself, naming the object.
	bad.SkipPreflight = true
	_, err = install.Install(ctx, env, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "upgrade failed and rolled back to revision 2")
	assert.Contains(t, err.Error(), "Job/"+ns+"/resimate-kratos-migrate not ready. status: InProgress")

	// A frontend too big for any node: its Deployment never becomes Available.
	huge := options(ns, "local", "frontend.replicas.min=3", "frontend.resources.requests.cpu=100", "frontend.resources.limits.cpu=100")
	huge.Timeout, huge.SkipPreflight = 15*time.Second, true
	_, err = install.Install(ctx, env, huge)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "upgrade failed and rolled back to revision")
	assert.Regexp(t, `component frontend: Deployment resimate-frontend: .+ is InProgress`, err.Error())

	st, err := install.Status(ctx, env, ns, render.DefaultRelease)
	require.NoError(t, err)
	assert.True(t, st.Ready, st.Verdict)
	assert.Equal(t, 6, st.Revision, "two failed upgrades and their rollbacks: revisions 3 to 6")
	frontend := componentNamed(t, st.Components, "frontend")
	assert.Equal(t, int64(3), frontend.Ready)
	assert.Equal(t, secretsBefore, secretData(t, cs, ns), "generated secrets survive upgrades unchanged")
	for _, v := range secretsBefore {
		assert.NotContains(t, out.String(), v, "a generated secret reached the output")
	}
}

// The HPA owns the replica count after the first install: an upgrade keeps what it chose.
func TestUpgradeKeepsTheAutoscalersReplicaCount(t *testing.T) {
	env, out, ns := installedLocal(t, false)
	ctx := context.Background()
	cs := testenv.Clientset(t)

	// What the HPA controller does: the scale subresource, under its own field manager.
	scale, err := cs.AppsV1().Deployments(ns).GetScale(ctx, "resimate-frontend", metav1.GetOptions{})
	require.NoError(t, err)
	scale.Spec.Replicas = 5
	_, err = cs.AppsV1().Deployments(ns).UpdateScale(ctx, "resimate-frontend", scale, metav1.UpdateOptions{FieldManager: "kube-controller-manager"})
	require.NoError(t, err)

	res, err := install.Install(ctx, env, options(ns, "local", "frontend.replicas.max=12"))
	require.NoError(t, err, out.String())
	assert.Equal(t, "upgraded", res.Action)
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "resimate-frontend", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(5), *d.Spec.Replicas, "the upgrade kept the autoscaler's count")
	again, err := install.Install(ctx, env, options(ns, "local", "frontend.replicas.max=12"))
	require.NoError(t, err)
	assert.Equal(t, "up-to-date", again.Action, "the upgrade's own rendering is seen as applied")
}

func TestConcurrentInstallsOneWaitsOut(t *testing.T) {
	crds(t)
	ns := testenv.Namespace(t, nil)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env, _ := testEnv(t)
			_, errs[i] = install.Install(context.Background(), env, options(ns, "local"))
		}()
	}
	wg.Wait()
	var locked, ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, lock.ErrLocked):
			locked++
			assert.Regexp(t, `an install by [^ ]+ on [^ ]+ has held the lock since \d{4}-\d\d-\d\dT`, err.Error())
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, 1, locked)
}

func TestBadInputChangesNothing(t *testing.T) {
	env, _ := testEnv(t)
	cs := testenv.Clientset(t)
	ns := testenv.UniqueName("never")
	ctx := context.Background()

	_, err := install.Install(ctx, env, options(ns, "mars"))
	assert.ErrorContains(t, err, `unknown profile "mars"`)
	var in *install.InputError
	assert.True(t, errors.As(err, &in))

	_, err = install.Install(ctx, env, options(ns, "local", "frontend.replicas.min=-1"))
	assert.ErrorContains(t, err, "at '/frontend/replicas/min'")
	assert.True(t, errors.As(err, &in))

	_, err = cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "nothing was created")
}

func secretData(t *testing.T, _ any, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range secrets.Names(render.DefaultRelease) {
		s, err := testenv.Clientset(t).CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		for k, v := range s.Data {
			if k != corev1.BasicAuthUsernameKey {
				out[name+"/"+k] = string(v)
			}
		}
	}
	return out
}

// componentNamed finds a component; its absence is a failure, not an assertion skipped.
func componentNamed(t *testing.T, list []health.ComponentStatus, name string) health.ComponentStatus {
	t.Helper()
	for _, c := range list {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no component %s in %+v", name, list)
	return health.ComponentStatus{}
}
