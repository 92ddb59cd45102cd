package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// log32 is Cephes' logf of a positive finite a: logAlpha32 with ls = 0 is −2·log a, exactly
// (the scaling by −2 commutes with rounding).
func log32(a float32) float32 { return -logAlpha32(a, 0) / 2 }

// ulps is the distance between a float32 result and the float64 reference in units of the
// reference's float32 ulp.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	u := math.Nextafter32(w, float32(math.Inf(1))) - w
	if u == 0 || math.IsInf(float64(u), 0) {
		u = w - math.Nextafter32(w, 0)
	}
	return math.Abs(float64(got)-want) / float64(u)
}

// TestMathf checks exp32 and the logarithm inside logAlpha32 against math.Exp and math.Log in
// ulps over their ranges (subnormal arguments of log included), and exp32's ends.
func TestMathf(t *testing.T) {
	// maxULP: Cephes reports a peak relative error of 1.7e-7 (exp) and 7.1e-8 (log) in single
	// precision, 1.5 and 0.6 ulp; measured here at most 1 ulp for both.
	const maxULP = 2
	r := rand.New(rand.NewPCG(1, 2))
	var worstE, worstL float64
	for i := range 1_000_000 {
		x := float32(expLo + (expHi-expLo)*r.Float64())
		if i < 1000 {
			x = float32(-20 + 40*r.Float64()) // the KL step's range, denser
		}
		if d := ulps(exp32(x), math.Exp(float64(x))); d > worstE {
			worstE = d
			if d > maxULP {
				t.Fatalf("exp32(%g) = %g; math.Exp %g (%.2f ulp)", x, exp32(x), math.Exp(float64(x)), d)
			}
		}
		a := math.Float32frombits(uint32(r.Uint64N(0x7f800000-1)) + 1) // every positive finite float32
		if d := ulps(log32(a), math.Log(float64(a))); d > worstL {
			worstL = d
			if d > maxULP {
				t.Fatalf("log32(%g) = %g; math.Log %g (%.2f ulp)", a, log32(a), math.Log(float64(a)), d)
			}
		}
	}
	t.Logf("worst: exp32 %.2f ulp, log32 %.2f ulp", worstE, worstL)
	for _, c := range []struct{ x, want float32 }{
		{-88, 0}, {-1000, 0}, {89, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), float32(math.Inf(1))}, {0, 1},
	} {
		if got := exp32(c.x); got != c.want {
			t.Errorf("exp32(%g) = %g; want %g", c.x, got, c.want)
		}
	}
	if nan := float32(math.NaN()); !math.IsNaN(float64(exp32(nan))) {
		t.Error("exp32(NaN) is not NaN")
	}
}

// TestSVDLogAlphaAccuracy: log α = ls − log θ² within about an ulp of log α itself, even where
// ls and log θ² nearly cancel.
func TestSVDLogAlphaAccuracy(t *testing.T) {
	// The error is two roundings, ½ ulp of log α and ½ ulp of ls − 2e·ln2Hi (at most one binade
	// above log α, as |2r| < 0.7), so 1.5 ulp of log α, plus the polynomial part 2r's own error
	// (under 2 ulp of |2r| < 0.7: 1.2e-7). Rounding log θ² to float32 first would instead cost
	// ½ ulp of |log θ²|, up to 4 times more here.
	r := rand.New(rand.NewPCG(3, 4))
	for range 200_000 {
		th := float32(math.Exp(-12 * r.Float64()))
		ls := float32(-25 + 30*r.Float64())
		want := float64(ls) - math.Log(float64(th)*float64(th))
		got := SVDLogAlpha(th, ls)
		u := float64(math.Nextafter32(float32(math.Abs(want)), float32(math.Inf(1))) - float32(math.Abs(want)))
		if d := math.Abs(float64(got) - want); d > 1.5*u+1.2e-7 {
			t.Fatalf("log α of θ %g, log σ² %g: %.9g; float64 %.9g (off by %.3g, ulp %.3g)", th, ls, got, want, d, u)
		}
	}
}

// svdCases returns n weights, log σ², and gradients that cover SVDKLStep's branches: zeros of
// both signs, runs of 8 zeros, subnormal weights, log α just either side of the threshold and of
// both clip bounds, and ordinary values.
func svdCases(r *rand.Rand, n int, thr, clip float32) (theta, ls, gt, gl []float32) {
	theta, ls, gt, gl = make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range theta {
		th := float32(math.Exp(-8*r.Float64()) * float64(1-2*r.IntN(2)))
		l := float32(-14 + 12*r.Float64())
		switch r.IntN(10) {
		case 0:
			th = 0
		case 1:
			th = float32(math.Copysign(0, -1))
		case 2: // on a boundary, nudged by up to 4 ulp
			b := []float32{thr, clip, -clip}[r.IntN(3)]
			if math.IsInf(float64(b), 0) {
				b = -clip
			}
			l = b + SVDLogAlpha(1, 0) - SVDLogAlpha(th, 0) // log α ≈ b
			for range r.IntN(9) {
				l = math.Nextafter32(l, float32(math.Inf(2*r.IntN(2)-1)))
			}
		case 3:
			th = math.Float32frombits(uint32(r.IntN(1 << 23)))
		}
		if i/8%7 == 3 {
			th = 0 // a whole run of zeros
		}
		theta[i], ls[i] = th, l
		gt[i], gl[i] = float32(r.NormFloat64()*1e-3), float32(r.NormFloat64()*1e-4)
	}
	return
}

