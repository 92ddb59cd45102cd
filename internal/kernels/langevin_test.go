package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLangevinUpdatesMatchGo runs the pSGLD and BAOAB updates on the vectorized path and on the
// Go loops from the same state, over lengths with and without a tail of fewer than 8, and wants
// bit-identical values, averages and momenta (the diagnostics sums to 1e-12 relative).
func TestLangevinUpdatesMatchGo(t *testing.T) {
	if !directOK {
		t.Skip("this processor has no AVX2: only the Go loops run")
	}
	defer func() { noLangevinC = false }()
	r := rand.New(rand.NewPCG(7, 8))
	vec := func(n int, scale float64) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.NormFloat64() * scale)
		}
		return s
	}
	same := func(name string, a, b []float32) {
		t.Helper()
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s[%d]: vectorized %g, Go %g", name, i, a[i], b[i])
			}
		}
	}
	for _, n := range []int{1, 7, 8, 13, 64, 1001} {
		for _, c := range []PSGLDConsts{
			{A: 0.99, B: 1 - 0.99, Lambda: 1e-5, H: 3e-5, Noise: 2 * 3e-5 * 0.01 / 55000},
			{A: 0.99, B: 0.01, Lambda: 1e-5, H: 1e-4, Noise: 1e-9, First: true},
			{A: 0.99, B: 0.01, Lambda: 1e-1, H: 1e-3, Explore: true},
		} {
			val, grad, v, z := vec(n, 0.1), vec(n, 0.01), vec(n, 1e-4), vec(n, 1)
			for i := range v {
				v[i] *= v[i]
			}
			val2, v2 := append([]float32(nil), val...), append([]float32(nil), v...)
			noLangevinC = false
			PSGLDUpdate(val, grad, v, z, c)
			noLangevinC = true
			PSGLDUpdate(val2, grad, v2, z, c)
			same("psgld θ", val, val2)
			same("psgld V", v, v2)
		}
		for _, c := range []BAOABConsts{
			{N: 55000, HPrev: 2.5e-5, H: 2.5e-5, C: 0.99, SD: 0.14},
			{N: 55000, HPrev: 2.5e-5, H: 1e-5, C: 0.9, SD: 0},
		} {
			val, grad, p, z := vec(n, 0.1), vec(n, 0.01), vec(n, 1), vec(n, 1)
			val2, p2 := append([]float32(nil), val...), append([]float32(nil), p...)
			noLangevinC = false
			pp, tf := BAOABUpdate(val, grad, p, z, c)
			noLangevinC = true
			pp2, tf2 := BAOABUpdate(val2, grad, p2, z, c)
			same("baoab θ", val, val2)
			same("baoab p", p, p2)
			if math.Abs(pp-pp2) > 1e-12*math.Abs(pp2) || math.Abs(tf-tf2) > 1e-12*math.Abs(tf2)+1e-300 {
				t.Fatalf("n %d: sums %g, %g (vectorized) vs %g, %g (Go)", n, pp, tf, pp2, tf2)
			}
		}
	}
}
