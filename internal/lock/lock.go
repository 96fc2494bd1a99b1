// Package lock is the namespace lock: a Lease that one install, upgrade, rollback, uninstall (or
// any other command that changes the platform) holds at a time.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Lock is a Lease in the release namespace. The holder renews it; a holder that died (SIGKILL)
// stops renewing, and after TTL the lease is stale and the next run takes it over.
type Lock struct {
	kube     kubernetes.Interface
	ns, name string
	user     string
	host     string
	// Holder is unique to this process: two runs by the same user on the same host (or two
	// goroutines' locks in one test binary) never mistake each other's lease for their own.
	Holder    string
	Operation string
	TTL       time.Duration

	stop chan struct{}
	done chan struct{}
	// lost is closed when renewing failed for long enough that the lease may have expired.
	lost     chan struct{}
	lostOnce sync.Once
	lostErr  error
}

// ErrLocked is returned (wrapped) when another run holds the lock.
var ErrLocked = errors.New("locked")

// ErrLost is the cause of a context cancelled because this process lost the lock.
var ErrLost = errors.New("lost the install lock")

const (
	annOperation = "resimate.io/operation"
	annUser      = "resimate.io/user"
	annHost      = "resimate.io/host"
)

// Name is the Lease's name for a release.
func Name(release string) string { return release + "-lock" }

// New prepares the lock of release in ns for operation, held by user on this host.
func New(kube kubernetes.Interface, ns, release, user, operation string, ttl time.Duration) *Lock {
	host, _ := os.Hostname()
	return &Lock{kube: kube, ns: ns, name: Name(release), user: user, host: host,
		Holder: fmt.Sprintf("%s@%s/%d/%s", user, host, os.Getpid(), randomID()), Operation: operation, TTL: ttl}
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (l *Lock) lease(now time.Time) *coordinationv1.Lease {
	secs := int32(l.TTL.Seconds())
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: l.ns, Annotations: map[string]string{
			annOperation: l.Operation, annUser: l.user, annHost: l.host,
		}, Labels: map[string]string{"app.kubernetes.io/part-of": "resimate", "app.kubernetes.io/managed-by": "resimatectl"}},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(l.Holder),
			LeaseDurationSeconds: ptr.To(secs),
			AcquireTime:          &metav1.MicroTime{Time: now},
			RenewTime:            &metav1.MicroTime{Time: now},
		},
	}
}

// Acquire takes the lock. A live lock held by another run fails with ErrLocked and a message
// naming who holds it since when; force breaks it anyway. It returns a note when it took over a
// stale lock. The returned context is ctx, cancelled with ErrLost as its cause when renewing
// fails for so long that another run could take the lock over: work under the lock uses it.
func (l *Lock) Acquire(ctx context.Context, force bool) (context.Context, string, error) {
	now := time.Now()
	leases := l.kube.CoordinationV1().Leases(l.ns)
	_, err := leases.Create(ctx, l.lease(now), metav1.CreateOptions{})
	if err == nil {
		return l.startRenewing(ctx), "", nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, "", fmt.Errorf("taking the install lock (Lease %s/%s): %w", l.ns, l.name, err)
	}
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Its holder released it in between: the lock is free, or another run just took it.
		return nil, "", fmt.Errorf("%w: the lock changed hands at this moment; try again", ErrLocked)
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the install lock: %w", err)
	}
	since := "an unknown time"
	if cur.Spec.AcquireTime != nil {
		since = cur.Spec.AcquireTime.UTC().Format(time.RFC3339)
	}
	op := orUnknown(cur.Annotations[annOperation])
	who := fmt.Sprintf("%s %s by %s on %s", article(op), op, orUnknown(cur.Annotations[annUser]), orUnknown(cur.Annotations[annHost]))
	stale := isStale(cur, now)
	if !stale && !force {
		return nil, "", fmt.Errorf("%w: %s has held the lock since %s; wait for it, or break a lock you know is dead with --force-unlock", ErrLocked, who, since)
	}
	// Replace it, guarded by its resourceVersion so two runs cannot both take it over.
	next := l.lease(now)
	next.ResourceVersion = cur.ResourceVersion
	if _, err := leases.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return nil, "", fmt.Errorf("%w: another run took the lock at the same moment", ErrLocked)
		}
		return nil, "", fmt.Errorf("taking over the install lock: %w", err)
	}
	reason := "stale"
	if !stale {
		reason = "live, broken with --force-unlock"
	}
	return l.startRenewing(ctx), fmt.Sprintf("took over the lock (%s) of %s since %s", reason, who, since), nil
}

func isStale(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return now.After(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// startRenewing keeps the lease fresh until Release, and cancels the returned context once the
// lease has gone unrenewed for two thirds of its TTL or was taken by someone else.
func (l *Lock) startRenewing(parent context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(parent)
	l.stop, l.done, l.lost = make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		tick := time.NewTicker(l.TTL / 3)
		defer tick.Stop()
		lastRenewed := time.Now()
		for {
			select {
			case <-l.stop:
				cancel(nil)
				return
			case <-tick.C:
			}
			err := l.renew()
			switch {
			case err == nil:
				lastRenewed = time.Now()
			case errors.Is(err, ErrLost) || time.Since(lastRenewed) > 2*l.TTL/3:
				l.lostOnce.Do(func() {
					l.lostErr = fmt.Errorf("%w (Lease %s/%s): %v; stopped before another run could take it over", ErrLost, l.ns, l.name, err)
					close(l.lost)
				})
				cancel(l.lostErr)
				<-l.stop
				return
			}
		}
	}()
	return ctx
}

// renew moves the lease's renew time on, if this process still holds it.
func (l *Lock) renew() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.TTL/3)
	defer cancel()
	leases := l.kube.CoordinationV1().Leases(l.ns)
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: the Lease was deleted", ErrLost)
		}
		return err
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != l.Holder {
		return fmt.Errorf("%w: now held by %s", ErrLost, ptr.Deref(cur.Spec.HolderIdentity, "nobody"))
	}
	cur.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	_, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// Lost returns the reason this process lost the lock, or nil while it holds it.
func (l *Lock) Lost() error {
	select {
	case <-l.lost:
		return l.lostErr
	default:
		return nil
	}
}

// Release stops renewing and deletes the lease, only if this process still holds it: a run
// whose lock was taken over must not free the lock of the run that took it.
func (l *Lock) Release(ctx context.Context) {
	if l.stop == nil {
		return
	}
	close(l.stop)
	<-l.done
	l.stop = nil
	leases := l.kube.CoordinationV1().Leases(l.ns)
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if err != nil || cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != l.Holder {
		return
	}
	// The precondition makes the check and the delete one step.
	_ = leases.Delete(ctx, l.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion}})
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}
