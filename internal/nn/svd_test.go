package nn

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/onnxio"
)

// svdModels are small models with every variational form: Conv (with a fused bias), Gemm with
// transB, MatMul with a fused bias Add, and a weight behind a Reshape.
func svdModels() []opModel {
	var ms []opModel
	b := newIR(13, 2, 2, 6, 6)
	y := b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3), b.w("B", -1, 1, 3)}, "conv", isa("pads", []int64{1, 1, 1, 1}))
	y = b.node("Relu", []string{y}, "relu")
	y = b.node("MaxPool", []string{y}, "mp", isa("kernel_shape", []int64{2, 2}), isa("strides", []int64{2, 2}))
	y = b.node("Conv", []string{y, b.w("W2", -1, 1, 4, 3, 2, 2)}, "conv2")
	y = b.node("Tanh", []string{y}, "tanh")
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -0.5, 0.5, 5, 16), b.w("C", -1, 1, 5)}, "gemm", ia("transB", 1))
	y = b.node("Relu", []string{y}, "relu2")
	y = b.node("MatMul", []string{y, b.w("M", -1, 1, 5, 4)}, "mm")
	y = b.node("Add", []string{y, b.w("A", -1, 1, 4)}, "add")
	ms = append(ms, opModel{"Conv/Conv/Gemm/MatMul", b.output(y)})

	b = newIR(13, 2, 12)
	y = b.node("Reshape", []string{b.w("R", -1, 1, 36), b.ints("rshape", 12, 3)}, "wshape")
	y = b.node("MatMul", []string{"x", y}, "mm")
	ms = append(ms, opModel{"MatMul-reshaped-weight", b.output(y)})
	return ms
}

// setLogSigma2 gives every log σ² a value in [lo, hi), so the noise matters.
func setLogSigma2(net *Net, rng *rand.Rand, lo, hi float64) {
	for _, l := range net.Variational() {
		if v := l.LogSigma2.Value64(); v != nil {
			for i := range v {
				v[i] = lo + (hi-lo)*rng.Float64()
			}
		} else {
			v := l.LogSigma2.Value32()
			for i := range v {
				v[i] = float32(lo + (hi-lo)*rng.Float64())
			}
		}
	}
}

// TestVariationalGradients checks the gradients of θ, log σ² and the biases against central
// differences of the loss with the noise held fixed.
func TestVariationalGradients(t *testing.T) {
	for _, om := range svdModels() {
		t.Run(om.name, func(t *testing.T) {
			net, err := Build(om.m, Config{Batch: 2, Float64: true, Variational: true})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			rng := rand.New(rand.NewPCG(5, 9))
			nw := 0
			for _, p := range net.Params() {
				if strings.HasSuffix(p.Name, LogSigma2Suffix) {
					nw++
				}
			}
			if nw == 0 || nw != len(net.Variational()) {
				t.Fatalf("%d log σ² parameters, %d variational layers; want one per weight, at least one", nw, len(net.Variational()))
			}
			setLogSigma2(net, rng, -3, 0)
			net.DrawNoise(rng.Uint64())
			size := 1
			for _, d := range net.InputShape() {
				size *= d
			}
			checkGrads(t, net, randInput(rng, size), []int{1, net.Classes() - 1}, 200, rng)
		})
	}
}

