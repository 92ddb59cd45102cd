// Command uqnn compresses ONNX classifiers, samples weight ensembles, quantifies their
// uncertainty and attacks them. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "uqnn:", err)
	}
	os.Exit(exitCode(err))
}
