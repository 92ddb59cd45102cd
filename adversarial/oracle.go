package adversarial

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/onnxio"
)

// Model is a classifier seen as a black box: raw pixels in 0..255 in, class probabilities out.
// *ort.Classifier satisfies it. Probs must be safe for concurrent use.
type Model interface {
	// Probs returns n*Classes() probabilities for the n images in raw (n*d values, 0..255).
	Probs(ctx context.Context, raw []float32, n int) ([]float32, error)
	// Classes is the length of one probability vector.
	Classes() int
}

// scorer is implemented by models that can return their raw outputs (*ort.Classifier): when
// those are logits, the oracle computes log-probabilities from them in float64, which keeps the
// information that float32 probabilities lose when a confident model's softmax underflows.
type scorer interface {
	Scores(ctx context.Context, raw []float32, n int) ([]float32, error)
	OutputIsProb() bool
}

// minProb floors probabilities before their log, so a class whose probability underflowed to 0
// still has a finite log-probability (the GenAttack authors add 1e-30 for the same reason).
const minProb = 1e-30

// ErrBudgetExhausted is matched (errors.Is) by the error an Oracle returns when a query does
// not fit in what is left of its budget. The error itself is a *BudgetError.
var ErrBudgetExhausted = errors.New("query budget exhausted")

// BudgetError reports a refused query: Used images were already evaluated out of Limit, and
// the query asked for Asked more.
type BudgetError struct {
	Used, Limit, Asked int64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("adversarial: oracle: query of %d images refused: %d of %d used: %v",
		e.Asked, e.Used, e.Limit, ErrBudgetExhausted)
}

// Is makes errors.Is(err, ErrBudgetExhausted) true.
func (e *BudgetError) Is(target error) bool { return target == ErrBudgetExhausted }

// Oracle is the attacker's view of a Model: probabilities only, every evaluated image counted,
// and no query served past the budget. It is safe for concurrent use.
type Oracle struct {
	m       Model
	classes int
	limit   int64
	used    atomic.Int64
	total   *atomic.Int64 // optional shared counter (progress across oracles)
}

// NewOracle wraps m with a budget of images (queries). The budget must be positive.
func NewOracle(m Model, budget int64) (*Oracle, error) {
	if m == nil {
		return nil, errors.New("adversarial: NewOracle: nil model")
	}
	if budget <= 0 {
		return nil, fmt.Errorf("adversarial: NewOracle: budget %d: want a positive number of queries", budget)
	}
	c := m.Classes()
	if c < 2 {
		return nil, fmt.Errorf("adversarial: NewOracle: model has %d output classes; want a class-score vector of at least 2: %w",
			c, onnxio.ErrInvalidModel)
	}
	return &Oracle{m: m, classes: c, limit: budget}, nil
}

// Classes is the number of classes of the model behind the oracle.
func (o *Oracle) Classes() int { return o.classes }

// Used is the number of images evaluated (or reserved by queries in flight).
func (o *Oracle) Used() int64 { return o.used.Load() }

// Limit is the budget.
func (o *Oracle) Limit() int64 { return o.limit }

// Remaining is the number of images that can still be evaluated.
func (o *Oracle) Remaining() int64 { return o.limit - o.used.Load() }

// reserve takes n images from the budget or takes nothing.
func (o *Oracle) reserve(n int64) error {
	for {
		u := o.used.Load()
		if u+n > o.limit {
			return &BudgetError{Used: u, Limit: o.limit, Asked: n}
		}
		if o.used.CompareAndSwap(u, u+n) {
			if o.total != nil {
				o.total.Add(n)
			}
			return nil
		}
	}
}

// Query returns the class probabilities (n*Classes() values) of the n images in images
// (n*d values in 0..1). The n images are counted against the budget before the model runs;
// a query that does not fit is refused whole and nothing is evaluated. A query that reaches
// the model stays counted even if the model then fails. A reply that is not a probability
// vector per image is an error wrapping onnxio.ErrInvalidModel.
func (o *Oracle) Query(ctx context.Context, images []float32, n int) ([]float32, error) {
	raw, err := o.begin(ctx, images, n)
	if err != nil {
		return nil, err
	}
	p, err := o.m.Probs(ctx, raw, n)
	if err != nil {
		return nil, fmt.Errorf("adversarial: oracle: %w", err)
	}
	if err := o.check(p, n, true); err != nil {
		return nil, err
	}
	return p, nil
}

// LogProbs is Query returning natural-log probabilities in float64, at the same cost. For a
// model that emits logits (and says so through OutputIsProb), they are computed from the
// logits without passing through float32 probabilities; otherwise they are log(max(p, 1e-30)).
func (o *Oracle) LogProbs(ctx context.Context, images []float32, n int) ([]float64, error) {
	raw, err := o.begin(ctx, images, n)
	if err != nil {
		return nil, err
	}
	c := o.classes
	out := make([]float64, n*c)
	if s, ok := o.m.(scorer); ok && !s.OutputIsProb() {
		z, err := s.Scores(ctx, raw, n)
		if err != nil {
			return nil, fmt.Errorf("adversarial: oracle: %w", err)
		}
		if err := o.check(z, n, false); err != nil {
			return nil, err
		}
		for i := range n {
			prob.LogSoftmax(out[i*c:(i+1)*c], z[i*c:(i+1)*c])
		}
		return out, nil
	}
	p, err := o.m.Probs(ctx, raw, n)
	if err != nil {
		return nil, fmt.Errorf("adversarial: oracle: %w", err)
	}
	if err := o.check(p, n, true); err != nil {
		return nil, err
	}
	for i, v := range p {
		out[i] = math.Log(math.Max(float64(v), minProb))
	}
	return out, nil
}

// begin validates a query, reserves its images and converts them to raw 0..255 pixels.
func (o *Oracle) begin(ctx context.Context, images []float32, n int) ([]float32, error) {
	if n <= 0 || len(images) == 0 || len(images)%n != 0 {
		return nil, fmt.Errorf("adversarial: oracle: %d values for %d images: want n > 0 images of equal size", len(images), n)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := o.reserve(int64(n)); err != nil {
		return nil, err
	}
	raw := make([]float32, len(images))
	for i, v := range images {
		raw[i] = v * 255
	}
	return raw, nil
}

// check validates a reply of n rows: the right size, finite, and non-negative if probabilities.
func (o *Oracle) check(v []float32, n int, probs bool) error {
	if len(v) != n*o.classes {
		return fmt.Errorf("adversarial: oracle: model returned %d values for %d images of %d classes; want %d: %w",
			len(v), n, o.classes, n*o.classes, onnxio.ErrInvalidModel)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) || (probs && x < 0) {
			want := "a finite score"
			if probs {
				want = "a finite probability ≥ 0"
			}
			return fmt.Errorf("adversarial: oracle: image %d class %d: %v; want %s: %w",
				i/o.classes, i%o.classes, x, want, onnxio.ErrInvalidModel)
		}
	}
	return nil
}