// TestVariationalZeroNoiseIsPlain: with ε = 0 the variational net computes exactly what the
// plain net computes, and WriteBack leaves the log σ² parameters out of the model.
func TestVariationalZeroNoiseIsPlain(t *testing.T) {
	for _, om := range svdModels() {
		t.Run(om.name, func(t *testing.T) {
			plain, err := Build(om.m, Config{Batch: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			vn, err := Build(om.m, Config{Batch: 2, Variational: true})
			if err != nil {
				t.Fatal(err)
			}
			defer vn.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			setLogSigma2(vn, rng, -1, 0)
			size := 1
			for _, d := range plain.InputShape() {
				size *= d
			}
			x := randInput(rng, size)
			want, err := plain.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			vn.DrawNoise(rng.Uint64())
			noisy, err := vn.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			vn.ZeroNoise()
			got, err := vn.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			differs := false
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("logit %d: zero-noise variational %g, plain %g; want equal", i, got[i], want[i])
				}
				differs = differs || noisy[i] != want[i]
			}
			if !differs {
				t.Error("the noisy forward equals the plain one; want the noise to change the logits")
			}
			out := om.m.Clone()
			if err := vn.WriteBack(out); err != nil {
				t.Fatal(err)
			}
			for _, init := range out.Graph.Initializers {
				if strings.Contains(init.Name, LogSigma2Suffix) {
					t.Errorf("WriteBack added %q to the model", init.Name)
				}
			}
		})
	}
}

// TestLocalReparameterizationMoments: for one Gemm layer y = x·θ + b with weights
// θ + σ·N(0, 1), each output is Gaussian with mean x·θ + b and variance Σ x²σ² (the hand
// case); the sampled outputs' mean and variance must match within Monte-Carlo error.
func TestLocalReparameterizationMoments(t *testing.T) {
	const (
		draws = 20000
		// zTol is the tolerance in standard errors: each of the 6 checks passes by chance
		// with probability 1 − 2·Φ(−4.5) ≈ 1 − 7e-6.
		zTol = 4.5
	)
	b := newIR(13, 1, 3)
	y := b.node("Gemm", []string{"x", b.w("G", -1, 1, 3, 3), b.w("C", -1, 1, 3)}, "gemm")
	m := b.output(y)
	net, err := Build(m, Config{Batch: 1, Float64: true, Variational: true})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	ls := net.Variational()[0].LogSigma2.Value64()
	for i := range ls {
		ls[i] = -2 + 0.3*float64(i)
	}
	x := []float32{0.5, -1.5, 2}
	theta := m.Graph.Initializer("G").Float32
	bias := m.Graph.Initializer("C").Float32
	rng := rand.New(rand.NewPCG(11, 12))
	var sum, sq [3]float64
	for range draws {
		net.DrawNoise(rng.Uint64())
		out, err := net.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range out {
			sum[j] += float64(v)
			sq[j] += float64(v) * float64(v)
		}
	}
	for j := range 3 {
		mean, vr := float64(bias[j]), 0.0
		for k := range 3 {
			xk := float64(x[k])
			mean += xk * float64(theta[k*3+j])
			vr += xk * xk * math.Exp(ls[k*3+j])
		}
		gotMean := sum[j] / draws
		gotVar := sq[j]/draws - gotMean*gotMean
		if z := math.Abs(gotMean-mean) / math.Sqrt(vr/draws); z > zTol {
			t.Errorf("output %d: mean %.5f; want %.5f (%.1f standard errors off)", j, gotMean, mean, z)
		}
		// The sample variance of a Gaussian has standard error σ²·√(2/n).
		if z := math.Abs(gotVar-vr) / (vr * math.Sqrt(2.0/draws)); z > zTol {
			t.Errorf("output %d: variance %.5f; want %.5f (%.1f standard errors off)", j, gotVar, vr, z)
		}
	}
}

