package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// InterruptError is the cause of a command's context cancelled by SIGINT (Ctrl-C) or SIGTERM.
type InterruptError struct{ Signal os.Signal }

func (e *InterruptError) Error() string { return "interrupted by " + signalName(e.Signal) }

// Code is the shell's exit status for death by the signal: 128 + its number.
func (e *InterruptError) Code() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return fmt.Sprint(s)
}

// SignalContext returns parent, cancelled with an InterruptError as its cause at the first
// SIGINT or SIGTERM, so that the command stops cleanly: waits end, locks are released,
// resumable state is committed. A second signal ends the process at once. stop undoes it.
func SignalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(&InterruptError{Signal: s})
		case <-done:
			return
		}
		select {
		case s := <-ch:
			os.Exit((&InterruptError{Signal: s}).Code())
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// Interrupted returns the InterruptError that cancelled ctx, or nil.
func Interrupted(ctx context.Context) *InterruptError {
	var ie *InterruptError
	if errors.As(context.Cause(ctx), &ie) {
		return ie
	}
	return nil
}

// InterruptSelf sends this process SIGINT: for a terminal view in raw mode, where Ctrl-C
// arrives as a key instead of the signal.
func InterruptSelf() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Signal(os.Interrupt)
	}
}
