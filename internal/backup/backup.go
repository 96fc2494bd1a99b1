// Package backup writes, checks and restores backup sets of an installation: its databases
// (pg_dump from one snapshot each), Vault's Raft snapshot and its cluster state, each part
// streamed through zstd and age into a blob store, with a manifest that records every part's
// size and SHA-256. A set counts only once its completion marker is written, last.
package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

const (
	encryptionAge  = "age"
	encryptionNone = "none"
)

// Manifest says what a set holds. It carries no secret.
type Manifest struct {
	Format      int          `json:"format"`
	ID          string       `json:"id"`
	Created     time.Time    `json:"created"`
	Seconds     float64      `json:"seconds"`
	Tool        string       `json:"tool"`
	Namespace   string       `json:"namespace"`
	Release     string       `json:"release"`
	Chart       string       `json:"chart,omitempty"`
	AppVersion  string       `json:"appVersion,omitempty"`
	Encryption  string       `json:"encryption"`
	Recipients  []string     `json:"recipients,omitempty"`
	Compression string       `json:"compression"`
	Parts       []PartRecord `json:"parts"`
	// Sealed is the sealed copy of this manifest (absent without encryption).
	Sealed Object `json:"sealed"`
}

// Part returns the record of the named part.
func (m *Manifest) Part(name string) (PartRecord, bool) {
	i := slices.IndexFunc(m.Parts, func(p PartRecord) bool { return p.Name == name })
	if i < 0 {
		return PartRecord{}, false
	}
	return m.Parts[i], true
}

// Size is the stored size of every part.
func (m *Manifest) Size() int64 {
	var n int64
	for _, p := range m.Parts {
		n += p.Size
	}
	return n
}

// PartRecord is one part as written.
type PartRecord struct {
	Name string `json:"name"`
	Object
	Facts
	Seconds float64 `json:"seconds"`
}

// Facts are what a part's dump reports about its source.
type Facts struct {
	Server string              `json:"server,omitempty"`
	Tables map[string]TableSum `json:"tables,omitempty"`
}

// Part is one thing a set can hold, as data: how to dump it, whether its restore target is
// empty, and how to put it back.
type Part struct {
	Name string
	// Target names where a restore writes, for the plan.
	Target  string
	Dump    func(ctx context.Context, w io.Writer) (Facts, error)
	IsEmpty func(ctx context.Context) (bool, error)
	Restore func(ctx context.Context, r io.Reader, rec PartRecord) error
}

// DatabasePart is a database dumped by pg_dump and restored by pg_restore.
func DatabasePart(name string, d Database) Part {
	target := fmt.Sprintf("database %s on %s:%d", d.Name, d.Host, d.Port)
	if d.Via != "" {
		target = fmt.Sprintf("database %s through %s", d.Name, d.Via)
	}
	return Part{
		Name:    name,
		Target:  target,
		Dump:    d.Dump,
		IsEmpty: d.IsEmpty,
		Restore: func(ctx context.Context, r io.Reader, rec PartRecord) error { return d.Restore(ctx, r, rec.Tables) },
	}
}

// ClusterPart is the release's cluster state: restored into a namespace where it is not yet
// installed, before the install that the values file it writes is for.
func ClusterPart(c Cluster) Part {
	return Part{
		Name:    "cluster",
		Target:  fmt.Sprintf("release %s's Secrets in namespace %s, and its values into %s", c.Release, c.Namespace, c.ValuesFile),
		Dump:    c.Dump,
		IsEmpty: c.IsEmpty,
		Restore: c.Restore,
	}
}

// VaultPart is Vault's Raft snapshot. Its target is never empty: a Vault always has a state,
// which the restore replaces.
func VaultPart(v Vault, force bool) Part {
	return Part{
		Name:    "vault",
		Target:  "Vault at " + v.Client.Address(),
		Dump:    v.Dump,
		IsEmpty: func(context.Context) (bool, error) { return false, nil },
		Restore: func(ctx context.Context, r io.Reader, _ PartRecord) error { return v.Restore(ctx, r, force) },
	}
}

// CreateOptions are what a set is made of.
type CreateOptions struct {
	Parts   []Part
	Sealing Sealing
	// About fills the manifest's tool, namespace, release and chart fields.
	About    Manifest
	Progress func(format string, args ...any)
}

// Create dumps every part into a new set, in parallel, and completes the set. On failure what
// was written is removed; a set whose removal could not finish (the process killed) has no
// completion marker and is listed as incomplete.
func Create(ctx context.Context, s *Store, o CreateOptions) (*Manifest, error) {
	start := time.Now()
	m := o.About
	m.Format, m.ID, m.Created, m.Compression = 1, NewID(start), start.UTC(), "zstd"
	m.Encryption, m.Recipients = encryptionAge, o.Sealing.Names
	if o.Sealing.Plain() {
		m.Encryption, m.Recipients = encryptionNone, nil
	}
	m.Parts = make([]PartRecord, len(o.Parts))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range o.Parts {
		g.Go(func() error {
			began := time.Now()
			var facts Facts
			obj, err := put(gctx, s.Bucket, m.ID+"/parts/"+p.Name, o.Sealing, func(w io.Writer) error {
				var err error
				facts, err = p.Dump(gctx, w)
				return err
			})
			if err != nil {
				return fmt.Errorf("part %s: %w", p.Name, err)
			}
			mu.Lock()
			m.Parts[i] = PartRecord{Name: p.Name, Object: obj, Facts: facts, Seconds: time.Since(began).Seconds()}
			mu.Unlock()
			o.progress("%s: %s in %.1fs", p.Name, HumanBytes(obj.Size), time.Since(began).Seconds())
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		m.Seconds = time.Since(start).Seconds()
		err = complete(ctx, s, &m, o.Sealing)
	}
	if err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := s.Delete(cleanup, m.ID); derr != nil {
			err = fmt.Errorf("%w (and removing the unfinished set %s failed: %v; it is listed as incomplete)", err, m.ID, derr)
		}
		return nil, err
	}
	return &m, nil
}

func (o CreateOptions) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(format, args...)
	}
}

