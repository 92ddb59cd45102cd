package main

import (
	"context"
	"fmt"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/onnxio"
)

// calibDefault is how many validation-split images `--preprocess auto` scores each preset on.
const calibDefault = 500

// loadMNIST reads --data (or the default) with an error that names the flag.
func loadMNIST(dir string) (*fixtures.MNIST, error) {
	m, err := fixtures.LoadMNIST(dir)
	if err != nil {
		if dir != "" {
			return nil, usagef("--data %s: %v", dir, err)
		}
		return nil, err
	}
	return m, nil
}

// openClassifier validates the model with onnxio (external data confined to the model's folder,
// tensor sizes checked) and opens an onnxruntime session on it.
// It returns the decoded model too.
// The data's image geometry (Rows×Cols of data) goes into opt.
func openClassifier(g *globals, path string, data *fixtures.Set, opt ort.Options) (*ort.Classifier, *onnxio.Model, error) {
	m, err := onnxio.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if err := ort.Setup(g.ortLib); err != nil {
		return nil, nil, err
	}
	opt.Height, opt.Width, opt.Checked = data.Rows, data.Cols, true // onnxio.Load above read it
	c, err := ort.Open(path, pixel.UnitRange, opt)
	if err != nil {
		return nil, nil, err
	}
	if c.Classes() != fixtures.Classes {
		c.Close()
		return nil, nil, fmt.Errorf("%s: %w: output %q gives %d scores per image; want %d (one per MNIST class)",
			path, onnxio.ErrInvalidModel, c.OutputName(), c.Classes(), fixtures.Classes)
	}
	return c, m, nil
}

// resolvePreprocess resolves --preprocess for a model: the flag, else (auto) the model's
// metadata, else calibration on calibN validation images through c.
func resolvePreprocess(ctx context.Context, flag string, c *ort.Classifier, model *onnxio.Model, m *fixtures.MNIST, calibN int) (pixel.Resolved, error) {
	r, err := pixel.Resolve(ctx, flag, model, nil, calibrator(c, m, calibN))
	if err != nil {
		if _, _, perr := pixel.Parse(flag); perr != nil {
			return pixel.Resolved{}, usagef("%v", err)
		}
	}
	return r, err
}

// calibrator scores the presets through c on the first calibN validation images.
func calibrator(c *ort.Classifier, m *fixtures.MNIST, calibN int) pixel.Calibrator {
	return func(ctx context.Context) (pixel.Preprocess, []pixel.Calibration, int, error) {
		v := m.Validation()
		n := min(max(calibN, 1), v.N)
		best, all, err := ort.Calibrate(ctx, c, v.Float(0, n), v.Labels[:n], n)
		return best, all, n, err
	}
}

// calibrateFile is the calibrator of the model file path, opened only if calibration is needed.
func calibrateFile(g *globals, path string, m *fixtures.MNIST, calibN int) pixel.Calibrator {
	return func(ctx context.Context) (pixel.Preprocess, []pixel.Calibration, int, error) {
		c, _, err := openClassifier(g, path, m.Test, ort.Options{})
		if err != nil {
			return pixel.Preprocess{}, nil, 0, err
		}
		defer c.Close()
		return calibrator(c, m, calibN)(ctx)
	}
}

// Splits a scoring verb's --split takes.
const splitHelp = "images to score: test (the 10,000 test images) or validation (the last 5,000 training images, which uqnn train and sample never train on)"

// splitSizes are the sets a scoring verb's --split names, with their sizes.
var splitSizes = map[string]int{"test": fixtures.TestSize, "validation": fixtures.ValidationSize}

// checkSplit checks a --split value before any work and returns the size of its set.
func checkSplit(split string) (int, error) {
	n, ok := splitSizes[split]
	if !ok {
		return 0, usagef("--split %q: want test or validation", split)
	}
	return n, nil
}

// splitSet is the set --split names: m.Test, or m.Validation().
func splitSet(m *fixtures.MNIST, split string) *fixtures.Set {
	if split == "validation" {
		return m.Validation()
	}
	return m.Test
}

func testCount(n int, s *fixtures.Set) int {
	if n <= 0 {
		return s.N
	}
	return min(n, s.N)
}

// testAccuracy scores c on s in onnxruntime.
func testAccuracy(ctx context.Context, c *ort.Classifier, s *fixtures.Set) (float64, error) {
	probs, err := c.Probs(ctx, s.Float(0, s.N), s.N)
	if err != nil {
		return 0, err
	}
	sc, err := bayes.Evaluate(probs, c.Classes(), s.Labels[:s.N], bayes.DefaultECEBins)
	return sc.Accuracy, err
}
