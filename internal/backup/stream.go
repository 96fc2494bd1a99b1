package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Object is what is recorded of one stored object: its stored (compressed, encrypted) bytes and
// the plaintext they hold, each with its size and SHA-256.
type Object struct {
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	PlainSize   int64  `json:"plainSize"`
	PlainSHA256 string `json:"plainSha256"`
}

// digest counts and hashes what passes through it.
type digest struct {
	h hash.Hash
	n int64
}

func newDigest() *digest { return &digest{h: sha256.New()} }

func (d *digest) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

func (d *digest) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// put streams what produce writes into the object key: compressed with zstd, then sealed, then
// uploaded in chunks. Nothing is held whole in memory or written unencrypted to disk. On any
// error the upload is aborted, so no object is left under key.
func put(ctx context.Context, b *blob.Bucket, key string, s Sealing, produce func(io.Writer) error) (Object, error) {
	ctx, abort := context.WithCancel(ctx)
	defer abort()
	w, err := b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return Object{}, storeError("writing", key, err)
	}
	stored, plain := newDigest(), newDigest()
	sink := &watchedWriter{w: io.MultiWriter(w, stored)}
	sealed, err := s.seal(sink)
	if err != nil {
		abort()
		_ = w.Close()
		return Object{}, err
	}
	z, err := zstd.NewWriter(sealed, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		abort()
		_ = w.Close()
		return Object{}, err
	}
	err = produce(io.MultiWriter(z, plain))
	if err == nil {
		err = z.Close()
	} else {
		z.Reset(io.Discard)
	}
	if err == nil {
		err = sealed.Close()
	}
	if err != nil {
		abort()
		_ = w.Close()
		if sink.err != nil {
			// The store failed first (a full disk, a lost connection); the dump then failed
			// on its closed output.
			return Object{}, storeError("writing", key, sink.err)
		}
		return Object{}, err
	}
	if err := w.Close(); err != nil {
		return Object{}, storeError("writing", key, err)
	}
	return Object{Key: key, Size: stored.n, SHA256: stored.sum(), PlainSize: plain.n, PlainSHA256: plain.sum()}, nil
}

// get streams the object's plaintext to consume, and checks every byte against want: a stored
// byte changed fails decryption (age authenticates each chunk) or the SHA-256s. consume sees
// only authenticated plaintext; an integrity failure is returned as *IntegrityError even when
// consume reports its own error about the cut-off stream.
func get(ctx context.Context, b *blob.Bucket, want Object, k Keys, plain bool, consume func(io.Reader) error) error {
	r, err := b.NewReader(ctx, want.Key, nil)
	if err != nil {
		return storeError("reading", want.Key, err)
	}
	defer r.Close()
	stored, plaintext := newDigest(), newDigest()
	raw := &watchedReader{r: r}
	opened, err := k.open(io.TeeReader(raw, stored), plain)
	if raw.err != nil {
		return readError(want.Key, raw.err)
	}
	if err != nil {
		return err
	}
	z, err := zstd.NewReader(opened, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return &IntegrityError{What: want.Key, Err: err}
	}
	defer z.Close()
	src := &watchedReader{r: io.TeeReader(z, plaintext)}
	cerr := consume(src)
	if src.err == nil && cerr == nil {
		// What consume left unread is checked too.
		_, _ = io.Copy(io.Discard, src)
	}
	if raw.err != nil {
		return readError(want.Key, raw.err)
	}
	if src.err != nil {
		return &IntegrityError{What: want.Key, Err: src.err}
	}
	if cerr != nil {
		return cerr
	}
	if err := storedMismatch(want, stored); err != nil {
		return err
	}
	if plaintext.n != want.PlainSize || plaintext.sum() != want.PlainSHA256 {
		return &IntegrityError{What: want.Key, Err: errors.New("the decrypted content is not what was written")}
	}
	return nil
}

// checkStored reads an object's stored bytes and compares them with want's size and SHA-256,
// without decrypting: with the manifest checked against its sealed copy, this proves every byte
// before a restore begins, at the cost of hashing alone.
func checkStored(ctx context.Context, b *blob.Bucket, want Object) error {
	r, err := b.NewReader(ctx, want.Key, nil)
	if err != nil {
		return storeError("reading", want.Key, err)
	}
	defer r.Close()
	stored := newDigest()
	if _, err := io.Copy(stored, r); err != nil {
		return readError(want.Key, err)
	}
	return storedMismatch(want, stored)
}

// storedMismatch compares what was read of an object with the manifest's record of it.
func storedMismatch(want Object, stored *digest) error {
	if stored.n != want.Size || stored.sum() != want.SHA256 {
		return &IntegrityError{What: want.Key, Err: fmt.Errorf("stored bytes: %d bytes with SHA-256 %s, the manifest says %d bytes with %s", stored.n, stored.sum(), want.Size, want.SHA256)}
	}
	return nil
}

// watchedReader keeps the first read error other than EOF: the stream's own failure, told apart
// from what its consumer makes of it.
type watchedReader struct {
	r   io.Reader
	err error
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && w.err == nil {
		w.err = err
	}
	return n, err
}

// readError is a failed read of stored bytes. A store that keeps its own checksum of each object
// (S3's CRC32, checked by the client while it reads) finds a changed byte before age does: that
// is an integrity failure too, not a transport error.
func readError(key string, err error) error {
	if strings.Contains(err.Error(), "checksum did not match") {
		return &IntegrityError{What: key, Err: err}
	}
	return storeError("reading", key, err)
}

// watchedWriter keeps the first write error.
type watchedWriter struct {
	w   io.Writer
	err error
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// storeError says which object a store operation failed on, and plainly when it does not exist.
func storeError(op, key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%s %s: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// ErrNotFound is an object or set that is not in the store.
var ErrNotFound = errors.New("not found")
