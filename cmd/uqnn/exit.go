package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/uqnn/uqnn/onnxio"
)

// Exit codes (STYLE.md): 0 ok, 1 failure, 2 usage, 3 invalid or unsupported model, 130 interrupted.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitBadModel    = 3
	exitInterrupted = 130 // SIGINT (Ctrl-C)
	exitTerminated  = 143 // SIGTERM
)

func signalCode(s os.Signal) int {
	if s == syscall.SIGTERM {
		return exitTerminated
	}
	return exitInterrupted
}

func signalName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT (Ctrl-C)"
}

// usageError marks a bad flag or argument; main prints it and exits 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error (exit code 2).
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, onnxio.ErrInvalidModel), errors.Is(err, onnxio.ErrUnsupported):
		return exitBadModel
	default:
		return exitFailure
	}
}
