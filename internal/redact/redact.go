// Package redact keeps registered secret values out of everything the tool prints:
// output, logs and error messages all pass through one Redactor.
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// Mask replaces a secret wherever it would have appeared.
const Mask = "[REDACTED]"

// minLen keeps very short values (say "a" or "1") from being registered: masking them
// would shred ordinary text while protecting nothing.
const minLen = 4

// Redactor holds the secret values known so far. The zero value is ready to use;
// it is safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	secrets  map[string]struct{}
	replacer *strings.Replacer
}

// Default is the process-wide redactor that the CLI's output and log paths use.
var Default = &Redactor{}

// Register marks values as secret from now on, in every form they can take on the way out:
// as they are, JSON- and YAML-escaped, URL-escaped, and base64 (standard and URL-safe, padded
// or not). Empty and very short values are ignored.
func (r *Redactor) Register(values ...string) {
	var forms []string
	for _, v := range values {
		if len(v) >= minLen {
			forms = append(forms, encodings(v)...)
			forms = append(forms, base64Forms([]byte(v))...)
		}
	}
	r.add(forms)
}

// RegisterBytes marks binary secrets (a signing key): they can appear only encoded, so their
// base64 forms are registered, and the bytes as text when they are long enough.
func (r *Redactor) RegisterBytes(values ...[]byte) {
	var forms []string
	for _, v := range values {
		if len(v) >= minLen {
			forms = append(forms, string(v))
			forms = append(forms, base64Forms(v)...)
		}
	}
	r.add(forms)
}

// encodings are the forms a text secret takes inside JSON, YAML and URLs.
func encodings(v string) []string {
	forms := []string{v}
	if b, err := json.Marshal(v); err == nil { // escapes < > & too
		forms = append(forms, unquote(string(b)))
	}
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		forms = append(forms, unquote(strings.TrimSpace(plain.String())))
	}
	if b, err := yaml.Marshal(v); err == nil {
		forms = append(forms, unquote(strings.TrimSpace(string(b))))
	}
	if b, err := sigsyaml.Marshal(v); err == nil {
		forms = append(forms, unquote(strings.TrimSpace(string(b))))
	}
	forms = append(forms, strings.ReplaceAll(v, "'", "''"), url.QueryEscape(v), url.PathEscape(v),
		strings.TrimPrefix(url.UserPassword("u", v).String(), "u:"))
	return forms
}

// base64Forms are the four base64 alphabets and paddings of b.
func base64Forms(b []byte) []string {
	return []string{base64.StdEncoding.EncodeToString(b), base64.URLEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)}
}

// unquote drops the quotes around a JSON or YAML scalar.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func (r *Redactor) add(forms []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]struct{}{}
	}
	changed := false
	for _, f := range forms {
		if len(f) < minLen {
			continue
		}
		if _, ok := r.secrets[f]; !ok {
			r.secrets[f] = struct{}{}
			changed = true
		}
	}
	if changed {
		r.rebuild()
	}
}

// rebuild makes the replacer; longer secrets first so that a secret containing another
// is masked whole.
func (r *Redactor) rebuild() {
	list := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, Mask)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// String returns s with every registered secret masked.
func (r *Redactor) String(s string) string {
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Writer wraps w so that every write is redacted first. Each Write call is redacted on its
// own: callers write whole lines or documents, never a secret split over two writes.
func (r *Redactor) Writer(w io.Writer) io.Writer { return &writer{r: r, w: w} }

type writer struct {
	r *Redactor
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	out := w.r.String(string(p))
	if _, err := io.WriteString(w.w, out); err != nil {
		return 0, err
	}
	// Report the caller's length: the masked text may be longer or shorter.
	return len(p), nil
}

// Error wraps err so that its message is redacted, keeping errors.Is/As working.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: r.String(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RegisterURLPassword registers the password of a URL such as postgres://user:pw@host/db.
func (r *Redactor) RegisterURLPassword(raw string) {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			r.Register(pw)
		}
	}
}
