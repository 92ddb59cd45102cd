package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/internal/train"
)

// writeJSON prints one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// rate is images per second, 0 for an empty interval.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// resumeError explains an interrupted run (checkpoint and how to resume) and turns a resume with
// other settings into a usage error naming the flag.
func resumeError(g *globals, err error, ckpt string) error {
	var se *train.SettingError
	switch {
	case errors.As(err, &se):
		return usagef("--resume: %s was written with other settings: %s (use the same flags, or delete it to start afresh)",
			ckpt, flagNames(se.Diffs))
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		if _, serr := os.Stat(ckpt); serr == nil {
			fmt.Fprintf(g.stderr, "uqnn: interrupted; checkpoint %s. Continue with the same command plus --resume.\n", ckpt)
		}
	}
	return err
}

// flagNames spells the loop's own settings (seed, batch, epochs) as the flags that set them.
func flagNames(diffs []string) string {
	out := make([]string, len(diffs))
	for i, d := range diffs {
		out[i] = d
		for _, n := range []string{"seed", "batch", "epochs"} {
			if strings.HasPrefix(d, n+" ") {
				out[i] = "--" + d
			}
		}
	}
	return strings.Join(out, "; ")
}

// sampleError turns setting and folder problems into usage errors and says how to resume.
func sampleError(g *globals, err error) error {
	var se *train.SettingError
	switch {
	case errors.As(err, &se):
		return usagef("sample --resume: the run was started with other settings: %s (use the same flags, or a new folder)", flagNames(se.Diffs))
	case errors.Is(err, bayes.ErrInterrupted):
		fmt.Fprintln(g.stderr, "uqnn: interrupted; the members drawn are kept. Continue with the same command plus --resume.")
	case errors.Is(err, bayes.ErrBadFolder):
		return usagef("sample: %v", err)
	}
	return err
}
