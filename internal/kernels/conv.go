package kernels

import (
	"fmt"
	"runtime"
	"sync"
)

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

// colLimit bounds, in elements, the im2col matrix Forward keeps for the weight gradient
// (32 MiB of float32): larger batches, such as a whole test set evaluated in one graph, keep
// none and BackwardFilter rebuilds each image's patches. A variable only so tests can force
// that path.
var colLimit = 1 << 23

// chunk is the number of images whose im2col matrix fits colLimit; Forward keeps the matrix
// when chunk() >= N.
func (g ConvGeom) chunk() int { return max(1, min(g.N, colLimit/(g.k()*g.p()))) }

// image is the geometry of one image of the batch.
func (g ConvGeom) image() ConvGeom {
	g.N = 1
	return g
}

// Conv is a convolution with its reusable workspaces. Every pass works image by image: one
// image's patch matrix [K, P] stays in cache between im2col and its GEMM, and the GEMM reads
// and writes NCHW planes directly (an image's output is the [M, P] matrix y[n]). Images are
// split into contiguous ranges, one per worker goroutine. When the batch's im2col matrices fit
// colLimit, Forward keeps them so that a following BackwardFilterFromCol needs no second
// im2col.
type Conv[T Float] struct {
	G        ConvGeom
	col      []T // [N][K, P]: im2col of every image, kept by Forward when colValid
	colValid bool
	colSrc   *T  // first element of the input col was built from, when colValid
	xKept    []T // the input of the last Forward, on the extended-width path (see convext.go)
	wflip    []T // [C, M, KH, KW]: the adjoint kernel
	workers  []convWorker[T]
}

// convWorker is one worker goroutine's scratch space.
type convWorker[T Float] struct {
	col  []T       // [K, P]: im2col of the current image, when the batch's is not kept
	dcol []T       // [K, P]: gradient of one image's col
	wt   []T       // [K, M]: the worker's partial transposed weight gradient
	sq   []T       // [K, P]: col squared (variational convolutions, varconv.go)
	wt2  []T       // [K, M]: the worker's partial transposed gradient of the variance weights
	pad  []T       // [tile, C, Hp, Wp]: zero-bordered input images (extended-width path)
	out  []T       // [M, tile·L]: GEMM output or spread output gradient (extended-width path)
	offs []int32   // [K]: each tap's offset into the padded planes (direct path)
	acc  []float32 // [M, K, 8]: lane-wise partial weight gradient (direct path)
	dout []float32 // [M, L rounded up to 8]: extended output of one image (direct path)
	// Direct path buffers whose zeros (borders, dropped columns) outlive a call: the padded
	// image for the two geometries a layer alternates between (its own and its adjoint's), and
	// the spread output gradient.
	dpad  [2]geomBuf
	dyExt geomBuf
}

// geomBuf is a buffer laid out for geometry g.
type geomBuf struct {
	g   ConvGeom
	buf []float32
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

// eachImage splits the batch's images into contiguous ranges, one per worker (at most
// Threads() and GOMAXPROCS, one when work — a rough count of element operations — is small),
// and calls fn for each range with that worker's scratch space. It returns the number of
// workers used: worker i always gets range i, so results that combine per-worker partial
// sums in worker order do not depend on scheduling.
func (c *Conv[T]) eachImage(work int, fn func(wk *convWorker[T], lo, hi int)) int {
	n := c.G.N
	workers := min(Threads(), runtime.GOMAXPROCS(0), n)
	if work < minParallelWork {
		workers = 1
	}
	workers = max(workers, 1)
	per := (n + workers - 1) / workers
	workers = (n + per - 1) / per
	for len(c.workers) < workers {
		c.workers = append(c.workers, convWorker[T]{})
	}
	var wg sync.WaitGroup
	for i := 1; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fn(&c.workers[i], i*per, min((i+1)*per, n))
		}(i)
	}
	fn(&c.workers[0], 0, min(per, n))
	wg.Wait()
	return workers
}

// Forward computes y = conv(x, w) + b. b may be nil (no bias); otherwise it has M elements.
func (c *Conv[T]) Forward(x, w, b, y []T) {
	g := c.G
	g.checkSizes("conv", len(x), len(w), len(y), len(b), b != nil)
	if g.fast() {
		c.extForward(g, x, w, b, y)
		c.colValid, c.colSrc, c.xKept = true, &x[0], x[:g.XSize()]
		return
	}
	K, P := g.k(), g.p()
	xs, ys := g.C*g.H*g.W, g.M*P
	keep := c.startCol()
	gi := g.image()
	c.eachImage(g.N*K*P*(g.M+1), func(wk *convWorker[T], lo, hi int) {
		for n := lo; n < hi; n++ {
			col := c.imageCol(wk, keep, n)
			im2colImage(gi, x[n*xs:(n+1)*xs], col)
			yn := y[n*ys : (n+1)*ys]
			gemm1(false, false, g.M, P, K, 1, w, K, col, P, 0, yn, P)
			if b != nil {
				for m := 0; m < g.M; m++ {
					addConst(yn[m*P:(m+1)*P], b[m])
				}
			}
		}
	})
	if keep {
		c.colValid, c.colSrc = true, &x[0]
	}
}

