package kernels

import (
	"math"
	"math/bits"
	"testing"
)

// xoshiro128p is the published xoshiro128+ (Blackman & Vigna, xoshiro128plus.c) on one lane:
// the reference the 8-lane generator is checked against.
type xoshiro128p [4]uint32

func (s *xoshiro128p) next() uint32 {
	r := s[0] + s[3]
	t := s[1] << 9
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = bits.RotateLeft32(s[3], 11)
	return r
}

// TestNormalDrawsAreInverseCDF: draw 8k + l of a state is √2·erfinv(x) for lane l's k-th
// xoshiro128+ output turned into x = (2⌊u/2⁸⌋ + 1)/2²⁴ − 1, with erfinv from package math
// (float64); Giles' approximation is within erfinvTol of it.
func TestNormalDrawsAreInverseCDF(t *testing.T) {
	// erfinvTol bounds |draw − exact| relative to max(|exact|, 1e-3): Giles' single-precision
	// erfinv has a relative error of a few 1e-7 before the float32 roundings of its inputs and
	// of log (measured: 2.6e-7 at worst); 1e-6 is about 8 float32 ulp.
	const erfinvTol = 1e-6
	const n = 1 << 16
	for _, vectorized := range []bool{true, false} {
		if vectorized && !directOK {
			continue
		}
		noSVDC = !vectorized
		st := NewNormalState(12345)
		var lanes [8]xoshiro128p
		for l := range lanes {
			lanes[l] = xoshiro128p{st[l], st[8+l], st[16+l], st[24+l]}
		}
		z := make([]float32, n)
		NormalFill(&st, z)
		worst := 0.0
		for i, got := range z {
			u := lanes[i%8].next() >> 8
			x := (2*float64(u)+1)/(1<<24) - 1
			want := math.Sqrt2 * math.Erfinv(x)
			if e := math.Abs(float64(got)-want) / max(math.Abs(want), 1e-3); e > worst {
				worst = e
				if e > erfinvTol {
					t.Fatalf("vectorized %v: draw %d (lane %d, x %.9g): %.9g; want %.9g (relative error %.2g > %g)", vectorized, i, i%8, x, got, want, e, erfinvTol)
				}
			}
		}
		// The far tails (|x| > 0.9966 uses the second polynomial): the extreme uniforms.
		for _, u := range []uint32{0, 1, 2, 100, 30000, 1<<24 - 30000, 1<<24 - 2, 1<<24 - 1} {
			x := (2*float64(u)+1)/(1<<24) - 1
			want := math.Sqrt2 * math.Erfinv(x)
			got := normal32(u << 8)
			if e := math.Abs(float64(got)-want) / math.Abs(want); e > erfinvTol {
				t.Errorf("uniform %d (x %.9g): draw %.9g; want %.9g (relative error %.2g > %g)", u, x, got, want, e, erfinvTol)
			}
		}
		t.Logf("vectorized %v: worst relative error %.2g over %d draws", vectorized, worst, n)
	}
	noSVDC = false
}

// TestNormalMoments checks the draws' moments and tail masses against the standard normal's
// within about five Monte-Carlo standard errors (2²¹ draws: standard errors of the mean,
// variance and fourth moment 7e-4, 1e-3, 5e-3; of P(|x| > 2) 1.4e-4, of P(|x| > 4) 5.5e-6).
func TestNormalMoments(t *testing.T) {
	const n = 1 << 21
	z := make([]float32, n)
	st := NewNormalState(99)
	NormalFill(&st, z)
	var s1, s2, s4 float64
	tail2, tail4 := 0, 0
	for _, v := range z {
		x := float64(v)
		s1 += x
		s2 += x * x
		s4 += x * x * x * x
		if math.Abs(x) > 2 {
			tail2++
		}
		if math.Abs(x) > 4 {
			tail4++
		}
	}
	mean, vr, m4 := s1/n, s2/n, s4/n
	p2, p4 := float64(tail2)/n, float64(tail4)/n
	if math.Abs(mean) > 0.0035 || math.Abs(vr-1) > 0.005 || math.Abs(m4-3) > 0.025 ||
		math.Abs(p2-math.Erfc(2/math.Sqrt2)) > 7e-4 || math.Abs(p4-math.Erfc(4/math.Sqrt2)) > 2.8e-5 {
		t.Errorf("mean %g, variance %g, fourth moment %g, P(|x|>2) %g, P(|x|>4) %g; want 0, 1, 3, %g, %g",
			mean, vr, m4, p2, p4, math.Erfc(2/math.Sqrt2), math.Erfc(4/math.Sqrt2))
	}
}

// TestLRTNoiseForwardMatchesUnfused: the fused forward pass equals the draws of NormalFill from
// the same state pushed through the unfused formulas, bit for bit, and leaves the state where
// NormalFill does (a length not a multiple of 8 uses up its last group).
func TestLRTNoiseForwardMatchesUnfused(t *testing.T) {
	const eps = 1e-8
	for _, n := range []int{1, 8, 13, 1000} {
		mu, v := make([]float32, n), make([]float32, n)
		for i := range mu {
			mu[i] = float32(i%7) - 3
			v[i] = float32(i%5) * 1e-3
		}
		st1, st2 := NewNormalState(5), NewNormalState(5)
		z := make([]float32, n)
		NormalFill(&st1, z)
		out, h := make([]float32, n), make([]float32, n)
		LRTNoiseForward(&st2, mu, v, out, h, eps)
		if st1 != st2 {
			t.Fatalf("n %d: the state after the fused pass differs from NormalFill's", n)
		}
		for i := range z {
			s := float32(math.Sqrt(float64(v[i] + eps)))
			wantOut := mu[i] + float32(s*z[i])
			wantH := float32(0.5*z[i]) / s
			if out[i] != wantOut || h[i] != wantH {
				t.Fatalf("n %d, element %d: out %g, h %g; want %g, %g", n, i, out[i], h[i], wantOut, wantH)
			}
		}
	}
}
