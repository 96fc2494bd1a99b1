package testenv

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRequireNeverSkipsUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	assert.False(t, skipUnderShort(), "CI=true: integration tests run, -short or not")
	t.Setenv("CI", "")
	assert.Equal(t, testing.Short(), skipUnderShort())
}
