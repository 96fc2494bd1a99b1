package cmdutil

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Flag annotations the root command reads before a command runs.
const (
	// AnnotationSecret marks a flag whose value is a secret (or may carry one, like a database
	// URL): given on the command line, where ps and shell history keep it, it gets a warning.
	AnnotationSecret = "resimatectl/secret"
	// AnnotationCommandLineOnly marks a flag that destroys or overrides a safety (--yes,
	// --purge, --force-unlock, --skip-preflight): it is never taken from the config file or a
	// RESIMATE_* variable, where it would act on every later run without being seen.
	AnnotationCommandLineOnly = "resimatectl/command-line-only"
)

// MarkSecret marks flags of cmd as secrets.
func MarkSecret(cmd *cobra.Command, names ...string) { annotate(cmd, AnnotationSecret, names) }

// MarkCommandLineOnly marks flags of cmd as taken only from the command line.
func MarkCommandLineOnly(cmd *cobra.Command, names ...string) {
	annotate(cmd, AnnotationCommandLineOnly, names)
}

func annotate(cmd *cobra.Command, key string, names []string) {
	for _, n := range names {
		if err := cmd.Flags().SetAnnotation(n, key, []string{"true"}); err != nil {
			panic(fmt.Sprintf("annotating flag %s of %s: %v", n, cmd.CommandPath(), err)) // a programming error
		}
	}
}

// HasAnnotation reports whether fl carries the annotation key.
func HasAnnotation(fl *pflag.Flag, key string) bool {
	_, ok := fl.Annotations[key]
	return ok
}

// PositiveDurationVar adds a duration flag that refuses zero and negative values as it parses,
// so every command's --timeout fails the same way (exit 2).
func PositiveDurationVar(cmd *cobra.Command, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	cmd.Flags().Var((*positiveDuration)(p), name, usage)
}

type positiveDuration time.Duration

func (d *positiveDuration) String() string { return time.Duration(*d).String() }
func (d *positiveDuration) Type() string   { return "duration" }
func (d *positiveDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("must be positive, like 30s or 10m")
	}
	*d = positiveDuration(v)
	return nil
}

// PositiveIntVar adds an integer flag that refuses values below 1 (batch sizes, page sizes).
func PositiveIntVar(cmd *cobra.Command, p *int, name string, value int, usage string) {
	*p = value
	cmd.Flags().Var((*positiveInt)(p), name, usage)
}

type positiveInt int

func (n *positiveInt) String() string { return strconv.Itoa(int(*n)) }
func (n *positiveInt) Type() string   { return "int" }
func (n *positiveInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	if v < 1 {
		return fmt.Errorf("must be at least 1")
	}
	*n = positiveInt(v)
	return nil
}
