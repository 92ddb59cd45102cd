package kernels

/*
#cgo CFLAGS: -O3
#include "direct.h"
*/
import "C"

import "unsafe"

// The direct path: on processors with AVX2 and FMA, float32 convolutions that take the
// extended-width path (convext.go) skip the patch matrix and its GEMM. direct.c sums the taps
// straight from the padded planes (forward, and the input gradient as the adjoint forward) and
// forms the weight gradient as lane-wise dot products of the spread output gradient with the
// shifted planes. Measured on the zoo net's and LeNet-5's first convolution at one thread
// (BenchmarkConvDirectCPU), it needs less CPU than im2col + OpenBLAS on every pass.

// padSlack is the number of zeros after the padded planes: a direct kernel's last 8-wide load
// of a tap may run up to 7 values past the plane.
const padSlack = 8

var directOK = C.uqnn_direct_ok() != 0

// noDirect turns the direct path off (tests and benchmarks compare it with the GEMM path).
var noDirect bool

func useDirect() bool { return directOK && !noDirect }

// directOffsets returns each tap's offset c·Hp·Wp + kh·Wp + kw into one image's padded planes.
func directOffsets(g ConvGeom, offs []int32) []int32 {
	hp, wp, _ := g.ext()
	if cap(offs) < g.k() {
		offs = make([]int32, g.k())
	}
	offs = offs[:g.k()]
	t := 0
	for c := 0; c < g.C; c++ {
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				offs[t] = int32(c*hp*wp + kh*wp + kw)
				t++
			}
		}
	}
	return offs
}

// padBuf returns wk's padded-image buffer for g: zero borders and slack, interior as the
// last image left it. It keeps the two most recent geometries.
func (wk *convWorker[T]) padBuf(g ConvGeom) []float32 {
	if wk.dpad[0].g != g {
		if wk.dpad[1].g == g {
			wk.dpad[0], wk.dpad[1] = wk.dpad[1], wk.dpad[0]
		} else {
			hp, wp, _ := g.ext()
			wk.dpad[1] = wk.dpad[0]
			wk.dpad[0] = geomBuf{g: g, buf: make([]float32, g.C*hp*wp+padSlack)}
		}
	}
	return wk.dpad[0].buf
}

// directPad copies image x into buf (from padBuf).
func directPad(g ConvGeom, x, buf []float32) {
	hp, wp, _ := g.ext()
	C.uqnn_direct_pad(fp(x), fp(buf), C.int(g.C), C.int(g.H), C.int(g.W), C.int(g.PadT), C.int(g.PadL), C.int(hp), C.int(wp))
}

func fp(s []float32) *C.float { return (*C.float)(unsafe.Pointer(&s[0])) }

// directForward is extForward on the direct path.
func (c *Conv[T]) directForward(g ConvGeom, x, w, b, y []float32) {
	K, P := g.k(), g.p()
	_, wp, l := g.ext()
	nv := (l + 7) / 8
	lr := 8 * nv
	ys, xs := g.M*P, g.C*g.H*g.W
	var bias *C.float
	if b != nil {
		bias = fp(b)
	}
	c.eachImage(g.N*K*l*g.M, func(wk *convWorker[T], lo, hi int) {
		wk.offs = directOffsets(g, wk.offs)
		pad := wk.padBuf(g)
		out := grow(wk.dout, g.M*lr)
		wk.dout = out
		for n := lo; n < hi; n++ {
			directPad(g, x[n*xs:(n+1)*xs], pad)
			C.uqnn_direct_fwd(fp(pad), (*C.int)(unsafe.Pointer(&wk.offs[0])), C.int(K), fp(w), C.int(g.M), fp(out), C.long(nv), C.long(lr))
			C.uqnn_direct_unspread(fp(out), C.long(lr), C.int(g.M), C.int(g.OH), C.int(g.OW), C.int(wp), bias, fp(y[n*ys:(n+1)*ys]))
		}
	})
}

// directFilter is extFilter on the direct path.
func (c *Conv[T]) directFilter(x, dy, dw, db []float32) {
	g := c.G
	K, P, M := g.k(), g.p(), g.M
	_, wp, l := g.ext()
	nv := (l + 7) / 8
	lr := 8 * nv
	ys, xs := M*P, g.C*g.H*g.W
	nw := c.eachImage(g.N*K*l*M, func(wk *convWorker[T], lo, hi int) {
		wk.offs = directOffsets(g, wk.offs)
		pad := wk.padBuf(g)
		if wk.dyExt.g != g {
			wk.dyExt = geomBuf{g: g, buf: make([]float32, M*lr)}
		}
		ext := wk.dyExt.buf
		acc := grow(wk.acc, M*K*8)
		wk.acc = acc
		clear(acc)
		for n := lo; n < hi; n++ {
			directPad(g, x[n*xs:(n+1)*xs], pad)
			C.uqnn_direct_spread(fp(dy[n*ys:(n+1)*ys]), C.int(M), C.int(g.OH), C.int(g.OW), C.int(wp), fp(ext), C.long(lr))
			C.uqnn_direct_filter(fp(pad), (*C.int)(unsafe.Pointer(&wk.offs[0])), C.int(K), fp(ext), C.long(lr), C.int(M), C.long(nv), fp(acc))
		}
		wt := grow(any(wk.wt).([]float32), K*M)
		for m := 0; m < M; m++ {
			for k := 0; k < K; k++ {
				a := acc[(m*K+k)*8 : (m*K+k+1)*8]
				wt[k*M+m] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
			}
		}
		wk.wt = any(wt).([]T)
	})
	c.combineFilter(nw, any(dy).([]T), any(dw).([]T), anyOrNil[T](db))
}

func anyOrNil[T Float](s []float32) []T {
	if s == nil {
		return nil
	}
	return any(s).([]T)
}
