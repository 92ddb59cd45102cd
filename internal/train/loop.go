package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/uqnn/uqnn/internal/seed"
)

// DefaultBatch is the minibatch size of a zero Config.
const DefaultBatch = 64

// Config drives Loop. The zero value of each field means the documented default.
type Config struct {
	Epochs   int      // passes over the training set; must be ≥ 1
	Batch    int      // minibatch size; 0 means DefaultBatch
	LR       float64  // base learning rate; must be > 0
	Schedule Schedule // LR multiplier per step; nil means constant
	// Explore, when set, marks the steps (0-based, of Epochs·steps per epoch) that a sampler
	// takes as its optimizer, without noise (StepInfo.Explore): cyclical SG-MCMC's exploration
	// stage (CyclicalExplore). Optimizers ignore it. Nil marks none.
	Explore func(step, total int) bool
	Seed    uint64 // seeds the "data order" and "noise" streams
	// CurvesEvery and EvalTrain configure the default hooks (DefaultHooks) that Loop and
	// Resume install when the caller passes neither an EvalHook nor a CurvesHook of its own:
	// CurvesEvery is CurvesHook's every (0: points at epoch ends only), EvalTrain is
	// EvalHook's trainN (0: DefaultEvalTrain, negative: none).
	CurvesEvery int
	EvalTrain   int
	// Checkpoint is the file written when ctx is cancelled; "" writes none.
	Checkpoint string
	// Masks maps parameter names to keep-masks (len = the parameter's size): entries with false
	// are set to zero before the first step and stay exactly zero through every Stepper,
	// optimizer or sampler (their gradients are zeroed after the AfterGrad hooks and their values
	// after each step, before any AfterStep hook sees them). A name the net lacks is an error.
	Masks map[string][]bool
	// Settings are the run's result-changing settings by name (learning rate, optimizer and its
	// hyperparameters, …) as the caller spells them; they go into checkpoints and Resume refuses
	// a run whose Settings differ, naming the first that does.
	Settings map[string]string
}

func (c Config) batch() int {
	if c.Batch <= 0 {
		return DefaultBatch
	}
	return c.Batch
}

// Result summarises a run (or the resumed part and what came before it).
type Result struct {
	Epochs  int     // epochs completed
	Steps   int     // steps completed
	Images  int64   // training images seen, across resumes
	Seconds float64 // time spent stepping and evaluating, across resumes
	Curves  []Point // what the Curves hook collected (nil without one)
}

// ImagesPerSecond is the training throughput, evaluation time included.
func (r *Result) ImagesPerSecond() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Images) / r.Seconds
}

// State is what a Hook sees. Its fields are read-only to hooks, except the parameter values
// and gradients reached through Params.
type State struct {
	Net           Net
	Params        []Param
	Epoch         int     // current epoch, 0-based (equal to Config.Epochs after the last one)
	Step          int     // steps completed
	StepInEpoch   int     // steps completed in the current epoch
	StepsPerEpoch int     //
	Loss          float64 // loss of the last minibatch
	LR            float64 // learning rate of the last step
	Images        int64   // training images seen
	Seconds       float64 // time spent so far
	// Curves are the points the Curves hook has collected so far (nil without one); hooks
	// after it see the point it adds at this step or epoch end.
	Curves []Point
	// Eval is the epoch-end evaluation of the epoch just completed: EpochEnd hooks (EvalHook)
	// fill it, AfterEpoch hooks read it; it is zero elsewhere.
	Eval Eval
	run  *run
}

// Eval is an epoch-end evaluation: mean cross-entropy and accuracy on the first TrainN training
// images and on the validation set (zero when not measured).
type Eval struct {
	TrainN, ValN        int
	TrainLoss, TrainAcc float64
	ValLoss, ValAcc     float64
}

// WriteCheckpoint saves the loop's state at this point (atomically); Resume continues from it.
// Only valid inside AfterStep and AfterEpoch.
func (s *State) WriteCheckpoint(path string) error { return s.run.writeCheckpoint(path) }

