package kernels

/*
#cgo CFLAGS: -O3
#include "normal.h"
*/
import "C"

import (
	"math"
	"unsafe"
)

// Standard normal draws for sparse variational dropout's local reparameterization, 8 at a
// time. A NormalState holds 8 independent xoshiro128+ generators (Blackman & Vigna 2018: 128
// bits of state, 32-bit output; the top 24 bits, its strong ones, are used). Lane l's output u
// becomes the uniform x = (2⌊u/2⁸⌋ + 1)/2²⁴ − 1 in (−1, 1), and the draw is √2·erfinv(x) by
// M. Giles' single-precision approximation ("Approximating the erfinv function", GPU
// Computing Gems, 2011): w = −log((1 − |x|)(1 + |x|)), a degree-8 polynomial in w − 2.5 for
// w < 5 and in √w − 3 beyond (|x| > 0.9966), times x. The inverse error function is within a
// few float32 ulp of the exact one; the draws reach ±5.4 (a tail mass of 7e-8 is cut). Values
// are produced in groups of 8 (one per lane, lane l at position 8k + l); a length that is not
// a multiple of 8 drops the last group's surplus. The AVX2 loop (normal.c) and the Go loop
// here do the same float32 operations in the same order: bit-identical draws.

// NormalState is the state of 8 xoshiro128+ lanes: word k of lane l at [8k + l].
type NormalState [32]uint32

// NewNormalState seeds the 8 lanes from 64 bits by SplitMix64 (Vigna), the seeding the
// xoshiro authors recommend; a lane whose 128 bits would all be zero gets word 0 set to 1.
func NewNormalState(seed uint64) NormalState {
	var st NormalState
	z := seed
	next := func() uint64 {
		z += 0x9e3779b97f4a7c15
		x := z
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		return x ^ (x >> 31)
	}
	for l := range 8 {
		a, b := next(), next()
		st[l], st[8+l], st[16+l], st[24+l] = uint32(a), uint32(a>>32), uint32(b), uint32(b>>32)
		if a == 0 && b == 0 {
			st[l] = 1
		}
	}
	return st
}

// NormalFill sets z to the next len(z) standard normal draws of st.
func NormalFill(st *NormalState, z []float32) {
	if len(z) == 0 {
		return
	}
	if useSVDC() {
		C.uqnn_normal_fill((*C.uint32_t)(unsafe.Pointer(&st[0])), fp(z), C.long(len(z)))
		return
	}
	var g [8]float32
	for i := 0; i < len(z); i += 8 {
		normalGroup(st, &g)
		copy(z[i:], g[:])
	}
}

// LRTNoiseForward is the local reparameterization's forward pass with its noise drawn from st:
// for each element, with z the next standard normal draw and s = √(v + eps),
// out = mu + s·z and h = ½z/s (so that the gradient to v is dy·h, LRTBackwardH).
func LRTNoiseForward(st *NormalState, mu, v, out, h []float32, eps float32) {
	n := len(out)
	checkLen("lrt mean", len(mu), n)
	checkLen("lrt variance", len(v), n)
	checkLen("lrt h", len(h), n)
	if n == 0 {
		return
	}
	if useSVDC() {
		C.uqnn_lrt_noise_fwd((*C.uint32_t)(unsafe.Pointer(&st[0])), fp(mu), fp(v), fp(out), fp(h), C.long(n), C.float(eps))
		return
	}
	var g [8]float32
	for i := 0; i < n; i += 8 {
		normalGroup(st, &g)
		for l, z := range g[:min(8, n-i)] {
			s := sqrt32(v[i+l] + eps)
			out[i+l] = mu[i+l] + float32(s*z)
			h[i+l] = float32(0.5*z) / s
		}
	}
}

// LRTBackwardH writes the gradient of LRTNoiseForward's output with respect to v, dy·h, to dv
// on Threads() goroutines when large.
func LRTBackwardH(h, dy, dv []float32) {
	n := len(dv)
	checkLen("lrt h", len(h), n)
	checkLen("lrt gradient", len(dy), n)
	if n == 0 {
		return
	}
	parallelFor(n, n, func(lo, hi int) {
		if useSVDC() {
			C.uqnn_lrt_bwd_h(fp(h[lo:hi]), fp(dy[lo:hi]), fp(dv[lo:hi]), C.long(hi-lo))
			return
		}
		for i := lo; i < hi; i++ {
			dv[i] = dy[i] * h[i]
		}
	})
}

// normalGroup writes the next 8 draws of st, one per lane.
func normalGroup(st *NormalState, g *[8]float32) {
	for l := range 8 {
		s0, s1, s2, s3 := st[l], st[8+l], st[16+l], st[24+l]
		r := s0 + s3
		t := s1 << 9
		s2 ^= s0
		s3 ^= s1
		s1 ^= s2
		s0 ^= s3
		s2 ^= t
		s3 = s3<<11 | s3>>21
		st[l], st[8+l], st[16+l], st[24+l] = s0, s1, s2, s3
		g[l] = normal32(r)
	}
}

// normal32 is the standard normal draw of the 32 random bits r (the top 24 are used).
func normal32(r uint32) float32 {
	u := int32(r >> 8)
	x := float32(u+u+1-1<<24) * 0x1p-24
	d := abs32(x)
	w := 0 - logUnit32(float32((1-d)*(1+d)))
	var p float32
	if w < 5 {
		wc := w - 2.5
		p = 2.81022636e-08
		p = 3.43273939e-07 + float32(p*wc)
		p = -3.5233877e-06 + float32(p*wc)
		p = -4.39150654e-06 + float32(p*wc)
		p = 0.00021858087 + float32(p*wc)
		p = -0.00125372503 + float32(p*wc)
		p = -0.00417768164 + float32(p*wc)
		p = 0.246640727 + float32(p*wc)
		p = 1.50140941 + float32(p*wc)
	} else {
		wt := sqrt32(w) - 3
		p = -0.000200214257
		p = 0.000100950558 + float32(p*wt)
		p = 0.00134934322 + float32(p*wt)
		p = -0.00367342844 + float32(p*wt)
		p = 0.00573950773 + float32(p*wt)
		p = -0.0076224613 + float32(p*wt)
		p = 0.00943887047 + float32(p*wt)
		p = 1.00167406 + float32(p*wt)
		p = 2.83297682 + float32(p*wt)
	}
	return float32(p*x) * math.Sqrt2
}

// logUnit32 is log p for a normal positive p ≤ 1 (Cephes' logf, as logAlpha32 computes it).
func logUnit32(p float32) float32 {
	b := math.Float32bits(p)
	e := float32(int32(b>>23) - 126)
	m := math.Float32frombits(b&0x007fffff | 0x3f000000)
	var tmp float32
	below := m < sqrtHf
	if below {
		tmp = m
	}
	m -= 1
	if below {
		e -= 1
	}
	m += tmp
	z := float32(m * m)
	y := float32(7.0376836292e-2)
	y = float32(y*m) - 1.1514610310e-1
	y = float32(y*m) + 1.1676998740e-1
	y = float32(y*m) - 1.2420140846e-1
	y = float32(y*m) + 1.4249322787e-1
	y = float32(y*m) - 1.6668057665e-1
	y = float32(y*m) + 2.0000714765e-1
	y = float32(y*m) - 2.4999993993e-1
	y = float32(y*m) + 3.3333331174e-1
	y = float32(float32(y*m) * z)
	y += float32(e * ln2Lo)
	y -= float32(z * 0.5)
	r := m + y
	return r + float32(e*ln2Hi)
}
