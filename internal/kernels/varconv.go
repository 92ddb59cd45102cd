package kernels

// VarConv is a convolution together with its variance convolution, the two products of a
// variational layer under the local reparameterization trick (sparse variational dropout):
// the mean y = conv(x, w) + b and the variance v = conv(x², s) for the weight variances s.
//
// On the im2col path (geometries without g.fast()) both products of an image come from one
// patch matrix: the worker squares the image's patches in cache instead of building the
// patches of x², and the input gradient of both products goes through one col2im of
// wᵀ·dy + 2·col ⊙ (sᵀ·dv). Each worker's images get both products, so the pair costs one split
// across the cores, not two. The values are those of the separate convolutions: the squared
// patches are the patches of the squared input, element for element, and each GEMM has the
// same operands and shape. Geometries on the extended-width path run the two convolutions one
// after the other (conv and x²'s conv), as separate layers would.
type VarConv[T Float] struct {
	mean *Conv[T]
	vari *Conv[T] // the variance convolution, on the extended-width path
	x2   []T      // x², on the extended-width path
	dx2  []T      // the input gradient of the variance convolution, on the extended-width path
}

// NewVarConv returns the workspace of a variational convolution of geometry g.
func NewVarConv[T Float](g ConvGeom) *VarConv[T] {
	return &VarConv[T]{mean: NewConv[T](g), vari: NewConv[T](g)}
}

// Forward computes y = conv(x, w) + b and v = conv(x², s). b may be nil (no bias); s has w's
// shape and v y's.
func (c *VarConv[T]) Forward(x, w, b, s, y, v []T) {
	g := c.mean.G
	checkLen("conv s", len(s), g.WSize())
	checkLen("conv v", len(v), g.YSize())
	if g.fast() {
		c.mean.Forward(x, w, b, y)
		c.square(x)
		c.vari.Forward(c.x2, s, nil, v)
		return
	}
	g.checkSizes("conv", len(x), len(w), len(y), len(b), b != nil)
	m := c.mean
	K, P := g.k(), g.p()
	xs, ys := g.C*g.H*g.W, g.M*P
	keep := m.startCol()
	gi := g.image()
	m.eachImage(2*g.N*K*P*(g.M+1), func(wk *convWorker[T], lo, hi int) {
		wk.sq = grow(wk.sq, K*P)
		for n := lo; n < hi; n++ {
			col := m.imageCol(wk, keep, n)
			im2colImage(gi, x[n*xs:(n+1)*xs], col)
			yn := y[n*ys : (n+1)*ys]
			gemm1(false, false, g.M, P, K, 1, w, K, col, P, 0, yn, P)
			if b != nil {
				for j := 0; j < g.M; j++ {
					addConst(yn[j*P:(j+1)*P], b[j])
				}
			}
			squareInto(col, wk.sq)
			gemm1(false, false, g.M, P, K, 1, s, K, wk.sq, P, 0, v[n*ys:(n+1)*ys], P)
		}
	})
	if keep {
		m.colValid, m.colSrc = true, &x[0]
	}
}

// square writes x² to c.x2.
func (c *VarConv[T]) square(x []T) {
	c.x2 = grow(c.x2, c.mean.G.XSize())
	squareInto(x[:len(c.x2)], c.x2)
}

// squareInto writes x² to y, on the dedicated float32 loop where it applies.
func squareInto[T Float](x, y []T) {
	if x32, ok := any(x).([]float32); ok {
		Square(x32, any(y).([]float32))
		return
	}
	for i, a := range x {
		y[i] = a * a
	}
}

// squareGrad writes the gradient of x², 2x·dy, to dx (which may be dy), on the dedicated
// float32 loop where it applies.
func squareGrad[T Float](x, dy, dx []T) {
	if x32, ok := any(x).([]float32); ok {
		SquareBackward(x32, any(dy).([]float32), any(dx).([]float32))
		return
	}
	for i, a := range x {
		dx[i] = (a + a) * dy[i]
	}
}

