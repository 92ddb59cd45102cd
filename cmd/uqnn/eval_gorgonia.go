package main

import (
	"context"
	"fmt"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/nn"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/onnxio"
)

// gorgoniaMinBatch is the smallest batch the Gorgonia engine runs: the Net's batch is free
// whatever the model declares, and a fixed-batch model's own batch (1 for the CNTK zoo
// model) would make one graph run per image.
const gorgoniaMinBatch = 64

// gorgoniaProbs classifies n images of raw 0..255 pixels (n·784 values) through the Gorgonia
// graph built from m (decoded from modelPath, which names it in errors) and returns n·classes probabilities. Each pixel becomes
// raw·pp.Scale + pp.Offset. The Net runs batch images at a time whatever the model's own batch
// dimension (at least gorgoniaMinBatch); the last, partial batch is padded with zero images whose rows are dropped.
func gorgoniaProbs(ctx context.Context, modelPath string, m *onnxio.Model, pp pixel.Preprocess, raw []float32, n int, batch int) ([]float32, error) {
	if n < 0 || len(raw) != n*fixtures.Pixels {
		return nil, fmt.Errorf("gorgonia: %d values for %d images; want %d (n·784)", len(raw), n, n*fixtures.Pixels)
	}
	batch = max(1, min(max(batch, gorgoniaMinBatch), n))
	net, err := nn.Build(m, nn.Config{Batch: batch})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modelPath, err)
	}
	defer net.Close()
	per := 1
	for _, d := range net.InputShape()[1:] {
		per *= d
	}
	if per != fixtures.Pixels {
		return nil, fmt.Errorf("%s: %w: input shape %v holds %d values per image; want %d (28×28)", modelPath, onnxio.ErrUnsupported, net.InputShape(), per, fixtures.Pixels)
	}
	k := net.Classes()
	x := make([]float32, batch*per)
	out := make([]float32, 0, n*k)
	for lo := 0; lo < n; lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+batch, n)
		clear(x)
		for i, v := range raw[lo*per : hi*per] {
			x[i] = v*pp.Scale + pp.Offset
		}
		logits, err := net.Forward(x)
		if err != nil {
			return nil, fmt.Errorf("%s: images %d..%d: %w", modelPath, lo, hi-1, err)
		}
		rows := logits[:(hi-lo)*k]
		prob.Softmax(rows, k)
		out = append(out, rows...)
	}
	return out, nil
}
