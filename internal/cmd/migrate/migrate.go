// Package migrate implements `resimatectl migrate`: moving a Firebase project into the platform.
package migrate

import (
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/api/option"

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

// googleOptions are the client options of a Google source: the service-account file when one is
// given, no credentials at all when the named emulator variable points at an emulator, and
// otherwise the usual Google credentials.
func googleOptions(credentials, emulatorEnv string) []option.ClientOption {
	switch {
	case credentials != "":
		return []option.ClientOption{option.WithAuthCredentialsFile(option.ServiceAccount, credentials)}
	case os.Getenv(emulatorEnv) != "":
		return []option.ClientOption{option.WithoutAuthentication()}
	}
	return nil
}
