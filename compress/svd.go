package compress

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/uqnn/uqnn/internal/kernels"
	"github.com/uqnn/uqnn/internal/nn"
	"github.com/uqnn/uqnn/internal/seed"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// Sparse variational dropout (Molchanov, Ashukha & Vetrov, ICML 2017, "Variational Dropout
// Sparsifies Deep Neural Networks").
//
// Every Conv, Gemm and MatMul weight θ gets a learned log σ²; the weight is read as
// w ~ N(θ, σ²) with α = σ²/θ². Training minimises the mean cross-entropy of a minibatch under
// the noise plus KL/N, the KL divergence from the log-uniform prior per weight,
//
//	−KL ≈ k1·sigmoid(k2 + k3·log α) − 0.5·log(1 + 1/α) − k1,   k1, k2, k3 = 0.63576, 1.87320, 1.48695,
//
// with log α = log σ² − log θ² clipped to [−8, 8] (no KL gradient outside). The noise enters
// through the local reparameterization trick (internal/nn, Config.Variational): an output is
// op(x, θ) + b + √op(x², σ²)·ε, one ε ~ N(0, 1) per output value, fully connected and
// convolutional layers alike; each step's ε is drawn from one seed of the run's "svd noise"
// stream (nn.Net.DrawNoise: span-parallel, the same on any number of cores). The KL weight rises
// linearly from 0 to 1 over the warm-up epochs. After every step, weights with log α above the
// threshold (3: a dropout rate above 95%) are set to exactly zero before each step (value and
// gradient) and at each epoch's end, so the epoch-end evaluations (ε = 0) score the pruned
// deterministic model that is exported. Biases carry no noise or KL.
//
// The run starts from the trained model with every log σ² = −10 and uses Adam with the learning
// rate decayed linearly to 0 (as in the paper). The result is the original graph with θ written
// back and the pruned weights exactly 0.

// The KL approximation's constants (the paper's eq. 14).
const (
	svdK1 = 0.63576
	svdK2 = 1.87320
	svdK3 = 1.48695
	// LogAlphaClip bounds log α in the KL term.
	LogAlphaClip = 8.0
)

// Defaults of a zero SVDConfig. They are the one configuration run in full on LeNet-5 (uqnn
// train defaults, 99.39%): 10 epochs from the trained model, Adam at 5e-3 decayed linearly to 0,
// the KL weight warmed up over 2 epochs, which kept 2,341 of 430,500 weights (0.54%, 184×) at
// 99.22% test accuracy in onnxruntime; it was not tuned further (neither on validation nor test
// images). The earlier guess (20 epochs at 1e-3, warm-up 5) moves log σ² too little per step.
const (
	DefaultSVDEpochs    = 10
	DefaultSVDLR        = 5e-3
	DefaultSVDWarmup    = 2.0
	DefaultSVDThreshold = 3.0
)

// StreamSVDNoise names the stream of the local reparameterization noise.
const StreamSVDNoise = "svd noise"

// SVDConfig holds sparse variational dropout's hyperparameters. Zero values mean the defaults.
type SVDConfig struct {
	// Epochs of training; 0 means DefaultSVDEpochs.
	Epochs int `json:"epochs"`
	// Batch is the minibatch size; 0 means train.DefaultBatch.
	Batch int `json:"batch"`
	// LR is Adam's initial learning rate, decayed linearly to 0; 0 means DefaultSVDLR.
	LR float64 `json:"lr"`
	// Warmup is the number of epochs over which the KL weight rises linearly from 0 to 1
	// (fractions allowed); 0 means DefaultSVDWarmup, negative means no warm-up.
	Warmup float64 `json:"warmup_epochs"`
	// Threshold is the log α above which a weight is zeroed; 0 means DefaultSVDThreshold.
	Threshold float64 `json:"log_alpha_threshold"`
	// Keep, when in (0, 1], replaces the threshold rule with a target (svd_keep.go): training
	// zeroes no weight, and at the end the round(Keep·n) of the n layer weights with the lowest
	// log α keep their θ, the rest are set to 0. The record then holds threshold 0.
	Keep float64 `json:"keep,omitempty"`
	// Seed seeds the data order and the noise.
	Seed uint64 `json:"seed"`

	// Run options that do not change the result.
	EvalTrain   int    `json:"-"` // training images evaluated per epoch (train.EvalHook's trainN)
	CurvesEvery int    `json:"-"` // train.CurvesHook's every
	Checkpoint  string `json:"-"` // written on Ctrl-C
	Resume      bool   `json:"-"` // continue from Checkpoint
	// Masks are weights pruned earlier (a chain's prior): they stay exactly zero.
	Masks Masks `json:"-"`
}

