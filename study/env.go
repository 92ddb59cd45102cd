package study

import (
	"context"
	"fmt"
	"sync"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
)

// Env is a study in progress: its folder, configuration and the tools the stages share.
type Env struct {
	Dir    string
	Config Config
	// ORTLib is the onnxruntime library path ("" finds it as ort.Locate does).
	ORTLib string
	// Tool and Version are recorded in the artifacts (e.g. "uqnn study", "v0.3").
	Tool, Version string
	// Logf, when not nil, receives one line per stage and notes for the user.
	Logf func(format string, a ...any)

	once    sync.Once
	data    *Data
	dataErr error
}

// Data is the study's images: the training split (first Train.Images), validation and test
// sets (first ValImages and TestImages).
type Data struct {
	MNIST            *fixtures.MNIST
	Train, Val, Test *fixtures.Set
}

// Data loads the images once.
func (e *Env) Data() (*Data, error) {
	e.once.Do(func() {
		c := e.Config.Train
		m, err := fixtures.LoadMNIST(e.Config.Data)
		if err != nil {
			e.dataErr = fmt.Errorf("study: data: %w", err)
			return
		}
		tr, val, err := m.Split(c.Images)
		if err != nil {
			e.dataErr = fmt.Errorf("study: train.images: %w", err)
			return
		}
		if c.ValImages > 0 && c.ValImages < val.N {
			val = val.Slice(0, c.ValImages)
		}
		test := m.Test
		if c.TestImages > 0 && c.TestImages < test.N {
			test = test.Slice(0, c.TestImages)
		}
		e.data = &Data{MNIST: m, Train: tr, Val: val, Test: test}
	})
	return e.data, e.dataErr
}

// open starts an onnxruntime session on a model file with its pixel convention.
func (e *Env) open(path string, pp pixel.Preprocess, threads int) (*ort.Classifier, error) {
	if err := ort.Setup(e.ORTLib); err != nil {
		return nil, err
	}
	d, err := e.Data()
	if err != nil {
		return nil, err
	}
	c, err := ort.Open(path, pp, ort.Options{Height: d.Test.Rows, Width: d.Test.Cols, Threads: threads})
	if err != nil {
		return nil, err
	}
	if c.Classes() != fixtures.Classes {
		c.Close()
		return nil, fmt.Errorf("study: %s: gives %d scores per image; want %d (one per MNIST class)", path, c.Classes(), fixtures.Classes)
	}
	return c, nil
}

func (e *Env) logf(format string, a ...any) {
	if e.Logf != nil {
		e.Logf(format, a...)
	}
}

// ctxErr is the context's error or nil, for stages' loops.
func ctxErr(ctx context.Context) error { return ctx.Err() }
