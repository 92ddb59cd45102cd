package kernels

/*
#include "svd.h"
*/
import "C"

import (
	"fmt"
	"math"
)

// Sparse variational dropout's per-element work (compress' KL step, internal/nn's variational
// graph), 8 values at a time in AVX2 where the processor has it (svd.c) and in Go otherwise.
// Both compute the same float32 operations in the same order, so the results are
// bit-identical (TestSVDKernelsMatchGo); exp and log are polynomial (mathf.go).

// SVDKLConsts are one KL step's constants: the KL approximation's k1, k2, k3 (Molchanov et al.
// 2017, eq. 14), Scale (the KL's weight in the loss, warm-up included, over the training set's
// size), the log α above which a weight is pruned, and Clip, the bound on |log α| beyond which
// the KL adds no gradient.
type SVDKLConsts struct {
	K1, K2, K3             float64
	Scale, Threshold, Clip float32
}

// SVDKLStep is sparse variational dropout's per-step KL term and pruning on weights θ with
// log σ² ls and their loss gradients gTheta and gLS. Per weight, with log α = ls − log θ²:
//
//   - θ = 0: gTheta ← 0 (the weight stays pruned);
//   - log α > Threshold: θ ← 0, gTheta ← 0 (pruned now; gLS is left as it is);
//   - −Clip < log α < Clip: the KL gradient scaled by Scale is added,
//     q = Scale·(k1·k3·s(1 − s) + ½·sigmoid(−log α)) with s = sigmoid(k2 + k3·log α),
//     gLS ← gLS − q and gTheta ← gTheta + 2q/θ (∂KL/∂log α = −q/Scale, ∂log α/∂θ = −2/θ);
//   - otherwise nothing changes.
//
// With e1 = exp(−k2 − k3·log α) and e2 = exp(log α), s(1 − s) = e1/(1 + e1)², which keeps its
// relative accuracy where s is close to 1, and sigmoid(−log α) = 1/(1 + e2); the two terms are
// summed over one division, q = Scale·(k1·k3·e1·(1 + e2) + ½(1 + e1)²) / ((1 + e1)²·(1 + e2)).
// Runs of 8 zero weights cost one comparison. θ must be finite.
func SVDKLStep(theta, ls, gTheta, gLS []float32, c SVDKLConsts) {
	n := len(theta)
	if len(ls) < n || len(gTheta) < n || len(gLS) < n {
		panic(fmt.Sprintf("kernels: SVDKLStep: %d weights, %d log σ², %d and %d gradients", n, len(ls), len(gTheta), len(gLS)))
	}
	if n == 0 {
		return
	}
	if useSVDC() {
		C.uqnn_svd_kl(fp(theta), fp(ls), fp(gTheta), fp(gLS), C.long(n), C.float(c.Scale), C.float(c.Threshold),
			C.float(c.Clip), C.float(float32(c.K1*c.K3)), C.float(float32(c.K2)), C.float(float32(c.K3)))
		return
	}
	svdKLGo(theta, ls, gTheta, gLS, c)
}

func svdKLGo(theta, ls, gt, gl []float32, c SVDKLConsts) {
	k1k3, k2, k3 := float32(c.K1*c.K3), float32(c.K2), float32(c.K3)
	for i, th := range theta {
		if th == 0 {
			gt[i] = 0
			continue
		}
		la := logAlpha32(abs32(th), ls[i])
		if la > c.Threshold {
			theta[i], gt[i] = 0, 0
			continue
		}
		if !(la > -c.Clip && la < c.Clip) {
			continue
		}
		// |log α| < Clip ≤ 8 keeps both arguments within ±14.
		e1 := expPoly32(-(k2 + float32(k3*la)))
		e2 := expPoly32(la)
		p1, p2 := 1+e1, 1+e2
		pp := float32(p1 * p1)
		num := float32(float32(k1k3*e1)*p2) + float32(0.5*pp)
		q := c.Scale * (num / float32(pp*p2))
		gl[i] -= q
		gt[i] += (q + q) / th
	}
}

// SVDLogAlpha is log α = ls − log θ² as SVDKLStep computes it (θ ≠ 0 finite).
func SVDLogAlpha(theta, ls float32) float32 { return logAlpha32(abs32(theta), ls) }

// SVDPrune sets θ to 0 where log α > thr, deciding as SVDKLStep does.
func SVDPrune(theta, ls []float32, thr float32) {
	if len(ls) < len(theta) {
		panic(fmt.Sprintf("kernels: SVDPrune: %d weights, %d log σ²", len(theta), len(ls)))
	}
	if len(theta) == 0 {
		return
	}
	if useSVDC() {
		C.uqnn_svd_prune(fp(theta), fp(ls), C.long(len(theta)), C.float(thr))
		return
	}
	svdPruneGo(theta, ls, thr)
}

func svdPruneGo(theta, ls []float32, thr float32) {
	for i, th := range theta {
		if th != 0 && logAlpha32(abs32(th), ls[i]) > thr {
			theta[i] = 0
		}
	}
}

// Exp writes e^x to y (mathf.go's exp32: 0 below −87.34, +Inf above 88), on Threads() goroutines
// when x is large.
func Exp(x, y []float32) {
	checkLen("exp y", len(y), len(x))
	if len(x) == 0 {
		return
	}
	parallelFor(len(x), 8*len(x), func(lo, hi int) {
		if useSVDC() {
			C.uqnn_exp(fp(x[lo:hi]), fp(y[lo:hi]), C.long(hi-lo))
			return
		}
		for i, v := range x[lo:hi] {
			y[lo+i] = exp32(v)
		}
	})
}

// Square writes x² to y.
func Square(x, y []float32) { Mul(x, x, y) }

// SquareBackward writes the gradient of Square, 2x·dy, to dx.
func SquareBackward(x, dy, dx []float32) {
	checkLen("square dy", len(dy), len(x))
	checkLen("square dx", len(dx), len(x))
	if len(x) == 0 {
		return
	}
	parallelFor(len(x), len(x), func(lo, hi int) {
		if useSVDC() {
			C.uqnn_square_bwd(fp(x[lo:hi]), fp(dy[lo:hi]), fp(dx[lo:hi]), C.long(hi-lo))
			return
		}
		dy, dx := dy[lo:hi], dx[lo:hi]
		for i, v := range x[lo:hi] {
			dx[i] = (v + v) * dy[i]
		}
	})
}

// Mul writes a·b elementwise to y.
func Mul(a, b, y []float32) {
	checkLen("mul b", len(b), len(a))
	checkLen("mul y", len(y), len(a))
	if len(a) == 0 {
		return
	}
	parallelFor(len(a), len(a), func(lo, hi int) {
		if useSVDC() {
			C.uqnn_mul(fp(a[lo:hi]), fp(b[lo:hi]), fp(y[lo:hi]), C.long(hi-lo))
			return
		}
		b, y := b[lo:hi], y[lo:hi]
		for i, v := range a[lo:hi] {
			y[i] = v * b[i]
		}
	})
}

// noSVDC sends the svd kernels down the Go loops (tests compare the two).
var noSVDC bool

func useSVDC() bool { return directOK && !noSVDC }

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
