// Package buildinfo holds the version facts set at link time by the Makefile and GoReleaser:
//
//	-ldflags "-X github.com/resimate/resimatectl/internal/buildinfo.Version=v1.2.3 ..."
package buildinfo

import "runtime"

var (
	// Version is the release version, "dev" for local builds.
	Version = "dev"
	// Commit is the git commit the binary was built from.
	Commit = "none"
	// Date is the build time in RFC 3339.
	Date = "unknown"
)

// Info is the machine-readable form printed by `resimatectl version -o json`.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build facts of this binary.
func Get() Info {
	return Info{
		Version:   Version,
		Commit:    Commit,
		BuildDate: Date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}
