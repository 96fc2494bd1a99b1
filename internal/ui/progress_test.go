package ui

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress(&out, true, "users")
	start := p.start
	assert.Equal(t, "500/1000 users (100/s, ETA 5s)", p.line(500, 1000, "", start.Add(5*time.Second)))
	assert.Equal(t, "300 documents (60/s), now in campaigns", (&Progress{noun: "documents", start: start}).line(300, 0, "now in campaigns", start.Add(5*time.Second)))

	p.Update(1, 2, "")
	p.Done()
	assert.Contains(t, out.String(), "\r\x1b[K1/2 users")
	assert.Equal(t, byte('\n'), out.Bytes()[out.Len()-1], "Done ends the line")

	var quiet bytes.Buffer
	q := NewProgress(&quiet, false, "users")
	q.Update(1, 2, "")
	q.Done()
	assert.Empty(t, quiet.String(), "not a terminal: nothing")
}
