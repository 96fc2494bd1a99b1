package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Lock is a Lease in the release namespace that one install, upgrade, rollback or uninstall
// holds at a time. The holder renews it; a holder that died (SIGKILL) stops renewing, and after
// TTL the lease is stale and the next run takes it over.
type Lock struct {
	kube      kubernetes.Interface
	ns, name  string
	Holder    string // "user on host"
	Operation string
	TTL       time.Duration
	stop      chan struct{}
	done      chan struct{}
}

// ErrLocked is returned (wrapped) when another run holds the lock.
var ErrLocked = errors.New("locked")

const (
	annOperation = "resimate.io/operation"
	annUser      = "resimate.io/user"
	annHost      = "resimate.io/host"
)

// NewLock prepares the lock of release in ns.
func NewLock(kube kubernetes.Interface, ns, release, user, host, operation string, ttl time.Duration) *Lock {
	return &Lock{kube: kube, ns: ns, name: release + "-lock", Holder: user + "@" + host, Operation: operation, TTL: ttl}
}

func (l *Lock) lease(now time.Time, user, host string) *coordinationv1.Lease {
	secs := int32(l.TTL.Seconds())
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: l.ns, Annotations: map[string]string{
			annOperation: l.Operation, annUser: user, annHost: host,
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
// stale lock.
func (l *Lock) Acquire(ctx context.Context, user, host string, force bool) (string, error) {
	now := time.Now()
	leases := l.kube.CoordinationV1().Leases(l.ns)
	_, err := leases.Create(ctx, l.lease(now, user, host), metav1.CreateOptions{})
	if err == nil {
		l.startRenewing(user, host)
		return "", nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("taking the install lock (Lease %s/%s): %w", l.ns, l.name, err)
	}
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading the install lock: %w", err)
	}
	since := "an unknown time"
	if cur.Spec.AcquireTime != nil {
		since = cur.Spec.AcquireTime.UTC().Format(time.RFC3339)
	}
	who := fmt.Sprintf("%s %s by %s on %s", article(cur.Annotations[annOperation]), orUnknown(cur.Annotations[annOperation]), orUnknown(cur.Annotations[annUser]), orUnknown(cur.Annotations[annHost]))
	stale := isStale(cur, now)
	if !stale && !force {
		return "", fmt.Errorf("%w: %s has held the lock since %s; wait for it, or break a lock you know is dead with --force-unlock", ErrLocked, who, since)
	}
	// Replace it, guarded by its resourceVersion so two runs cannot both take it over.
	next := l.lease(now, user, host)
	next.ResourceVersion = cur.ResourceVersion
	if _, err := leases.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return "", fmt.Errorf("%w: another run took the lock at the same moment", ErrLocked)
		}
		return "", fmt.Errorf("taking over the install lock: %w", err)
	}
	l.startRenewing(user, host)
	reason := "stale"
	if !stale {
		reason = "live, broken with --force-unlock"
	}
	return fmt.Sprintf("took over the lock (%s) of %s since %s", reason, who, since), nil
}

func isStale(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return now.After(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// startRenewing keeps the lease fresh until Release.
func (l *Lock) startRenewing(user, host string) {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		tick := time.NewTicker(l.TTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
				ctx, cancel := context.WithTimeout(context.Background(), l.TTL/3)
				cur, err := l.kube.CoordinationV1().Leases(l.ns).Get(ctx, l.name, metav1.GetOptions{})
				if err == nil && cur.Spec.HolderIdentity != nil && *cur.Spec.HolderIdentity == l.Holder {
					cur.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
					_, _ = l.kube.CoordinationV1().Leases(l.ns).Update(ctx, cur, metav1.UpdateOptions{})
				}
				cancel()
			}
		}
	}()
}

// Release stops renewing and deletes the lease.
func (l *Lock) Release(ctx context.Context) {
	if l.stop == nil {
		return
	}
	close(l.stop)
	<-l.done
	l.stop = nil
	_ = l.kube.CoordinationV1().Leases(l.ns).Delete(ctx, l.name, metav1.DeleteOptions{})
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
