package adversarial

import (
	"context"
	"fmt"
	"math"
	"path/filepath"

	"github.com/uqnn/uqnn/internal/prob"
)

// probTol is how far a resumed record's stored probability may be from the model's answer for
// its image: the stored value came through the oracle's float64 log-probabilities, the check
// through Probs in float32, a few ulps apart.
const probTol = 1e-5

// verifyResumed checks every record read back from records.jsonl against the run before a
// resume trusts it: the example was selected for these parameters, label and target are the
// task's, the query count is within the budget, the image stays within ε of the original on the
// pixel grid with the distances recorded, and the model, asked again (outside any budget: this
// is the campaign checking its own log, not the attacker querying), gives the recorded
// prediction, probabilities and success. Any mismatch refuses the resume with a *DirError naming
// the example and the field.
func (c *Campaign) verifyResumed(ctx context.Context, done map[int]Record, tasks []Task) error {
	if len(done) == 0 {
		return nil
	}
	byIndex := make(map[int]Task, len(tasks))
	for _, t := range tasks {
		byIndex[t.Index] = t
	}
	refuse := func(idx int, format string, a ...any) error {
		return &DirError{Dir: c.Dir, File: RecordsFile, Reason: fmt.Sprintf("%s: example %d: %s; the log was altered or belongs to another run, so it cannot be resumed",
			filepath.Join(c.Dir, RecordsFile), idx, fmt.Sprintf(format, a...))}
	}
	d := c.Test.Dim()
	eps := c.Config.EffectiveEpsilon()
	levels := math.Floor(eps*255 + 1e-9)
	recs := sortedRecords(done)
	raw := make([]float32, 0, len(recs)*d)
	for _, r := range recs {
		t, ok := byIndex[r.Index]
		switch {
		case !ok:
			return refuse(r.Index, "not among the %d examples selected for these parameters", len(tasks))
		case r.Label != t.Goal.Label:
			return refuse(r.Index, "label %d; the test set says %d", r.Label, t.Goal.Label)
		case r.Target != t.Goal.Target:
			return refuse(r.Index, "target %d; this run's target is %d", r.Target, t.Goal.Target)
		case r.Queries < 1 || r.Queries > c.Budget:
			return refuse(r.Index, "%d queries; the budget is %d per example", r.Queries, c.Budget)
		case r.Generations < 0:
			return refuse(r.Index, "%d generations", r.Generations)
		case len(r.Image) != d:
			return refuse(r.Index, "image of %d pixels; want %d", len(r.Image), d)
		}
		orig := c.Test.Image(r.Index)
		var linf, l2 float64
		for j, p := range r.Image {
			diff := math.Abs(float64(p) - float64(orig[j]))
			if !c.Config.Continuous && diff > levels {
				return refuse(r.Index, "pixel %d moved %v levels; ε allows %v", j, diff, levels)
			}
			linf = max(linf, diff/255)
			l2 += (diff / 255) * (diff / 255)
			raw = append(raw, float32(p))
		}
		if math.Abs(linf-r.Linf) > 1e-6 || math.Abs(math.Sqrt(l2)-r.L2) > 1e-5 {
			return refuse(r.Index, "recorded L∞ %v and L2 %v; the image gives %v and %v", r.Linf, r.L2, linf, math.Sqrt(l2))
		}
	}
	probs, err := c.Model.Probs(ctx, raw, len(recs))
	if err != nil {
		return fmt.Errorf("adversarial: checking the resumed records: %w", err)
	}
	var det []float64 // a detector-aware run's success also needs the detector evaded
	if g := c.Config.Guard; g != nil {
		if det, err = g.rawScores(ctx, raw, len(recs)); err != nil {
			return fmt.Errorf("adversarial: checking the resumed records: %w", err)
		}
	}
	k := c.Model.Classes()
	for i, r := range recs {
		p := probs[i*k : (i+1)*k]
		pred := prob.Argmax(p)
		goal := Goal{Label: r.Label, Target: r.Target}
		success := pred != r.Label
		if goal.Targeted() {
			success = pred == r.Target
		}
		if det != nil {
			success = success && c.Config.Guard.evades(det[i])
		}
		switch {
		case pred != r.Pred:
			return refuse(r.Index, "recorded prediction %d; the model says %d", r.Pred, pred)
		case success != r.Success:
			return refuse(r.Index, "recorded success %v; the prediction %d makes it %v", r.Success, pred, success)
		case len(r.Probs) != k:
			return refuse(r.Index, "%d probabilities; the model has %d classes", len(r.Probs), k)
		}
		for j := range p {
			if math.Abs(float64(p[j]-r.Probs[j])) > probTol {
				return refuse(r.Index, "recorded probability %v for class %d; the model says %v", r.Probs[j], j, p[j])
			}
		}
	}
	return nil
}
