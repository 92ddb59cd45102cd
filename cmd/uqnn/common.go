package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/onnxio"
)

// calibDefault is how many validation-split images `--preprocess auto` scores each preset on.
const calibDefault = 500

// writeJSON prints one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

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
	opt.Height, opt.Width = data.Rows, data.Cols
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

// checkModelFile makes a missing model file or a folder a bad-model error (exit 3) before any
// work starts.
func checkModelFile(path string) error {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w: cannot read the model file: %w", path, onnxio.ErrInvalidModel, errors.Unwrap(err))
	case st.IsDir():
		return fmt.Errorf("%s: %w: is a folder; want an .onnx file", path, onnxio.ErrInvalidModel)
	}
	return nil
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

// rate is images per second, 0 for an empty interval.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
