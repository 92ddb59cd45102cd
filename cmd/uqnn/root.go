package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// signalGrace is how long a verb has to stop cleanly after SIGINT or SIGTERM.
const signalGrace = 3 * time.Second

// run executes the command line with a context cancelled by the first SIGINT or SIGTERM (a
// second one ends the process at once), prints an error as one line and returns the exit code:
// 130 after SIGINT, 143 after SIGTERM, whatever the verb was doing.
func run(args []string, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var got atomic.Value
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		got.Store(s)
		cancel()
		// Every stage checks ctx between units of work; one that cannot (a read blocked in
		// the kernel) gets signalGrace, then the process ends with the signal's code.
		select {
		case s2, ok := <-sigs:
			if ok {
				s = s2
			}
		case <-time.After(signalGrace):
		}
		fmt.Fprintf(stderr, "uqnn: interrupted by %s\n", signalName(s))
		os.Exit(signalCode(s))
	}()
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command ") {
		err = usageError{fmt.Errorf("%w\n%s", err, root.UsageString())}
	}
	code := exitCode(err)
	if s, ok := got.Load().(os.Signal); ok && (code == exitInterrupted || ctx.Err() != nil) {
		fmt.Fprintf(stderr, "uqnn: interrupted by %s\n", signalName(s))
		return signalCode(s)
	}
	if err != nil {
		fmt.Fprintln(stderr, "uqnn:", err)
	}
	return code
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
