package root_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmd/docs"
	"github.com/resimate/resimatectl/internal/cmd/root"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
)

// The committed CLI reference must match the commands; `make docs` regenerates it.
func TestCLIReferenceIsCurrent(t *testing.T) {
	streams, _, _, _ := iostreams.Test()
	fresh := t.TempDir()
	require.NoError(t, docs.Generate(root.NewCmd(cmdutil.NewFactory(streams)), fresh))

	committed := filepath.Join("..", "..", "..", "docs", "cli")
	want := readTree(t, fresh)
	got := readTree(t, committed)
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("docs/cli/%s is missing: run 'make docs'", name)
		}
	}
	for name, content := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("docs/cli/%s is stale (no such command any more): run 'make docs'", name)
			continue
		}
		assert.Equal(t, w, content, "docs/cli/%s is stale: run 'make docs'", name)
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = string(b)
		return nil
	})
	require.NoError(t, err)
	return files
}
