// Package ui is the tool's terminal presentation: the live list of preflight checks, progress
// lines with rate and ETA, install events and the component table. Commands decide what to
// show; this package decides how it looks.
package ui

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/resimate/resimatectl/internal/preflight"
)

// Marks of each status in plain and live output.
var marks = map[preflight.Status]string{preflight.StatusPass: "✓", preflight.StatusWarn: "!", preflight.StatusFail: "✗", preflight.StatusSkip: "-"}

// WriteCheckSummary prints only the closing line (after a live view has shown the list).
func WriteCheckSummary(w io.Writer, rep *preflight.Report) error {
	_, err := fmt.Fprintf(w, "\n%s\n", summaryLine(rep))
	return err
}

// WriteChecks prints the report as a list, the hint and details under each problem, and a
// closing summary.
func WriteChecks(w io.Writer, rep *preflight.Report, color bool) error {
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

func formatResult(r preflight.Result, width int, color bool) string {
	var b strings.Builder
	mark := marks[r.Status]
	if color {
		mark = paint(r.Status, mark)
	}
	fmt.Fprintf(&b, "%s %-*s  %s\n", mark, width, r.ID, r.Message)
	if r.Status == preflight.StatusFail || r.Status == preflight.StatusWarn {
		for _, d := range r.Details {
			fmt.Fprintf(&b, "    - %s\n", d)
		}
		if r.Hint != "" {
			fmt.Fprintf(&b, "    hint: %s (%s)\n", r.Hint, r.Docs)
		}
	}
	return b.String()
}

func paint(s preflight.Status, text string) string {
	code := map[preflight.Status]string{preflight.StatusPass: "32", preflight.StatusWarn: "33", preflight.StatusFail: "31", preflight.StatusSkip: "90"}[s]
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// summaryLine closes the report; it reads as a sentence so that no log scraper takes it for a
// test runner's tally.
func summaryLine(rep *preflight.Report) string {
	verdict := "the cluster is ready for the install"
	if !rep.OK {
		verdict = "fix the failures above before installing"
	}
	return fmt.Sprintf("preflight for profile %s in namespace %s took %s: %d checks passed, %d warned, %d failed, %d skipped; %s",
		rep.Profile, rep.Namespace, (time.Duration(rep.DurationMS) * time.Millisecond).String(),
		rep.Summary.Passed, rep.Summary.Warnings, rep.Summary.Failed, rep.Summary.Skipped, verdict)
}
