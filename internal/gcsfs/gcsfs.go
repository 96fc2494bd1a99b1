// Package gcsfs shows a Cloud Storage prefix (gs://bucket/folder) as a read-only io/fs.FS, so
// code that reads a local folder reads a bucket the same way.
package gcsfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// FS is the objects under one prefix of a bucket.
type FS struct {
	ctx    context.Context
	bucket *storage.BucketHandle
	prefix string // "" or "folder/"
}

// ParseURL splits gs://bucket/folder into bucket and folder.
func ParseURL(url string) (bucket, folder string, err error) {
	rest, ok := strings.CutPrefix(url, "gs://")
	if !ok {
		return "", "", fmt.Errorf("%q is not a gs:// URL", url)
	}
	bucket, folder, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", url)
	}
	return bucket, strings.Trim(folder, "/"), nil
}

// New returns the objects under url (gs://bucket/folder).
func New(ctx context.Context, client *storage.Client, url string) (*FS, error) {
	bucket, folder, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	if folder != "" {
		folder += "/"
	}
	return &FS{ctx: ctx, bucket: client.Bucket(bucket), prefix: folder}, nil
}

func (f *FS) object(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return strings.TrimSuffix(f.prefix, "/"), nil
	}
	return f.prefix + name, nil
}

// Open opens an object for reading.
func (f *FS) Open(name string) (fs.File, error) {
	obj, err := f.object("open", name)
	if err != nil {
		return nil, err
	}
	r, err := f.bucket.Object(obj).NewReader(f.ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &file{r: r, info: info{name: path.Base(name), size: r.Attrs.Size, mod: r.Attrs.LastModified}}, nil
}

// ReadDir lists the objects and "folders" directly under name, sorted by name as fs.ReadDirFS
// requires (a listing page gives objects and folders apart).
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	obj, err := f.object("readdir", name)
	if err != nil {
		return nil, err
	}
	prefix := obj
	if prefix != "" {
		prefix += "/"
	}
	it := f.bucket.Objects(f.ctx, &storage.Query{Prefix: prefix, Delimiter: "/"})
	var out []fs.DirEntry
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
			return out, nil
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
		if a.Prefix != "" {
			out = append(out, fs.FileInfoToDirEntry(info{name: path.Base(a.Prefix), dir: true}))
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(info{name: path.Base(a.Name), size: a.Size, mod: a.Updated}))
	}
}

type file struct {
	r    *storage.Reader
	info info
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *file) Close() error               { return f.r.Close() }

var _ io.Reader = (*file)(nil)

type info struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) ModTime() time.Time { return i.mod }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }
func (i info) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
