// Package migrate holds what both Firebase migrations (firebaseauth, firestore) share.
package migrate

import (
	"os"

	"google.golang.org/api/option"
)

// GoogleOptions are the client options of a Google source: the service-account file when one
// is given, no credentials at all when the named emulator variable points at an emulator, and
// otherwise the usual Google credentials.
func GoogleOptions(credentials, emulatorEnv string) []option.ClientOption {
	switch {
	case credentials != "":
		return []option.ClientOption{option.WithAuthCredentialsFile(option.ServiceAccount, credentials)}
	case os.Getenv(emulatorEnv) != "":
		return []option.ClientOption{option.WithoutAuthentication()}
	}
	return nil
}