func (c SVDConfig) withDefaults() SVDConfig {
	if c.Epochs == 0 {
		c.Epochs = DefaultSVDEpochs
	}
	if c.Batch == 0 {
		c.Batch = train.DefaultBatch
	}
	if c.LR == 0 {
		c.LR = DefaultSVDLR
	}
	if c.Warmup == 0 {
		c.Warmup = DefaultSVDWarmup
	}
	if c.Threshold == 0 {
		c.Threshold = DefaultSVDThreshold
	}
	return c
}

// SVDRecord is what the model's compression record stores as parameters.
type SVDRecord struct {
	SVDConfig
	LogSigma2Init float64 `json:"log_sigma2_init"`
	Optimizer     string  `json:"optimizer"`
	Schedule      string  `json:"schedule"`
}

// SVDLayer is one layer's outcome.
type SVDLayer struct {
	Node   string `json:"node"`
	Weight string `json:"weight"`
	Params int    `json:"params"`
	Kept   int    `json:"kept"`
	// MeanLogAlpha is the mean clipped log α over the layer's weights.
	MeanLogAlpha float64 `json:"mean_log_alpha"`
}

// SVDResult is what SVD returns.
type SVDResult struct {
	// Model is the source model with the trained θ (pruned weights exactly 0). Record it with
	// Annotate(Model, Record{Method: "svd", Params: Params, ...}) (Chain does).
	Model  *onnxio.Model
	Params SVDRecord
	Masks  Masks
	Layers []SVDLayer
	Result *train.Result
	// KL is the KL term (nats, summed over weights) at the end.
	KL float64
}

