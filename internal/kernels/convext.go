package kernels

// The extended-width path for stride-1, undilated convolutions with pads smaller than the
// kernel (every convolution of the MNIST nets). Each image is copied into a zero-bordered
// [C, Hp, Wp] buffer; output pixel (oh, ow) then reads the padded plane at
// (oh+kh)·Wp + ow+kw, so with the output laid out over the padded width, as column
// j = oh·Wp + ow, every row (c, kh, kw) of the patch matrix is one contiguous run of the
// padded plane starting at kh·Wp + kw: im2col becomes K memmoves per image. The Wp-OW
// columns per output row that straddle two image rows are computed and dropped. The input
// gradient is the same forward convolution of the output gradient with the kernel flipped and
// its channel axes swapped (the adjoint; only when its patch matrix is small, see extFits), and the weight gradient multiplies the patch matrix
// by the output gradient spread over the padded width with zeros in the dropped columns.
// Images go through in tiles of several, one GEMM per tile, so the patch matrix stays in
// cache between its copy and its product.

// extTileElems bounds one tile's patch matrix in elements (256 KiB of float32, a fraction of
// L2; measured on the zoo net's convolutions, 1<<16 beat 1<<15, 1<<17 and 1<<18 for every
// pass, the weight gradient's included).
const extTileElems = 1 << 16

// extAdjointElems bounds one image's adjoint patch matrix for the adjoint input-gradient path
// (measured: zoo conv2 at 99K elements gains from it, LeNet-5 conv2 at 235K loses 2.5x).
const extAdjointElems = 1 << 17

// noExt turns the extended-width path off (tests and benchmarks compare the two paths).
var noExt bool

// extMaxWaste bounds the extended output length per image over the true one, L/P: the
// extended-width path multiplies the Wp-OW dropped columns of every output row too. Measured
// with BenchmarkConvPathsCPU's paired thread-CPU ratios (im2col/ext, both OpenBLAS core types):
// at L/P 1.14 (zoo conv1) and 1.27 (zoo conv2) the extended path wins forward by 1.5-2x and
// the weight gradient is even or better; at 1.16 (LeNet-5 conv1) forward plus weight gradient
// are even; at 1.44 (LeNet-5 conv2) im2col wins the weight gradient by 25% (it reuses the
// patches Forward kept) and loses forward by 5%. A variable only so tests can send every
// shape down both paths.
var extMaxWaste = 1.35

// fast reports whether the extended-width path applies to g.
func (g ConvGeom) fast() bool {
	if noExt || g.SH != 1 || g.SW != 1 || g.DH != 1 || g.DW != 1 ||
		g.PadT >= g.KH || g.PadB >= g.KH || g.PadL >= g.KW || g.PadR >= g.KW {
		return false
	}
	_, _, l := g.ext()
	return float64(l) <= extMaxWaste*float64(g.p())
}

// ext returns the padded height and width and the extended output length
// L = (OH-1)·Wp + OW per image (the last row's dropped columns are left out, so every patch
// row stays inside the padded plane).
func (g ConvGeom) ext() (hp, wp, l int) {
	hp, wp = g.H+g.PadT+g.PadB, g.W+g.PadL+g.PadR
	return hp, wp, (g.OH-1)*wp + g.OW
}

// adjoint is the geometry of the convolution that maps an output gradient to the input
// gradient: input [N, M, OH, OW], kernel [C, M, KH, KW] flipped, pads KH-1-PadT and so on.
func (g ConvGeom) adjoint() ConvGeom {
	return ConvGeom{N: g.N, C: g.M, H: g.OH, W: g.OW, M: g.C, KH: g.KH, KW: g.KW,
		PadT: g.KH - 1 - g.PadT, PadL: g.KW - 1 - g.PadL, PadB: g.KH - 1 - g.PadB, PadR: g.KW - 1 - g.PadR,
		SH: 1, SW: 1, DH: 1, DW: 1, OH: g.H, OW: g.W}
}

// extFits reports whether one image's extended patch matrix has at most extAdjointElems
// elements. The input gradient takes the adjoint path only then: a larger adjoint (many
// output channels, such as LeNet-5's second convolution) runs faster as a GEMM and col2im.
func (g ConvGeom) extFits() bool {
	_, _, l := g.ext()
	return g.k()*l <= extAdjointElems
}

// extTile is the number of images per tile of at most elems patch-matrix elements.
func (g ConvGeom) extTile(elems int) int {
	_, _, l := g.ext()
	return max(1, elems/(g.k()*l))
}

// extPatches fills wk.col with the [K, nc·L] extended patch matrix of images [n0, n0+nc) of
// x, padding them into wk.pad first.
func extPatches[T Float](g ConvGeom, wk *convWorker[T], x []T, n0, nc int) {
	hp, wp, l := g.ext()
	pp := hp * wp
	extPad(g, wk, x, n0, nc)
	ncl := nc * l
	wk.col = grow(wk.col, g.k()*ncl)
	r := 0
	for c := 0; c < g.C; c++ {
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				row := wk.col[r*ncl : (r+1)*ncl]
				for i := 0; i < nc; i++ {
					o := (i*g.C+c)*pp + kh*wp + kw
					copy(row[i*l:(i+1)*l], wk.pad[o:o+l])
				}
				r++
			}
		}
	}
}