// complete writes the sealed manifest, the manifest, and last the marker with its SHA-256.
func complete(ctx context.Context, s *Store, m *Manifest, sealing Sealing) error {
	if !sealing.Plain() {
		inner, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return err
		}
		m.Sealed, err = put(ctx, s.Bucket, m.ID+"/"+sealedKey, sealing, func(w io.Writer) error {
			_, err := w.Write(inner)
			return err
		})
		if err != nil {
			return err
		}
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := s.Bucket.WriteAll(ctx, m.ID+"/"+manifestKey, raw, nil); err != nil {
		return storeError("writing", m.ID+"/"+manifestKey, err)
	}
	if err := s.Bucket.WriteAll(ctx, m.ID+"/"+completeKey, []byte(sha256Hex(raw)+"\n"), nil); err != nil {
		return storeError("writing", m.ID+"/"+completeKey, err)
	}
	return nil
}

// Verify decrypts every part of a set and checks it against the manifest, which is checked
// against its sealed copy.
func Verify(ctx context.Context, s *Store, id string, k Keys, progress func(string, ...any)) (*Manifest, error) {
	return verify(ctx, s, id, k, nil, progress)
}

// Scratch makes an empty database to restore a part into, and drops it.
type Scratch func(ctx context.Context) (Database, func(), error)

// VerifyDeep verifies the set as Verify does, except that each database part, on its one pass
// through decryption, is restored into a scratch database whose tables' row counts and
// checksums must equal those recorded in the backup's snapshot.
func VerifyDeep(ctx context.Context, s *Store, id string, k Keys, scratch Scratch, progress func(string, ...any)) (*Manifest, error) {
	return verify(ctx, s, id, k, scratch, progress)
}

func verify(ctx context.Context, s *Store, id string, k Keys, scratch Scratch, progress func(string, ...any)) (*Manifest, error) {
	m, err := s.sealedManifest(ctx, id, k)
	if err != nil {
		return nil, err
	}
	say := func(format string, args ...any) {
		if progress != nil {
			progress(format, args...)
		}
	}
	for _, p := range m.Parts {
		if scratch == nil || p.Tables == nil {
			if err := get(ctx, s.Bucket, p.Object, k, m.Encryption == encryptionNone, drain); err != nil {
				return m, err
			}
			say("%s: %s, SHA-256 %s: intact", p.Name, HumanBytes(p.Size), p.SHA256[:16])
			continue
		}
		db, drop, err := scratch(ctx)
		if err != nil {
			return m, err
		}
		var restoreErr error
		err = get(ctx, s.Bucket, p.Object, k, m.Encryption == encryptionNone, func(r io.Reader) error {
			restoreErr = db.Restore(ctx, r, p.Tables)
			return restoreErr
		})
		drop()
		if restoreErr != nil && err == restoreErr {
			return m, &IntegrityError{What: p.Key, Err: fmt.Errorf("restored into a scratch database: %w", err)}
		}
		if err != nil {
			return m, err
		}
		say("%s: %s, SHA-256 %s: intact", p.Name, HumanBytes(p.Size), p.SHA256[:16])
		say("%s: restored into a scratch database, %d tables match their checksums", p.Name, len(p.Tables))
	}
	return m, nil
}

func drain(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// ErrNotEmpty is a restore target that holds data, without leave to replace it.
var ErrNotEmpty = errors.New("the target is not empty")

// RestoreOptions say which parts to restore, from which keys.
type RestoreOptions struct {
	Parts     []Part
	Keys      Keys
	Overwrite bool
	Progress  func(format string, args ...any)
}

// Restore checks the whole set first (the manifest against its sealed copy, every chosen part's
// stored bytes against their SHA-256), refuses non-empty targets unless told to replace them,
// and only then restores each part, decrypting it on the way.
// A database part is restored in one transaction, so a failure leaves it as it was.
func Restore(ctx context.Context, s *Store, id string, o RestoreOptions) (*Manifest, error) {
	m, err := s.sealedManifest(ctx, id, o.Keys)
	if err != nil {
		return nil, err
	}
	plain := m.Encryption == encryptionNone
	for _, p := range o.Parts {
		rec, ok := m.Part(p.Name)
		if !ok {
			return m, fmt.Errorf("set %s has no part %s", id, p.Name)
		}
		if err := checkStored(ctx, s.Bucket, rec.Object); err != nil {
			return m, err
		}
		empty, err := p.IsEmpty(ctx)
		if err != nil {
			return m, fmt.Errorf("part %s: %w", p.Name, err)
		}
		if !empty && !o.Overwrite {
			return m, fmt.Errorf("part %s: %s: %w (--overwrite replaces it); nothing was restored", p.Name, p.Target, ErrNotEmpty)
		}
	}
	for _, p := range o.Parts {
		rec, _ := m.Part(p.Name)
		began := time.Now()
		err := get(ctx, s.Bucket, rec.Object, o.Keys, plain, func(r io.Reader) error { return p.Restore(ctx, r, rec) })
		if err != nil {
			return m, fmt.Errorf("restoring part %s: %w", p.Name, err)
		}
		if o.Progress != nil {
			o.Progress("%s: restored into %s in %.1fs", p.Name, p.Target, time.Since(began).Seconds())
		}
	}
	return m, nil
}
