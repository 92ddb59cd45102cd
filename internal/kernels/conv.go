package kernels

import "fmt"

// ConvGeom is the validated geometry of one 2-D convolution (group 1, NCHW).
// Input x is [N, C, H, W], weights w are [M, C, KH, KW], output y is [N, M, OH, OW].
type ConvGeom struct {
	N, C, H, W             int
	M, KH, KW              int
	PadT, PadL, PadB, PadR int
	SH, SW, DH, DW         int
	OH, OW                 int
}

// NewConvGeom validates a convolution's shapes and parameters. pads are ONNX-ordered
// [top, left, bottom, right]; strides and dilations are [h, w].
func NewConvGeom(x, w [4]int, pads [4]int, strides, dilations [2]int) (ConvGeom, error) {
	g := ConvGeom{N: x[0], C: x[1], H: x[2], W: x[3], M: w[0], KH: w[2], KW: w[3],
		PadT: pads[0], PadL: pads[1], PadB: pads[2], PadR: pads[3],
		SH: strides[0], SW: strides[1], DH: dilations[0], DW: dilations[1]}
	for i, d := range x {
		if d < 1 {
			return ConvGeom{}, fmt.Errorf("conv: input shape %v has dim %d = %d; want every dim >= 1", x, i, d)
		}
	}
	for i, d := range w {
		if d < 1 {
			return ConvGeom{}, fmt.Errorf("conv: weight shape %v has dim %d = %d; want every dim >= 1", w, i, d)
		}
	}
	if w[1] != x[1] {
		return ConvGeom{}, fmt.Errorf("conv: weight shape %v has %d input channels, input shape %v has %d; want equal (group 1)", w, w[1], x, x[1])
	}
	for _, p := range pads {
		if p < 0 {
			return ConvGeom{}, fmt.Errorf("conv: pads %v; want non-negative", pads)
		}
	}
	if g.SH < 1 || g.SW < 1 {
		return ConvGeom{}, fmt.Errorf("conv: strides %v; want >= 1", strides)
	}
	if g.DH < 1 || g.DW < 1 {
		return ConvGeom{}, fmt.Errorf("conv: dilations %v; want >= 1", dilations)
	}
	g.OH = (g.H+g.PadT+g.PadB-g.DH*(g.KH-1)-1)/g.SH + 1
	g.OW = (g.W+g.PadL+g.PadR-g.DW*(g.KW-1)-1)/g.SW + 1
	if g.H+g.PadT+g.PadB < g.DH*(g.KH-1)+1 || g.W+g.PadL+g.PadR < g.DW*(g.KW-1)+1 {
		return ConvGeom{}, fmt.Errorf("conv: padded input %dx%d is smaller than dilated kernel %dx%d; want output size >= 1",
			g.H+g.PadT+g.PadB, g.W+g.PadL+g.PadR, g.DH*(g.KH-1)+1, g.DW*(g.KW-1)+1)
	}
	return g, nil
}

// XSize, WSize and YSize are the element counts of input, weights and output.
func (g ConvGeom) XSize() int { return g.N * g.C * g.H * g.W }

// WSize is the element count of the weights.
func (g ConvGeom) WSize() int { return g.M * g.C * g.KH * g.KW }

// YSize is the element count of the output.
func (g ConvGeom) YSize() int { return g.N * g.M * g.OH * g.OW }

// YShape is the output shape [N, M, OH, OW].
func (g ConvGeom) YShape() [4]int { return [4]int{g.N, g.M, g.OH, g.OW} }

// k is the patch length C·KH·KW; p the number of output pixels per image.
func (g ConvGeom) k() int { return g.C * g.KH * g.KW }
func (g ConvGeom) p() int { return g.OH * g.OW }

// colLimit bounds the im2col workspace in elements (32 MiB of float32): larger batches are
// processed in chunks of images, so evaluating a whole test set in one graph stays in memory.
// A variable only so tests can force chunking.
var colLimit = 1 << 23

// chunk is the number of images processed per im2col chunk.
func (g ConvGeom) chunk() int { return max(1, min(g.N, colLimit/(g.k()*g.p()))) }

// Conv is a convolution with its reusable workspaces. When the batch fits one chunk, Forward
// keeps the im2col matrix of its input so that a following BackwardFilterFromCol needs no
// second im2col.
type Conv[T Float] struct {
	G        ConvGeom
	col      []T // [K, n·P]: im2col of the current chunk
	colValid bool
	colSrc   *T  // first element of the input col was built from, when colValid
	dcol     []T // [K, n·P]: gradient of col
	buf      []T // [M, n·P]: GEMM output / gathered output gradient
	wt       []T // [K, M]: transposed weight gradient
}

// NewConv returns a convolution workspace for geometry g.
func NewConv[T Float](g ConvGeom) *Conv[T] { return &Conv[T]{G: g} }

