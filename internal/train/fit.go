package train

import (
	"context"
	"fmt"
	"math"

	"github.com/uqnn/uqnn/internal/nn"
	"github.com/uqnn/uqnn/onnxio"
)

// FitConfig drives Fit: the loop's Config, the path of the checkpoint to continue from, and the
// graph options.
type FitConfig struct {
	Config
	// Resume continues from Config.Checkpoint (which must exist) instead of starting afresh.
	Resume bool
}

// Fitted is what Fit returns: the trained model (a new Model; the input is never modified), the
// loop's result, the number of trainable values, and the trainable net itself, still open for
// evaluation (Close it when done).
type Fitted struct {
	Model  *onnxio.Model
	Result *Result
	Params int
	Net    Net
	graph  *nn.Net
}

// Close frees the Gorgonia graph.
func (f *Fitted) Close() error {
	if f.graph == nil {
		return nil
	}
	return f.graph.Close()
}

// Fit is the one training run from Model to Model: it builds the trainable Gorgonia graph of m
// for minibatches of cfg.Batch (internal/nn), checks that the model's input holds one of the
// data's images, runs Loop (or Resume) with st and hooks — masks first-class through
// cfg.Masks — and writes the trained values back into a clone of m. The clone keeps every
// name, input, output and metadata entry of m; what was trained is what onnxruntime runs.
func Fit(ctx context.Context, m *onnxio.Model, data Data, st Stepper, cfg FitConfig, hooks ...Hook) (*Fitted, error) {
	if m == nil {
		return nil, fmt.Errorf("train: Fit: nil model")
	}
	g, err := nn.Build(m, nn.Config{Batch: cfg.batch()})
	if err != nil {
		return nil, err
	}
	f := &Fitted{graph: g}
	fail := func(err error) (*Fitted, error) {
		g.Close()
		return nil, err
	}
	if err := CheckInput(g.InputShape(), data.Train); err != nil {
		return fail(err)
	}
	if f.Net, err = NN(g); err != nil {
		return fail(err)
	}
	for _, p := range f.Net.Params() {
		for i, v := range p.Value {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fail(fmt.Errorf("train: %w: initializer %q holds %v at index %d; want finite weights", onnxio.ErrInvalidModel, p.Name, v, i))
			}
		}
	}
	for _, p := range f.Net.Params() {
		f.Params += len(p.Value)
	}
	if cfg.Resume {
		f.Result, err = Resume(ctx, f.Net, data, st, cfg.Config, cfg.Checkpoint, hooks...)
	} else {
		f.Result, err = Loop(ctx, f.Net, data, st, cfg.Config, hooks...)
	}
	if err != nil {
		return fail(err)
	}
	f.Model = m.Clone()
	if err := g.WriteBack(f.Model); err != nil {
		return fail(err)
	}
	return f, nil
}

// CheckInput reports a network input shape ([batch, …]) that does not hold exactly one of the
// set's images, naming both shapes.
func CheckInput(shape []int, s Set) error {
	n := 1
	for _, v := range shape[min(1, len(shape)):] {
		n *= v
	}
	if len(shape) < 2 || n != s.Dim() {
		return fmt.Errorf("train: %w: the model's input shape %v holds %d values per image; the data's images are %d×%d (%d values)",
			onnxio.ErrUnsupported, shape, n, s.Rows, s.Cols, s.Dim())
	}
	return nil
}
