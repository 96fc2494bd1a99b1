package cmdutil

import (
	"errors"
	"fmt"
)

// Exit codes that scripts can rely on.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and something failed
	ExitUsage   = 2 // the command line was wrong
)

// FlagError is a usage mistake: bad flag, bad argument, bad combination. Exit code 2.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf builds a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// SilentError means the command already reported what went wrong (a failed check list, say)
// and only the exit code remains to be set.
type SilentError struct{ Code int }

func (e *SilentError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ErrSilent is a SilentError with exit code 1.
var ErrSilent error = &SilentError{Code: ExitFailure}

// ExitCode maps an error returned by a command to the process's exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var interrupted *InterruptError
	if errors.As(err, &interrupted) {
		return interrupted.Code()
	}
	var silent *SilentError
	if errors.As(err, &silent) {
		return silent.Code
	}
	var flag *FlagError
	if errors.As(err, &flag) {
		return ExitUsage
	}
	return ExitFailure
}
