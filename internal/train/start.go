package train

import (
	"context"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/seed"
	"github.com/uqnn/uqnn/onnxio"
)

// Stream names: Loop's two, and the one that initialises a network built from scratch.
const (
	StreamDataOrder = "data order"
	StreamNoise     = "noise"
	StreamInit      = "init"
)

// Scratch builds the fixtures architecture arch with a seeded He initialisation drawn from the
// "init" stream of s (the same weights for the same seed, whatever else the run does).
func Scratch(arch string, s uint64) (*onnxio.Model, error) {
	return fixtures.Build(arch, seed.Rand(s, StreamInit))
}

// Start is the model a run starts from, with its pixel convention: with init, the ONNX file
// init, its preprocessing resolved from preprocess, else its metadata, else cal (pixel.Resolve);
// without, the fixtures architecture arch built from scratch (Scratch), its preprocessing from
// preprocess, else 0..1.
func Start(ctx context.Context, arch, init string, s uint64, preprocess string, cal pixel.Calibrator) (*onnxio.Model, pixel.Resolved, error) {
	if init == "" {
		m, err := Scratch(arch, s)
		if err != nil {
			return nil, pixel.Resolved{}, err
		}
		pp, err := pixel.Resolve(ctx, preprocess, m, &pixel.UnitRange, nil)
		return m, pp, err
	}
	m, err := onnxio.Load(init)
	if err != nil {
		return nil, pixel.Resolved{}, err
	}
	pp, err := pixel.Resolve(ctx, preprocess, m, nil, cal)
	return m, pp, err
}
