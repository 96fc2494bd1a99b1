package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/resimate/resimatectl/internal/health"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/output"
)

// InstallEvents writes install events: JSON lines with -o json, otherwise one readable line
// each with the time since the start.
func InstallEvents(w io.Writer, format string) func(install.Event) {
	start := time.Now()
	var mu sync.Mutex
	return func(ev install.Event) {
		mu.Lock()
		defer mu.Unlock()
		if format == output.JSON {
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "%s\n", b)
			return
		}
		elapsed := ev.Time.Sub(start).Seconds()
		switch ev.Type {
		case "component":
			state := ev.Status
			if ev.Desired > 0 {
				state = fmt.Sprintf("%s %d/%d ready", ev.Status, ev.Ready, ev.Desired)
			}
			line := fmt.Sprintf("[%5.1fs]   %-16s %s", elapsed, ev.Component, state)
			if ev.Status != "Current" && ev.Message != "" {
				line += " (" + ev.Message + ")"
			}
			fmt.Fprintln(w, line)
		default:
			fmt.Fprintf(w, "[%5.1fs] %s\n", elapsed, ev.Message)
		}
	}
}

// ComponentTable writes the component table of status and install into a tabwriter.
func ComponentTable(w io.Writer, list []health.ComponentStatus) {
	fmt.Fprintln(w, "COMPONENT\tSTATUS\tREADY\tVERSION\tLAST CHANGE\tMESSAGE")
	for _, c := range list {
		ready := "-"
		if c.Desired > 0 {
			ready = fmt.Sprintf("%d/%d", c.Ready, c.Desired)
		}
		last := "-"
		if c.LastTransition != nil {
			last = time.Since(*c.LastTransition).Round(time.Second).String() + " ago"
		}
		msg := c.Message
		if c.IsReady() {
			msg = ""
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Status, ready, OrDash(c.Version), last, msg)
	}
}

// OrDash shows an empty cell as "-".
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
