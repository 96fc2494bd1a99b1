package render

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"helm.sh/helm/v4/pkg/strvals"
)

// MaxValuesFileSize bounds a values file (and a --set-file file). A Helm release is stored in
// one Secret of at most 1 MiB, so no working values file comes near this; a larger one is a
// wrong path, and reading it whole would cost seconds and gigabytes.
const MaxValuesFileSize = 4 << 20

// setKey is the key of a --set expression: dotted names, each optionally indexed ([0]).
var setKey = regexp.MustCompile(`^[^.\[\]=,]+(\[\d+\])*(\.[^.\[\]=,]+(\[\d+\])*)*$`)

// checkInputs refuses what Helm would silently ignore: --set expressions that set nothing
// ("=bar", "a[0=x") and values files no chart needs.
func checkInputs(opts Options) error {
	for _, set := range []struct {
		flag string
		list []string
	}{{"--set", opts.Set}, {"--set-string", opts.SetString}, {"--set-file", opts.SetFile}, {"--set-json", opts.SetJSON}} {
		for _, expr := range set.list {
			if err := checkSet(set.flag, expr); err != nil {
				return err
			}
		}
	}
	files := append([]string{}, opts.ValueFiles...)
	for _, expr := range opts.SetFile {
		if _, path, ok := strings.Cut(expr, "="); ok {
			files = append(files, path)
		}
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("values file: %w", err)
		}
		if st.IsDir() {
			return fmt.Errorf("values file %s is a folder", f)
		}
		if st.Size() > MaxValuesFileSize {
			return fmt.Errorf("values file %s is %d MiB: more than the %d MiB any values file needs (a Helm release holds at most 1 MiB)", f, st.Size()>>20, MaxValuesFileSize>>20)
		}
	}
	return nil
}

func checkSet(flag, expr string) error {
	key, _, hasValue := strings.Cut(expr, "=")
	if !hasValue {
		return fmt.Errorf("%s %q: want key=value", flag, expr)
	}
	if !setKey.MatchString(key) {
		return fmt.Errorf("%s %q: %q is not a key (names joined by dots, each optionally indexed like list[0])", flag, expr, key)
	}
	if flag == "--set" || flag == "--set-string" {
		// Helm drops what it cannot parse without a word: an expression must set something.
		m, err := strvals.Parse(expr)
		if err != nil {
			return fmt.Errorf("%s %q: %w", flag, expr, err)
		}
		if len(m) == 0 {
			return fmt.Errorf("%s %q sets nothing", flag, expr)
		}
	}
	return nil
}
