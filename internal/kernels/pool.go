package kernels

import (
	"fmt"
	"math"
)

// PoolGeom is the validated geometry of one 2-D pooling window (NCHW, floor output size).
// Input x is [N, C, H, W]; output y is [N, C, OH, OW].
type PoolGeom struct {
	N, C, H, W             int
	KH, KW                 int
	PadT, PadL, PadB, PadR int
	SH, SW                 int
	OH, OW                 int
}

// NewPoolGeom validates a pooling's shapes and parameters. pads are ONNX-ordered
// [top, left, bottom, right] and must be smaller than the kernel (as ONNX requires), so that
// every window holds at least one input cell.
func NewPoolGeom(x [4]int, kernel [2]int, pads [4]int, strides [2]int) (PoolGeom, error) {
	g := PoolGeom{N: x[0], C: x[1], H: x[2], W: x[3], KH: kernel[0], KW: kernel[1],
		PadT: pads[0], PadL: pads[1], PadB: pads[2], PadR: pads[3], SH: strides[0], SW: strides[1]}
	for i, d := range x {
		if d < 1 {
			return PoolGeom{}, fmt.Errorf("pool: input shape %v has dim %d = %d; want every dim >= 1", x, i, d)
		}
	}
	if g.KH < 1 || g.KW < 1 {
		return PoolGeom{}, fmt.Errorf("pool: kernel %v; want >= 1", kernel)
	}
	if g.SH < 1 || g.SW < 1 {
		return PoolGeom{}, fmt.Errorf("pool: strides %v; want >= 1", strides)
	}
	if g.PadT < 0 || g.PadB < 0 || g.PadT >= g.KH || g.PadB >= g.KH ||
		g.PadL < 0 || g.PadR < 0 || g.PadL >= g.KW || g.PadR >= g.KW {
		return PoolGeom{}, fmt.Errorf("pool: pads %v with kernel %v; want 0 <= pad < kernel", pads, kernel)
	}
	if g.H+g.PadT+g.PadB < g.KH || g.W+g.PadL+g.PadR < g.KW {
		return PoolGeom{}, fmt.Errorf("pool: padded input %dx%d is smaller than kernel %v; want output size >= 1",
			g.H+g.PadT+g.PadB, g.W+g.PadL+g.PadR, kernel)
	}
	g.OH = (g.H+g.PadT+g.PadB-g.KH)/g.SH + 1
	g.OW = (g.W+g.PadL+g.PadR-g.KW)/g.SW + 1
	return g, nil
}

// XSize is the element count of the input.
func (g PoolGeom) XSize() int { return g.N * g.C * g.H * g.W }

// YSize is the element count of the output.
func (g PoolGeom) YSize() int { return g.N * g.C * g.OH * g.OW }

// YShape is the output shape [N, C, OH, OW].
func (g PoolGeom) YShape() [4]int { return [4]int{g.N, g.C, g.OH, g.OW} }

// window returns the clipped input rows [h0, h1) and columns [w0, w1) of output cell (oh, ow).
func (g PoolGeom) window(oh, ow int) (h0, h1, w0, w1 int) {
	h0 = oh*g.SH - g.PadT
	w0 = ow*g.SW - g.PadL
	h1 = min(h0+g.KH, g.H)
	w1 = min(w0+g.KW, g.W)
	return max(h0, 0), h1, max(w0, 0), w1
}

// MaxPoolForward writes the window maxima of x to y and the flat index into x of each maximum
// to argmax (the first one on ties). argmax has YSize elements.
func MaxPoolForward[T Float](g PoolGeom, x, y []T, argmax []int32) {
	checkLen("maxpool x", len(x), g.XSize())
	checkLen("maxpool y", len(y), g.YSize())
	checkLen("maxpool argmax", len(argmax), g.YSize())
	if g.XSize() > math.MaxInt32 {
		panic(fmt.Sprintf("kernels: maxpool input of %d elements exceeds int32 argmax", g.XSize()))
	}
	planes := g.N * g.C
	parallelFor(planes, g.YSize()*g.KH*g.KW, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			base := pl * g.H * g.W
			out := pl * g.OH * g.OW
			if g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PadT == 0 && g.PadL == 0 && g.PadB == 0 && g.PadR == 0 {
				maxPool2x2(g, x, y, argmax, base, out)
				continue
			}
			if g.KH == g.SH && g.KW == 3 && g.SW == 3 && g.PadT == 0 && g.PadL == 0 && g.PadB == 0 && g.PadR == 0 {
				maxPoolTiled3(g, x, y, argmax, base, out)
				continue
			}
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					h0, h1, w0, w1 := g.window(oh, ow)
					best := base + h0*g.W + w0
					bv := x[best]
					for ih := h0; ih < h1; ih++ {
						ro := base + ih*g.W
						for iw, v := range x[ro+w0 : ro+w1] {
							// Branch-free select (CMOV): random activations mispredict.
							i := ro + w0 + iw
							if v > bv {
								best = i
							}
							bv = max(bv, v)
						}
					}
					y[out+oh*g.OW+ow] = bv
					argmax[out+oh*g.OW+ow] = int32(best)
				}
			}
		}
	})
}

