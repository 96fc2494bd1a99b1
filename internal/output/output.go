// Package output prints a command's data as a table, JSON or YAML, chosen by -o/--output.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"
)

// Formats a data-printing command accepts.
const (
	Table = "table"
	JSON  = "json"
	YAML  = "yaml"
)

// Formats lists the accepted values of -o, for help text and validation.
var Formats = []string{Table, JSON, YAML}

// Validate reports a clear error for an unknown -o value.
func Validate(format string) error {
	for _, f := range Formats {
		if f == format {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q: use one of %s", format, strings.Join(Formats, ", "))
}

// Print writes v in the chosen format. For Table, table is called with a tab-separated writer;
// a nil table falls back to YAML, which stays readable for nested data.
func Print(w io.Writer, format string, v any, table func(w io.Writer) error) error {
	switch format {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case YAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case Table, "":
		if table == nil {
			return Print(w, YAML, v, nil)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		if err := table(tw); err != nil {
			return err
		}
		return tw.Flush()
	default:
		return Validate(format)
	}
}
