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

// TestNormalDrawsAreBoxMuller: draws l and 8 + l of a group of 16 are the Box–Muller pair
// √(−2 ln u1)·(cos, sin)(2πt) of lane l's next two xoshiro128+ outputs turned into the
// uniforms u1 = (⌊u/2⁹⌋ + ½)/2²³ and t = ⌊w/2⁸⌋/2²⁴, with ln, cos and sin from package math
// (float64), within drawTol; both the vectorized and the Go loop.
func TestNormalDrawsAreBoxMuller(t *testing.T) {
	// drawTol bounds |draw − exact| / max(|exact|, 1): the float32 log, sin and cos are
	// within 2 ulp, the radius and angle add a few roundings; 1e-6 is about 8 float32 ulp at 1.
	const drawTol = 1e-6
	const n = 1 << 16
	ref := func(u, w uint32) (float64, float64) {
		u1 := (float64(u>>9) + 0.5) / (1 << 23)
		th := float64(w>>8) / (1 << 24)
		r := math.Sqrt(-2 * math.Log(u1))
		sn, cs := math.Sincos(2 * math.Pi * th)
		return r * cs, r * sn
	}
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
		check := func(i int, got float32, want float64) {
			if e := math.Abs(float64(got)-want) / max(math.Abs(want), 1); e > worst {
				worst = e
				if e > drawTol {
					t.Fatalf("vectorized %v: draw %d: %.9g; want %.9g (error %.2g > %g)", vectorized, i, got, want, e, drawTol)
				}
			}
		}
		for g := 0; g < n; g += 16 {
			var u, w [8]uint32
			for l := range lanes {
				u[l] = lanes[l].next()
			}
			for l := range lanes {
				w[l] = lanes[l].next()
			}
			for l := range 8 {
				c, s := ref(u[l], w[l])
				check(g+l, z[g+l], c)
				check(g+8+l, z[g+8+l], s)
			}
		}
		// The extremes of both uniforms and every quarter-turn boundary of the angle.
		for _, uu := range []uint32{0, 1, 1 << 23, 1<<23 - 1, 1<<24 - 1} {
			for _, ww := range []uint32{0, 1, 1<<22 - 1, 1 << 22, 1<<22 + 1, 1<<23 - 1, 1 << 23, 3 << 22, 1<<24 - 1} {
				c, s := ref(uu<<8, ww<<8)
				gc, gs := boxMuller32(uu<<8, ww<<8)
				check(-1, gc, c)
				check(-1, gs, s)
			}
		}
		t.Logf("vectorized %v: worst error %.2g over %d draws", vectorized, worst, n)
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
