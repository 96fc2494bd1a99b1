// Package iostreams carries a command's standard streams and what is known about them
// (terminal or not, colour on or off), so that commands never touch os.Stdout directly
// and can be driven from tests without a terminal.
package iostreams

import (
	"bytes"
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"golang.org/x/term"
)

// IOStreams is handed to every command's run function.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
	colorOff  bool
	// stderrFile is the terminal behind ErrOut (nil in tests), for its size.
	stderrFile *os.File
}

// System returns streams bound to the process's stdin, stdout and stderr.
// Colour is off when NO_COLOR is set (https://no-color.org) or stdout is not a terminal.
func System() *IOStreams {
	s := &IOStreams{
		In:         os.Stdin,
		Out:        os.Stdout,
		ErrOut:     os.Stderr,
		stdinTTY:   isTerminal(os.Stdin),
		stdoutTTY:  isTerminal(os.Stdout),
		stderrTTY:  isTerminal(os.Stderr),
		stderrFile: os.Stderr,
	}
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		s.colorOff = true
	}
	return s
}

// Test returns streams backed by buffers: input, stdout and stderr, none a terminal.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, colorOff: true}, in, out, errOut
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// WrapOutput passes stdout and stderr through wrap (the redactor, so that no registered secret
// is ever printed). The terminal flags stay those of the real streams.
func (s *IOStreams) WrapOutput(wrap func(io.Writer) io.Writer) {
	s.Out, s.ErrOut = wrap(s.Out), wrap(s.ErrOut)
}

// IsStdinTTY reports whether input comes from a terminal (so prompting is possible).
func (s *IOStreams) IsStdinTTY() bool { return s.stdinTTY }

// IsStdoutTTY reports whether output goes to a terminal (so live views are possible).
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether stderr is a terminal (progress goes there).
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetTTY forces the terminal flags, for tests of the interactive paths.
func (s *IOStreams) SetTTY(stdin, stdout, stderr bool) {
	s.stdinTTY, s.stdoutTTY, s.stderrTTY = stdin, stdout, stderr
}

// ErrOutSize is the width and height of the terminal stderr writes to (80x24 when it is none or
// will not say): a live view drawn there needs it, and ErrOut itself is a wrapping writer.
func (s *IOStreams) ErrOutSize() (width, height int) {
	if s.stderrFile != nil {
		if w, h, err := term.GetSize(int(s.stderrFile.Fd())); err == nil && w > 0 && h > 0 {
			return w, h
		}
	}
	return 80, 24
}

// ColorEnabled reports whether output may carry ANSI colour.
func (s *IOStreams) ColorEnabled() bool { return !s.colorOff && s.stdoutTTY }

// SetColorEnabled turns colour on or off (the --no-color flag turns it off).
func (s *IOStreams) SetColorEnabled(on bool) { s.colorOff = !on }

// CanPrompt reports whether the user can answer a question interactively.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stdoutTTY }
