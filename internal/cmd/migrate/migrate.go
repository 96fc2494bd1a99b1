// Package migrate implements `resimatectl migrate`: moving a Firebase project into the platform.
package migrate

import (
	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/migrate/auth"
	"github.com/resimate/resimatectl/internal/cmd/migrate/firestore"
	"github.com/resimate/resimatectl/internal/cmdutil"
)

// NewCmdMigrate returns `resimatectl migrate` with `firebase auth` and `firebase firestore`
// under it.
func NewCmdMigrate(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Move data from Firebase into the platform", Args: cobra.NoArgs}
	firebase := &cobra.Command{Use: "firebase", Short: "Migrate a Firebase project", Args: cobra.NoArgs}
	firebase.AddCommand(auth.NewCmdAuth(f, nil), firestore.NewCmdFirestore(f, nil))
	cmd.AddCommand(firebase)
	return cmd
}
