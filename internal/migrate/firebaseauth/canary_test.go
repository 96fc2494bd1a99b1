package firebaseauth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
)

func TestCanaryLongerThanKratosAcceptsIsRefused(t *testing.T) {
	c, err := fa.ParseCanary("a@example.com:" + strings.Repeat("p", 72))
	require.NoError(t, err)
	assert.Len(t, c.Password, 72)

	// Kratos counts bytes (bcrypt's limit): 37 "ü" are 74 bytes.
	long := strings.Repeat("ü", 37)
	_, err = fa.ParseCanary("a@example.com:" + long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is 74 bytes long: Kratos refuses passwords longer than 72 bytes at sign-in")
	assert.NotContains(t, err.Error(), long)

	_, err = fa.ParseCanary("no-colon")
	assert.ErrorContains(t, err, "--canary takes email:password")
}
