package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/klog/v2"

	"github.com/resimate/resimatectl/internal/redact"
)

func TestJSONLogsCarryThePlatformFieldsAndNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	r := &redact.Redactor{}
	r.Register("hunter2-cookie-secret")
	l, err := New(&buf, r, Options{Format: "json", Level: "debug"})
	require.NoError(t, err)

	op, done := Operation(context.Background(), l.With(KeyTenant, "customer-abc"), "install")
	op.Info("using secret", "value", "hunter2-cookie-secret")
	done(nil)
	done(errors.New("boom hunter2-cookie-secret"))

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 4)
	assert.NotContains(t, buf.String(), "hunter2-cookie-secret")

	var finished map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &finished))
	for _, k := range []string{"timestamp", "service", "level", "operation", "duration_ms", "message", "tenant"} {
		assert.Contains(t, finished, k)
	}
	assert.Equal(t, "resimatectl", finished["service"])
	assert.Equal(t, "install", finished["operation"])
	assert.Equal(t, "INFO", finished["level"])
	assert.Equal(t, "finished", finished["message"])
	assert.NotContains(t, finished, "msg")
	assert.NotContains(t, finished, "time")
}

func TestBadOptionsAreRejected(t *testing.T) {
	_, err := New(&bytes.Buffer{}, &redact.Redactor{}, Options{Format: "xml", Level: "info"})
	assert.ErrorContains(t, err, `invalid log format "xml"`)
	_, err = New(&bytes.Buffer{}, &redact.Redactor{}, Options{Format: "text", Level: "loud"})
	assert.ErrorContains(t, err, `invalid log level "loud"`)
}

// Library records come out at debug level, and only when debug is on, whether or not the
// library asked Enabled first.
func TestLibraryRecordsOnlyAtDebug(t *testing.T) {
	var buf bytes.Buffer
	warn, err := New(&buf, &redact.Redactor{}, Options{Format: "text", Level: "warn"})
	require.NoError(t, err)
	h := AtDebug(warn.Handler())
	require.NoError(t, h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelError, "upgrade failed", 0)))
	assert.False(t, h.Enabled(context.Background(), slog.LevelError))
	assert.Empty(t, buf.String())

	debug, err := New(&buf, &redact.Redactor{}, Options{Format: "text", Level: "debug"})
	require.NoError(t, err)
	require.NoError(t, AtDebug(debug.Handler()).Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelError, "upgrade failed", 0)))
	assert.Contains(t, buf.String(), `level=DEBUG msg="upgrade failed"`)
}

// client-go logs the bodies of requests and responses (Secrets' data among them) at klog's
// V(8) and headers at V(7): at debug, libraries' records stop at V(6).
func TestLibraryBodiesAreNeverLogged(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		l, err := New(&buf, &redact.Redactor{}, Options{Format: format, Level: "debug"})
		require.NoError(t, err)
		CaptureLibraries(l)
		// client-go logs through the contextual logger, which asks the handler, not klog's -v.
		lib := klog.Background()
		lib.V(8).Info("Response Body", "body", "00000000  6b 38 73 00 CANARY-BODY")
		lib.V(7).Info("Request Headers", "Authorization", "Bearer CANARY-TOKEN")
		lib.V(6).Info("GET https://api/v1/namespaces/x/secrets 200 OK")
		assert.NotContains(t, buf.String(), "CANARY", format)
		assert.Contains(t, buf.String(), "200 OK", format)
	}
}
