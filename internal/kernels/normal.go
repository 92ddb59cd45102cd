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

// Standard normal draws for sparse variational dropout's local reparameterization, 16 at a
// time. A NormalState holds 8 independent xoshiro128+ generators (Blackman & Vigna 2018: 128
// bits of state, 32-bit output; its top bits, the strong ones, are used). A group of 16
// draws takes two outputs per lane, u and w, as the uniforms u1 = (⌊u/2⁹⌋ + ½)/2²³ in (0, 1)
// and t = ⌊w/2⁸⌋/2²⁴ in [0, 1), both exact in float32, and makes the Box–Muller pair r·cos 2πt (position l of the
// group) and r·sin 2πt (position 8 + l), r = √(−2 log u1): exact normal draws up to float32
// rounding, the polynomial log (Cephes' logf) and sin and cos (Cephes' sinf, cosf on ±π/4
// after a reduction by quarter turns, which is exact here); |draw| ≤ 5.8 (a tail mass of 8e-9
// is cut). A length that is not a multiple of 16 drops the last group's surplus. The AVX2 loop
// (normal.c) and the Go loop here do the same float32 operations in the same order:
// bit-identical draws.

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
	var g [16]float32
	for i := 0; i < len(z); i += 16 {
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
	var g [16]float32
	for i := 0; i < n; i += 16 {
		normalGroup(st, &g)
		for l, z := range g[:min(16, n-i)] {
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

// next8 advances the 8 lanes and returns their outputs.
func next8(st *NormalState) (out [8]uint32) {
	for l := range 8 {
		s0, s1, s2, s3 := st[l], st[8+l], st[16+l], st[24+l]
		out[l] = s0 + s3
		t := s1 << 9
		s2 ^= s0
		s3 ^= s1
		s1 ^= s2
		s0 ^= s3
		s2 ^= t
		s3 = s3<<11 | s3>>21
		st[l], st[8+l], st[16+l], st[24+l] = s0, s1, s2, s3
	}
	return out
}

// normalGroup writes the next 16 draws of st.
func normalGroup(st *NormalState, g *[16]float32) {
	u, w := next8(st), next8(st)
	for l := range 8 {
		g[l], g[8+l] = boxMuller32(u[l], w[l])
	}
}

// boxMuller32 is the pair r·cos 2πt, r·sin 2πt of the 32-bit outputs u and w (top 24 bits).
func boxMuller32(u, w uint32) (c, s float32) {
	u1 := float32(float32(u>>9)+0.5) * 0x1p-23 // exact: 24 significant bits
	t := float32(w>>8) * 0x1p-24
	r := sqrt32(float32(logUnit32(u1) * -2))
	q := float32(math.RoundToEven(float64(float32(t * 4))))
	x := float32((t - float32(q*0.25)) * 6.28318530717958648)
	x2 := float32(x * x)
	sp := float32(-1.9515295891e-4)
	sp = float32(sp*x2) + 8.3321608736e-3
	sp = float32(sp*x2) - 1.6666654611e-1
	sn := float32(float32(sp*x2)*x) + x
	cp := float32(2.443315711809948e-5)
	cp = float32(cp*x2) - 1.388731625493765e-3
	cp = float32(cp*x2) + 4.166664568298827e-2
	cs := float32(float32(float32(cp*x2)*x2)-float32(x2*0.5)) + 1
	qi := int32(q)
	if qi&1 != 0 {
		sn, cs = cs, sn
	}
	if qi>>1&1 != 0 {
		sn = -sn
	}
	if (qi+1)>>1&1 != 0 {
		cs = -cs
	}
	return float32(r * cs), float32(r * sn)
}

// logUnit32 is log p for a normal positive p ≤ 1 (Cephes' logf, as logAlpha32 computes it).
func logUnit32(p float32) float32 {
	b := math.Float32bits(p)
	e, r := logParts32(b, float32(int32(b>>23)-126))
	return r + float32(e*ln2Hi)
}
