package render

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

func TestRenderFlags(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	var got *Options
	runF := func(_ context.Context, o *Options) error { got = o; return nil }
	require.NoError(t, cmdtest.Run(f, NewCmdRender(f, runF), "--profile gcp -n acme --release r1 --kube-version v1.36.0 --output-dir out --set-string a=b"))
	assert.Equal(t, "gcp", got.Chart.Profile)
	assert.Equal(t, "acme", got.Chart.Namespace)
	assert.Equal(t, "r1", got.Chart.ReleaseName)
	assert.Equal(t, "v1.36.0", got.Chart.KubeVersion)
	assert.Equal(t, "out", got.OutputDir)
	assert.Equal(t, []string{"a=b"}, got.Chart.SetString)

	got = nil
	assert.Error(t, cmdtest.Run(f, NewCmdRender(f, runF), "--profile gcp --release UPPER"))
	assert.Nil(t, got)
}
