package version

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestVersionFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var got *Options
	require.NoError(t, cmdtest.Run(f, NewCmdVersion(f, func(o *Options) error { got = o; return nil }), "-o json"))
	assert.Equal(t, "json", got.Output)
}