// TestVariationalSharedModel builds the CNTK model (a MatMul weight behind a Reshape, a
// [C,1,1] bias Add) as a variational net and checks a sample of its gradients.
func TestVariationalSharedModel(t *testing.T) {
	m, err := onnxio.Load(filepath.Join(sharedModels(t), "cntk-zoo-mnist-op7.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	net, err := Build(m, Config{Batch: 2, Float64: true, Variational: true})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if n := len(net.Variational()); n != 3 {
		t.Errorf("%d variational layers; want 3 (two Conv, one MatMul)", n)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	setLogSigma2(net, rng, -4, -1)
	net.DrawNoise(rng.Uint64())
	checkGrads(t, net, randInput(rng, 2*784), []int{3, 8}, 4, rng)
}

// TestVariationalBuildsSharedModels: the PyTorch and CNTK exports the issue names build as
// variational nets with every Conv and FC weight variational, and take a training step.
func TestVariationalBuildsSharedModels(t *testing.T) {
	for _, c := range []struct {
		file   string
		layers int
	}{{"pytorch-cnn-op11.onnx", 4}, {"cntk-zoo-mnist-op7.onnx", 3}} {
		t.Run(c.file, func(t *testing.T) {
			m, err := onnxio.Load(filepath.Join(sharedModels(t), c.file))
			if err != nil {
				t.Fatal(err)
			}
			net, err := Build(m, Config{Batch: 4, Variational: true})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			n := len(net.Variational())
			if n == 0 || c.layers > 0 && n != c.layers {
				t.Fatalf("%d variational layers; want %d (every Conv/Gemm/MatMul weight)", n, c.layers)
			}
			net.DrawNoise(1)
			loss, err := net.LossGrad(randInput(rand.New(rand.NewPCG(2, 2)), 4*784), []int{0, 1, 2, 3})
			if err != nil || math.IsNaN(loss) {
				t.Fatalf("LossGrad: %g, %v", loss, err)
			}
			t.Logf("%d variational layers, loss %.3f", n, loss)
		})
	}
}

// TestVariationalFloat32MatchesFloat64: a float32 net, which draws its noise inside the
// forward pass (kernels.LRTNoiseForward) and keeps ½ε/√(v + varEps) for the backward pass,
// computes the loss and every gradient that a float64 net with the same seed's noise stored in
// its ε tensors (DrawNoise, the unfused formulas) computes, within float32 rounding; a second
// LossGrad with the same seed repeats the first bit for bit, and ZeroNoise gives the plain
// logits.
func TestVariationalFloat32MatchesFloat64(t *testing.T) {
	// relTol bounds |g32 − g64| by relTol·(|g64| + the gradient's largest magnitude): float32
	// sums over a few hundred terms lose about 1e-5 relative to the largest term.
	const relTol = 1e-4
	for _, om := range svdModels() {
		t.Run(om.name, func(t *testing.T) {
			var nets [2]*Net
			for i, f64 := range []bool{false, true} {
				net, err := Build(om.m, Config{Batch: 2, Float64: f64, Variational: true})
				if err != nil {
					t.Fatal(err)
				}
				defer net.Close()
				setLogSigma2(net, rand.New(rand.NewPCG(8, 8)), -3, 0)
				net.DrawNoise(77)
				nets[i] = net
			}
			rng := rand.New(rand.NewPCG(4, 4))
			size := 1
			for _, d := range nets[0].InputShape() {
				size *= d
			}
			x, labels := randInput(rng, size), []int{1, nets[0].Classes() - 1}
			l32, err := nets[0].LossGrad(x, labels)
			if err != nil {
				t.Fatal(err)
			}
			l64, err := nets[1].LossGrad(x, labels)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(l32-l64) > relTol*math.Abs(l64) {
				t.Errorf("loss: float32 %g, float64 %g", l32, l64)
			}
			first := map[string][]float32{}
			for i, p := range nets[0].Params() {
				g32, g64 := p.Grad32(), nets[1].Params()[i].Grad64()
				first[p.Name] = append([]float32(nil), g32...)
				top := 0.0
				for _, v := range g64 {
					top = max(top, math.Abs(v))
				}
				for j := range g64 {
					if d := math.Abs(float64(g32[j]) - g64[j]); d > relTol*(math.Abs(g64[j])+top) {
						t.Fatalf("%s[%d]: float32 gradient %g, float64 %g", p.Name, j, g32[j], g64[j])
					}
				}
			}
			if _, err := nets[0].LossGrad(x, labels); err != nil {
				t.Fatal(err)
			}
			for _, p := range nets[0].Params() {
				for j, v := range p.Grad32() {
					if math.Float32bits(v) != math.Float32bits(first[p.Name][j]) {
						t.Fatalf("%s[%d]: second LossGrad with the same seed %g; first %g", p.Name, j, v, first[p.Name][j])
					}
				}
			}
		})
	}
}
