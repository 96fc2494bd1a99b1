package root

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/resimate/resimatectl/internal/cmdutil"
)

// EnvPrefix is the prefix of environment variables that set flags: RESIMATE_LOG_LEVEL=debug.
const EnvPrefix = "RESIMATE"

// configFlagHelp names the default without expanding it, so help and docs are the same everywhere.
const configFlagHelp = "Config file (default $XDG_CONFIG_HOME/resimatectl/config.yaml)"

// defaultConfigPath is where the config file lives when --config is not given.
func defaultConfigPath() string {
	dir, err := os.UserConfigDir() // honours XDG_CONFIG_HOME
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "resimatectl", "config.yaml")
}

// applyConfig fills every flag of cmd that the command line left unset from, in order, a
// RESIMATE_* environment variable, then the config file. Keys in the file are flag names; a
// command's own flags may also sit under a section named after the command path
// ("preflight: {profile: aws}"). A key that is no flag or command is an error, and so is a
// command-line-only flag (--yes, --purge, ...) in the file; such a flag in the environment is
// ignored with a warning on warn.
func applyConfig(cmd *cobra.Command, configPath string, warn io.Writer) error {
	v := viper.New()
	explicit := configPath != ""
	if !explicit {
		configPath = defaultConfigPath()
	}
	if configPath != "" {
		v.SetConfigFile(configPath)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			var notFound *fs.PathError
			if explicit || !errors.As(err, &notFound) {
				return fmt.Errorf("reading config file %s: %w", configPath, err)
			}
		}
		if err := checkKeys(cmd.Root(), v.AllSettings(), ""); err != nil {
			return fmt.Errorf("config file %s: %w", configPath, err)
		}
	}

	section := strings.ReplaceAll(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "), " ", ".")
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil || f.Name == "config" || f.Name == "help" {
			return
		}
		env := envName(f.Name)
		val, fromEnv := os.LookupEnv(env)
		if fromEnv && cmdutil.HasAnnotation(f, cmdutil.AnnotationCommandLineOnly) {
			fmt.Fprintf(warn, "warning: %s is ignored: --%s is taken only from the command line\n", env, f.Name)
			fromEnv = false
		}
		if fromEnv {
			firstErr = setFlag(f, val, nil, "environment variable "+env)
			return
		}
		raw, ok := lookup(v, section, f.Name)
		if !ok {
			return
		}
		if cmdutil.HasAnnotation(f, cmdutil.AnnotationCommandLineOnly) {
			firstErr = fmt.Errorf("config file %s: %s is taken only from the command line (--%s), never from a file", configPath, f.Name, f.Name)
			return
		}
		firstErr = setFlag(f, fmt.Sprint(raw), raw, "config file "+configPath)
	})
	return firstErr
}

func envName(flag string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func lookup(v *viper.Viper, section, name string) (any, bool) {
	for _, key := range []string{section + "." + name, name} {
		if v.InConfig(key) {
			if raw := v.Get(key); raw != nil {
				return raw, true
			}
		}
	}
	return nil, false
}

// setFlag sets f from a text value, or from raw (a YAML value from the file) when it is a
// list. A string-array flag (--set, -f) takes each item whole, commas and all; a string-slice
// flag (--ignore-checks) splits on commas as on the command line.
func setFlag(f *pflag.Flag, val string, raw any, from string) error {
	var err error
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		var items []string
		if list, isList := raw.([]any); isList {
			for _, item := range list {
				items = append(items, fmt.Sprint(item))
			}
		} else if f.Value.Type() == "stringArray" {
			items = []string{val}
		} else {
			items = strings.Split(val, ",")
		}
		err = sv.Replace(items)
	} else {
		err = f.Value.Set(val)
	}
	if err != nil {
		return fmt.Errorf("invalid value for --%s from the %s: %w", f.Name, from, err)
	}
	return nil
}

// checkKeys refuses a key of the config file that is no flag of the command at its place (or,
// at the top, of any command) and no subcommand's section: a typo would otherwise do nothing.
func checkKeys(cmd *cobra.Command, settings map[string]any, at string) error {
	known := map[string]bool{}
	if at == "" {
		for _, name := range allFlagNames(cmd) {
			known[name] = true
		}
	} else {
		cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
		cmd.Flags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
	}
	subs := map[string]*cobra.Command{}
	for _, sub := range cmd.Commands() {
		subs[sub.Name()] = sub
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if section, ok := settings[k].(map[string]any); ok && subs[k] != nil {
			if err := checkKeys(subs[k], section, strings.TrimPrefix(at+"."+k, ".")); err != nil {
				return err
			}
			continue
		}
		if !known[k] {
			where := "any command"
			if at != "" {
				where = strings.ReplaceAll(at, ".", " ")
			}
			return fmt.Errorf("unknown key %q: not a flag of %s, nor a command's section", strings.TrimPrefix(at+"."+k, "."), where)
		}
	}
	return nil
}

// allFlagNames lists the flag names of every command in the tree.
func allFlagNames(root *cobra.Command) []string {
	seen := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { seen[f.Name] = true })
		c.Flags().VisitAll(func(f *pflag.Flag) { seen[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	return names
}