// Hook acts around each step. Nil fields are skipped; an error stops the loop and is returned.
// A hook that collects something (a trace, ensemble members' losses) gives a Name and Save/Load:
// its state then goes into every checkpoint and comes back on Resume, so what it collected
// survives Ctrl-C.
type Hook struct {
	Name string
	Save func() ([]byte, error)
	Load func([]byte) error
	// AfterGrad runs once the minibatch gradient is in Params[i].Grad, before the Stepper
	// (add a prior or KL term, clip).
	AfterGrad func(ctx context.Context, s *State) error
	// AfterStep runs once the Stepper has moved the parameters (re-apply a pruning mask,
	// record a sample, report progress).
	AfterStep func(ctx context.Context, s *State) error
	// EpochEnd runs when an epoch's last step is done, before the epoch counts as done: it
	// measures (EvalHook fills State.Eval) and must not change what a rerun of it would see.
	// When ctx is cancelled during it, the checkpoint keeps the position at the epoch's end, and
	// Resume runs every EpochEnd hook again.
	EpochEnd func(ctx context.Context, s *State) error
	// AfterEpoch runs at each epoch end, once the epoch counts as done (State.Epoch is the
	// number of epochs done): the Curves hook records its point, Progress reports it.
	AfterEpoch func(ctx context.Context, s *State) error

	kind   hookKind       // which of the package's own hooks this is (0: none)
	points func() []Point // the Curves hook's points
}

type hookKind int

const (
	kindEval hookKind = iota + 1
	kindCurves
)

type run struct {
	net     Net
	params  []Param
	data    Data
	st      Stepper
	cfg     Config
	hooks   []Hook
	batch   int
	perEp   int // steps per epoch
	points  func() []Point
	dataPCG *rand.PCG
	noise   *rand.PCG
	dataRNG *rand.Rand
	noiseRN *rand.Rand

	epoch, step, pos int
	perm             []int32 // this epoch's order; nil before it is drawn
	images           int64
	seconds          float64   // spent before this call (earlier segments of a resumed run)
	start            time.Time // when this call began
	lastLR           float64

	state State
	x     []float32
	y     []int
	masks [][]int32 // per parameter, the indices held at zero (nil: unmasked)
}

func newRun(net Net, data Data, st Stepper, cfg Config, hooks []Hook) (*run, error) {
	if net == nil || st == nil {
		return nil, fmt.Errorf("train: nil Net or Stepper")
	}
	if err := data.Train.Check("training"); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if data.Val.N > 0 {
		if err := data.Val.Check("validation"); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if data.Val.Rows != data.Train.Rows || data.Val.Cols != data.Train.Cols {
			return nil, fmt.Errorf("train: validation images are %d×%d, training images %d×%d", data.Val.Rows, data.Val.Cols, data.Train.Rows, data.Train.Cols)
		}
	}
	if data.Scale == 0 {
		return nil, fmt.Errorf("train: Data.Scale is 0; want the pixel map x·Scale+Offset (1/255 for 0..1)")
	}
	if cfg.Epochs < 1 {
		return nil, fmt.Errorf("train: %d epochs; want at least 1", cfg.Epochs)
	}
	if !(cfg.LR > 0) {
		return nil, fmt.Errorf("train: learning rate %g; want > 0", cfg.LR)
	}
	b := cfg.batch()
	if data.Train.N < b {
		return nil, fmt.Errorf("train: %d training images is less than one batch of %d", data.Train.N, b)
	}
	params := net.Params()
	if len(params) == 0 {
		return nil, fmt.Errorf("train: the network has no trainable parameters")
	}
	for _, p := range params {
		if len(p.Grad) != len(p.Value) {
			return nil, fmt.Errorf("train: parameter %q has %d values but %d gradients", p.Name, len(p.Value), len(p.Grad))
		}
	}
	masks, err := resolveMasks(params, cfg.Masks)
	if err != nil {
		return nil, err
	}
	hooks = withDefaults(cfg, hooks)
	r := &run{
		net: net, params: params, data: data, st: st, cfg: cfg, hooks: hooks,
		batch: b, perEp: data.Train.N / b,
		dataPCG: seed.Stream(cfg.Seed, StreamDataOrder),
		noise:   seed.Stream(cfg.Seed, StreamNoise),
		x:       make([]float32, b*data.Train.Dim()),
		y:       make([]int, b),
		masks:   masks,
	}
	r.dataRNG, r.noiseRN = rand.New(r.dataPCG), rand.New(r.noise)
	for _, h := range hooks {
		if h.points != nil && r.points == nil {
			r.points = h.points
		}
	}
	return r, nil
}

