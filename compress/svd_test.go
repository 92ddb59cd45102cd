package compress

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/nn"
	"github.com/uqnn/uqnn/internal/train"
)

// klFD settings: central differences in float64 of a smooth function of O(1) values.
const (
	klStep = 1e-6
	// klTol is relative: truncation O(h²) and rounding O(1e-16/h) are both below 1e-8.
	klTol = 1e-6
)

// TestSVDKLGradient checks klGradPrune's KL gradient (∂KL/∂θ and ∂KL/∂log σ² through
// log α = log σ² − log θ²) against central differences of svdKL(logAlpha(θ, log σ²)) inside the
// clipping range, that it adds nothing below it, and that weights above the threshold (3) are
// zeroed with their gradients.
func TestSVDKLGradient(t *testing.T) {
	kl := func(theta, ls float64) float64 { return svdKL(ls - math.Log(theta*theta)) }
	cases := []struct{ theta, ls float64 }{
		{0.1, -10}, {-0.1, -6}, {0.03, -8}, {-0.5, -2}, {0.02, -5}, {1.2, -1}, {-0.004, -9},
		{1, -9},    // log α = −9: clipped, no gradient
		{0.01, -4}, // log α ≈ 5.2 > 3: pruned
	}
	const scale = 0.25
	for _, c := range cases {
		th, ls := []float32{float32(c.theta)}, []float32{float32(c.ls)}
		gt, gl := []float32{0.5}, []float32{0.25} // the data gradient the KL adds to
		t32, l32 := float64(th[0]), float64(ls[0])
		klGradPrune(th, ls, gt, gl, scale, 3)
		la := l32 - math.Log(t32*t32)
		if la > 3 {
			if th[0] != 0 || gt[0] != 0 || gl[0] != 0.25 {
				t.Errorf("θ=%g log σ²=%g (log α %.3f > 3): θ %g, ∂θ %g, ∂log σ² %g after; want 0, 0, 0.25 (unchanged)", c.theta, c.ls, la, th[0], gt[0], gl[0])
			}
			continue
		}
		gt[0] -= 0.5
		gl[0] -= 0.25
		wantT := scale * (kl(t32+klStep, l32) - kl(t32-klStep, l32)) / (2 * klStep)
		wantL := scale * (kl(t32, l32+klStep) - kl(t32, l32-klStep)) / (2 * klStep)
		if la <= -LogAlphaClip {
			wantT, wantL = 0, 0
		}
		for _, g := range []struct {
			name      string
			got, want float64
		}{{"∂/∂θ", float64(gt[0]), wantT}, {"∂/∂log σ²", float64(gl[0]), wantL}} {
			// float32 storage of the gradient: 1e-6 relative on top of klTol.
			if d := math.Abs(g.got - g.want); d > (klTol+2e-7)*math.Abs(g.want)+1e-12 {
				t.Errorf("θ=%g log σ²=%g (log α %.3f): %s = %.9g; finite difference %.9g", c.theta, c.ls, la, g.name, g.got, g.want)
			}
		}
	}
	// The KL falls as α grows, and tends to 0 for α → ∞ (the approximation's constant).
	for la := -8.0; la < 8; la += 0.5 {
		if svdKL(la+0.5) >= svdKL(la) {
			t.Errorf("KL(%g) = %g ≤ KL(%g) = %g; want the KL to fall with log α", la, svdKL(la), la+0.5, svdKL(la+0.5))
		}
	}
	if v := svdKL(40); math.Abs(v) > 1e-6 {
		t.Errorf("KL(log α = 40) = %g; want → 0", v)
	}
}