func grow[T Float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func checkLen(what string, got, want int) {
	if got < want {
		panic(fmt.Sprintf("kernels: %s has %d elements; want %d", what, got, want))
	}
}

// chunks calls fn for consecutive image ranges of at most g.chunk() images, with the
// geometry of that range and its first image.
func (g ConvGeom) chunks(fn func(gc ConvGeom, n0 int)) {
	nb := g.chunk()
	for n0 := 0; n0 < g.N; n0 += nb {
		gc := g
		gc.N = min(nb, g.N-n0)
		fn(gc, n0)
	}
}

// Forward computes y = conv(x, w) + b. b may be nil (no bias); otherwise it has M elements.
func (c *Conv[T]) Forward(x, w, b, y []T) {
	g := c.G
	checkLen("conv x", len(x), g.XSize())
	checkLen("conv w", len(w), g.WSize())
	checkLen("conv y", len(y), g.YSize())
	if b != nil {
		checkLen("conv b", len(b), g.M)
	}
	c.colValid = false
	xs, ys := g.C*g.H*g.W, g.M*g.p()
	g.chunks(func(gc ConvGeom, n0 int) {
		c.forwardChunk(gc, x[n0*xs:(n0+gc.N)*xs], w, b, y[n0*ys:(n0+gc.N)*ys])
	})
	if g.chunk() >= g.N {
		c.colValid, c.colSrc = true, &x[0]
	}
}

func (c *Conv[T]) forwardChunk(g ConvGeom, x, w, b, y []T) {
	K, P, NP := g.k(), g.p(), g.N*g.p()
	c.col = grow(c.col, K*NP)
	im2col(g, x, c.col)
	if g.N == 1 {
		Gemm(false, false, g.M, P, K, 1, w, K, c.col, NP, 0, y, P)
		if b != nil {
			for m := 0; m < g.M; m++ {
				addConst(y[m*P:(m+1)*P], b[m])
			}
		}
		return
	}
	c.buf = grow(c.buf, g.M*NP)
	Gemm(false, false, g.M, NP, K, 1, w, K, c.col, NP, 0, c.buf, NP)
	buf := c.buf
	parallelFor(g.N, g.YSize(), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for m := 0; m < g.M; m++ {
				dst := y[(n*g.M+m)*P : (n*g.M+m+1)*P]
				src := buf[m*NP+n*P : m*NP+(n+1)*P]
				if b == nil {
					copy(dst, src)
					continue
				}
				bm := b[m]
				for i, v := range src {
					dst[i] = v + bm
				}
			}
		}
	})
}

func addConst[T Float](x []T, a T) {
	for i := range x {
		x[i] += a
	}
}

// gatherDY returns the output gradient of a chunk as an [M, n·P] matrix (dy itself for one
// image).
func (c *Conv[T]) gatherDY(g ConvGeom, dy []T) []T {
	P, NP := g.p(), g.N*g.p()
	if g.N == 1 {
		return dy[:g.M*P]
	}
	c.buf = grow(c.buf, g.M*NP)
	buf := c.buf
	parallelFor(g.M, g.YSize(), func(lo, hi int) {
		for m := lo; m < hi; m++ {
			for n := 0; n < g.N; n++ {
				copy(buf[m*NP+n*P:m*NP+(n+1)*P], dy[(n*g.M+m)*P:(n*g.M+m+1)*P])
			}
		}
	})
	return buf
}

// BackwardData computes dx, the gradient of the loss with respect to x, from w and the output
// gradient dy. dx is overwritten.
func (c *Conv[T]) BackwardData(w, dy, dx []T) {
	g := c.G
	checkLen("conv w", len(w), g.WSize())
	checkLen("conv dy", len(dy), g.YSize())
	checkLen("conv dx", len(dx), g.XSize())
	xs, ys := g.C*g.H*g.W, g.M*g.p()
	g.chunks(func(gc ConvGeom, n0 int) {
		K, NP := gc.k(), gc.N*gc.p()
		dyb := c.gatherDY(gc, dy[n0*ys:(n0+gc.N)*ys])
		c.dcol = grow(c.dcol, K*NP)
		Gemm(true, false, K, NP, gc.M, 1, w, K, dyb, NP, 0, c.dcol, NP)
		col2im(gc, c.dcol, dx[n0*xs:(n0+gc.N)*xs])
	})
}

