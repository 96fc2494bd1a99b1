package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	// The stores a backup can go to, each registered under its URL scheme.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)

// A set is a folder of objects named by its ID:
//
//	<id>/parts/<part>     each part, zstd-compressed then age-encrypted
//	<id>/manifest.json    what the set holds (no secret: list and describe read it)
//	<id>/manifest.sealed  the same manifest, sealed: verify compares the two
//	<id>/complete         written last, with the manifest's SHA-256
const (
	manifestKey = "manifest.json"
	sealedKey   = "manifest.sealed"
	completeKey = "complete"
)

// Store is where backup sets are kept.
type Store struct {
	Bucket *blob.Bucket
	// Where is the store's URL, for messages.
	Where string
}

// Open opens a store URL: file://, s3://, gs:// or azblob:// as gocloud.dev/blob reads them
// (credentials from each cloud's usual environment), or a plain folder path.
func Open(ctx context.Context, where string) (*Store, error) {
	u := where
	if !strings.Contains(where, "://") {
		abs, err := filepath.Abs(where)
		if err != nil {
			return nil, err
		}
		u = (&url.URL{Scheme: "file", Path: abs, RawQuery: "create_dir=1&metadata=skip&no_tmp_dir=1&dir_file_mode=0700"}).String()
	}
	b, err := blob.OpenBucket(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("opening the backup store %s: %w", where, err)
	}
	return &Store{Bucket: b, Where: where}, nil
}

// Close releases the store's clients.
func (s *Store) Close() error { return s.Bucket.Close() }

// NewID names a set by its time, so that sets sort by age, and a random suffix.
func NewID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func validID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
		return fmt.Errorf("%q is not a backup set ID", id)
	}
	return nil
}

// Entry is one set in the store; Manifest is nil when it cannot be read.
type Entry struct {
	ID       string `json:"id"`
	Complete bool   `json:"complete"`
	// Incomplete is a set whose backup never finished (no completion marker).
	Incomplete bool      `json:"incomplete,omitempty"`
	Manifest   *Manifest `json:"manifest,omitempty"`
	Problem    string    `json:"problem,omitempty"`
}

// List returns every set, oldest first, with its manifest. A set without its completion marker
// is listed as incomplete: an interrupted backup, never to be restored.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	it := s.Bucket.List(&blob.ListOptions{Delimiter: "/"})
	out := []Entry{} // an empty store lists as [], not null
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", s.Where, err)
		}
		if !obj.IsDir {
			continue
		}
		e := Entry{ID: strings.TrimSuffix(obj.Key, "/")}
		e.Manifest, err = s.manifest(ctx, e.ID)
		switch {
		case err == nil:
			e.Complete = true
		case errors.Is(err, errIncomplete):
			e.Incomplete = true
			e.Problem = "incomplete: the backup that wrote it did not finish"
		default:
			e.Problem = err.Error()
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

var errIncomplete = errors.New("incomplete")

// manifest reads a complete set's manifest, checked against the SHA-256 its marker holds.
func (s *Store) manifest(ctx context.Context, id string) (*Manifest, error) {
	marker, err := s.Bucket.ReadAll(ctx, id+"/"+completeKey)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return nil, storeError("reading", id+"/"+completeKey, err)
	}
	if err != nil {
		if s.exists(ctx, id) {
			return nil, fmt.Errorf("set %s is %w: the backup that wrote it did not finish", id, errIncomplete)
		}
		return nil, fmt.Errorf("backup set %s: %w in %s", id, ErrNotFound, s.Where)
	}
	raw, err := s.Bucket.ReadAll(ctx, id+"/"+manifestKey)
	if err != nil {
		return nil, readError(id+"/"+manifestKey, err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != strings.TrimSpace(string(marker)) {
		return nil, &IntegrityError{What: id + "/" + manifestKey, Err: errors.New("its SHA-256 is not the one recorded when the set was completed")}
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &IntegrityError{What: id + "/" + manifestKey, Err: err}
	}
	if m.ID != id {
		return nil, &IntegrityError{What: id + "/" + manifestKey, Err: fmt.Errorf("it describes set %s", m.ID)}
	}
	return &m, nil
}

func (s *Store) exists(ctx context.Context, id string) bool {
	it := s.Bucket.List(&blob.ListOptions{Prefix: id + "/"})
	_, err := it.Next(ctx)
	return err == nil
}

// Manifest reads a complete set's manifest without decrypting anything (describe).
func (s *Store) Manifest(ctx context.Context, id string) (*Manifest, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	return s.manifest(ctx, id)
}

// sealedManifest reads the manifest and checks it against its sealed copy: a byte changed in
// either is found.
func (s *Store) sealedManifest(ctx context.Context, id string, k Keys) (*Manifest, error) {
	m, err := s.Manifest(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Encryption == encryptionNone {
		return m, nil
	}
	raw, err := s.Bucket.ReadAll(ctx, id+"/"+manifestKey)
	if err != nil {
		return nil, storeError("reading", id+"/"+manifestKey, err)
	}
	var sealed bytes.Buffer
	err = get(ctx, s.Bucket, m.Sealed, k, false, func(r io.Reader) error {
		_, err := io.Copy(&sealed, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	var inside Manifest
	if err := json.Unmarshal(sealed.Bytes(), &inside); err != nil {
		return nil, &IntegrityError{What: m.Sealed.Key, Err: err}
	}
	// The sealed copy cannot name itself; everything else must match.
	inside.Sealed = m.Sealed
	again, _ := json.MarshalIndent(&inside, "", "  ")
	if !bytes.Equal(again, raw) {
		return nil, &IntegrityError{What: id + "/" + manifestKey, Err: errors.New("it differs from the sealed copy written with it")}
	}
	return m, nil
}

// Delete removes a set: its marker first, so that a set half deleted never looks complete.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	if err := s.Bucket.Delete(ctx, id+"/"+completeKey); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("deleting %s: %w", id, err)
	}
	it := s.Bucket.List(&blob.ListOptions{Prefix: id + "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Bucket.Delete(ctx, obj.Key); err != nil {
			return fmt.Errorf("deleting %s: %w", obj.Key, err)
		}
	}
}
