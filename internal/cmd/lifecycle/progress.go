// Package lifecycle implements the platform's lifecycle commands: install, status, upgrade,
// rollback and uninstall.
package lifecycle

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/output"
)

// newEnv is the install environment of a command: the factory's cluster flags, redactor and
// logger, and progress lines (nil: none).
func newEnv(f *cmdutil.Factory, progress func(install.Event)) *install.Env {
	return &install.Env{Getter: f.KubeFlags, Redactor: f.Redactor, Logger: f.Logger, Progress: progress}
}

// progressPrinter writes install events: JSON lines with -o json, otherwise one readable line
// each with the time since the start.
func progressPrinter(w io.Writer, format string) func(install.Event) {
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

// printComponents writes the component table of status and install.
func printComponents(w io.Writer, list []install.ComponentStatus) error {
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
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Status, ready, orDash(c.Version), last, msg)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