// BackwardFilter computes dw (and db when not nil) from the input x and the output gradient
// dy, recomputing im2col of x. dw and db are overwritten.
func (c *Conv[T]) BackwardFilter(x, dy, dw, db []T) {
	g := c.G
	checkLen("conv x", len(x), g.XSize())
	checkLen("conv dy", len(dy), g.YSize())
	checkLen("conv dw", len(dw), g.WSize())
	if db != nil {
		checkLen("conv db", len(db), g.M)
	}
	c.colValid = false
	xs, ys := g.C*g.H*g.W, g.M*g.p()
	g.chunks(func(gc ConvGeom, n0 int) {
		c.col = grow(c.col, gc.k()*gc.N*gc.p())
		im2col(gc, x[n0*xs:(n0+gc.N)*xs], c.col)
		c.filterChunk(gc, dy[n0*ys:(n0+gc.N)*ys], dw, db, n0 > 0)
	})
	if g.chunk() >= g.N {
		c.colValid, c.colSrc = true, &x[0]
	}
}

// BackwardFilterReuse is BackwardFilter that skips im2col when x is the slice (same first
// element) the last Forward or BackwardFilter saw and the batch fit one chunk. The caller
// guarantees that x's contents did not change in between, as holds within one run of a
// Gorgonia program.
func (c *Conv[T]) BackwardFilterReuse(x, dy, dw, db []T) {
	checkLen("conv x", len(x), c.G.XSize())
	if c.colValid && c.colSrc == &x[0] {
		c.BackwardFilterFromCol(dy, dw, db)
		return
	}
	c.BackwardFilter(x, dy, dw, db)
}

// BackwardFilterFromCol is BackwardFilter using the im2col matrix kept by the last Forward or
// BackwardFilter call on c; the caller guarantees that input has not changed since. It panics
// when no such matrix is kept (no call yet, or a batch larger than one chunk).
func (c *Conv[T]) BackwardFilterFromCol(dy, dw, db []T) {
	g := c.G
	if !c.colValid {
		panic("kernels: Conv.BackwardFilterFromCol without a kept im2col matrix")
	}
	checkLen("conv dy", len(dy), g.YSize())
	checkLen("conv dw", len(dw), g.WSize())
	if db != nil {
		checkLen("conv db", len(db), g.M)
	}
	c.filterChunk(g, dy, dw, db, false)
}

// filterChunk computes (accumulate false) or adds (true) the chunk's dw and db from c.col.
func (c *Conv[T]) filterChunk(g ConvGeom, dy, dw, db []T, accumulate bool) {
	K, NP := g.k(), g.N*g.p()
	dyb := c.gatherDY(g, dy)
	// dWᵀ[K, M] = col·dybᵀ, then transpose: OpenBLAS runs this orientation 1.3-2x faster than
	// dW = dyb·colᵀ for the few-filter shapes of MNIST nets (M = 8-50, long N·P).
	c.wt = grow(c.wt, K*g.M)
	Gemm(false, true, K, g.M, NP, 1, c.col, NP, dyb, NP, 0, c.wt, g.M)
	for m := 0; m < g.M; m++ {
		row := dw[m*K : (m+1)*K]
		if accumulate {
			for k := range row {
				row[k] += c.wt[k*g.M+m]
			}
		} else {
			for k := range row {
				row[k] = c.wt[k*g.M+m]
			}
		}
	}
	if db == nil {
		return
	}
	for m := 0; m < g.M; m++ {
		var s T
		for _, v := range dyb[m*NP : (m+1)*NP] {
			s += v
		}
		if accumulate {
			db[m] += s
		} else {
			db[m] = s
		}
	}
}

// im2col writes col[(c·KH+kh)·KW+kw, n·P + oh·OW + ow] = x[n, c, ih, iw] (0 outside the image).
// It walks col in memory order (row r, then image n): each row of col is N·P contiguous
// values, while the source planes x[:, c] of one channel stay in cache across its KH·KW rows.
// Walking image-major instead touches K pages per image and was TLB-bound.
func im2col[T Float](g ConvGeom, x, col []T) {
	K, P, NP := g.k(), g.p(), g.N*g.p()
	HW := g.H * g.W
	parallelFor(K, K*NP, func(rlo, rhi int) {
		for r := rlo; r < rhi; r++ {
			ch, kh, kw := r/(g.KH*g.KW), (r/g.KW)%g.KH, r%g.KW
			ih0 := kh*g.DH - g.PadT // ih = ih0 + oh·SH
			iw0 := kw*g.DW - g.PadL // iw = iw0 + ow·SW
			// Output rows whose ih lies inside the image: [ohLo, ohHi).
			ohLo := min(max(0, ceilDiv(-ih0, g.SH)), g.OH)
			ohHi := max(min(g.OH, ceilDiv(g.H-ih0, g.SH)), ohLo)
			// Output columns whose iw lies inside the image, for stride 1: [lo, hi).
			lo := min(max(0, -iw0), g.OW)
			hi := max(min(g.OW, g.W-iw0), lo)
			for n := 0; n < g.N; n++ {
				plane := x[(n*g.C+ch)*HW : (n*g.C+ch+1)*HW]
				dst := col[r*NP+n*P : r*NP+(n+1)*P]
				zero(dst[:ohLo*g.OW])
				zero(dst[ohHi*g.OW:])
				if g.SW != 1 {
					for oh := ohLo; oh < ohHi; oh++ {
						row := dst[oh*g.OW : (oh+1)*g.OW]
						src := plane[(ih0+oh*g.SH)*g.W : (ih0+oh*g.SH+1)*g.W]
						for ow := range row {
							if iw := iw0 + ow*g.SW; iw >= 0 && iw < g.W {
								row[ow] = src[iw]
							} else {
								row[ow] = 0
							}
						}
					}
					continue
				}
				if lo == 0 && hi == g.OW && g.OW < 24 {
					// Short rows (OW is often 8-14): plain loops beat memmove calls.
					for oh := ohLo; oh < ohHi; oh++ {
						row := dst[oh*g.OW : (oh+1)*g.OW]
						so := (ih0+oh*g.SH)*g.W + iw0
						for i, v := range plane[so : so+len(row)] {
							row[i] = v
						}
					}
					continue
				}
				for oh := ohLo; oh < ohHi; oh++ {
					row := dst[oh*g.OW : (oh+1)*g.OW]
					zero(row[:lo])
					zero(row[hi:])
					d := row[lo:hi]
					so := (ih0+oh*g.SH)*g.W + iw0 + lo
					copyShort(d, plane[so:so+len(d)])
				}
			}
		}
	})
}

