package preflight

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Marks of each status in plain and live output.
var marks = map[Status]string{StatusPass: "✓", StatusWarn: "!", StatusFail: "✗", StatusSkip: "-"}

// WriteSummary prints only the closing line (after a live view has shown the list).
func WriteSummary(w io.Writer, rep *Report) error {
	_, err := fmt.Fprintf(w, "\n%s\n", summaryLine(rep))
	return err
}

// WriteText prints the report as a list, the hint and details under each problem, and a
// closing summary.
func WriteText(w io.Writer, rep *Report, color bool) error {
	width := 0
	for _, r := range rep.Results {
		width = max(width, len(r.ID))
	}
	for _, r := range rep.Results {
		if _, err := io.WriteString(w, formatResult(r, width, color)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", summaryLine(rep))
	return err
}

func formatResult(r Result, width int, color bool) string {
	var b strings.Builder
	mark := marks[r.Status]
	if color {
		mark = paint(r.Status, mark)
	}
	fmt.Fprintf(&b, "%s %-*s  %s\n", mark, width, r.ID, r.Message)
	if r.Status == StatusFail || r.Status == StatusWarn {
		for _, d := range r.Details {
			fmt.Fprintf(&b, "    - %s\n", d)
		}
		if r.Hint != "" {
			fmt.Fprintf(&b, "    hint: %s (%s)\n", r.Hint, r.Docs)
		}
	}
	return b.String()
}

func paint(s Status, text string) string {
	code := map[Status]string{StatusPass: "32", StatusWarn: "33", StatusFail: "31", StatusSkip: "90"}[s]
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// summaryLine closes the report; it reads as a sentence so that no log scraper takes it for a
// test runner's tally.
func summaryLine(rep *Report) string {
	verdict := "the cluster is ready for the install"
	if !rep.OK {
		verdict = "fix the failures above before installing"
	}
	return fmt.Sprintf("preflight for profile %s in namespace %s took %s: %d checks passed, %d warned, %d failed, %d skipped; %s",
		rep.Profile, rep.Namespace, (time.Duration(rep.DurationMS) * time.Millisecond).String(),
		rep.Summary.Passed, rep.Summary.Warnings, rep.Summary.Failed, rep.Summary.Skipped, verdict)
}

// WriteJSON prints the report in its stable JSON form (docs/preflight.schema.json).
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
