package docs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmd/docs"
	"github.com/resimate/resimatectl/internal/cmd/root"
	"github.com/resimate/resimatectl/internal/cmdutil/cmdtest"
)

// docs --dir writes the reference and removes only pages it generated before for commands that
// are gone: a folder's other files are not its to delete.
func TestGenerateDeletesOnlyItsOwnStalePages(t *testing.T) {
	f, _, _, _ := cmdtest.Factory(t)
	dir := t.TempDir()
	keep := map[string]string{"README.md": "# mine", "notes.txt": "mine", "man/local.7": "mine"}
	stale := []string{"resimatectl_gone.md", "man/resimatectl-gone.1"}
	for name, body := range keep {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	for _, name := range stale {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("old"), 0o644))
	}
	require.NoError(t, docs.Generate(root.NewCmd(f), dir))
	for name, body := range keep {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, body, string(b), name)
	}
	for _, name := range stale {
		assert.NoFileExists(t, filepath.Join(dir, name))
	}
	assert.FileExists(t, filepath.Join(dir, "resimatectl_install.md"))
	assert.FileExists(t, filepath.Join(dir, "man", "resimatectl-install.1"))
}
