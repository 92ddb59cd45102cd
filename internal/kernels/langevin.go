package kernels

/*
#cgo LDFLAGS: -lm
#include "langevin.h"
*/
import "C"

import (
	"fmt"
	"math"
)

// The Langevin samplers' per-weight updates (bayes' pSGLD and BAOAB), 8 weights at a time in
// AVX2 where the processor has it (langevin.c) and in Go otherwise. Both compute the same
// float32 operations in the same order, so the results are bit-identical; the Gaussian draws z
// come from the caller, which owns the random streams.

// PSGLDConsts are one pSGLD step's constants: V ← A·V + B·g² (V ← g² when First), G =
// 1/(Lambda + √V), θ ← θ − H·G·g + √(Noise·G)·z, or θ ← θ − H·G·g without noise when Explore.
type PSGLDConsts struct {
	A, B, Lambda, H, Noise float32
	First, Explore         bool
}

// PSGLDUpdate applies one pSGLD step to val with gradient grad, squared-gradient average v and
// standard normal draws z (not read when c.Explore).
func PSGLDUpdate(val, grad, v, z []float32, c PSGLDConsts) {
	n := len(val)
	if len(grad) < n || len(v) < n || (!c.Explore && len(z) < n) {
		panic(fmt.Sprintf("kernels: PSGLDUpdate: %d values, %d gradients, %d averages, %d draws", n, len(grad), len(v), len(z)))
	}
	if n == 0 {
		return
	}
	if useLangevinC() {
		zp := fp(val) // not read when exploring
		if !c.Explore {
			zp = fp(z)
		}
		C.uqnn_psgld(fp(val), fp(grad), fp(v), zp, C.long(n), C.float(c.A), C.float(c.B), C.float(c.Lambda),
			C.float(c.H), C.float(c.Noise), cbool(c.First), cbool(c.Explore))
		return
	}
	psgldGo(val, grad, v, z, c)
}

func psgldGo(val, grad, v, z []float32, c PSGLDConsts) {
	for i, g := range grad[:len(val)] {
		vi := g * g
		if !c.First {
			vi = c.A*v[i] + c.B*vi
		}
		v[i] = vi
		G := 1 / (c.Lambda + sqrt32(vi))
		if c.Explore {
			val[i] -= c.H * G * g
			continue
		}
		val[i] += -c.H*G*g + sqrt32(c.Noise*G)*z[i]
	}
}

// BAOABConsts are one BAOAB step's constants (after the first step, once the momentum
// exists): N scales the gradient to the force F = −N·g; HPrev and H are the previous and this
// step's half steps; C = e^(−γh) and SD = √((1 − C²)·T) the O step's.
type BAOABConsts struct{ N, HPrev, H, C, SD float32 }

// BAOABUpdate applies one BAOAB step to val and the momentum p given the gradient grad and
// standard normal draws z (not read when c.SD is 0):
//
//	p += HPrev·F (the previous step's closing B); p += H·F (B); θ += H·p (A);
//	p ← C·p + SD·z (O); θ += H·p (A).
//
// It returns Σ p² after the closing B and Σ θ·F at the incoming θ, the kinetic and
// configurational temperatures' sums (formed in float64; their order of summation, unlike the
// update, depends on the path).
func BAOABUpdate(val, grad, p, z []float32, c BAOABConsts) (pp, tf float64) {
	n := len(val)
	if len(grad) < n || len(p) < n || (c.SD != 0 && len(z) < n) {
		panic(fmt.Sprintf("kernels: BAOABUpdate: %d values, %d gradients, %d momenta, %d draws", n, len(grad), len(p), len(z)))
	}
	if n == 0 {
		return 0, 0
	}
	if useLangevinC() {
		zp := fp(val)
		if c.SD != 0 {
			zp = fp(z)
		}
		var cpp, ctg C.double
		C.uqnn_baoab(fp(val), fp(grad), fp(p), zp, C.long(n), C.float(c.N), C.float(c.HPrev), C.float(c.H),
			C.float(c.C), C.float(c.SD), &cpp, &ctg)
		return float64(cpp), -float64(ctg)
	}
	return baoabGo(val, grad, p, z, c)
}

func baoabGo(val, grad, p, z []float32, c BAOABConsts) (pp, tf float64) {
	for i, g := range grad[:len(val)] {
		f := -c.N * g
		th := val[i]
		tf += float64(th * f)
		pi := p[i] + c.HPrev*f
		pp += float64(pi * pi)
		pi += c.H * f
		th += c.H * pi
		pi = c.C * pi
		if c.SD != 0 {
			pi += c.SD * z[i]
		}
		th += c.H * pi
		p[i], val[i] = pi, th
	}
	return pp, tf
}

// noLangevinC sends the updates down the Go loops (tests compare the two).
var noLangevinC bool

func useLangevinC() bool { return directOK && !noLangevinC }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