// TestSVDKernelsMatchGo runs the svd kernels (KL step, pruning, exp, local reparameterization)
// on the vectorized path and on the Go loops from
// the same inputs, over lengths with and without a tail of fewer than 8, and wants every bit of
// every output equal.
func TestSVDKernelsMatchGo(t *testing.T) {
	if !directOK {
		t.Skip("this processor has no AVX2: only the Go loops run")
	}
	defer func() { noSVDC = false }()
	r := rand.New(rand.NewPCG(7, 8))
	same := func(name string, n int, a, b []float32) {
		t.Helper()
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("n %d: %s[%d]: vectorized %g (%08x), Go %g (%08x)", n, name, i, a[i], math.Float32bits(a[i]), b[i], math.Float32bits(b[i]))
			}
		}
	}
	cl := func(s []float32) []float32 { return append([]float32(nil), s...) }
	for _, n := range []int{1, 7, 8, 13, 64, 1001, 40000} {
		for _, c := range []SVDKLConsts{
			{K1: 0.63576, K2: 1.87320, K3: 1.48695, Scale: 1.0 / 55000, Threshold: 3, Clip: 8},
			{K1: 0.63576, K2: 1.87320, K3: 1.48695, Scale: 0.25, Threshold: -2, Clip: 8},
			// compress' kept-fraction mode: nothing is pruned during training.
			{K1: 0.63576, K2: 1.87320, K3: 1.48695, Scale: 1.0 / 55000, Threshold: float32(math.Inf(1)), Clip: 8},
		} {
			theta, ls, gt, gl := svdCases(r, n, c.Threshold, c.Clip)
			theta0, theta2, gt2, gl2 := cl(theta), cl(theta), cl(gt), cl(gl)
			// Every branch, and both sides of each boundary within 4 ulp, must be exercised.
			// (+clip is never reached: the threshold is below it.)
			var zeros int
			var near [2][3]int // [below, above][threshold, clip, −clip]
			for i, th := range theta {
				if th == 0 {
					zeros++
					continue
				}
				la := SVDLogAlpha(th, ls[i])
				for k, b := range []float32{c.Threshold, c.Clip, -c.Clip} {
					if d := la - b; math.Abs(float64(d)) <= 4*float64(math.Nextafter32(abs32(b), 100)-abs32(b)) {
						above := 0
						if d > 0 {
							above = 1
						}
						near[above][k]++
					}
				}
			}
			finite := !math.IsInf(float64(c.Threshold), 0)
			if n >= 40000 && (zeros == 0 || finite && (near[0][0] == 0 || near[1][0] == 0) || near[0][2] == 0 || near[1][2] == 0) {
				t.Fatalf("n %d: cases miss a branch: %d zeros, near threshold/clip/−clip below %v above %v", n, zeros, near[0], near[1])
			}
			noSVDC = false
			SVDKLStep(theta, ls, gt, gl, c)
			noSVDC = true
			SVDKLStep(theta2, ls, gt2, gl2, c)
			same("θ", n, theta, theta2)
			same("∂θ", n, gt, gt2)
			same("∂log σ²", n, gl, gl2)
			if !finite {
				same("θ after the KL step at an infinite threshold", n, theta, theta0)
			}
			theta, ls, _, _ = svdCases(r, n, c.Threshold, c.Clip)
			theta0, theta2 = cl(theta), cl(theta)
			noSVDC = false
			SVDPrune(theta, ls, c.Threshold)
			noSVDC = true
			SVDPrune(theta2, ls, c.Threshold)
			same("pruned θ", n, theta, theta2)
			if !finite {
				same("θ after pruning at an infinite threshold", n, theta, theta0)
			}
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(-100 + 200*r.Float64())
			if i%5 == 0 {
				x[i] = float32(-15 + 30*r.Float64())
			}
		}
		mu, v, dy := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range mu {
			mu[i], dy[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			v[i] = float32(r.ExpFloat64() * 1e-3)
			if i%9 == 0 {
				v[i] = 0
			}
		}
		seed := r.Uint64()
		outs := func() [][]float32 {
			y, z, o, h, d := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			Exp(x, y)
			st := NewNormalState(seed)
			NormalFill(&st, z)
			st = NewNormalState(seed)
			LRTNoiseForward(&st, mu, v, o, h, 1e-8)
			LRTBackwardH(h, dy, d)
			sq, sqb, mu2 := make([]float32, n), make([]float32, n), make([]float32, n)
			Square(mu, sq)
			SquareBackward(mu, dy, sqb)
			Mul(v, dy, mu2)
			return [][]float32{y, z, o, h, d, sq, sqb, mu2}
		}
		noSVDC = false
		a := outs()
		noSVDC = true
		b := outs()
		for k, name := range []string{"exp", "normal draws", "lrt forward", "lrt h", "lrt backward", "square", "square backward", "mul"} {
			same(name, n, a[k], b[k])
		}
	}
}
