// Package errtext shapes error messages for a terminal: libraries wrap with newlines, and a
// one-line message is what a user reads and a script greps.
package errtext

import "strings"

// FirstLine is the first line of err's message.
func FirstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// OneLine folds a multi-line message into one line, collapsing runs of white space.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
