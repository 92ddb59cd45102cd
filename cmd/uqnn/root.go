package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/uqnn/uqnn/onnxio"
)

// Exit codes (STYLE.md): 0 ok, 1 failure, 2 usage, 3 invalid or unsupported model, 130 interrupted.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitBadModel    = 3
	exitInterrupted = 130
)

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

// globals are the flags every verb shares.
type globals struct {
	ortLib string // --ort-lib: path to libonnxruntime.so
	quiet  bool   // --quiet: no progress output
	stdout io.Writer
	stderr io.Writer
}

// verbs holds the constructors of every subcommand; each verb's file registers itself in init,
// so adding a verb never touches this file.
var verbs []func(*globals) *cobra.Command

func registerVerb(f func(*globals) *cobra.Command) { verbs = append(verbs, f) }

func newRootCmd() *cobra.Command {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:           "uqnn",
		Short:         "Uncertainty of neural-network predictions: compress, sample, attack and detect",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.PersistentFlags().StringVar(&g.ortLib, "ort-lib", "", "path to libonnxruntime.so (default: $UQNN_ORT_LIB, then the cache filled by 'make ort')")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "no progress output on stderr")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\n%s", err, c.UsageString())}
	})
	for _, f := range verbs {
		c := f(g)
		if c.Args == nil {
			c.Args = cobra.NoArgs
		}
		c.Args = usageArgs(c.Args)
		root.AddCommand(c)
	}
	return root
}

// usageArgs turns cobra's argument-count errors into usage errors (exit 2).
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := v(c, args); err != nil {
			return usageError{fmt.Errorf("%s: %w (usage: %s)", c.CommandPath(), err, c.UseLine())}
		}
		return nil
	}
}
