package bayes

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/uqnn/uqnn/internal/train"
)

// Progress is a hook that prints a line on w every train.ProgressEvery steps of each chain of
// the resolved cfg: the step, the mean minibatch loss since the last line and the throughput.
func Progress(w io.Writer, cfg SampleConfig) train.Hook {
	total := cfg.Steps()
	var sum float64
	var n int
	var last time.Time
	return train.Hook{AfterStep: func(_ context.Context, s *train.State) error {
		sum += s.Loss
		n++
		if s.Step%train.ProgressEvery != 0 {
			return nil
		}
		rate := 0.0
		if !last.IsZero() {
			rate = float64(n*cfg.Batch) / time.Since(last).Seconds()
		}
		fmt.Fprintf(w, "step %d/%d loss %.4f images/s %.0f\n", s.Step, total, sum/float64(n), rate)
		sum, n, last = 0, 0, time.Now()
		return nil
	}}
}
