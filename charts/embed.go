// Package charts embeds the Resimate Helm chart, its cloud profiles and the pins of the upstream
// platform charts, so that resimatectl renders and installs with no network and no checkout.
package charts

import "embed"

// FS holds resimate/ (the chart), profiles/*.yaml and upstream.yaml.
//
//go:embed all:resimate profiles upstream.yaml
var FS embed.FS

// ChartDir is the chart's folder inside FS.
const ChartDir = "resimate"

// ProfilesDir holds one values overlay per cloud profile.
const ProfilesDir = "profiles"