// TestSVDKLStepMatchesFloat64 compares the KL step's gradients (float32, polynomial exp and
// log) with the float64 reference svdKLGrad at log α = log σ² − log θ² formed in float64, on
// random weights (log α from −20 to 20: clipped, unclipped and pruned), and its clipping and
// pruning decisions with the float64 ones away from the boundaries.
func TestSVDKLStepMatchesFloat64(t *testing.T) {
	// relTol: log α is within 1.5 ulp + 1.2e-7 of its float64 value (≤ 1.6e-6 for |log α| < 8;
	// kernels.TestSVDLogAlphaAccuracy) and |∂ log|∂KL/∂log α| / ∂log α| < 1, then about ten
	// float32 operations of ½ ulp (6e-8) each and the polynomials' 1 ulp.
	const relTol = 3e-6
	const scale = 1.0 / 55000
	r := rand.New(rand.NewPCG(9, 10))
	var worst float64
	for range 100_000 {
		th := float32(math.Exp(-10*r.Float64()) * float64(1-2*r.IntN(2)))
		ls := float32(-20 + 20*r.Float64())
		t64, l64 := float64(th), float64(ls)
		la := l64 - math.Log(t64*t64)
		if math.Abs(la+LogAlphaClip) < 1e-4 || math.Abs(la-3) < 1e-4 {
			continue // a boundary: float32 rounding may decide either way
		}
		theta, gt, gl := []float32{th}, []float32{0}, []float32{0}
		klGradPrune(theta, []float32{ls}, gt, gl, scale, 3)
		if la > 3 {
			if theta[0] != 0 || gt[0] != 0 || gl[0] != 0 {
				t.Fatalf("θ %g, log σ² %g (log α %.6f > 3): θ %g, ∂θ %g, ∂log σ² %g; want pruned, gradients 0", th, ls, la, theta[0], gt[0], gl[0])
			}
			continue
		}
		if la <= -LogAlphaClip {
			if theta[0] != th || gt[0] != 0 || gl[0] != 0 {
				t.Fatalf("θ %g, log σ² %g (log α %.6f, clipped): θ %g, ∂θ %g, ∂log σ² %g; want unchanged, no gradient", th, ls, la, theta[0], gt[0], gl[0])
			}
			continue
		}
		wantL := scale * svdKLGrad(la)
		wantT := -2 * wantL / t64
		for _, g := range []struct {
			name      string
			got, want float64
		}{{"∂/∂log σ²", float64(gl[0]), wantL}, {"∂/∂θ", float64(gt[0]), wantT}} {
			d := math.Abs(g.got-g.want) / math.Abs(g.want)
			worst = max(worst, d)
			if d > relTol {
				t.Fatalf("θ %g, log σ² %g (log α %.6f): %s = %.9g; float64 %.9g (relative error %.2g)", th, ls, la, g.name, g.got, g.want, d)
			}
		}
	}
	t.Logf("worst relative error %.2g", worst)
}

// TestSVDKLApproximation compares the approximation with the KL it approximates,
// −KL = ½ log α − E log|ε| − (γ + ln 2)/2 for ε ~ N(1, α) (the constant makes −KL → 0 as
// α → ∞, as the approximation's −k1 does), with E log|ε| by numerical integration. The paper
// reports the approximation as tight; 0.01 nats is what it achieves here.
func TestSVDKLApproximation(t *testing.T) {
	const tol = 0.01
	euler := 0.5772156649015329
	for _, la := range []float64{-4, -2, 0, 1, 2, 3, 5, 7} {
		s := math.Exp(la / 2)
		// E log|1 + s·z|, z ~ N(0, 1): midpoint rule on a fine grid (the log singularity is
		// integrable; the midpoints never hit it).
		const lo, hi, steps = -12.0, 12.0, 2_000_000
		h := (hi - lo) / steps
		var e float64
		for i := range steps {
			z := lo + (float64(i)+0.5)*h
			e += math.Log(math.Abs(1+s*z)) * math.Exp(-z*z/2)
		}
		e *= h / math.Sqrt(2*math.Pi)
		exact := -(0.5*la - e - (euler+math.Ln2)/2)
		if d := math.Abs(svdKL(la) - exact); d > tol {
			t.Errorf("log α = %g: KL approximation %.5f, numerical %.5f; want within %g", la, svdKL(la), exact, tol)
		}
	}
}

// TestSVDLogAlphaClipAndPrune checks the clipping of log α and the zeroing of weights with
// log α above the threshold, on hand cases.
func TestSVDLogAlphaClipAndPrune(t *testing.T) {
	cases := []struct {
		theta, ls float32
		want      float64 // clipped log α
	}{
		{1, -10, -8},                     // −10 − 0 below −8
		{0.1, -10, -10 - math.Log(0.01)}, // ≈ −5.395
		{0.001, -2, 8},                   // −2 + 13.8 above 8
		{0, -10, 8},                      // θ = 0: α infinite
		{float32(math.Exp(-2.5)), -2, -2 + 5},
	}
	for _, c := range cases {
		if got := logAlpha(c.theta, c.ls); math.Abs(got-c.want) > 1e-5 {
			t.Errorf("logAlpha(θ=%g, log σ²=%g) = %g; want %g", c.theta, c.ls, got, c.want)
		}
	}
	// log α of each: −5.0, 2.9, 3.1, 7, and 20 (clipped to 8 but still above 3).
	theta := []float32{0.1, float32(math.Exp(-2.45)), float32(math.Exp(-2.55)), float32(math.Exp(-5)), -float32(math.Exp(-12))}
	ls := []float32{float32(math.Log(0.01) - 5), -2, -2, -3, -4}
	pruneLogAlpha(theta, ls, 3)
	keep := []bool{true, true, false, false, false}
	for i, k := range keep {
		if (theta[i] != 0) != k {
			t.Errorf("weight %d (log α %.2f): value %g after pruning; want kept %v", i, float64(ls[i])-math.Log(float64(theta[i])*float64(theta[i])), theta[i], k)
		}
	}
}

