package compress

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// Method is one compression pass as `uqnn compress --method NAME` runs it: its hyperparameters
// (Options, which the CLI turns into flags) and Apply, which compresses a model with whatever
// training, calibration or validation it needs from Env. Methods are registered by name
// (Register) so a new one — sparse variational dropout, quantization — plugs into the CLI and
// into chains without touching either.
type Method interface {
	// Name is the name the method is registered and recorded under.
	Name() string
	// Options lists the hyperparameters, each bound to a field of the method; the CLI sets them
	// from flags before Apply.
	Options() []Option
	// Apply compresses m (never modifying it). Weights pruned by an earlier method of a chain
	// are in env.Prior and must stay zero.
	Apply(ctx context.Context, m *onnxio.Model, env *Env) (*Step, error)
}

// FineTuner is a Method whose retraining after pruning (the CLI's --finetune-epochs) can be
// set: magnitude's per-stage retraining, filter's and sdr's final fine-tuning.
type FineTuner interface {
	SetFineTuneEpochs(epochs int)
}

// Exclusive is a Method with options that replace others when set (sdr's --sdr-keep replaces
// the --tolerance search): each pair names two options of which at most one may be given. The
// CLI refuses both; a library caller who sets the first gets it, and the second is not used.
type Exclusive interface {
	Exclusive() [][2]string
}

// Supporter is a Method that can tell before any work whether a model has what it needs (filter
// pruning: Convs whose channels it can follow); Chain asks it first, so an unsupported model
// fails at once with an error wrapping onnxio.ErrUnsupported.
type Supporter interface {
	Supports(m *onnxio.Model) error
}

// Option is one hyperparameter of a Method, bound to a field: Value is a *float64, *int,
// *string or *bool, and the field's value when the method is constructed is the default.
type Option struct {
	Name  string // flag name (kebab-case, unique across methods)
	Usage string
	Value any
}

// Step is what a Method did.
type Step struct {
	Model *onnxio.Model
	// Masks are the weights the method pruned and that later training must keep at zero
	// (env.Prior included). Structural methods, which remove weights, give the masks of what
	// is left.
	Masks Masks
	// Params are the hyperparameters to record (Record.Params), marshalled as JSON.
	Params any
	// Notes are lines for the user (threshold found, filters removed).
	Notes []string
}

// Tune holds the retraining settings shared by every method: the optimizer and its rate for
// fine-tuning (train.Job with FineTune set: Adam at 1e-4 by default), batch and weight decay.
type Tune struct {
	Optimizer   string  `json:"optimizer,omitempty"` // "adam" (default) or "sgd"
	LR          float64 `json:"lr,omitempty"`        // 0: the method's default (see Retrain)
	WeightDecay float64 `json:"weight_decay"`
	Batch       int     `json:"batch,omitempty"` // 0: train.DefaultBatch
}

// recordParams is what a Record holds as Params: the method's hyperparameters, the retraining
// settings and the seed.
type recordParams struct {
	Method  any    `json:"method"`
	Retrain Tune   `json:"retrain"`
	Seed    uint64 `json:"seed"`
}

// Env is what methods need besides the model: the data (the training split for retraining
// and calibration, the validation split for thresholds — never the test set), a Runner for
// onnxruntime, the seed, the retraining settings, hooks added to every training run (progress)
// and a log for one line per stage.
type Env struct {
	Data  train.Data
	Run   Runner
	Seed  uint64
	Tune  Tune
	Hooks []train.Hook
	Log   io.Writer
	// Prior are the masks of earlier methods in a chain.
	Prior Masks
}

func (e *Env) logf(format string, a ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, format+"\n", a...)
	}
}

// RetrainLRScale is the default retraining rate of magnitude and filter pruning relative to
// train.Job's fine-tuning rate (Adam 1e-4, SGD 1e-3): 3× it, chosen on the validation split
// (LeNet-5 filter pruning 99.22% → 99.28% and LeNet-300-100 at 8% kept 98.14% → 98.54%
// validation accuracy, with 4 instead of 2–3 epochs per stage).
const RetrainLRScale = 3

