package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRegisteredSecretNeverAppears(t *testing.T) {
	r := &Redactor{}
	r.Register("s3cr3t-password", "", "ab") // empty and very short values are ignored
	r.Register("s3cr3t-password-long")      // a secret containing another is masked whole

	assert.Equal(t, "dsn=postgres://u:[REDACTED]@h", r.String("dsn=postgres://u:s3cr3t-password@h"))
	assert.Equal(t, "[REDACTED] and [REDACTED]", r.String("s3cr3t-password-long and s3cr3t-password"))
	assert.Equal(t, "ab stays", r.String("ab stays"))

	var buf bytes.Buffer
	n, err := fmt.Fprintf(r.Writer(&buf), "token %s\n", "s3cr3t-password")
	assert.NoError(t, err)
	assert.Equal(t, len("token s3cr3t-password\n"), n)
	assert.Equal(t, "token [REDACTED]\n", buf.String())

	base := fmt.Errorf("login with s3cr3t-password: %w", fs.ErrPermission)
	wrapped := r.Error(base)
	assert.Equal(t, "login with [REDACTED]: permission denied", wrapped.Error())
	assert.True(t, errors.Is(wrapped, fs.ErrPermission))
	assert.Nil(t, r.Error(nil))
}

func TestZeroValueRedactorPassesTextThrough(t *testing.T) {
	var r Redactor
	assert.Equal(t, "plain", r.String("plain"))
}