// imageCol is the [K, P] matrix image n's patches go to: its part of the kept batch matrix,
// or the worker's scratch.
func (c *Conv[T]) imageCol(wk *convWorker[T], keep bool, n int) []T {
	kp := c.G.k() * c.G.p()
	if keep {
		return c.col[n*kp : (n+1)*kp]
	}
	wk.col = grow(wk.col, kp)
	return wk.col
}

// checkSizes panics unless a pass's input x, weights w (or their gradient), output y (or its
// gradient) and, when bias, b (or its gradient) have this geometry's sizes; what names the pass.
func (g ConvGeom) checkSizes(what string, x, w, y, b int, bias bool) {
	checkLen(what+" x", x, g.XSize())
	checkLen(what+" w", w, g.WSize())
	checkLen(what+" y", y, g.YSize())
	if bias {
		checkLen(what+" b", b, g.M)
	}
}

// startCol readies the batch's patch matrix for an im2col forward pass: it reports whether the
// batch's patches are kept (small enough) and, if so, sizes c.col for them. The kept patches are
// invalid until the pass marks them valid.
func (c *Conv[T]) startCol() bool {
	g := c.G
	keep := g.chunk() >= g.N
	c.colValid = false
	if keep {
		c.col = grow(c.col, g.N*g.k()*g.p())
	}
	return keep
}

// patchesOf returns image n's [K, P] patch matrix of x: the kept batch matrix's part when kept
// (the last forward pass's input was x), else built in the worker's scratch.
func (c *Conv[T]) patchesOf(wk *convWorker[T], kept bool, x []T, n int) []T {
	g := c.G
	kp := g.k() * g.p()
	if kept {
		return c.col[n*kp : (n+1)*kp]
	}
	col := c.imageCol(wk, false, n)
	xs := g.C * g.H * g.W
	im2colImage(g.image(), x[n*xs:(n+1)*xs], col)
	return col
}

func addConst[T Float](x []T, a T) {
	for i := range x {
		x[i] += a
	}
}

// BackwardData computes dx, the gradient of the loss with respect to x, from w and the output
// gradient dy. dx is overwritten.
func (c *Conv[T]) BackwardData(w, dy, dx []T) {
	g := c.G
	checkLen("conv w", len(w), g.WSize())
	checkLen("conv dy", len(dy), g.YSize())
	checkLen("conv dx", len(dx), g.XSize())
	if g.fast() && g.adjoint().extFits() {
		c.extBackwardData(w, dy, dx)
		return
	}
	K, P := g.k(), g.p()
	xs, ys := g.C*g.H*g.W, g.M*P
	gi := g.image()
	c.eachImage(g.N*K*P*(g.M+1), func(wk *convWorker[T], lo, hi int) {
		wk.dcol = grow(wk.dcol, K*P)
		for n := lo; n < hi; n++ {
			gemm1(true, false, K, P, g.M, 1, w, K, dy[n*ys:(n+1)*ys], P, 0, wk.dcol, P)
			col2imImage(gi, wk.dcol, dx[n*xs:(n+1)*xs])
		}
	})
}

// BackwardFilter computes dw (and db when not nil) from the input x and the output gradient
// dy, recomputing im2col of x. dw and db are overwritten.
func (c *Conv[T]) BackwardFilter(x, dy, dw, db []T) {
	g := c.G
	g.checkSizes("conv gradient", len(x), len(dw), len(dy), len(db), db != nil)
	if g.fast() {
		c.extFilter(x, dy, dw, db)
		c.colValid, c.colSrc, c.xKept = true, &x[0], x[:g.XSize()]
		return
	}
	K := g.k()
	xs := g.C * g.H * g.W
	keep := g.chunk() >= g.N
	c.colValid = false
	if keep {
		c.col = grow(c.col, g.N*K*g.p())
	}
	gi := g.image()
	c.filter(dy, dw, db, func(wk *convWorker[T], n int) []T {
		col := c.imageCol(wk, keep, n)
		im2colImage(gi, x[n*xs:(n+1)*xs], col)
		return col
	})
	if keep {
		c.colValid, c.colSrc = true, &x[0]
	}
}