// maxPool2x2 is MaxPoolForward's fast path for the common unpadded 2x2 stride-2 window. It
// is written as a branch-free tournament (the comparisons compile to SETcc/CMOV): on random
// activations a branch per comparison mispredicts half the time.
func maxPool2x2[T Float](g PoolGeom, x, y []T, argmax []int32, base, out int) {
	for oh := 0; oh < g.OH; oh++ {
		r0 := base + 2*oh*g.W
		yo := y[out+oh*g.OW : out+(oh+1)*g.OW]
		ao := argmax[out+oh*g.OW : out+(oh+1)*g.OW]
		top := x[r0 : r0+2*len(yo)]
		bot := x[r0+g.W : r0+g.W+2*len(yo)]
		for ow := range yo {
			a, b := top[2*ow], top[2*ow+1]
			c, d := bot[2*ow], bot[2*ow+1]
			ia := r0 + 2*ow
			iab := ia
			if b > a {
				iab = ia + 1
			}
			icd := ia + g.W
			if d > c {
				icd = ia + g.W + 1
			}
			mab, mcd := max(a, b), max(c, d)
			best := iab
			if mcd > mab {
				best = icd
			}
			yo[ow] = max(mab, mcd)
			ao[ow] = int32(best)
		}
	}
}

// MaxPoolBackward overwrites dx with the output gradient dy routed to the argmax positions
// recorded by MaxPoolForward.
func MaxPoolBackward[T Float](g PoolGeom, dy []T, argmax []int32, dx []T) {
	checkLen("maxpool dy", len(dy), g.YSize())
	checkLen("maxpool argmax", len(argmax), g.YSize())
	checkLen("maxpool dx", len(dx), g.XSize())
	planes := g.N * g.C
	parallelFor(planes, g.XSize(), func(lo, hi int) {
		clear(dx[lo*g.H*g.W : hi*g.H*g.W])
		for i := lo * g.OH * g.OW; i < hi*g.OH*g.OW; i++ {
			dx[argmax[i]] += dy[i]
		}
	})
}

// AvgPoolForward writes the window means of x to y, counting only cells inside the image
// (ONNX count_include_pad 0).
func AvgPoolForward[T Float](g PoolGeom, x, y []T) {
	checkLen("avgpool x", len(x), g.XSize())
	checkLen("avgpool y", len(y), g.YSize())
	planes := g.N * g.C
	parallelFor(planes, g.YSize()*g.KH*g.KW, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			base := pl * g.H * g.W
			out := pl * g.OH * g.OW
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					h0, h1, w0, w1 := g.window(oh, ow)
					var s T
					for ih := h0; ih < h1; ih++ {
						for _, v := range x[base+ih*g.W+w0 : base+ih*g.W+w1] {
							s += v
						}
					}
					y[out+oh*g.OW+ow] = s / T((h1-h0)*(w1-w0))
				}
			}
		}
	})
}

// AvgPoolBackward overwrites dx with the gradient of AvgPoolForward given dy.
func AvgPoolBackward[T Float](g PoolGeom, dy, dx []T) {
	checkLen("avgpool dy", len(dy), g.YSize())
	checkLen("avgpool dx", len(dx), g.XSize())
	planes := g.N * g.C
	parallelFor(planes, g.YSize()*g.KH*g.KW, func(lo, hi int) {
		clear(dx[lo*g.H*g.W : hi*g.H*g.W])
		for pl := lo; pl < hi; pl++ {
			base := pl * g.H * g.W
			out := pl * g.OH * g.OW
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					h0, h1, w0, w1 := g.window(oh, ow)
					d := dy[out+oh*g.OW+ow] / T((h1-h0)*(w1-w0))
					for ih := h0; ih < h1; ih++ {
						row := dx[base+ih*g.W+w0 : base+ih*g.W+w1]
						for i := range row {
							row[i] += d
						}
					}
				}
			}
		}
	})
}

// maxPoolTiled3 is MaxPoolForward's loop for one plane of unpadded, non-overlapping windows
// three wide (the zoo net's 3x3 stride-3 pooling): no clipping, the three values of each
// window row compared unrolled. Like the general loop it keeps the first maximum in
// row-major order and propagates NaN.
func maxPoolTiled3[T Float](g PoolGeom, x, y []T, argmax []int32, base, out int) {
	for oh := 0; oh < g.OH; oh++ {
		r0 := base + oh*g.KH*g.W
		yo := y[out+oh*g.OW : out+(oh+1)*g.OW]
		ao := argmax[out+oh*g.OW : out+(oh+1)*g.OW]
		for ow := range yo {
			c0 := r0 + 3*ow
			best, bv := c0, x[c0]
			for kh := 0; kh < g.KH; kh++ {
				ro := c0 + kh*g.W
				row := x[ro : ro+3 : ro+3]
				if row[0] > bv {
					best = ro
				}
				bv = max(bv, row[0])
				if row[1] > bv {
					best = ro + 1
				}
				bv = max(bv, row[1])
				if row[2] > bv {
					best = ro + 2
				}
				bv = max(bv, row[2])
			}
			yo[ow], ao[ow] = bv, int32(best)
		}
	}
}
