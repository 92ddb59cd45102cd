package study

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// Files of a network stage.
const (
	ModelFile   = "model.onnx"
	NetworkFile = "network.json"
	CurvesPNG   = "model.curves.png"
	CurvesCSV   = "model.curves.csv"
	ArchiveFile = "model.uqz"
)

// Network is a network stage's network.json: what the table reports of it.
type Network struct {
	Name       string `json:"name"`
	Preprocess string `json:"preprocess"`
	// Params and NonZero count layer weights (compress.Layers) of the base network and the non-zero
	// ones of this network; Kept is their ratio (1 for the base).
	Params  int64            `json:"params"`
	NonZero int64            `json:"nonzero"`
	Kept    float64          `json:"kept"`
	Ledger  *compress.Ledger `json:"ledger,omitempty"`
	// ArchiveBytes is the size of model.uqz, the network as compress.Archive packs it; 0 with
	// NoArchive saying why when the archive format cannot code the network (it codes quantized
	// layers only, so a float network has no model.uqz).
	ArchiveBytes int64  `json:"archive_bytes"`
	NoArchive    string `json:"no_archive,omitempty"`
	// Test scores the network alone on the study's test images (onnxruntime).
	Test bayes.Scores `json:"test"`
	// Train summarises the (re)training run; Curves says whether model.curves.* exist.
	Train  *train.Summary `json:"train,omitempty"`
	Curves bool           `json:"curves"`
	Note   string         `json:"note,omitempty"`
}

