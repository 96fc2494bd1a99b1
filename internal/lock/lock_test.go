package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/resimate/resimatectl/internal/lock"
	"github.com/resimate/resimatectl/internal/testenv"
)

// Two runs of the same user on the same host (here: one process) are two holders: the second
// is refused, where a holder named only "user@host" took the first's lease for its own.
func TestSameUserAndHostAreTwoHolders(t *testing.T) {
	testenv.Require(t, testenv.Kubernetes)
	cs := testenv.Clientset(t)
	ns := testenv.Namespace(t, nil)
	ctx := context.Background()

	a := lock.New(cs, ns, "rel", "alice", "install", 30*time.Second)
	_, _, err := a.Acquire(ctx, false)
	require.NoError(t, err)
	defer a.Release(ctx)
	b := lock.New(cs, ns, "rel", "alice", "install", 30*time.Second)
	_, _, err = b.Acquire(ctx, false)
	require.ErrorIs(t, err, lock.ErrLocked)
	assert.NotEqual(t, a.Holder, b.Holder)
	assert.Regexp(t, `^alice@[^/]+/\d+/[0-9a-f]{12}$`, a.Holder)
}

// A run whose lock was broken (--force-unlock) does not free the lock of the run that broke
// it; and it notices: its context is cancelled with ErrLost.
func TestReleaseOnlyWhatIsStillHeldAndNoticeTheLoss(t *testing.T) {
	testenv.Require(t, testenv.Kubernetes)
	cs := testenv.Clientset(t)
	ns := testenv.Namespace(t, nil)
	ctx := context.Background()

	a := lock.New(cs, ns, "rel", "alice", "upgrade", 3*time.Second)
	aCtx, _, err := a.Acquire(ctx, false)
	require.NoError(t, err)
	b := lock.New(cs, ns, "rel", "bob", "uninstall", 3*time.Second)
	_, note, err := b.Acquire(ctx, true)
	require.NoError(t, err)
	assert.Contains(t, note, "live, broken with --force-unlock")

	<-aCtx.Done() // a's next renewal finds bob's name on the lease
	assert.ErrorIs(t, context.Cause(aCtx), lock.ErrLost)
	assert.ErrorIs(t, a.Lost(), lock.ErrLost)
	a.Release(ctx)
	lease, err := cs.CoordinationV1().Leases(ns).Get(ctx, lock.Name("rel"), metav1.GetOptions{})
	require.NoError(t, err, "alice's release left bob's lease alone")
	assert.Equal(t, b.Holder, ptr.Deref(lease.Spec.HolderIdentity, ""))

	b.Release(ctx)
	_, err = cs.CoordinationV1().Leases(ns).Get(ctx, lock.Name("rel"), metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "bob's release deletes his lease: %v", err)
}

// A lease deleted under its holder (an operator's kubectl delete) is noticed too.
func TestDeletedLeaseIsNoticed(t *testing.T) {
	testenv.Require(t, testenv.Kubernetes)
	cs := testenv.Clientset(t)
	ns := testenv.Namespace(t, nil)
	ctx := context.Background()
	a := lock.New(cs, ns, "rel", "alice", "install", 3*time.Second)
	aCtx, _, err := a.Acquire(ctx, false)
	require.NoError(t, err)
	defer a.Release(ctx)
	require.NoError(t, cs.CoordinationV1().Leases(ns).Delete(ctx, lock.Name("rel"), metav1.DeleteOptions{}))
	<-aCtx.Done()
	assert.ErrorIs(t, context.Cause(aCtx), lock.ErrLost)
	assert.Contains(t, context.Cause(aCtx).Error(), "the Lease was deleted")
}
