// Command resimatectl installs and operates the Resimate platform.
package main

import (
	"os"

	"github.com/resimate/resimatectl/internal/cmd/root"
)

func main() {
	os.Exit(root.Main())
}