// smallData is a 1,280-image slice of MNIST for training and 512 for validation.
func smallData(t *testing.T) train.Data {
	t.Helper()
	dir, err := fixtures.DefaultMNISTDir()
	if err != nil {
		t.Skip(err)
	}
	mn, err := fixtures.LoadMNIST(dir)
	if err != nil {
		t.Skip(err)
	}
	tr, val, err := mn.Split(1280)
	if err != nil {
		t.Fatal(err)
	}
	return train.Data{Train: *tr, Val: *val.Slice(0, 512), Scale: 1.0 / 255}
}

// TestSVDEndToEnd trains the model zoo's MNIST net (briefly pre-trained here) with SVD on a
// small set: the same seed gives the same bytes, another seed other bytes; the exported model
// is the source graph with only weight values changed, every zero weight is one whose log α
// passed the threshold and the record names the method; onnxruntime's outputs equal the
// deterministic Gorgonia net's.
func TestSVDEndToEnd(t *testing.T) {
	data := smallData(t)
	ctx := context.Background()
	pre, err := train.Fit(ctx, fixtures.Zoo(rand.New(rand.NewPCG(3, 3))), data, &train.Adam{},
		train.FitConfig{Config: train.Config{Epochs: 2, LR: 3e-3, Seed: 1, EvalTrain: -1}})
	if err != nil {
		t.Fatal(err)
	}
	pre.Close()
	src := pre.Model
	cfg := SVDConfig{Epochs: 3, LR: 3e-3, Warmup: 1, Seed: 7, EvalTrain: -1}
	run := func(seed uint64) (*SVDResult, []byte) {
		c := cfg
		c.Seed = seed
		r, err := SVD(ctx, src, data, c)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.Model.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return r, b
	}
	r1, b1 := run(7)
	_, b2 := run(7)
	_, b3 := run(8)
	if !bytes.Equal(b1, b2) {
		t.Error("two runs with seed 7 gave different models; want bit-identical")
	}
	if bytes.Equal(b1, b3) {
		t.Error("seeds 7 and 8 gave the same model; want the noise and data order to differ")
	}
	if len(r1.Layers) != 3 {
		t.Fatalf("%d variational layers; want 3 (conv1, conv2, fc)", len(r1.Layers))
	}
	var kept, total int
	for _, l := range r1.Layers {
		kept += l.Kept
		total += l.Params
		if nz := nonZero(r1.Model.Initializer(l.Weight).Float32); int(nz) != l.Kept {
			t.Errorf("layer %s: %d non-zero weights in the model; result says %d", l.Weight, nz, l.Kept)
		}
	}
	if kept == total || kept == 0 {
		t.Errorf("%d of %d weights kept; want some pruned and some kept", kept, total)
	}
	t.Logf("kept %d of %d; val acc %.3f", kept, total, r1.Result.Curves[len(r1.Result.Curves)-1].ValAcc)
	// Same graph: same nodes and initializer names and shapes.
	if len(r1.Model.Graph.Nodes) != len(src.Graph.Nodes) || len(r1.Model.Graph.Initializers) != len(src.Graph.Initializers) {
		t.Fatalf("graph changed: %d nodes, %d initializers; want %d, %d", len(r1.Model.Graph.Nodes), len(r1.Model.Graph.Initializers), len(src.Graph.Nodes), len(src.Graph.Initializers))
	}
	for i, in := range src.Graph.Initializers {
		if out := r1.Model.Graph.Initializers[i]; out.Name != in.Name || len(out.Float32) != len(in.Float32) {
			t.Errorf("initializer %d: %q (%d values); want %q (%d)", i, out.Name, len(out.Float32), in.Name, len(in.Float32))
		}
	}
	// As the registered method in a chain: one "svd" record whose kept fraction is the ledger's.
	meth, err := NewMethod("svd")
	if err != nil {
		t.Fatal(err)
	}
	sm := meth.(*SVDMethod)
	sm.Epochs, sm.LR, sm.Warmup = 1, 3e-3, 0.5
	sha, err := ModelSHA256(src)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Chain(ctx, src, []Method{meth}, Env{Data: data, Run: ortRunner(t), Seed: 1}, sha)
	if err != nil {
		t.Fatal(err)
	}
	led, err := NewLedger(src, ch.Model)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Records(ch.Model)
	if err != nil || len(recs) != 1 || recs[0].Method != "svd" || recs[0].Kept != led.Kept || led.Kept == 1 {
		t.Errorf("records %+v (%v); want one svd record with kept %g < 1", recs, err, led.Kept)
	}
	// onnxruntime on the exported model against the plain Gorgonia net of the same weights.
	g, err := nn.Build(r1.Model, nn.Config{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	x := data.Val.Float(0, 16)
	for i := range x {
		x[i] /= 255
	}
	want, err := g.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	got := runORT(t, r1.Model, x, 16)[0]
	if d, s := maxAbsDiff(got, want); d > 1e-4*max(1, s) {
		t.Errorf("onnxruntime and Gorgonia differ by %g (scale %g)", d, s)
	}
}

// TestSVDResume interrupts an SVD run in its second epoch and resumes it from the checkpoint:
// the model equals the uninterrupted run's byte for byte (the noise stream's state, Adam's and
// the data order travel in the checkpoint).
func TestSVDResume(t *testing.T) {
	data := smallData(t)
	data.Train = *data.Train.Slice(0, 640)
	ctx := context.Background()
	src := fixtures.Zoo(rand.New(rand.NewPCG(3, 3)))
	cfg := SVDConfig{Epochs: 2, LR: 3e-3, Warmup: 1, Seed: 5, EvalTrain: -1, Checkpoint: filepath.Join(t.TempDir(), "svd.ck")}
	encode := func(r *SVDResult) []byte {
		b, err := r.Model.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	full, err := SVD(ctx, src, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := train.Hook{Name: "stop", AfterStep: func(_ context.Context, s *train.State) error {
		if s.Step == s.StepsPerEpoch+3 {
			cancel()
		}
		return nil
	}}
	if _, err := SVD(cctx, src, data, cfg, stop); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v; want context.Canceled", err)
	}
	rc := cfg
	rc.Resume = true
	resumed, err := SVD(ctx, src, data, rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(full), encode(resumed)) {
		t.Fatal("the resumed run's model differs from the uninterrupted run's; want the same bytes")
	}
}

// BenchmarkSVDStep times one training step of LeNet-5 (batch 64) as plain Adam training and as
// SVD (variational graph, noise draw, KL gradient and pruning hook); compare the two.
func BenchmarkSVDStep(b *testing.B) {
	m := lenet5(1)
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 64*784)
	for i := range x {
		x[i] = rng.Float32()
	}
	labels := make([]int, 64)
	for i := range labels {
		labels[i] = i % 10
	}
	for _, variational := range []bool{false, true} {
		name := "plain"
		if variational {
			name = "svd"
		}
		b.Run(name, func(b *testing.B) {
			g, err := nn.Build(m, nn.Config{Batch: 64, Variational: variational})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			inner, err := train.NN(g)
			if err != nil {
				b.Fatal(err)
			}
			var net train.Net = inner
			var s *svdState
			if variational {
				s = newSVDState(g, inner, SVDConfig{}.withDefaults())
				s.n = 55000
				net = s
			}
			opt := &train.Adam{}
			opt.Init(net.Params())
			h := train.Hook{}
			if s != nil {
				h = s.hook()
			}
			st := &train.State{Params: net.Params(), StepsPerEpoch: 859}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := net.LossGrad(x, labels); err != nil {
					b.Fatal(err)
				}
				if h.AfterGrad != nil {
					h.AfterGrad(context.Background(), st)
				}
				opt.Step(net.Params(), train.StepInfo{LR: 1e-3, Rand: rng})
				if h.AfterStep != nil {
					h.AfterStep(context.Background(), st)
				}
			}
			b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