// copyShort copies src to dst (equal lengths): a plain loop for the short rows of small
// images, where it beats a memmove call, and copy for longer ones.
func copyShort[T Float](dst, src []T) {
	if len(dst) >= 24 {
		copy(dst, src)
		return
	}
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = v
	}
}

// zero clears a short slice with a plain loop (no memclr call for the common tiny lengths).
func zero[T Float](s []T) {
	for i := range s {
		s[i] = 0
	}
}

// ceilDiv is ⌈a/b⌉ for b > 0 and any sign of a.
func ceilDiv(a, b int) int {
	if a <= 0 {
		return -((-a) / b)
	}
	return (a + b - 1) / b
}

// col2im overwrites dx with the sum of col's entries into the input positions they came from.
// Workers split by channel (rows of one channel only write that channel's planes), or by
// image when there is a single channel; either way col is read in memory order.
func col2im[T Float](g ConvGeom, col, dx []T) {
	K, NP := g.k(), g.N*g.p()
	if g.C >= 2 {
		parallelFor(g.C, K*NP, func(clo, chi int) {
			for ch := clo; ch < chi; ch++ {
				for n := 0; n < g.N; n++ {
					clear(dx[(n*g.C+ch)*g.H*g.W : (n*g.C+ch+1)*g.H*g.W])
				}
				col2imRows(g, col, dx, ch*g.KH*g.KW, (ch+1)*g.KH*g.KW, 0, g.N)
			}
		})
		return
	}
	parallelFor(g.N, K*NP, func(nlo, nhi int) {
		clear(dx[nlo*g.C*g.H*g.W : nhi*g.C*g.H*g.W])
		col2imRows(g, col, dx, 0, K, nlo, nhi)
	})
}

// col2imRows adds rows [rlo, rhi) of col, images [nlo, nhi), into dx.
func col2imRows[T Float](g ConvGeom, col, dx []T, rlo, rhi, nlo, nhi int) {
	P, NP, HW := g.p(), g.N*g.p(), g.H*g.W
	for r := rlo; r < rhi; r++ {
		ch, kh, kw := r/(g.KH*g.KW), (r/g.KW)%g.KH, r%g.KW
		ih0 := kh*g.DH - g.PadT
		iw0 := kw*g.DW - g.PadL
		ohLo := min(max(0, ceilDiv(-ih0, g.SH)), g.OH)
		ohHi := max(min(g.OH, ceilDiv(g.H-ih0, g.SH)), ohLo)
		lo := min(max(0, -iw0), g.OW)
		hi := max(min(g.OW, g.W-iw0), lo)
		for n := nlo; n < nhi; n++ {
			plane := dx[(n*g.C+ch)*HW : (n*g.C+ch+1)*HW]
			src := col[r*NP+n*P : r*NP+(n+1)*P]
			for oh := ohLo; oh < ohHi; oh++ {
				row := src[oh*g.OW : (oh+1)*g.OW]
				base := (ih0 + oh*g.SH) * g.W
				if g.SW == 1 {
					d := plane[base+iw0+lo : base+iw0+hi]
					for i, v := range row[lo : lo+len(d)] {
						d[i] += v
					}
					continue
				}
				dst := plane[base : base+g.W]
				for ow, v := range row {
					if iw := iw0 + ow*g.SW; iw >= 0 && iw < g.W {
						dst[iw] += v
					}
				}
			}
		}
	}
}