// Retrain fine-tunes m for epochs on env.Data with masks fixed (masked entries stay exactly zero)
// and the extra hooks, and returns the retrained model. When Tune.LR is 0 the rate is lrScale ×
// train.Job's fine-tuning default. stream names the seed stream (each stage of a method uses
// its own, so stages are reproducible one by one).
func (e *Env) Retrain(ctx context.Context, m *onnxio.Model, masks Masks, epochs int, lrScale float64, stream uint64, hooks ...train.Hook) (*onnxio.Model, error) {
	if epochs <= 0 {
		return m, nil
	}
	job := train.Job{
		Model: m, Data: e.Data, Optimizer: e.Tune.Optimizer, LR: e.Tune.LR, FineTune: true,
		Momentum: 0.9, WeightDecay: e.Tune.WeightDecay,
		Fit: train.FitConfig{Config: train.Config{Epochs: epochs, Batch: e.Tune.Batch, Seed: e.Seed*1000003 + stream,
			EvalTrain: -1, Masks: masks}},
		Hooks: append(slices.Clone(hooks), e.Hooks...),
	}
	if err := job.Validate(); err != nil {
		return nil, fmt.Errorf("compress: retraining: %w", err)
	}
	if job.LR == 0 {
		_, base, err := job.Stepper()
		if err != nil {
			return nil, fmt.Errorf("compress: retraining: %w", err)
		}
		job.LR = base * lrScale
	}
	res, err := job.Run(ctx)
	if err != nil {
		return nil, fmt.Errorf("compress: retraining: %w", err)
	}
	defer res.Close()
	if n := len(res.Result.Curves); n > 0 {
		p := res.Result.Curves[n-1]
		e.logf("  retrained %d epochs: validation loss %.4f, accuracy %.2f%%", epochs, p.ValLoss, 100*p.ValAcc)
	}
	return res.Model, nil
}

// ValidationLoss returns an Evaluate that runs a model on env.Data.Val through env.Run and
// gives its mean cross-entropy (outputs are taken as probabilities when every row is
// non-negative and sums to 1 within probTol, else as logits). n > 0 uses the first n images.
func (e *Env) ValidationLoss(n int) Evaluate {
	return func(ctx context.Context, m *onnxio.Model) (float64, error) {
		loss, _, err := e.Score(ctx, m, &e.Data.Val, n)
		return loss, err
	}
}

// probTol is how far from 1 a row of outputs may sum and still be read as probabilities (the
// float32 rounding of a softmax over 10 classes stays far inside it).
const probTol = 1e-3

// Score runs m on the first n images of s (all when n ≤ 0 or n > s.N) through env.Run, with
// env.Data's pixel map, and returns mean cross-entropy and accuracy. A fixed batch b runs
// floor(n/b)·b images (at least b).
func (e *Env) Score(ctx context.Context, m *onnxio.Model, s *train.Set, n int) (loss, acc float64, err error) {
	if e.Run == nil {
		return 0, 0, fmt.Errorf("compress: no model runner")
	}
	if n <= 0 || n > s.N {
		n = s.N
	}
	n = fixedBatchCount(m, n)
	x := e.inputs(s, 0, n)
	outs, err := e.Run(ctx, m, x, n)
	if err != nil {
		return 0, 0, err
	}
	if len(outs) == 0 || len(outs[0])%n != 0 || len(outs[0]) < 2*n {
		return 0, 0, fmt.Errorf("compress: scoring: first output has %d values for %d images; want class scores", len(outs[0]), n)
	}
	out := outs[0]
	k := len(out) / n
	isProb := true
	for i := range n {
		var sum float64
		for _, v := range out[i*k : (i+1)*k] {
			if v < 0 {
				isProb = false
			}
			sum += float64(v)
		}
		if math.Abs(sum-1) > probTol {
			isProb = false
		}
	}
	var tot float64
	correct := 0
	for i := range n {
		row := out[i*k : (i+1)*k]
		label := int(s.Labels[i])
		var ce float64
		var ok bool
		if isProb {
			ce = -math.Log(math.Max(float64(row[min(label, k-1)]), 1e-30))
			ok = prob.Argmax(row) == label
		} else {
			ce, ok = prob.CrossEntropy(row, label)
		}
		tot += ce
		if ok {
			correct++
		}
	}
	return tot / float64(n), float64(correct) / float64(n), nil
}

// inputs returns images lo..hi of s mapped by the pixel map, flat (the layout of every MNIST
// model: one channel, so NCHW, NHWC and flat orders agree).
func (e *Env) inputs(s *train.Set, lo, hi int) []float32 {
	x := s.Float(lo, hi)
	for i, v := range x {
		x[i] = v*e.Data.Scale + e.Data.Offset
	}
	return x
}

