package compress

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// Shared is a train.Stepper that fine-tunes the centroids of weight-shared layers (Deep
// Compression §3.3): the gradient of a centroid is the sum of the gradients of the weights that
// share it; the wrapped Stepper (SGD, Adam, …) moves the centroids with those sums, and every
// shared weight is then written back from its centroid, so the layer keeps at most its
// codebook's values. Pruned weights (index −1) stay exactly zero. Parameters without a codebook
// are passed to the wrapped Stepper unchanged. Use it as the Stepper of train.Fit on the model
// Quantize returned (with the pruning masks, if any); Codebooks then gives the tuned centroids.
type Shared struct {
	Inner     train.Stepper
	codebooks Codebooks
	wrapped   []train.Param // what Inner sees: centroids for shared params, the param otherwise
	shared    []*Codebook   // per param, its codebook or nil
}

// NewShared wraps inner so that it moves the centroids of cbs (which it copies).
func NewShared(inner train.Stepper, cbs Codebooks) (*Shared, error) {
	if inner == nil {
		return nil, fmt.Errorf("compress: shared fine-tuning: nil Stepper")
	}
	if len(cbs) == 0 {
		return nil, fmt.Errorf("compress: shared fine-tuning: no codebooks")
	}
	return &Shared{Inner: inner, codebooks: cbs.Clone()}, nil
}

// Codebooks returns the current (tuned) codebooks.
func (s *Shared) Codebooks() Codebooks { return s.codebooks.Clone() }

// Init implements train.Stepper.
func (s *Shared) Init(params []train.Param) error {
	s.wrapped = make([]train.Param, len(params))
	s.shared = make([]*Codebook, len(params))
	found := 0
	for i, p := range params {
		cb, ok := s.codebooks[p.Name]
		if !ok {
			s.wrapped[i] = p
			continue
		}
		if len(cb.Index) != len(p.Value) {
			return fmt.Errorf("compress: shared fine-tuning: codebook of %q indexes %d weights; the parameter has %d", p.Name, len(cb.Index), len(p.Value))
		}
		found++
		s.shared[i] = cb
		s.wrapped[i] = train.Param{Name: p.Name + "/centroids", Value: cb.Centroids, Grad: make([]float32, len(cb.Centroids))}
	}
	if found != len(s.codebooks) {
		for _, name := range slices.Sorted(maps.Keys(s.codebooks)) {
			if !hasName(params, name) {
				return fmt.Errorf("compress: shared fine-tuning: codebook for %q: the network has no trainable parameter of that name", name)
			}
		}
	}
	return s.Inner.Init(s.wrapped)
}

func hasName(params []train.Param, name string) bool {
	for _, p := range params {
		if p.Name == name {
			return true
		}
	}
	return false
}

// Step implements train.Stepper: sum gradients per centroid, step, write the weights back.
func (s *Shared) Step(params []train.Param, info train.StepInfo) error {
	if len(params) != len(s.wrapped) {
		return fmt.Errorf("compress: shared fine-tuning: %d parameters; Init saw %d", len(params), len(s.wrapped))
	}
	for i, p := range params {
		cb := s.shared[i]
		if cb == nil {
			s.wrapped[i] = p
			continue
		}
		g := s.wrapped[i].Grad
		clear(g)
		for j, a := range cb.Index {
			if a >= 0 {
				g[a] += p.Grad[j]
			}
		}
	}
	if err := s.Inner.Step(s.wrapped, info); err != nil {
		return err
	}
	for i, p := range params {
		if cb := s.shared[i]; cb != nil {
			for j, a := range cb.Index {
				if a >= 0 {
					p.Value[j] = cb.Centroids[a]
				} else {
					p.Value[j] = 0
				}
			}
		}
	}
	return nil
}

// MarshalState implements train.Stepper: the wrapped Stepper's state, then the centroids.
func (s *Shared) MarshalState() ([]byte, error) {
	in, err := s.Inner.MarshalState()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(in)))
	b.Write(in)
	for _, cb := range s.shared {
		if cb != nil {
			binary.Write(&b, binary.LittleEndian, cb.Centroids)
		}
	}
	return b.Bytes(), nil
}

// UnmarshalState implements train.Stepper.
func (s *Shared) UnmarshalState(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("compress: shared fine-tuning state: %d bytes; want at least 8", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	rest := b[8:]
	want := 0
	for _, cb := range s.shared {
		if cb != nil {
			want += 4 * len(cb.Centroids)
		}
	}
	if n > uint64(len(rest)) || uint64(len(rest))-n != uint64(want) {
		return fmt.Errorf("compress: shared fine-tuning state: %d bytes; want 8 + the inner state + %d bytes of centroids", len(b), want)
	}
	if err := s.Inner.UnmarshalState(rest[:n]); err != nil {
		return err
	}
	r := bytes.NewReader(rest[n:])
	for _, cb := range s.shared {
		if cb != nil {
			binary.Read(r, binary.LittleEndian, cb.Centroids)
		}
	}
	return nil
}

// QuantizeTuned is the whole quantization step of a chain: Quantize m as cfg says and, for
// k-means, fine-tune the centroids for epochs on env.Data through train.Fit (Shared wrapping
// Adam, or SGD with momentum 0.9 when env.Tune.Optimizer is "sgd"; learning rate env.Tune.LR,
// default 1e-4), with m's zeros held as masks so pruned weights stay pruned. It returns the
// model with the shared values and the tuned codebooks (nil for int8). m is unchanged.
func QuantizeTuned(ctx context.Context, m *onnxio.Model, cfg QuantizeConfig, env *Env, epochs int) (*onnxio.Model, Codebooks, error) {
	q, cbs, err := Quantize(m, cfg)
	if err != nil || cfg.Int8 || epochs <= 0 {
		return q, cbs, err
	}
	masks, err := NonZero(m)
	if err != nil {
		return nil, nil, err
	}
	var inner train.Stepper = &train.Adam{}
	if env.Tune.Optimizer == "sgd" {
		inner = &train.SGD{Momentum: 0.9}
	}
	st, err := NewShared(inner, cbs)
	if err != nil {
		return nil, nil, err
	}
	lr := env.Tune.LR
	if lr == 0 {
		lr = 1e-4
	}
	fit, err := train.Fit(ctx, q, env.Data, st, train.FitConfig{Config: train.Config{Epochs: epochs, Batch: env.Tune.Batch,
		LR: lr, Seed: env.Seed*1000003 + 10, Masks: masks}}, append([]train.Hook{train.EvalHook(-1)}, env.Hooks...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("compress: centroid fine-tuning: %w", err)
	}
	defer fit.Close()
	return fit.Model, st.Codebooks(), nil
}