// addSquareGrad adds the gradient of x², 2x·dy, to dx; dy is overwritten.
func addSquareGrad[T Float](x, dy, dx []T) {
	squareGrad(x, dy, dy)
	for i, v := range dy[:len(x)] {
		dx[i] += v
	}
}

// BackwardData computes dx, the gradient of the loss with respect to x, from the output
// gradients dy (of y) and dv (of v): convᵀ(w, dy) + 2x ⊙ convᵀ(s, dv). x is the input of the
// last Forward. dx is overwritten.
func (c *VarConv[T]) BackwardData(x, w, s, dy, dv, dx []T) {
	g := c.mean.G
	checkLen("conv x", len(x), g.XSize())
	checkLen("conv s", len(s), g.WSize())
	checkLen("conv dv", len(dv), g.YSize())
	if g.fast() {
		c.mean.BackwardData(w, dy, dx)
		c.dx2 = grow(c.dx2, g.XSize())
		c.vari.BackwardData(s, dv, c.dx2)
		addSquareGrad(x[:g.XSize()], c.dx2, dx)
		return
	}
	checkLen("conv w", len(w), g.WSize())
	checkLen("conv dy", len(dy), g.YSize())
	checkLen("conv dx", len(dx), g.XSize())
	m := c.mean
	K, P := g.k(), g.p()
	xs, ys := g.C*g.H*g.W, g.M*P
	kept := m.colValid && m.colSrc == &x[0]
	gi := g.image()
	m.eachImage(2*g.N*K*P*(g.M+1), func(wk *convWorker[T], lo, hi int) {
		wk.dcol = grow(wk.dcol, K*P)
		for n := lo; n < hi; n++ {
			col := m.patchesOf(wk, kept, x, n)
			// dcol = 2·col ⊙ (sᵀ·dv) + wᵀ·dy, the gradient of both products' patches.
			gemm1(true, false, K, P, g.M, 1, s, K, dv[n*ys:(n+1)*ys], P, 0, wk.dcol, P)
			squareGrad(col, wk.dcol, wk.dcol)
			gemm1(true, false, K, P, g.M, 1, w, K, dy[n*ys:(n+1)*ys], P, 1, wk.dcol, P)
			col2imImage(gi, wk.dcol, dx[n*xs:(n+1)*xs])
		}
	})
}

// BackwardFilter computes dw (and db when not nil) from x and dy, and ds from x² and dv. It
// reuses the patches of x the last Forward kept when x is that call's input; the caller
// guarantees x's contents did not change in between. dw, db and ds are overwritten.
func (c *VarConv[T]) BackwardFilter(x, dy, dv, dw, db, ds []T) {
	g := c.mean.G
	checkLen("conv dv", len(dv), g.YSize())
	checkLen("conv ds", len(ds), g.WSize())
	if g.fast() {
		c.mean.BackwardFilterReuse(x, dy, dw, db)
		c.vari.BackwardFilterReuse(c.x2, dv, ds, nil)
		return
	}
	g.checkSizes("conv gradient", len(x), len(dw), len(dy), len(db), db != nil)
	m := c.mean
	K, P, M := g.k(), g.p(), g.M
	ys := M * P
	kept := m.colValid && m.colSrc == &x[0]
	nw := m.eachImage(2*g.N*K*P*(M+1), func(wk *convWorker[T], lo, hi int) {
		wk.wt = grow(wk.wt, K*M)
		wk.wt2 = grow(wk.wt2, K*M)
		wk.sq = grow(wk.sq, K*P)
		for n := lo; n < hi; n++ {
			col := m.patchesOf(wk, kept, x, n)
			var beta T
			if n > lo {
				beta = 1
			}
			gemm1(false, true, K, M, P, 1, col, P, dy[n*ys:(n+1)*ys], P, beta, wk.wt, M)
			squareInto(col, wk.sq)
			gemm1(false, true, K, M, P, 1, wk.sq, P, dv[n*ys:(n+1)*ys], P, beta, wk.wt2, M)
		}
	})
	m.combineFilter(nw, dy, dw, db)
	m.sumPartials(nw, ds, func(wk *convWorker[T]) []T { return wk.wt2 })
}
