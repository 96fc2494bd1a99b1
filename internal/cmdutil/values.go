package cmdutil

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/render"
)

// AddChartFlags adds the flags that choose a profile and values, shared by render, preflight,
// install and upgrade.
func AddChartFlags(cmd *cobra.Command, o *render.Options) {
	f := cmd.Flags()
	f.StringVar(&o.Profile, "profile", "", "Cloud profile: "+strings.Join(render.Profiles(), ", "))
	f.StringArrayVarP(&o.ValueFiles, "values", "f", nil, "Values file applied after the profile (repeatable, later wins)")
	f.StringArrayVar(&o.Set, "set", nil, "Set a value: key=value (repeatable)")
	f.StringArrayVar(&o.SetString, "set-string", nil, "Set a value as a string: key=value (repeatable)")
	f.StringArrayVar(&o.SetFile, "set-file", nil, "Set a value from a file's content: key=path (repeatable)")
	f.StringArrayVar(&o.SetJSON, "set-json", nil, "Set a value as JSON: key=json (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions(render.Profiles(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("values", "yaml", "yml")
}

// ValidateProfile reports a usage error when the profile is missing or unknown.
func ValidateProfile(profile string) error {
	if profile == "" {
		return FlagErrorf("--profile is required: use one of %s", strings.Join(render.Profiles(), ", "))
	}
	for _, p := range render.Profiles() {
		if p == profile {
			return nil
		}
	}
	return FlagErrorf("unknown profile %q: use one of %s", profile, strings.Join(render.Profiles(), ", "))
}
