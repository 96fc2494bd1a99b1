package root

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
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

// applyConfig fills every flag of cmd that the command line left unset from, in order,
// a RESIMATE_* environment variable, then the config file. Keys in the file are flag names;
// a command's own flags may also sit under a section named after the command path
// ("preflight: {profile: aws}").
func applyConfig(cmd *cobra.Command, configPath string) error {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()

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
	}

	section := strings.ReplaceAll(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "), " ", ".")
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil || f.Name == "config" || f.Name == "help" {
			return
		}
		val, ok := lookup(v, section, f.Name)
		if !ok {
			return
		}
		if err := setFlag(f, val); err != nil {
			firstErr = fmt.Errorf("invalid value %q for %s from the environment or config file: %w", val, f.Name, err)
		}
	})
	return firstErr
}

func lookup(v *viper.Viper, section, name string) (string, bool) {
	if env, ok := os.LookupEnv(EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer("-", "_").Replace(name))); ok {
		return env, true
	}
	for _, key := range []string{section + "." + name, name} {
		if v.InConfig(key) || (v.IsSet(key) && key == name) {
			if raw := v.Get(key); raw != nil {
				return toFlagString(raw), true
			}
		}
	}
	return "", false
}

// toFlagString turns a YAML value into the text a flag parses; lists become comma-separated.
func toFlagString(raw any) string {
	if list, ok := raw.([]any); ok {
		parts := make([]string, len(list))
		for i, item := range list {
			parts[i] = fmt.Sprint(item)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(raw)
}

func setFlag(f *pflag.Flag, val string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(strings.Split(val, ","))
	}
	return f.Value.Set(val)
}
