package main

import (
	"context"

	"github.com/uqnn/uqnn/internal/ort"
)

// evalEngine classifies n images of raw 0..255 pixels with a model file and returns n·classes
// probabilities; batch is the batch size onnxruntime used for the same model.
type evalEngine func(ctx context.Context, model string, pp ort.Preprocess, raw []float32, n, batch int) ([]float32, error)

// evalEngines are the non-onnxruntime engines of `uqnn eval --engine`.
var evalEngines = map[string]evalEngine{}