// Loop trains net on data.Train for cfg.Epochs epochs, moving the parameters with st, and
// returns the curves. When ctx is cancelled it writes cfg.Checkpoint (if set) at the last
// completed step and returns an error wrapping ctx.Err().
func Loop(ctx context.Context, net Net, data Data, st Stepper, cfg Config, hooks ...Hook) (*Result, error) {
	r, err := newRun(net, data, st, cfg, hooks)
	if err != nil {
		return nil, err
	}
	if err := st.Init(r.params); err != nil {
		return nil, fmt.Errorf("train: stepper: %w", err)
	}
	r.applyMasks(false)
	return r.run(ctx)
}

// Resume restores the checkpoint at path into net and st and continues the run it came
// from; with the same net, data, stepper kind and cfg it ends bit-identical to a run that was
// never interrupted.
func Resume(ctx context.Context, net Net, data Data, st Stepper, cfg Config, path string, hooks ...Hook) (*Result, error) {
	r, err := newRun(net, data, st, cfg, hooks)
	if err != nil {
		return nil, err
	}
	ck, err := ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if err := r.restore(ck); err != nil {
		return nil, fmt.Errorf("train: resume from %s: %w", path, err)
	}
	return r.run(ctx)
}

func (r *run) lr() float64 {
	if r.cfg.Schedule == nil {
		return r.cfg.LR
	}
	return r.cfg.LR * r.cfg.Schedule(r.step, r.cfg.Epochs*r.perEp)
}

func (r *run) syncState() *State {
	s := &r.state
	*s = State{
		Net: r.net, Params: r.params, Epoch: r.epoch, Step: r.step,
		StepInEpoch: r.pos / r.batch, StepsPerEpoch: r.perEp, Loss: s.Loss, LR: r.lastLR,
		Images: r.images, Seconds: r.elapsed(), Curves: r.curves(), Eval: s.Eval, run: r,
	}
	return s
}

// curves are the Curves hook's points so far.
func (r *run) curves() []Point {
	if r.points == nil {
		return nil
	}
	return r.points()
}

// each runs one phase of every hook, wrapping a hook's error with where it happened.
func (r *run) each(ctx context.Context, phase func(Hook) func(context.Context, *State) error, where func() string) error {
	for _, h := range r.hooks {
		if f := phase(h); f != nil {
			if err := f(ctx, r.syncState()); err != nil {
				return fmt.Errorf("train: %s: %w", where(), err)
			}
		}
	}
	return nil
}

func (r *run) cancelled(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if r.cfg.Checkpoint == "" {
		return fmt.Errorf("train: interrupted at epoch %d step %d: %w", r.epoch+1, r.step, ctx.Err())
	}
	if err := r.writeCheckpoint(r.cfg.Checkpoint); err != nil {
		return fmt.Errorf("train: interrupted at epoch %d step %d, and the checkpoint failed: %w (%w)", r.epoch+1, r.step, err, ctx.Err())
	}
	return fmt.Errorf("train: interrupted at epoch %d step %d; checkpoint %s: %w", r.epoch+1, r.step, r.cfg.Checkpoint, ctx.Err())
}

// elapsed is the time spent in this run, earlier segments (before a Resume) included.
func (r *run) elapsed() float64 { return r.seconds + time.Since(r.start).Seconds() }