// fixedBatchCount rounds n down to a multiple of m's fixed batch size (at least one batch).
func fixedBatchCount(m *onnxio.Model, n int) int {
	ins := m.Graph.DataInputs()
	if len(ins) != 1 || !ins[0].ShapeKnown || len(ins[0].Shape) == 0 {
		return n
	}
	b := int(ins[0].Dims()[0])
	if b <= 0 {
		return n
	}
	return max(n/b, 1) * b
}

var (
	regMu    sync.Mutex
	registry = map[string]func() Method{}
)

// Register makes a method available by name; new returns a method with its default
// hyperparameters. Registering a name twice panics (a programming error, at init time).
func Register(name string, new func() Method) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("compress: method " + name + " registered twice")
	}
	registry[name] = new
}

// MethodNames lists the registered methods, sorted.
func MethodNames() []string {
	regMu.Lock()
	defer regMu.Unlock()
	return slices.Sorted(maps.Keys(registry))
}

// NewMethod returns the named method with its defaults, or an error listing the known ones.
func NewMethod(name string) (Method, error) {
	regMu.Lock()
	f, ok := registry[name]
	regMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("compress: unknown method %q; want one of %v", name, MethodNames())
	}
	return f(), nil
}

// Chained is the result of a chain of methods.
type Chained struct {
	Model   *onnxio.Model
	Masks   Masks
	Records []Record
	Notes   []string
}

// Chain applies methods in order, each to the previous one's output with the masks so far as
// env.Prior, and appends one Record per method to the model's metadata (MetaKey). sourceSHA is
// the hex SHA-256 of the source file (for the first record; later ones hash the intermediate
// model).
func Chain(ctx context.Context, m *onnxio.Model, methods []Method, env Env, sourceSHA string) (*Chained, error) {
	if len(methods) == 0 {
		return nil, fmt.Errorf("compress: no methods to apply")
	}
	for _, meth := range methods {
		if s, ok := meth.(Supporter); ok {
			if err := s.Supports(m); err != nil {
				return nil, err
			}
		}
	}
	cur := m
	masks := env.Prior
	res := &Chained{}
	for i, meth := range methods {
		sha := sourceSHA
		if i > 0 {
			var err error
			if sha, err = ModelSHA256(cur); err != nil {
				return nil, err
			}
		}
		e := env
		e.Prior = masks
		e.logf("%s:", meth.Name())
		st, err := meth.Apply(ctx, cur, &e)
		if err != nil {
			return nil, fmt.Errorf("method %s: %w", meth.Name(), err)
		}
		led, err := NewLedger(cur, st.Model)
		if err != nil {
			return nil, err
		}
		rec := Record{Method: meth.Name(), Params: recordParams{st.Params, env.Tune, env.Seed}, SourceSHA256: sha, Kept: led.Kept}
		if err := Annotate(st.Model, rec); err != nil {
			return nil, err
		}
		res.Records = append(res.Records, rec)
		res.Notes = append(res.Notes, st.Notes...)
		cur, masks = st.Model, st.Masks
	}
	res.Model, res.Masks = cur, masks
	return res, nil
}

// remapPrior gives the masks of prior for a model whose layers may have lost filters: a layer
// whose weight kept its size keeps its mask; one that shrank keeps what is non-zero.
func remapPrior(prior Masks, m *onnxio.Model) Masks {
	if prior == nil {
		return nil
	}
	out := Masks{}
	for name, k := range prior {
		t := m.Initializer(name)
		if t == nil {
			continue
		}
		if int64(len(k)) == t.NumElements() {
			out[name] = slices.Clone(k)
			continue
		}
		nk := make([]bool, len(t.Float32))
		for i, v := range t.Float32 {
			nk[i] = v != 0
		}
		out[name] = nk
	}
	return out
}

// layerWeights lists the weight initializers of m's layers.
func layerWeights(m *onnxio.Model) ([]string, error) {
	ls, err := Layers(m)
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("compress: the model has no Conv, Gemm or MatMul weights: %w", onnxio.ErrUnsupported)
	}
	w := make([]string, len(ls))
	for i, l := range ls {
		w[i] = l.Weight
	}
	return w, nil
}
