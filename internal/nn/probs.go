package nn

import (
	"context"
	"fmt"

	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/onnxio"
)

// ProbsMinBatch is the smallest batch Probs runs: the Net's batch is free whatever the model
// declares, and a fixed-batch model's own batch (1 for the CNTK zoo model) would make one
// graph run per image.
const ProbsMinBatch = 64

// Probs classifies n images of raw 0..255 pixels (n·dim values) through the Gorgonia graph
// built from m and returns n·classes probabilities (a softmax of the logits). Each pixel
// becomes raw·pp.Scale + pp.Offset. The Net runs batch images at a time whatever the model's
// own batch dimension (at least ProbsMinBatch, at most n); the last, partial batch is padded
// with zero images whose rows are dropped. A model whose input does not hold dim values per
// image is an error wrapping onnxio.ErrUnsupported.
func Probs(ctx context.Context, m *onnxio.Model, pp pixel.Preprocess, raw []float32, n, dim, batch int) ([]float32, error) {
	if n <= 0 || dim <= 0 || len(raw) != n*dim {
		return nil, fmt.Errorf("nn: Probs: %d values for %d images of %d pixels; want n·dim = %d with n, dim > 0", len(raw), n, dim, n*dim)
	}
	batch = max(1, min(max(batch, ProbsMinBatch), n))
	net, err := Build(m, Config{Batch: batch})
	if err != nil {
		return nil, err
	}
	defer net.Close()
	per := 1
	for _, d := range net.InputShape()[1:] {
		per *= d
	}
	if per != dim {
		return nil, fmt.Errorf("%w: input shape %v holds %d values per image; want %d (the data's images)", onnxio.ErrUnsupported, net.InputShape(), per, dim)
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
			return nil, fmt.Errorf("images %d..%d: %w", lo, hi-1, err)
		}
		rows := logits[:(hi-lo)*k]
		prob.Softmax(rows, k)
		out = append(out, rows...)
	}
	return out, nil
}
