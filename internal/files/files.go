// Package files writes the files commands leave for people: reports, values files, drafts.
package files

import (
	"os"

	"github.com/google/renameio/v2"
)

// Replace writes data to path atomically, with exactly perm (the umask and an existing file's
// mode do not change it): a reader sees the old file or the whole new one, never half.
func Replace(path string, data []byte, perm os.FileMode) error {
	f, err := renameio.NewPendingFile(path, renameio.WithStaticPermissions(perm))
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.CloseAtomicallyReplace()
}
