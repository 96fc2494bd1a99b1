// Package migrate implements `resimatectl migrate`: moving a Firebase project into the platform.
package migrate

import (
	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
)

// NewCmd returns `resimatectl migrate` with `firebase auth` under it.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Move data from Firebase into the platform", Args: cobra.NoArgs}
	firebase := &cobra.Command{Use: "firebase", Short: "Migrate a Firebase project", Args: cobra.NoArgs}
	firebase.AddCommand(NewAuthCmd(f), NewFirestoreCmd(f))
	cmd.AddCommand(firebase)
	return cmd
}