// ReadNetwork reads a finished network stage's network.json.
func ReadNetwork(dir string) (*Network, error) {
	var n Network
	return &n, readJSON(filepath.Join(dir, NetworkFile), &n)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("study: %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("study: %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// runTrain trains Train.Arch (a train.Job: Adam, cosine decay, L2 prior), or takes Config.Model.
func runTrain(ctx context.Context, e *Env, w *Work) error {
	d, err := e.Data()
	if err != nil {
		return err
	}
	c := e.Config
	if c.Model != "" {
		return takeModel(ctx, e, w, d)
	}
	m, err := train.Scratch(c.Train.Arch, c.Seed)
	if err != nil {
		return fmt.Errorf("study: train.arch: %w", err)
	}
	res, job, err := e.fit(ctx, w, m, pixel.UnitRange, nil, c.Train.Epochs, false, c.Seed)
	if err != nil {
		return err
	}
	defer res.Close()
	return e.finishNetwork(ctx, w, Base, m, res, job, pixel.UnitRange, nil, "")
}

// takeModel copies --model into the stage with its resolved pixel convention.
func takeModel(ctx context.Context, e *Env, w *Work, d *Data) error {
	cal := func(ctx context.Context) (pixel.Preprocess, []pixel.Calibration, int, error) {
		cl, err := e.open(e.Config.Model, pixel.UnitRange, 0)
		if err != nil {
			return pixel.Preprocess{}, nil, 0, err
		}
		defer cl.Close()
		n := min(500, d.Val.N)
		best, all, err := ort.Calibrate(ctx, cl, d.Val.Float(0, n), d.Val.Labels[:n], n)
		return best, all, n, err
	}
	m, pp, err := train.Start(ctx, "", e.Config.Model, 0, e.Config.Preprocess, cal)
	if err != nil {
		return fmt.Errorf("study: model %s: %w", e.Config.Model, err)
	}
	pp.Store(m)
	if err := m.Save(w.Path(ModelFile), onnxio.SaveOptions{}); err != nil {
		return err
	}
	return e.writeNetwork(ctx, w, Base, m, m, pp.Preprocess, nil, false, "taken from "+e.Config.Model+" ("+pp.Source+" preprocessing)")
}

// fit runs a train.Job on the study's data from m (fine-tuning when fineTune), with masks kept
// at zero and extra hooks; an interrupted fit leaves fit.ckpt in the work folder and the next
// attempt resumes from it.
func (e *Env) fit(ctx context.Context, w *Work, m *onnxio.Model, pp pixel.Preprocess, masks compress.Masks, epochs int, fineTune bool, sd uint64, hooks ...train.Hook) (*train.JobResult, *train.Job, error) {
	d, err := e.Data()
	if err != nil {
		return nil, nil, err
	}
	c := e.Config.Train
	ckpt := w.Path("fit.ckpt")
	_, statErr := os.Stat(ckpt)
	job := &train.Job{
		Model: m, Data: train.Data{Train: *d.Train, Val: *d.Val, Scale: pp.Scale, Offset: pp.Offset},
		Test: *d.Test, FineTune: fineTune, WeightDecay: c.WeightDecay,
		Fit: train.FitConfig{Config: train.Config{Epochs: epochs, Batch: c.Batch, Seed: sd,
			CurvesEvery: c.CurvesEvery, Checkpoint: ckpt, Masks: masks}, Resume: statErr == nil},
		Hooks: hooks,
	}
	if err := job.Validate(); err != nil {
		return nil, nil, fmt.Errorf("study: %w", err)
	}
	res, err := job.Run(ctx)
	if err != nil {
		return nil, nil, err
	}
	return res, job, nil
}

// finishNetwork saves a trained network with its curves and network.json.
func (e *Env) finishNetwork(ctx context.Context, w *Work, name string, base *onnxio.Model, res *train.JobResult, job *train.Job, pp pixel.Preprocess, rec *compress.Record, note string) error {
	if rec != nil {
		if err := compress.Annotate(res.Model, *rec); err != nil {
			return err
		}
	}
	if err := res.Save(train.PathsFor(w.Path(ModelFile)), pp, name); err != nil {
		return err
	}
	if err := os.Remove(w.Path("fit.ckpt")); err != nil && !os.IsNotExist(err) {
		return err
	}
	sum := res.Summary(job)
	sum.Seconds, sum.ImagesPerSec = 0, 0 // timings are not results: keep network.json reproducible
	return e.writeNetwork(ctx, w, name, base, res.Model, pp, &sum, true, note)
}

// writeNetwork scores m on the test images through onnxruntime and writes network.json.
func (e *Env) writeNetwork(ctx context.Context, w *Work, name string, base, m *onnxio.Model, pp pixel.Preprocess, sum *train.Summary, curves bool, note string) error {
	led, err := compress.NewLedger(base, m)
	if err != nil {
		return err
	}
	sc, _, err := e.score(ctx, w.Path(ModelFile), pp)
	if err != nil {
		return err
	}
	n := Network{Name: name, Preprocess: pp.String(), Params: led.Params, NonZero: led.NonZero, Kept: led.Kept,
		Test: sc, Train: sum, Curves: curves, Note: note}
	arch, _, err := compress.Archive(m)
	switch {
	case errors.Is(err, onnxio.ErrUnsupported):
		n.NoArchive = err.Error() // a float network: .uqz codes quantized layers only
	case err != nil:
		return fmt.Errorf("study: archiving %s: %w", name, err)
	default:
		if err := atomicfile.WriteFile(w.Path(ArchiveFile), arch); err != nil {
			return err
		}
		n.ArchiveBytes = int64(len(arch))
	}
	if name != Base {
		n.Ledger = led
	}
	return writeJSON(w.Path(NetworkFile), n)
}

// score evaluates a model file on the test images: accuracy, NLL, ECE, and per-image correctness.
func (e *Env) score(ctx context.Context, path string, pp pixel.Preprocess) (bayes.Scores, []bool, error) {
	d, err := e.Data()
	if err != nil {
		return bayes.Scores{}, nil, err
	}
	cl, err := e.open(path, pp, 0)
	if err != nil {
		return bayes.Scores{}, nil, err
	}
	defer cl.Close()
	probs, err := cl.Probs(ctx, d.Test.Float(0, d.Test.N), d.Test.N)
	if err != nil {
		return bayes.Scores{}, nil, err
	}
	sc, err := bayes.Evaluate(probs, cl.Classes(), d.Test.Labels, bayes.DefaultECEBins)
	if err != nil {
		return bayes.Scores{}, nil, err
	}
	k := cl.Classes()
	ok := make([]bool, d.Test.N)
	for i := range ok {
		best := 0
		for j := 1; j < k; j++ {
			if probs[i*k+j] > probs[i*k+best] {
				best = j
			}
		}
		ok[i] = best == int(d.Test.Labels[i])
	}
	return sc, ok, nil
}

// loadNetwork reads a finished network stage's model and pixel convention.
func loadNetwork(dir string) (*onnxio.Model, pixel.Preprocess, error) {
	m, err := onnxio.Load(filepath.Join(dir, ModelFile))
	if err != nil {
		return nil, pixel.Preprocess{}, err
	}
	pp, ok := pixel.FromModel(m)
	if !ok {
		return nil, pixel.Preprocess{}, fmt.Errorf("study: %s: no %s metadata", filepath.Join(dir, ModelFile), pixel.MetaKey)
	}
	return m, pp, nil
}
