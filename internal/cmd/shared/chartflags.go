// Package shared holds what several commands define alike: the chart flags (render, preflight,
// install, upgrade), the preflight flags (preflight, install, upgrade) and the install
// environment of the lifecycle commands. Each is defined once, so they cannot drift apart.
package shared

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/preflight"
	"github.com/resimate/resimatectl/internal/render"
)

// AddChartFlags adds the flags that choose a profile, release and values.
func AddChartFlags(cmd *cobra.Command, o *render.Options) {
	f := cmd.Flags()
	f.StringVar(&o.Profile, "profile", "", "Cloud profile: "+strings.Join(render.Profiles(), ", "))
	f.StringVar(&o.ReleaseName, "release", render.DefaultRelease, "Release name (prefix of every object's name)")
	f.StringArrayVarP(&o.ValueFiles, "values", "f", nil, "Values file applied after the profile (repeatable, later wins)")
	f.StringArrayVar(&o.Set, "set", nil, "Set a value: key=value (repeatable)")
	f.StringArrayVar(&o.SetString, "set-string", nil, "Set a value as a string: key=value (repeatable)")
	f.StringArrayVar(&o.SetFile, "set-file", nil, "Set a value from a file's content: key=path (repeatable)")
	f.StringArrayVar(&o.SetJSON, "set-json", nil, "Set a value as JSON: key=json (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("profile", cobra.FixedCompletions(render.Profiles(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("values", "yaml", "yml")
}

// CompleteChart checks the chart flags and fills the namespace: every mistake is a usage error.
func CompleteChart(f *cmdutil.Factory, o *render.Options) error {
	if err := ValidateProfile(o.Profile); err != nil {
		return err
	}
	if err := render.ValidateReleaseName(o.ReleaseName); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	ns, err := f.Namespace(render.DefaultNamespace)
	if err != nil {
		return err
	}
	o.Namespace = ns
	return nil
}

// AddReleaseFlag adds --release to a command that acts on an installed release.
func AddReleaseFlag(cmd *cobra.Command, release *string) {
	cmd.Flags().StringVar(release, "release", render.DefaultRelease, "Release name")
}

// CompleteRelease checks --release and returns the namespace the release lives in.
func CompleteRelease(f *cmdutil.Factory, release string) (string, error) {
	if err := render.ValidateReleaseName(release); err != nil {
		return "", &cmdutil.FlagError{Err: err}
	}
	return f.Namespace(render.DefaultNamespace)
}

// ValidateProfile reports a usage error when the profile is missing or unknown.
func ValidateProfile(profile string) error {
	if profile == "" {
		return cmdutil.FlagErrorf("--profile is required: use one of %s", strings.Join(render.Profiles(), ", "))
	}
	for _, p := range render.Profiles() {
		if p == profile {
			return nil
		}
	}
	return cmdutil.FlagErrorf("unknown profile %q: use one of %s", profile, strings.Join(render.Profiles(), ", "))
}

// AddPreflightFlags adds the flags of the preflight checks, shared by preflight and install.
func AddPreflightFlags(cmd *cobra.Command, p *preflight.Params) {
	f := cmd.Flags()
	f.StringSliceVar(&p.Ignore, "ignore-checks", nil, "Check ids whose failures become warnings: "+strings.Join(preflight.IDs(preflight.Checks()), ", "))
	f.BoolVar(&p.Offline, "offline", false, "Skip the checks that reach the internet (image registries)")
	f.StringVar(&p.PostgresURL, "postgres-url", "", "Admin URL of the external PostgreSQL (postgres://user:password@host:port/db); give it as RESIMATE_POSTGRES_URL, not on the command line")
	cmdutil.MarkSecret(cmd, "postgres-url")
	f.BoolVar(&p.SkipUpstream, "skip-upstream", false, "Do not install the upstream platform charts (they are managed elsewhere); preflight then needs their CRDs present")
	_ = cmd.RegisterFlagCompletionFunc("ignore-checks", cobra.FixedCompletions(preflight.IDs(preflight.Checks()), cobra.ShellCompDirectiveNoFileComp))
}

// CompletePreflight checks the preflight flags and registers the PostgreSQL password.
func CompletePreflight(f *cmdutil.Factory, p *preflight.Params, chart render.Options) error {
	if err := preflight.ValidateIgnore(p.Ignore); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	if p.PostgresURL != "" {
		f.Redactor.RegisterURLPassword(p.PostgresURL)
	}
	p.Profile, p.Namespace = chart.Profile, chart.Namespace
	return nil
}

// InstallEnv is the install environment of a lifecycle command: the Factory's clients,
// redactor and logger, and progress (nil: none).
func InstallEnv(f *cmdutil.Factory, progress func(install.Event)) *install.Env {
	return &install.Env{Kube: f.Kube, Helm: f.Helm, Redactor: f.Redactor, Logger: f.Logger, Progress: progress}
}

// AsUsage turns install's input errors (values, profile) into usage errors (exit 2).
func AsUsage(err error) error {
	var in *install.InputError
	if errors.As(err, &in) {
		return &cmdutil.FlagError{Err: in.Err}
	}
	return err
}
