package train

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// ProgressEvery is how many steps apart Progress's plain lines are.
const ProgressEvery = 100

// Progress reports on w: a bar redrawn in place when tty (a terminal), plain lines otherwise
// (every ProgressEvery steps and at each epoch end, with State.Eval's figures: install it after
// EvalHook).
func Progress(w io.Writer, tty bool, epochs int) Hook {
	var lastT time.Time
	var lastImages int64
	var lossSum float64
	var lossN int
	// rateSince is the throughput since the previous report; the first report (also after
	// --resume) gives the run's average so far.
	rateSince := func(s *State) float64 {
		now := time.Now()
		var r float64
		if !lastT.IsZero() {
			r = float64(s.Images-lastImages) / now.Sub(lastT).Seconds()
		} else if s.Seconds > 0 {
			r = float64(s.Images) / s.Seconds
		}
		lastT, lastImages = now, s.Images
		return r
	}
	return Hook{
		AfterStep: func(_ context.Context, s *State) error {
			lossSum += s.Loss
			lossN++
			if tty {
				if s.StepInEpoch%10 != 0 && s.StepInEpoch != s.StepsPerEpoch {
					return nil
				}
				const width = 30
				done := width * s.StepInEpoch / s.StepsPerEpoch
				fmt.Fprintf(w, "\repoch %d/%d [%s%s] %3d%%  loss %.4f  %5.0f images/s ", s.Epoch+1, epochs,
					strings.Repeat("=", done), strings.Repeat(" ", width-done), 100*s.StepInEpoch/s.StepsPerEpoch,
					lossSum/float64(lossN), rateSince(s))
				lossSum, lossN = 0, 0
				return nil
			}
			if s.StepInEpoch%ProgressEvery == 0 {
				fmt.Fprintf(w, "epoch %d/%d step %d/%d loss %.4f lr %.3g images/s %.0f\n", s.Epoch+1, epochs,
					s.StepInEpoch, s.StepsPerEpoch, lossSum/float64(lossN), s.LR, rateSince(s))
				lossSum, lossN = 0, 0
			}
			return nil
		},
		AfterEpoch: func(_ context.Context, s *State) error {
			p := s.Eval
			if tty {
				fmt.Fprint(w, "\r\033[K")
			}
			fmt.Fprintf(w, "epoch %d/%d done: train loss %.4f acc %.2f%%, validation loss %.4f acc %.2f%%, %.0f s\n",
				s.Epoch, epochs, p.TrainLoss, 100*p.TrainAcc, p.ValLoss, 100*p.ValAcc, s.Seconds)
			lossSum, lossN = 0, 0
			return nil
		},
	}
}
