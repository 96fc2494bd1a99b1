package images

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
	"github.com/resimate/resimatectl/internal/images"
	"github.com/resimate/resimatectl/internal/testenv"
)

func TestImagesListsTheMirroredImagesAsJSON(t *testing.T) {
	dir, sums := testenv.ChartsMirror(t)
	f, _, out, _ := cmdtest.Factory(t)
	require.NoError(t, cmdtest.Run(f, NewCmdImages(f, nil), "--profile onprem --charts-dir "+dir+" --charts-digests "+sums+
		" --set global.imageRegistry=registry.corp:5000 -o json"))
	var list []images.Image
	require.NoError(t, json.Unmarshal(out.Bytes(), &list))
	assert.Contains(t, list, images.Image{Image: "registry.corp:5000/oryd/kratos:v1.3.1", From: []string{"resimate"}})
	assert.Contains(t, list, images.Image{Image: "registry.corp:5000/jetstack/cert-manager-acmesolver:v1.21.1", From: []string{"cert-manager"}})

	out.Reset()
	require.NoError(t, cmdtest.Run(f, NewCmdImages(f, nil), "--profile onprem --skip-upstream -o json"))
	require.NoError(t, json.Unmarshal(out.Bytes(), &list))
	for _, i := range list {
		assert.Equal(t, []string{"resimate"}, i.From, i.Image)
	}

	err := cmdtest.Run(f, NewCmdImages(f, nil), "--profile onprem --charts-digests "+sums)
	assert.Equal(t, cmdutil.ExitUsage, cmdutil.ExitCode(err))
}
