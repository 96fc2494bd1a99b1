package backup

import (
	"context"
	"time"
)

// Expired chooses what prune removes: complete sets created before now-retention, except the
// newest complete set, which is always kept (a retention set too short never leaves no backup);
// and incomplete sets begun before now-stale, which no running backup can still be writing.
func Expired(sets []Entry, now time.Time, retention, stale time.Duration) []Entry {
	newest := ""
	for _, e := range sets {
		if e.Complete && e.ID > newest {
			newest = e.ID
		}
	}
	var out []Entry
	for _, e := range sets {
		switch {
		case e.Complete && e.ID != newest && e.Manifest.Created.Before(now.Add(-retention)):
			out = append(out, e)
		case e.Incomplete && begun(e.ID).Before(now.Add(-stale)):
			out = append(out, e)
		}
	}
	return out
}

// begun reads the time a set's ID starts with; an ID not made by NewID is never stale.
func begun(id string) time.Time {
	if len(id) < 16 {
		return time.Now()
	}
	t, err := time.Parse("20060102T150405Z", id[:16])
	if err != nil {
		return time.Now()
	}
	return t
}

// Prune removes the sets Expired chooses, and returns them.
func Prune(ctx context.Context, s *Store, now time.Time, retention, stale time.Duration) ([]Entry, error) {
	sets, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	expired := Expired(sets, now, retention, stale)
	for i, e := range expired {
		if err := s.Delete(ctx, e.ID); err != nil {
			return expired[:i], err
		}
	}
	return expired, nil
}
