// Package logging builds the tool's slog logger. The JSON form uses the field names of the
// platform's log format (timestamp, service, level, operation, duration_ms, message, and
// tenant/user_id when known) so the tool's logs sit beside the services' in Loki.
package logging

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/resimate/resimatectl/internal/redact"
)

// Service is the value of the "service" field on every record.
const Service = "resimatectl"

// Keys that callers attach with logger.With or as record attributes.
const (
	KeyOperation  = "operation"
	KeyDurationMS = "duration_ms"
	KeyTenant     = "tenant"
	KeyUserID     = "user_id"
)

// Options chooses the logger's form.
type Options struct {
	Format string // "text" or "json"
	Level  string // "debug", "info", "warn", "error"
}

// ParseLevel turns a --log-level value into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("invalid log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// New returns a logger writing to w through the redactor, so that no registered secret
// reaches a log line whatever attribute carries it.
func New(w io.Writer, r *redact.Redactor, o Options) (*slog.Logger, error) {
	level, err := ParseLevel(o.Level)
	if err != nil {
		return nil, err
	}
	out := r.Writer(w)
	var h slog.Handler
	switch o.Format {
	case "json":
		h = slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level, ReplaceAttr: platformFields})
		h = h.WithAttrs([]slog.Attr{slog.String("service", Service)})
	case "text", "":
		h = slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})
	default:
		return nil, fmt.Errorf("invalid log format %q: use text or json", o.Format)
	}
	return slog.New(h), nil
}

// platformFields renames slog's built-in keys to the platform's log format.
func platformFields(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("timestamp", a.Value.Time().UTC().Format(time.RFC3339Nano))
	case slog.MessageKey:
		a.Key = "message"
	}
	return a
}

// Discard is a logger that drops everything, for library callers that pass none.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Operation logs the start of op at debug level and returns a logger whose every record names
// op, and a function that logs its end with duration_ms; pass the operation's error (nil on
// success). The end is logged at info level either way: a command's error reaches the user on
// its own line, and a second copy at the default level would only repeat it.
func Operation(ctx context.Context, l *slog.Logger, op string) (*slog.Logger, func(err error)) {
	l = l.With(KeyOperation, op)
	start := time.Now()
	l.DebugContext(ctx, "started")
	return l, func(err error) {
		d := slog.Int64(KeyDurationMS, time.Since(start).Milliseconds())
		if err != nil {
			l.LogAttrs(ctx, slog.LevelInfo, "failed", d, slog.String("error", err.Error()))
			return
		}
		l.LogAttrs(ctx, slog.LevelInfo, "finished", d)
	}
}

// AtDebug wraps a handler so that every record it gets is logged at debug level: for libraries
// (Helm, client-go) whose warnings repeat what they return as errors.
func AtDebug(h slog.Handler) slog.Handler { return debugHandler{h} }

type debugHandler struct{ slog.Handler }

// libraryFloor is the finest library record logged: klog's V(n) arrives as level -n, and
// client-go logs requests' URLs and timings at V(6), their headers at V(7) and the bodies of
// requests and responses at V(8), Secrets' data included. Nothing below V(6) is logged.
const libraryFloor = slog.Level(-6)

func (d debugHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= libraryFloor && d.Handler.Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	// Some callers (klog through logr) hand records over without asking Enabled first.
	if !d.Enabled(ctx, r.Level) {
		return nil
	}
	r.Level = slog.LevelDebug
	return d.Handler.Handle(ctx, r)
}

func (d debugHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugHandler{d.Handler.WithAttrs(attrs)}
}

func (d debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{d.Handler.WithGroup(name)}
}

// CaptureLibraries sends what libraries print through the standard log package and klog
// (Helm's "warning: cannot overwrite table", client-go's notices) to l at debug level, instead
// of straight onto stderr.
func CaptureLibraries(l *slog.Logger) {
	lib := slog.New(AtDebug(l.Handler()))
	log.SetFlags(0)
	log.SetOutput(libWriter{lib})
	klog.SetSlogLogger(lib)
}

type libWriter struct{ l *slog.Logger }

func (w libWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
