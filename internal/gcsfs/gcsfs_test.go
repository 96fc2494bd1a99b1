package gcsfs

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
)

// fakeGCS serves the two calls FS makes: object listing (JSON API) and media download. No
// Cloud Storage server can run here: this is the one fake.
func fakeGCS(t *testing.T, bucket string, objects map[string]string) *storage.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if strings.HasPrefix(p, "/storage/v1/b/"+bucket+"/o") && r.URL.Query().Get("alt") != "media" && !strings.Contains(strings.TrimPrefix(p, "/storage/v1/b/"+bucket+"/o"), "/") {
			prefix, delim := r.URL.Query().Get("prefix"), r.URL.Query().Get("delimiter")
			var items []map[string]any
			prefixes := map[string]bool{}
			for name, data := range objects {
				rest, ok := strings.CutPrefix(name, prefix)
				if !ok {
					continue
				}
				if i := strings.Index(rest, delim); delim != "" && i >= 0 {
					prefixes[prefix+rest[:i+1]] = true
					continue
				}
				items = append(items, map[string]any{"name": name, "bucket": bucket, "size": itoa(len(data))})
			}
			var ps []string
			for p := range prefixes {
				ps = append(ps, p)
			}
			sort.Strings(ps)
			_ = json.NewEncoder(w).Encode(map[string]any{"kind": "storage#objects", "items": items, "prefixes": ps})
			return
		}
		// Media: /bucket/object (XML API) or /download/storage/v1/b/bucket/o/object?alt=media.
		name := strings.TrimPrefix(p, "/"+bucket+"/")
		if i := strings.Index(p, "/b/"+bucket+"/o/"); i >= 0 {
			name = p[i+len("/b/"+bucket+"/o/"):]
		}
		name, _ = url.PathUnescape(name)
		data, ok := objects[name]
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", itoa(len(data)))
		_, _ = w.Write([]byte(data))
	}))
	t.Cleanup(srv.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL, "http://"))
	client, err := storage.NewClient(context.Background(), option.WithoutAuthentication())
	require.NoError(t, err)
	return client
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestBucketFolderReadsLikeALocalFolder(t *testing.T) {
	objects := map[string]string{
		"exports/2026/x.overall_export_metadata":    "meta",
		"exports/2026/all_namespaces/kind/output-0": "records",
		"exports/2026/all_namespaces/kind/output-1": "more",
		"exports/other/file":                        "not ours",
	}
	client := fakeGCS(t, "backups", objects)
	fsys, err := New(context.Background(), client, "gs://backups/exports/2026/")
	require.NoError(t, err)

	data, err := fs.ReadFile(fsys, "all_namespaces/kind/output-1")
	require.NoError(t, err)
	assert.Equal(t, "more", string(data))
	matches, err := fs.Glob(fsys, "*.overall_export_metadata")
	require.NoError(t, err)
	assert.Equal(t, []string{"x.overall_export_metadata"}, matches)
	_, err = fsys.Open("missing")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	entries, err := fs.ReadDir(fsys, "all_namespaces/kind")
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, "output-0", entries[0].Name())
	top, err := fs.ReadDir(fsys, ".")
	require.NoError(t, err)
	require.Len(t, top, 2)
	assert.True(t, top[0].IsDir() != top[1].IsDir(), "a folder and a file")
}

func TestParseURL(t *testing.T) {
	b, f, err := ParseURL("gs://bucket/a/b/")
	require.NoError(t, err)
	assert.Equal(t, []string{"bucket", "a/b"}, []string{b, f})
	_, _, err = ParseURL("s3://bucket")
	assert.EqualError(t, err, `"s3://bucket" is not a gs:// URL`)
	_, _, err = ParseURL("gs:///x")
	assert.EqualError(t, err, `"gs:///x" names no bucket`)
}