// SVD trains m with sparse variational dropout on data and returns the pruned deterministic
// model. hooks run after SVD's own (progress, say). m is not modified. As a Method it is
// registered as "svd" (SVDMethod).
func SVD(ctx context.Context, m *onnxio.Model, data train.Data, cfg SVDConfig, hooks ...train.Hook) (*SVDResult, error) {
	if m == nil {
		return nil, fmt.Errorf("compress: svd: nil model")
	}
	cfg = cfg.withDefaults()
	switch {
	case cfg.Epochs < 1:
		return nil, fmt.Errorf("compress: svd: %d epochs; want at least 1", cfg.Epochs)
	case !(cfg.LR > 0) || math.IsInf(cfg.LR, 0):
		return nil, fmt.Errorf("compress: svd: learning rate %g; want a finite value > 0", cfg.LR)
	case math.IsNaN(cfg.Warmup) || math.IsInf(cfg.Warmup, 0):
		return nil, fmt.Errorf("compress: svd: warm-up %g epochs; want a finite number", cfg.Warmup)
	case !(cfg.Threshold > -LogAlphaClip && cfg.Threshold < LogAlphaClip):
		return nil, fmt.Errorf("compress: svd: log α threshold %g; want a value in (−%g, %g)", cfg.Threshold, LogAlphaClip, LogAlphaClip)
	case !(cfg.Keep >= 0 && cfg.Keep <= 1):
		return nil, fmt.Errorf("compress: svd: kept fraction %g; want a value in (0, 1], or 0 for the log α threshold", cfg.Keep)
	}
	g, err := nn.Build(m, nn.Config{Batch: cfg.Batch, Variational: true})
	if err != nil {
		return nil, fmt.Errorf("compress: svd: %w", err)
	}
	defer g.Close()
	if len(g.Variational()) == 0 {
		return nil, fmt.Errorf("compress: svd: the model has no Conv, Gemm or MatMul weight to make variational: %w", onnxio.ErrUnsupported)
	}
	if err := train.CheckInput(g.InputShape(), data.Train); err != nil {
		return nil, err
	}
	inner, err := train.NN(g)
	if err != nil {
		return nil, err
	}
	s := newSVDState(g, inner, trainingConfig(cfg))
	s.n = data.Train.N
	tcfg := train.Config{
		Epochs: cfg.Epochs, Batch: cfg.Batch, LR: cfg.LR, Seed: cfg.Seed,
		Schedule:   linearDecay,
		Checkpoint: cfg.Checkpoint, Masks: cfg.Masks,
		Settings: map[string]string{
			"method": "svd", "lr": fmtF(cfg.LR), "epochs": strconv.Itoa(cfg.Epochs), "batch": strconv.Itoa(cfg.Batch),
			"warmup": fmtF(cfg.Warmup), "threshold": fmtF(cfg.Threshold), "optimizer": "adam",
		},
	}
	if cfg.Keep > 0 {
		tcfg.Settings["keep"] = fmtF(cfg.Keep)
	}
	all := append([]train.Hook{train.EvalHook(cfg.EvalTrain), train.CurvesHook(cfg.CurvesEvery), s.hook()}, hooks...)
	var res *train.Result
	if cfg.Resume {
		res, err = train.Resume(ctx, s, data, &train.Adam{}, tcfg, cfg.Checkpoint, all...)
	} else {
		res, err = train.Loop(ctx, s, data, &train.Adam{}, tcfg, all...)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Keep > 0 {
		s.keepLowest(cfg.Keep)
	} else {
		s.prune()
	}
	out := m.Clone()
	if err := g.WriteBack(out); err != nil {
		return nil, fmt.Errorf("compress: svd: %w", err)
	}
	r := &SVDResult{Model: out, Masks: Masks{}, Result: res}
	var kept, total int
	for _, l := range s.layers {
		la := s.logAlphas(l)
		sl := SVDLayer{Node: l.node, Weight: l.name, Params: len(l.theta)}
		for i, v := range l.theta {
			if v != 0 {
				sl.Kept++
			}
			sl.MeanLogAlpha += la[i]
			r.KL += svdKL(la[i])
		}
		sl.MeanLogAlpha /= float64(len(la))
		r.Masks[l.name] = nonZeroMask(l.theta)
		r.Layers = append(r.Layers, sl)
		kept += sl.Kept
		total += sl.Params
	}
	if cfg.Keep > 0 {
		cfg.Threshold = 0 // not used: Keep chose the weights
	}
	r.Params = SVDRecord{SVDConfig: cfg, LogSigma2Init: nn.LogSigma2Init, Optimizer: "adam", Schedule: "linear decay to 0"}
	return r, nil
}

func fmtF(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// linearDecay is the paper's schedule: the rate falls linearly to 0 at the end of the run.
func linearDecay(step, total int) float64 {
	if total <= 0 {
		return 1
	}
	return 1 - float64(step)/float64(total)
}

func nonZeroMask(w []float32) []bool {
	k := make([]bool, len(w))
	for i, v := range w {
		k[i] = v != 0
	}
	return k
}

// svdLayer is one variational weight as the loop sees it.
type svdLayer struct {
	node, name  string
	theta, ls   []float32 // values: θ and log σ²
	gTheta, gLS []float32 // gradients (set at the first step)
	iTheta, iLS int       // positions in the loop's Params
}

// svdState is the training net (the variational graph with the noise drawn before each
// LossGrad and zeroed for Forward) and the KL/pruning hook's state.
type svdState struct {
	g      *nn.Net
	inner  train.Net
	cfg    SVDConfig
	layers []*svdLayer
	pcg    *rand.PCG
	rng    *rand.Rand
	spans  []train.Span // the KL step's spans of the layers' weights
	zero   bool         // the noise is zero (Forward's deterministic net)
	n      int          // training images: the KL is divided by it
}

func newSVDState(g *nn.Net, inner train.Net, cfg SVDConfig) *svdState {
	s := &svdState{g: g, inner: inner, cfg: cfg, pcg: seed.Stream(cfg.Seed, StreamSVDNoise)}
	s.rng = rand.New(s.pcg)
	ps := inner.Params()
	index := func(name string) int {
		for i, p := range ps {
			if p.Name == name {
				return i
			}
		}
		return -1
	}
	for _, l := range g.Variational() {
		sl := &svdLayer{node: l.Node, name: l.Weight.Name, iTheta: index(l.Weight.Name), iLS: index(l.LogSigma2.Name)}
		sl.theta, sl.ls = ps[sl.iTheta].Value, ps[sl.iLS].Value
		s.layers = append(s.layers, sl)
	}
	return s
}

// Params implements train.Net.
func (s *svdState) Params() []train.Param { return s.inner.Params() }

// LossGrad implements train.Net: a fresh draw of the noise (from one seed of the "svd noise"
// stream, whose state the hook checkpoints), then the noisy loss and gradients.
func (s *svdState) LossGrad(x []float32, labels []int) (float64, error) {
	s.g.DrawNoise(s.rng.Uint64())
	s.zero = false
	return s.inner.LossGrad(x, labels)
}

// Forward implements train.Net: the deterministic net (ε = 0; pruned weights are already 0).
func (s *svdState) Forward(x []float32) ([]float32, error) {
	if !s.zero {
		s.g.ZeroNoise()
		s.zero = true
	}
	return s.inner.Forward(x)
}

func (s *svdState) hook() train.Hook {
	return train.Hook{
		Name: "svd",
		Save: func() ([]byte, error) { return s.pcg.MarshalBinary() },
		Load: func(b []byte) error { return s.pcg.UnmarshalBinary(b) },
		AfterGrad: func(_ context.Context, st *train.State) error {
			total := float64(st.StepsPerEpoch) * s.cfg.Warmup
			w := 1.0
			if total > 0 {
				w = min(1, float64(st.Step+1)/total)
			}
			n := float64(s.n)
			s.step(st.Params, float32(w/n))
			return nil
		},
		AfterStep: func(_ context.Context, st *train.State) error {
			if st.StepInEpoch == st.StepsPerEpoch {
				s.prune() // what the epoch-end evaluation scores is the pruned model
			}
			return nil
		},
	}
}

// step adds the KL gradient (scale·∂KL) of every weight and zeroes the weights whose log α
// passed the threshold (and their gradients, so they stay at 0 up to the optimizer's
// momentum, which the next step zeroes again). Spans of the weights run on all cores
// (train.EachSpan); every element is independent, so the result does not depend on the split.
func (s *svdState) step(ps []train.Param, scale float32) {
	for _, l := range s.layers {
		l.gTheta, l.gLS = ps[l.iTheta].Grad, ps[l.iLS].Grad
	}
	if s.spans == nil {
		thetas := make([]train.Param, len(s.layers))
		for k, l := range s.layers {
			thetas[k] = train.Param{Value: l.theta}
		}
		s.spans = train.Spans(thetas)
	}
	train.EachSpan(s.spans, func(sp train.Span) {
		l := s.layers[sp.K]
		klGradPrune(l.theta[sp.Lo:sp.Hi], l.ls[sp.Lo:sp.Hi], l.gTheta[sp.Lo:sp.Hi], l.gLS[sp.Lo:sp.Hi], scale, s.cfg.Threshold)
	})
}

// prune sets θ to 0 where log α = log σ² − log θ² > threshold, deciding as the KL step does.
func (s *svdState) prune() {
	for _, l := range s.layers {
		pruneLogAlpha(l.theta, l.ls, s.cfg.Threshold)
	}
}

func pruneLogAlpha(theta, ls []float32, thr float64) { kernels.SVDPrune(theta, ls, float32(thr)) }

// logAlphas returns the clipped log α of every weight of l.
func (s *svdState) logAlphas(l *svdLayer) []float64 {
	out := make([]float64, len(l.theta))
	for i, v := range l.theta {
		out[i] = logAlpha(v, l.ls[i])
	}
	return out
}

// logAlpha is log σ² − log θ² clipped to [−LogAlphaClip, LogAlphaClip] (θ = 0 gives the upper
// bound).
func logAlpha(theta, ls float32) float64 {
	if theta == 0 {
		return LogAlphaClip
	}
	t := float64(theta)
	return min(LogAlphaClip, max(-LogAlphaClip, float64(ls)-math.Log(t*t)))
}

// svdKL is the approximate KL divergence of one weight at (clipped) log α la.
func svdKL(la float64) float64 {
	return -(svdK1*sigmoid(svdK2+svdK3*la) - 0.5*math.Log1p(math.Exp(-la)) - svdK1)
}

// svdKLGrad is dKL/d log α (unclipped region) in float64: the reference of the KL step
// (klGradPrune) in the tests.
func svdKLGrad(la float64) float64 {
	s := sigmoid(svdK2 + svdK3*la)
	return -(svdK1*svdK3*s*(1-s) + 0.5*sigmoid(-la))
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// klGradPrune zeroes the weights whose log α exceeds thr (value and gradient) and adds the
// KL gradient scale·∂KL of the others whose log α is inside the clip range: float32 with
// polynomial exp and log, vectorized where the processor allows (kernels.SVDKLStep; within a
// few parts in a million of svdKLGrad's float64, TestSVDKLStepMatchesFloat64).
func klGradPrune(theta, ls, gTheta, gLS []float32, scale float32, thr float64) {
	kernels.SVDKLStep(theta, ls, gTheta, gLS, kernels.SVDKLConsts{
		K1: svdK1, K2: svdK2, K3: svdK3, Scale: scale, Threshold: float32(thr), Clip: LogAlphaClip,
	})
}