func (r *run) run(ctx context.Context) (*Result, error) {
	r.start = time.Now()
	d := r.data
	idx := make([]int, r.batch)
	for r.epoch < r.cfg.Epochs {
		if r.perm == nil {
			r.perm = make([]int32, d.Train.N)
			for i, v := range r.dataRNG.Perm(d.Train.N) {
				r.perm[i] = int32(v)
			}
			r.pos = 0
		}
		for r.pos+r.batch <= d.Train.N {
			if err := r.cancelled(ctx); err != nil {
				return nil, err
			}
			for i := range idx {
				idx[i] = int(r.perm[r.pos+i])
			}
			fill(d.Train, idx, d.Scale, d.Offset, r.x, r.y)
			loss, err := r.net.LossGrad(r.x, r.y)
			if err != nil {
				return nil, fmt.Errorf("train: epoch %d step %d: %w", r.epoch+1, r.step, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, fmt.Errorf("train: epoch %d step %d: loss is %g; lower the learning rate (now %g)", r.epoch+1, r.step, loss, r.lr())
			}
			r.state.Loss = loss
			lr := r.lr()
			r.lastLR = lr
			at := func() string { return fmt.Sprintf("epoch %d step %d", r.epoch+1, r.step) }
			if err := r.each(ctx, func(h Hook) func(context.Context, *State) error { return h.AfterGrad }, at); err != nil {
				return nil, err
			}
			r.applyMasks(true)
			info := StepInfo{Step: r.step, Epoch: r.epoch, LR: lr, N: d.Train.N, Batch: r.batch, Rand: r.noiseRN}
			if r.cfg.Explore != nil {
				info.Explore = r.cfg.Explore(r.step, r.cfg.Epochs*r.perEp)
			}
			if err := r.st.Step(r.params, info); err != nil {
				return nil, fmt.Errorf("train: epoch %d step %d: %w", r.epoch+1, r.step, err)
			}
			r.applyMasks(false)
			r.pos += r.batch
			r.step++
			r.images += int64(r.batch)
			if err := r.each(ctx, func(h Hook) func(context.Context, *State) error { return h.AfterStep }, at); err != nil {
				return nil, err
			}
		}
		r.state.Eval = Eval{}
		if err := r.each(ctx, func(h Hook) func(context.Context, *State) error { return h.EpochEnd }, func() string {
			return fmt.Sprintf("evaluating after epoch %d", r.epoch+1)
		}); err != nil {
			if ctx.Err() != nil {
				// The epoch's steps are done but it is not: the checkpoint keeps the position at
				// the epoch's end, so Resume runs only its EpochEnd hooks again.
				return nil, r.cancelled(ctx)
			}
			return nil, err
		}
		r.epoch++
		r.perm, r.pos = nil, 0
		if err := r.each(ctx, func(h Hook) func(context.Context, *State) error { return h.AfterEpoch }, func() string {
			return fmt.Sprintf("after epoch %d", r.epoch)
		}); err != nil {
			return nil, err
		}
		r.state.Eval = Eval{}
	}
	return &Result{Epochs: r.epoch, Steps: r.step, Images: r.images, Seconds: r.elapsed(), Curves: r.curves()}, nil
}

// resolveMasks turns Config.Masks into the indices each parameter holds at zero.
func resolveMasks(params []Param, m map[string][]bool) ([][]int32, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make([][]int32, len(params))
	found := 0
	for i, p := range params {
		keep, ok := m[p.Name]
		if !ok {
			continue
		}
		found++
		if len(keep) != len(p.Value) {
			return nil, fmt.Errorf("train: mask of %q has %d entries; the parameter has %d", p.Name, len(keep), len(p.Value))
		}
		for j, k := range keep {
			if !k {
				out[i] = append(out[i], int32(j))
			}
		}
	}
	if found != len(m) {
		for name := range m {
			if !hasParam(params, name) {
				return nil, fmt.Errorf("train: mask for %q: the network has no trainable parameter of that name", name)
			}
		}
	}
	return out, nil
}

func hasParam(params []Param, name string) bool {
	for _, p := range params {
		if p.Name == name {
			return true
		}
	}
	return false
}

// applyMasks zeroes the masked gradients (grad) or values.
func (r *run) applyMasks(grad bool) {
	for i, idx := range r.masks {
		v := r.params[i].Value
		if grad {
			v = r.params[i].Grad
		}
		for _, j := range idx {
			v[j] = 0
		}
	}
}
