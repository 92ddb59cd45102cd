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
func openClassifier(g *globals, path string, opt ort.Options) (*ort.Classifier, *onnxio.Model, error) {
	m, err := onnxio.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if err := ort.Setup(g.ortLib); err != nil {
		return nil, nil, err
	}
	c, err := ort.Open(path, ort.Presets[0], opt)
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

// How a pixel mapping was chosen.
const (
	ppFromFlag        = "flag"        // --preprocess named it
	ppFromMetadata    = "metadata"    // auto: the model's uqnn.preprocess metadata (written by uqnn train)
	ppFromCalibration = "calibration" // auto: the best preset on labelled validation images
)

// resolvedPreprocess is the pixel mapping a command uses and how it was chosen.
type resolvedPreprocess struct {
	ort.Preprocess
	Auto        bool              `json:"auto"`
	Source      string            `json:"source"`
	CalibImages int               `json:"calibration_images,omitempty"`
	Candidates  []ort.Calibration `json:"candidates,omitempty"`
}

// resolvePreprocess parses --preprocess. "auto" takes the model's own uqnn.preprocess metadata
// when model is given and has it, else calibrates on calibN validation images.
func resolvePreprocess(ctx context.Context, flag string, c *ort.Classifier, model *onnxio.Model, m *fixtures.MNIST, calibN int) (resolvedPreprocess, error) {
	pp, auto, err := ort.ParsePreprocess(flag)
	if err != nil {
		return resolvedPreprocess{}, usagef("%v", err)
	}
	if !auto {
		return resolvedPreprocess{Preprocess: pp, Source: ppFromFlag}, nil
	}
	if model != nil {
		if v, ok := model.Meta(fixtures.MetaPreprocess); ok {
			if pp, auto, err := ort.ParsePreprocess(v); err == nil && !auto {
				return resolvedPreprocess{Preprocess: pp, Auto: true, Source: ppFromMetadata}, nil
			}
		}
	}
	v := m.Validation()
	calibN = min(max(calibN, 1), v.N)
	pp, cands, err := ort.Calibrate(ctx, c, v.Float(0, calibN), v.Labels[:calibN], calibN)
	if err != nil {
		return resolvedPreprocess{}, err
	}
	return resolvedPreprocess{Preprocess: pp, Auto: true, Source: ppFromCalibration, CalibImages: calibN, Candidates: cands}, nil
}

// rate is images per second, 0 for an empty interval.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func describePP(pp ort.Preprocess) string {
	return fmt.Sprintf("%s (x·%.6g %+.6g)", pp.Name, pp.Scale, pp.Offset)
}
