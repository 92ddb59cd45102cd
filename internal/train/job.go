package train

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/internal/pixel"
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

// Defaults of a training run from scratch, as `uqnn train` and the study use them (measured on
// LeNet-5, seeds 1, 2, 3: test accuracy 99.39%, 99.31%, 99.34%): Adam with a cosine decay over
// 10 epochs of batch 64 (DefaultBatch), Caffe's LeNet weight decay 5e-4, a curve point every
// 100 steps.
const (
	DefaultArch        = "lenet5"
	DefaultEpochs      = 10
	DefaultWeightDecay = 5e-4
	DefaultCurvesEvery = 100
)

// Job is one training run as a user asks for it: which optimizer and schedule, the prior, the
// data, and the model to start from. Run turns it into Fit's stepper, hooks and settings: it
// installs EvalHook(Fit.EvalTrain), CurvesHook(Fit.CurvesEvery) and L2Prior(WeightDecay) ahead
// of Hooks.
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
		"--optimizer":     j.Optimizer,
		"--lr":            f(lr),
		"--weight-decay":  f(j.WeightDecay),
		"--schedule":      j.Schedule,
		"--preprocess":    fmt.Sprintf("scale=%g,offset=%g", j.Data.Scale, j.Data.Offset),
		"--curves-every":  strconv.Itoa(j.Fit.CurvesEvery),
		"training images": strconv.Itoa(j.Data.Train.N),
	}
	if j.Optimizer == "sgd" {
		s["--momentum"] = f(j.Momentum)
	}
	if len(j.Fit.Masks) > 0 {
		h := fnv.New64a()
		for _, p := range slices.Sorted(maps.Keys(j.Fit.Masks)) {
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
	hooks := append([]Hook{EvalHook(cfg.EvalTrain), CurvesHook(cfg.CurvesEvery), L2Prior(j.WeightDecay)}, j.Hooks...)
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

// Validate checks the job's settings before any work, naming the CLI flag at fault.
func (j *Job) Validate() error {
	c := j.Fit
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("--epochs %d: want at least 1", c.Epochs)
	case c.Batch < 1:
		return fmt.Errorf("--batch %d: want at least 1", c.Batch)
	case !(j.LR >= 0) || math.IsInf(j.LR, 0):
		return fmt.Errorf("--lr %g: want a positive finite rate (0: the optimizer's default)", j.LR)
	case !(j.WeightDecay >= 0) || math.IsInf(j.WeightDecay, 0):
		return fmt.Errorf("--weight-decay %g: want a finite value ≥ 0", j.WeightDecay)
	case !(j.Momentum >= 0 && j.Momentum < 1):
		return fmt.Errorf("--momentum %g: want 0 ≤ momentum < 1", j.Momentum)
	case c.CurvesEvery < 0:
		return fmt.Errorf("--curves-every %d: want ≥ 0", c.CurvesEvery)
	case j.Schedule != "" && j.Schedule != "cosine" && j.Schedule != "constant":
		return fmt.Errorf("--schedule %q: want cosine or constant", j.Schedule)
	case j.Optimizer != "" && j.Optimizer != "adam" && j.Optimizer != "sgd":
		return fmt.Errorf("--optimizer %q: want adam or sgd", j.Optimizer)
	}
	return nil
}

// Paths are the files a training run writes beside OUT: OUT itself, the curves (CSV and PNG)
// and the checkpoint; the .onnx extension is dropped for the side files.
type Paths struct{ Model, CSV, PNG, Checkpoint string }

// All lists the four paths.
func (p Paths) All() []string { return []string{p.Model, p.CSV, p.PNG, p.Checkpoint} }

// PathsFor names the files of a run writing out.
func PathsFor(out string) Paths {
	base := out
	if filepath.Ext(out) == ".onnx" {
		base = strings.TrimSuffix(out, ".onnx")
	}
	return Paths{Model: out, CSV: base + ".curves.csv", PNG: base + ".curves.png", Checkpoint: base + ".ckpt"}
}

// Save writes the trained model, its pixel convention in the metadata, and the learning curves
// (CSV, and the report.LearningCurves figure headed title), each atomically, then removes
// p.Checkpoint if there is one: it belonged to this (resumed) run, which supersedes it.
func (r *JobResult) Save(p Paths, pp pixel.Preprocess, title string) error {
	png, err := CurvesPNG(r.Result.Curves, title)
	if err != nil {
		return err
	}
	pp.Store(r.Model)
	if err := r.Model.Save(p.Model, onnxio.SaveOptions{}); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, r.Result.Curves); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(p.CSV, buf.Bytes()); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := atomicfile.WriteFile(p.PNG, png); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := os.Remove(p.Checkpoint); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("train: removing the finished run's checkpoint: %w", err)
	}
	return nil
}

// Scores are loss (mean cross-entropy, nats) and accuracy on one split.
type Scores struct {
	Images   int     `json:"images"`
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
}

// Summary is a finished job in figures, as `uqnn train --json` prints it.
type Summary struct {
	Params       int     `json:"params"`
	Optimizer    string  `json:"optimizer"`
	LR           float64 `json:"lr"`
	Schedule     string  `json:"schedule"`
	Batch        int     `json:"batch"`
	Epochs       int     `json:"epochs"`
	Steps        int     `json:"steps"`
	Resumed      bool    `json:"resumed"`
	Train        Scores  `json:"train"` // the first EvalTrain training images, at the end
	Validation   Scores  `json:"validation"`
	Test         Scores  `json:"test"`
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_sec"`
}

// Summary gives the result's figures.
func (r *JobResult) Summary(j *Job) Summary {
	last := r.Result.Curves[len(r.Result.Curves)-1]
	opt, sched := j.Optimizer, j.Schedule
	if opt == "" {
		opt = "adam"
	}
	if sched == "" {
		sched = "cosine"
	}
	return Summary{
		Params: r.Params, Optimizer: opt, LR: r.LR, Schedule: sched, Batch: j.Fit.batch(),
		Epochs: r.Result.Epochs, Steps: r.Result.Steps, Resumed: j.Fit.Resume,
		Train:        Scores{Images: min(DefaultEvalTrain, j.Data.Train.N), Loss: last.TrainLoss, Accuracy: last.TrainAcc},
		Validation:   Scores{Images: j.Data.Val.N, Loss: last.ValLoss, Accuracy: last.ValAcc},
		Test:         Scores{Images: j.Test.N, Loss: r.TestLoss, Accuracy: r.TestAcc},
		Seconds:      r.Result.Seconds,
		ImagesPerSec: r.Result.ImagesPerSecond(),
	}
}
