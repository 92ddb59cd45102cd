package train

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/gob"
	"io"
	"strconv"

	"github.com/uqnn/uqnn/report"
)

// Point is one row of the learning curves.
type Point struct {
	Epoch     float64 `json:"epoch"`      // epochs done, fractional within an epoch
	Step      int     `json:"step"`       // steps done
	LR        float64 `json:"lr"`         // learning rate of the last step
	BatchLoss float64 `json:"batch_loss"` // mean minibatch loss since the previous point
	// Evaluated marks epoch-end points, where the four fields below are State.Eval's (zero
	// for what no EvalHook measured).
	Evaluated bool    `json:"evaluated"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	ValLoss   float64 `json:"val_loss"`
	ValAcc    float64 `json:"val_acc"`
}

// curves is what the Curves hook collects and checkpoints.
type curves struct {
	Points  []Point
	AccLoss float64 // minibatch losses since the last point
	AccN    int
}

// CurvesHook collects the learning curves: every `every` steps (0: never; not at an epoch's
// last step) a point with the mean minibatch loss since the previous one, and at each epoch end
// an Evaluated point that adds State.Eval (so install EvalHook before it). Its points are
// State.Curves for the hooks after it and Result.Curves at the end; they go into every
// checkpoint (hook "curves") and come back on Resume.
func CurvesHook(every int) Hook {
	c := &curves{}
	point := func(s *State, epoch float64) Point {
		p := Point{Epoch: epoch, Step: s.Step, LR: s.LR}
		if c.AccN > 0 {
			p.BatchLoss = c.AccLoss / float64(c.AccN)
		}
		c.AccLoss, c.AccN = 0, 0
		return p
	}
	return Hook{
		Name: "curves", kind: kindCurves,
		points: func() []Point { return c.Points },
		Save: func() ([]byte, error) {
			var b bytes.Buffer
			err := gob.NewEncoder(&b).Encode(c)
			return b.Bytes(), err
		},
		Load: func(b []byte) error {
			*c = curves{}
			return gob.NewDecoder(bytes.NewReader(b)).Decode(c)
		},
		AfterStep: func(_ context.Context, s *State) error {
			c.AccLoss += s.Loss
			c.AccN++
			if every > 0 && s.Step%every == 0 && s.StepInEpoch < s.StepsPerEpoch {
				c.Points = append(c.Points, point(s, float64(s.Epoch)+float64(s.StepInEpoch)/float64(s.StepsPerEpoch)))
			}
			return nil
		},
		AfterEpoch: func(_ context.Context, s *State) error {
			p := point(s, float64(s.Epoch))
			p.Evaluated = true
			p.TrainLoss, p.TrainAcc, p.ValLoss, p.ValAcc = s.Eval.TrainLoss, s.Eval.TrainAcc, s.Eval.ValLoss, s.Eval.ValAcc
			c.Points = append(c.Points, p)
			return nil
		},
	}
}

// CSVHeader names the columns WriteCSV writes.
var CSVHeader = []string{"epoch", "step", "lr", "batch_loss", "evaluated", "train_loss", "train_acc", "val_loss", "val_acc"}

// WriteCSV writes the curves, one row per point; unevaluated points leave the four evaluated
// columns empty.
func WriteCSV(w io.Writer, pts []Point) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	for _, p := range pts {
		row := []string{f(p.Epoch), strconv.Itoa(p.Step), f(p.LR), f(p.BatchLoss), strconv.FormatBool(p.Evaluated), "", "", "", ""}
		if p.Evaluated {
			row[5], row[6], row[7], row[8] = f(p.TrainLoss), f(p.TrainAcc), f(p.ValLoss), f(p.ValAcc)
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// CurvesPNG draws the curves as report.LearningCurves does.
func CurvesPNG(pts []Point, title string) ([]byte, error) {
	cp := make([]report.CurvePoint, len(pts))
	for i, p := range pts {
		cp[i] = report.CurvePoint{Epoch: p.Epoch, BatchLoss: p.BatchLoss, Evaluated: p.Evaluated, TrainAcc: p.TrainAcc, ValLoss: p.ValLoss, ValAcc: p.ValAcc}
	}
	return report.LearningCurves(cp, title)
}