// extPad copies images [n0, n0+nc) of x into wk.pad as zero-bordered [C, Hp, Wp] planes.
func extPad[T Float](g ConvGeom, wk *convWorker[T], x []T, n0, nc int) {
	hp, wp, _ := g.ext()
	hw, pp := g.H*g.W, hp*wp
	wk.pad = grow(wk.pad, nc*g.C*pp)
	for i := 0; i < nc*g.C; i++ {
		src := x[(n0*g.C+i)*hw : (n0*g.C+i+1)*hw]
		dst := wk.pad[i*pp : (i+1)*pp]
		// Only the border is cleared: the buffer is shared with other geometries.
		zero(dst[:g.PadT*wp])
		zero(dst[(g.PadT+g.H)*wp:])
		for h := 0; h < g.H; h++ {
			o := (h+g.PadT)*wp + g.PadL
			zero(dst[o-g.PadL : o])
			copyShort(dst[o:o+g.W], src[h*g.W:(h+1)*g.W])
			zero(dst[o+g.W : o-g.PadL+wp])
		}
	}
}

// extForward computes y = conv(x, w) + b (b may be nil) for a geometry with g.fast().
func (c *Conv[T]) extForward(g ConvGeom, x, w, b, y []T) {
	if x32, ok := any(x).([]float32); ok && useDirect() {
		var b32 []float32
		if b != nil {
			b32 = any(b).([]float32)
		}
		c.directForward(g, x32, any(w).([]float32), b32, any(y).([]float32))
		return
	}
	K, P := g.k(), g.p()
	_, wp, l := g.ext()
	nt := g.extTile(extTileElems)
	ys := g.M * P
	c.eachImage(g.N*K*l*(g.M+1), func(wk *convWorker[T], lo, hi int) {
		for n0 := lo; n0 < hi; n0 += nt {
			nc := min(nt, hi-n0)
			ncl := nc * l
			extPatches(g, wk, x, n0, nc)
			wk.out = grow(wk.out, g.M*ncl)
			gemm1(false, false, g.M, ncl, K, 1, w, K, wk.col, ncl, 0, wk.out, ncl)
			for i := 0; i < nc; i++ {
				for m := 0; m < g.M; m++ {
					dst := y[(n0+i)*ys+m*P : (n0+i)*ys+(m+1)*P]
					src := wk.out[m*ncl+i*l : m*ncl+(i+1)*l]
					var bm T
					if b != nil {
						bm = b[m]
					}
					for oh := 0; oh < g.OH; oh++ {
						d := dst[oh*g.OW : (oh+1)*g.OW]
						for j, v := range src[oh*wp : oh*wp+len(d)] {
							d[j] = v + bm
						}
					}
				}
			}
		}
	})
}

// extBackwardData computes dx from w and dy as the adjoint forward convolution.
func (c *Conv[T]) extBackwardData(w, dy, dx []T) {
	g := c.G
	c.wflip = grow(c.wflip, g.WSize())
	khw := g.KH * g.KW
	for m := 0; m < g.M; m++ {
		for ch := 0; ch < g.C; ch++ {
			src := w[(m*g.C+ch)*khw : (m*g.C+ch+1)*khw]
			dst := c.wflip[(ch*g.M+m)*khw : (ch*g.M+m+1)*khw]
			for i, v := range src {
				dst[khw-1-i] = v
			}
		}
	}
	c.extForward(g.adjoint(), dy, c.wflip, nil, dx)
}

// extFilter computes dw and db (when not nil) from x and dy for a geometry with g.fast().
func (c *Conv[T]) extFilter(x, dy, dw, db []T) {
	if x32, ok := any(x).([]float32); ok && useDirect() {
		var db32 []float32
		if db != nil {
			db32 = any(db).([]float32)
		}
		c.directFilter(x32, any(dy).([]float32), any(dw).([]float32), db32)
		return
	}
	g := c.G
	K, P, M := g.k(), g.p(), g.M
	_, wp, l := g.ext()
	nt := g.extTile(extTileElems)
	ys := M * P
	nw := c.eachImage(g.N*K*l*(M+1), func(wk *convWorker[T], lo, hi int) {
		wk.wt = grow(wk.wt, K*M)
		for n0 := lo; n0 < hi; n0 += nt {
			nc := min(nt, hi-n0)
			ncl := nc * l
			extPatches(g, wk, x, n0, nc)
			// The output gradient over the padded width, zero in the dropped columns.
			wk.out = grow(wk.out, M*ncl)
			for i := 0; i < nc; i++ {
				for m := 0; m < M; m++ {
					src := dy[(n0+i)*ys+m*P : (n0+i)*ys+(m+1)*P]
					dst := wk.out[m*ncl+i*l : m*ncl+(i+1)*l]
					for oh := 0; oh < g.OH; oh++ {
						copyShort(dst[oh*wp:oh*wp+g.OW], src[oh*g.OW:(oh+1)*g.OW])
						if oh < g.OH-1 {
							zero(dst[oh*wp+g.OW : (oh+1)*wp])
						}
					}
				}
			}
			var beta T
			if n0 > lo {
				beta = 1
			}
			gemm1(false, true, K, M, ncl, 1, wk.col, ncl, wk.out, ncl, beta, wk.wt, M)
		}
	})
	c.combineFilter(nw, dy, dw, db)
}
