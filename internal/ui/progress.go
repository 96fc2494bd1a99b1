package ui

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress is one line of progress with the rate and, when the total is known, the time left.
// On a terminal it is redrawn in place (at most ten times a second); elsewhere it prints
// nothing, since the command's report says it all.
type Progress struct {
	w     io.Writer
	on    bool
	noun  string
	start time.Time

	mu       sync.Mutex
	lastDraw time.Time
	drawn    bool
}

// NewProgress returns a progress line counting noun ("users", "documents") on w, shown only
// when terminal is true.
func NewProgress(w io.Writer, terminal bool, noun string) *Progress {
	return &Progress{w: w, on: terminal, noun: noun, start: time.Now()}
}

// Update shows done of total (total 0: not known) and what is being worked on (may be "").
func (p *Progress) Update(done, total int64, detail string) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.drawn && now.Sub(p.lastDraw) < 100*time.Millisecond && (total == 0 || done < total) {
		return
	}
	p.lastDraw, p.drawn = now, true
	fmt.Fprint(p.w, "\r\x1b[K"+p.line(done, total, detail, now))
}

// line is the text of one update.
func (p *Progress) line(done, total int64, detail string, now time.Time) string {
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 0.001)
	s := fmt.Sprintf("%d %s", done, p.noun)
	if total > 0 {
		s = fmt.Sprintf("%d/%d %s", done, total, p.noun)
	}
	s += fmt.Sprintf(" (%.0f/s", rate)
	if total > 0 && rate > 0 {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
		s += ", ETA " + eta.String()
	}
	s += ")"
	if detail != "" {
		s += ", " + detail
	}
	return s
}

// Done ends the line, leaving the last update on the screen.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on && p.drawn {
		fmt.Fprintln(p.w)
	}
}