// BackwardFilterReuse is BackwardFilter that skips im2col when x is the slice (same first
// element) the last Forward or BackwardFilter saw and the batch's im2col matrix was kept. The
// caller guarantees that x's contents did not change in between, as holds within one run of a
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
// when no such matrix is kept (no call yet, or a batch larger than colLimit).
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
	if g.fast() {
		c.extFilter(c.xKept, dy, dw, db)
		return
	}
	kp := g.k() * g.p()
	c.filter(dy, dw, db, func(_ *convWorker[T], n int) []T { return c.col[n*kp : (n+1)*kp] })
}

// filter computes dw and db (when not nil) with colOf giving each image's [K, P] patch
// matrix. Each worker accumulates dWᵀ[K, M] = Σ col·dyᵀ over its images (OpenBLAS runs this
// orientation faster than dW = dy·colᵀ for few-filter shapes); the partial sums are then
// added in worker order.
func (c *Conv[T]) filter(dy, dw, db []T, colOf func(wk *convWorker[T], n int) []T) {
	g := c.G
	K, P, M := g.k(), g.p(), g.M
	ys := M * P
	nw := c.eachImage(g.N*K*P*(M+1), func(wk *convWorker[T], lo, hi int) {
		wk.wt = grow(wk.wt, K*M)
		for n := lo; n < hi; n++ {
			var beta T
			if n > lo {
				beta = 1
			}
			gemm1(false, true, K, M, P, 1, colOf(wk, n), P, dy[n*ys:(n+1)*ys], P, beta, wk.wt, M)
		}
	})
	c.combineFilter(nw, dy, dw, db)
}

// combineFilter writes dw as the transposed sum, in worker order, of the first nw workers'
// partial weight gradients, and db (when not nil) as dy's per-channel sums.
func (c *Conv[T]) combineFilter(nw int, dy, dw, db []T) {
	c.sumPartials(nw, dw, func(wk *convWorker[T]) []T { return wk.wt })
	g := c.G
	P, M := g.p(), g.M
	ys := M * P
	if db == nil {
		return
	}
	for m := 0; m < M; m++ {
		var s T
		for n := 0; n < g.N; n++ {
			for _, v := range dy[n*ys+m*P : n*ys+(m+1)*P] {
				s += v
			}
		}
		db[m] = s
	}
}

// sumPartials writes dw ([M, K]) as the transposed sum, in worker order, of the first nw
// workers' partial [K, M] gradients part(worker).
func (c *Conv[T]) sumPartials(nw int, dw []T, part func(wk *convWorker[T]) []T) {
	K, M := c.G.k(), c.G.M
	first := part(&c.workers[0])
	for m := 0; m < M; m++ {
		row := dw[m*K : (m+1)*K]
		for k := range row {
			row[k] = first[k*M+m]
		}
	}
	for i := 1; i < nw; i++ {
		wt := part(&c.workers[i])
		for m := 0; m < M; m++ {
			row := dw[m*K : (m+1)*K]
			for k := range row {
				row[k] += wt[k*M+m]
			}
		}
	}
}

// im2col writes col[(c·KH+kh)·KW+kw, n·P + oh·OW + ow] = x[n, c, ih, iw] (0 outside the image).
// It walks col in memory order (row r, then image n): each row of col is N·P contiguous
// values, while the source planes x[:, c] of one channel stay in cache across its KH·KW rows.
// Walking image-major instead touches K pages per image and was TLB-bound.
func im2col[T Float](g ConvGeom, x, col []T) {
	K, NP := g.k(), g.N*g.p()
	parallelFor(K, K*NP, func(rlo, rhi int) { im2colRows(g, x, col, rlo, rhi) })
}

// im2colRows writes rows [rlo, rhi) of im2col's matrix.
func im2colRows[T Float](g ConvGeom, x, col []T, rlo, rhi int) {
	P, NP := g.p(), g.N*g.p()
	HW := g.H * g.W
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
			if lo == 0 && hi == g.OW {
				for oh := ohLo; oh < ohHi; oh++ {
					row := dst[oh*g.OW : (oh+1)*g.OW]
					so := (ih0+oh*g.SH)*g.W + iw0
					copyShort(row, plane[so:so+len(row)])
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
}

// copyShort copies src to dst (equal lengths): four elements per move for the short rows of
// small images (OW is often 8-14), where it beats a memmove call, and copy for longer ones.
func copyShort[T Float](dst, src []T) {
	if len(dst) >= 24 {
		copy(dst, src)
		return
	}
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		*(*[4]T)(dst[i : i+4]) = *(*[4]T)(src[i : i+4])
	}
	for ; i < len(dst); i++ {
		dst[i] = src[i]
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
