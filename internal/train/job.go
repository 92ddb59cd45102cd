package train

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/uqnn/uqnn/onnxio"
)

// Optimizer defaults of a Job: Adam at 1e-3 or SGD (momentum) at 1e-2, each a tenth of that
// when fine-tuning, with a cosine decay to CosineFloor of the base rate.
const (
	DefaultAdamLR = 1e-3
	DefaultSGDLR  = 0.01
	FineTuneDiv   = 10
	CosineFloor   = 0.01
)

// Job is one training run as a user asks for it: which optimizer and schedule, the prior, the
// data, and the model to start from. Run turns it into Fit's stepper, hooks and settings.
type Job struct {
	Model     *onnxio.Model
	Data      Data
	Test      Set    // evaluated through the trained net at the end; N = 0 skips it
	Optimizer string // "adam" (default) or "sgd"
	// LR is the base rate; 0 means the optimizer's default, divided by FineTuneDiv when
	// FineTune is set (so fine-tuning refines a trained model rather than restarting it).
	LR          float64
	FineTune    bool
	Momentum    float64 // SGD
	WeightDecay float64 // the L2Prior decay
	Schedule    string  // "cosine" (default) or "constant"
	Fit         FitConfig
	Hooks       []Hook
}

// JobResult is a finished Job.
type JobResult struct {
	*Fitted
	LR                float64
	TestLoss, TestAcc float64
}

// Stepper returns the job's optimizer and base learning rate.
func (j *Job) Stepper() (Stepper, float64, error) {
	var st Stepper
	var lr float64
	switch j.Optimizer {
	case "", "adam":
		st, lr = &Adam{}, DefaultAdamLR
	case "sgd":
		st, lr = &SGD{Momentum: j.Momentum}, DefaultSGDLR
	default:
		return nil, 0, fmt.Errorf("train: optimizer %q; want adam or sgd", j.Optimizer)
	}
	if j.FineTune {
		lr /= FineTuneDiv
	}
	if j.LR != 0 {
		lr = j.LR
	}
	return st, lr, nil
}

// settings names every setting that changes the result, as the CLI's flags do, so a resume
// with another value is refused naming the flag.
func (j *Job) settings(lr float64) map[string]string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	s := map[string]string{
		"--optimizer":    j.Optimizer,
		"--lr":           f(lr),
		"--weight-decay": f(j.WeightDecay),
		"--schedule":     j.Schedule,
		"--preprocess":   fmt.Sprintf("scale=%g,offset=%g", j.Data.Scale, j.Data.Offset),
		"--curves-every": strconv.Itoa(j.Fit.CurvesEvery),
		"training images": strconv.Itoa(j.Data.Train.N),
	}
	if j.Optimizer == "sgd" {
		s["--momentum"] = f(j.Momentum)
	}
	if len(j.Fit.Masks) > 0 {
		h := fnv.New64a()
		for _, p := range sortedKeys(j.Fit.Masks) {
			h.Write([]byte(p))
			for _, k := range j.Fit.Masks[p] {
				if k {
					h.Write([]byte{1})
				} else {
					h.Write([]byte{0})
				}
			}
		}
		s["masks"] = strconv.FormatUint(h.Sum64(), 16)
	}
	for k, v := range j.Fit.Settings {
		s[k] = v
	}
	return s
}

// Run fits the job's model and scores the test set through the trained net.
func (j *Job) Run(ctx context.Context) (*JobResult, error) {
	st, lr, err := j.Stepper()
	if err != nil {
		return nil, err
	}
	cfg := j.Fit
	cfg.LR = lr
	switch j.Schedule {
	case "", "cosine":
		cfg.Schedule = Cosine(CosineFloor)
	case "constant":
		cfg.Schedule = nil
	default:
		return nil, fmt.Errorf("train: schedule %q; want cosine or constant", j.Schedule)
	}
	cfg.Settings = j.settings(lr)
	hooks := append([]Hook{L2Prior(j.WeightDecay)}, j.Hooks...)
	f, err := Fit(ctx, j.Model, j.Data, st, cfg, hooks...)
	if err != nil {
		return nil, err
	}
	r := &JobResult{Fitted: f, LR: lr}
	if j.Test.N > 0 {
		if r.TestLoss, r.TestAcc, err = Evaluate(ctx, f.Net, j.Test, j.Data.Scale, j.Data.Offset, cfg.batch()); err != nil {
			f.Close()
			return nil, err
		}
	}
	return r, nil
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	for i := 1; i < len(k); i++ {
		for j := i; j > 0 && k[j] < k[j-1]; j-- {
			k[j], k[j-1] = k[j-1], k[j]
		}
	}
	return k
}
