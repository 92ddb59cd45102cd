package adversarial

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/uqnn/uqnn/onnxio"
)

func TestOracleBudgetConcurrent(t *testing.T) {
	const (
		goroutines = 64
		limit      = 1000
		d          = 8
	)
	m := newLinearModel(1, 10, d)
	o, err := NewOracle(m, limit)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted int64
	)
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for {
				n := 1 + rng.IntN(9)
				_, err := o.Query(context.Background(), make([]float32, n*d), n)
				if err != nil {
					var be *BudgetError
					if !errors.Is(err, ErrBudgetExhausted) || !errors.As(err, &be) {
						t.Errorf("query of %d: got %v; want a *BudgetError matching ErrBudgetExhausted", n, err)
						return
					}
					if be.Used+be.Asked <= be.Limit || be.Limit != limit || be.Asked != int64(n) {
						t.Errorf("refusal %+v for a query of %d: the query would have fitted", *be, n)
					}
					if n == 1 {
						return // nothing fits any more
					}
					continue
				}
				mu.Lock()
				granted += int64(n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := m.images.Load(); got != limit || granted != limit || o.Used() != limit || o.Remaining() != 0 {
		t.Fatalf("model evaluated %d images, oracle granted %d, Used %d, Remaining %d; want exactly the budget %d and 0 left",
			got, granted, o.Used(), o.Remaining(), limit)
	}
}

func TestOracleRefusesWholeQuery(t *testing.T) {
	m := newLinearModel(1, 3, 4)
	o, err := NewOracle(m, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Query(context.Background(), make([]float32, 4*4), 4); err != nil {
		t.Fatal(err)
	}
	_, err = o.Query(context.Background(), make([]float32, 2*4), 2)
	var be *BudgetError
	if !errors.As(err, &be) || *be != (BudgetError{Used: 4, Limit: 5, Asked: 2}) {
		t.Fatalf("got %v; want BudgetError{Used: 4, Limit: 5, Asked: 2}", err)
	}
	if m.images.Load() != 4 {
		t.Fatalf("model evaluated %d images after a refused query; want 4", m.images.Load())
	}
	if _, err := o.Query(context.Background(), make([]float32, 4), 1); err != nil {
		t.Fatalf("the last query of 1 fits the budget: %v", err)
	}
}

func TestOracleConvertsAndValidates(t *testing.T) {
	m := newLinearModel(3, 4, 256)
	m.keep = true
	o, err := NewOracle(m, 100)
	if err != nil {
		t.Fatal(err)
	}
	img := make([]float32, 256)
	for k := range img {
		img[k] = float32(k) / 255
	}
	p, err := o.Query(context.Background(), img, 1)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range m.seen[0] {
		if v != float32(k) {
			t.Fatalf("pixel level %d reached the model as %v; want exactly %d (0..1 images on the 1/255 grid must convert losslessly)", k, v, k)
		}
	}
	var s float64
	for _, v := range p {
		s += float64(v)
	}
	// float32 rounding of 4 probabilities each within 2^-24 relative.
	const sumTol = 1e-6
	if math.Abs(s-1) > sumTol {
		t.Fatalf("probabilities sum to %v; want 1 ± %v", s, sumTol)
	}

	tests := []struct {
		name    string
		corrupt func([]float32)
	}{
		{"nan", func(p []float32) { p[1] = float32(math.NaN()) }},
		{"negative", func(p []float32) { p[0] = -0.5 }},
		{"inf", func(p []float32) { p[2] = float32(math.Inf(1)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.corrupt = tc.corrupt
			defer func() { m.corrupt = nil }()
			if _, err := o.Query(context.Background(), img, 1); !errors.Is(err, onnxio.ErrInvalidModel) {
				t.Fatalf("got %v; want an error matching onnxio.ErrInvalidModel", err)
			}
		})
	}
}

func TestNewOracleRejects(t *testing.T) {
	tests := []struct {
		name   string
		m      Model
		budget int64
	}{
		{"zero budget", newLinearModel(1, 3, 4), 0},
		{"negative budget", newLinearModel(1, 3, 4), -5},
		{"one class", newLinearModel(1, 1, 4), 10},
		{"nil model", nil, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewOracle(tc.m, tc.budget); err == nil {
				t.Fatalf("NewOracle(%s, %d) succeeded; want an error", tc.name, tc.budget)
			}
		})
	}
}

// logitModel emits fixed logits and says so, like *ort.Classifier on a logits model.
type logitModel struct{ z []float32 }

func (m logitModel) Classes() int       { return len(m.z) }
func (m logitModel) OutputIsProb() bool { return false }
func (m logitModel) Scores(_ context.Context, raw []float32, n int) ([]float32, error) {
	out := make([]float32, 0, n*len(m.z))
	for range n {
		out = append(out, m.z...)
	}
	return out, nil
}
func (m logitModel) Probs(ctx context.Context, raw []float32, n int) ([]float32, error) {
	z, _ := m.Scores(ctx, raw, n)
	out := make([]float32, len(z))
	for i := 0; i < len(z); i += len(m.z) {
		var s float64
		for _, v := range z[i : i+len(m.z)] {
			s += math.Exp(float64(v - m.z[1]))
		}
		for j, v := range z[i : i+len(m.z)] {
			out[i+j] = float32(math.Exp(float64(v-m.z[1])) / s)
		}
	}
	return out, nil
}

func TestOracleLogProbsFromLogits(t *testing.T) {
	// Logits this far apart underflow to one-hot float32 probabilities; their log-softmax is
	// exactly the logit differences.
	m := logitModel{z: []float32{0, 2000, -1000}}
	o, err := NewOracle(m, 4)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.Query(context.Background(), make([]float32, 2*5), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 1, 0, 0, 1, 0}; !slices.Equal(p, want) {
		t.Fatalf("Query = %v; want %v", p, want)
	}
	lp, err := o.LogProbs(context.Background(), make([]float32, 2*5), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{-2000, 0, -3000, -2000, 0, -3000}; !slices.Equal(lp, want) {
		t.Fatalf("LogProbs = %v; want %v", lp, want)
	}
	if o.Used() != 4 {
		t.Fatalf("Used = %d after two queries of 2; want 4", o.Used())
	}
}
