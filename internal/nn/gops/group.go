package gops

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/uqnn/uqnn/internal/kernels"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GroupConv2D is Conv2D with the input channels split into groups (ONNX Conv's group
// attribute): x [N, C, H, W], w [M, C/groups, KH, KW], b [M] or nil, and output channels
// m·(M/groups) … (m+1)·(M/groups)−1 read input channels g·(C/groups) … of group g only.
// groups == C == M is a depthwise convolution. groups 1 is Conv2D.
//
// Each group runs the group-1 kernels on its channels, copied into a contiguous workspace
// (the copies are O(N·C·H·W), small next to the convolutions); the filter gradient recomputes
// its im2col per group.
func GroupConv2D(x, w, b *gorgonia.Node, p ConvParams, groups int) (*gorgonia.Node, error) {
	if groups == 1 {
		return Conv2D(x, w, b, p)
	}
	p = p.normalized()
	xs, err := shape4(x, "GroupConv2D", "input x")
	if err != nil {
		return nil, err
	}
	ws, err := shape4(w, "GroupConv2D", "weight w")
	if err != nil {
		return nil, err
	}
	if err := checkFloat(x, "GroupConv2D", "input x"); err != nil {
		return nil, err
	}
	if w.Dtype() != x.Dtype() {
		return nil, fmt.Errorf("gops: GroupConv2D: weight %q dtype %v differs from input %q dtype %v", w.Name(), w.Dtype(), x.Name(), x.Dtype())
	}
	if groups < 1 || xs[1]%groups != 0 || ws[0]%groups != 0 || ws[1]*groups != xs[1] {
		return nil, fmt.Errorf("gops: GroupConv2D: %d groups for input %v and weight %v; want groups dividing the %d input and %d output channels, and weight [M, C/groups, KH, KW]",
			groups, xs, ws, xs[1], ws[0])
	}
	gx := [4]int{xs[0], xs[1] / groups, xs[2], xs[3]}
	gw := [4]int{ws[0] / groups, ws[1], ws[2], ws[3]}
	g, err := kernels.NewConvGeom(gx, gw, p.Pads, p.Strides, p.Dilations)
	if err != nil {
		return nil, fmt.Errorf("gops: GroupConv2D(%q, %q): %w", x.Name(), w.Name(), err)
	}
	work := &groupWork{convWork: newConvWork(g), groups: groups}
	op := &groupConvOp{base: base{name: fmt.Sprintf("GroupConv2D%d%+v", groups, p)}, work: work, p: p, bias: b != nil}
	args := []*gorgonia.Node{x, w}
	if b != nil {
		if s := b.Shape(); len(s) != 1 || s[0] != ws[0] {
			return nil, fmt.Errorf("gops: GroupConv2D: bias %q has shape %v; want [%d] (output channels of weight %v)", b.Name(), s, ws[0], ws)
		}
		if b.Dtype() != x.Dtype() {
			return nil, fmt.Errorf("gops: GroupConv2D: bias %q dtype %v differs from input dtype %v", b.Name(), b.Dtype(), x.Dtype())
		}
		args = append(args, b)
	}
	out, err := gorgonia.ApplyOp(op, args...)
	if err != nil {
		return nil, fmt.Errorf("gops: GroupConv2D(%q, %q): %w", x.Name(), w.Name(), err)
	}
	return out, nil
}

// groupWork is the per-group geometry (N, C/groups → M/groups) and the contiguous copies of
// one group's input, output and their gradients, shared by the forward and gradient nodes
// (which run one at a time).
type groupWork struct {
	*convWork
	groups     int
	xg, yg     []float32
	xg64, yg64 []float64
}

// groupCopy copies group gi's channels between a full [N, groups·per, …] tensor and its
// contiguous [N, per, …] copy: gather when toGroup, scatter otherwise. per counts the
// elements of one image's group (channels × plane).
func groupCopy[T kernels.Float](full, grp []T, n, groups, gi, per int, toGroup bool) {
	for i := 0; i < n; i++ {
		f := full[(i*groups+gi)*per : (i*groups+gi+1)*per]
		g := grp[i*per : (i+1)*per]
		if toGroup {
			copy(g, f)
		} else {
			copy(f, g)
		}
	}
}

func grow[T kernels.Float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// groupForward computes y = grouped conv(x, w) + b.
func groupForward[T kernels.Float](wk *groupWork, c *kernels.Conv[T], xg, yg *[]T, x, w, b, y []T) {
	g := wk.g
	G := wk.groups
	xper, yper, wper := g.C*g.H*g.W, g.M*g.OH*g.OW, g.WSize()
	*xg, *yg = grow(*xg, g.XSize()), grow(*yg, g.YSize())
	for gi := 0; gi < G; gi++ {
		groupCopy(x, *xg, g.N, G, gi, xper, true)
		var bg []T
		if b != nil {
			bg = b[gi*g.M : (gi+1)*g.M]
		}
		c.Forward(*xg, w[gi*wper:(gi+1)*wper], bg, *yg)
		groupCopy(y, *yg, g.N, G, gi, yper, false)
	}
}

// groupBackwardData computes dx from w and dy.
func groupBackwardData[T kernels.Float](wk *groupWork, c *kernels.Conv[T], xg, yg *[]T, w, dy, dx []T) {
	g := wk.g
	G := wk.groups
	xper, yper, wper := g.C*g.H*g.W, g.M*g.OH*g.OW, g.WSize()
	*xg, *yg = grow(*xg, g.XSize()), grow(*yg, g.YSize())
	for gi := 0; gi < G; gi++ {
		groupCopy(dy, *yg, g.N, G, gi, yper, true)
		c.BackwardData(w[gi*wper:(gi+1)*wper], *yg, *xg)
		groupCopy(dx, *xg, g.N, G, gi, xper, false)
	}
}

// groupBackwardFilter computes dw from x and dy.
func groupBackwardFilter[T kernels.Float](wk *groupWork, c *kernels.Conv[T], xg, yg *[]T, x, dy, dw []T) {
	g := wk.g
	G := wk.groups
	xper, yper, wper := g.C*g.H*g.W, g.M*g.OH*g.OW, g.WSize()
	*xg, *yg = grow(*xg, g.XSize()), grow(*yg, g.YSize())
	for gi := 0; gi < G; gi++ {
		groupCopy(x, *xg, g.N, G, gi, xper, true)
		groupCopy(dy, *yg, g.N, G, gi, yper, true)
		c.BackwardFilter(*xg, *yg, dw[gi*wper:(gi+1)*wper], nil)
	}
}

type groupConvOp struct {
	base
	work *groupWork
	p    ConvParams
	bias bool
	out  *tensor.Dense
}

func (op *groupConvOp) full() (x, w, y [4]int) {
	g, G := op.work.g, op.work.groups
	return [4]int{g.N, g.C * G, g.H, g.W}, [4]int{g.M * G, g.C, g.KH, g.KW}, [4]int{g.N, g.M * G, g.OH, g.OW}
}

func (op *groupConvOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op *groupConvOp) Type() hm.Type {
	if op.bias {
		return fnType(4, 4, 1, 4)
	}
	return fnType(4, 4, 4)
}

func (op *groupConvOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	_, _, y := op.full()
	return tensor.Shape{y[0], y[1], y[2], y[3]}, nil
}

func (op *groupConvOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	x, err := dense(op.name, "x", vals[0])
	if err != nil {
		return nil, err
	}
	w, err := dense(op.name, "w", vals[1])
	if err != nil {
		return nil, err
	}
	xs, ws, ys := op.full()
	if x.DataSize() != xs[0]*xs[1]*xs[2]*xs[3] || w.DataSize() != ws[0]*ws[1]*ws[2]*ws[3] || x.Dtype() != w.Dtype() {
		return nil, fmt.Errorf("gops: %s: got x %v %v and w %v %v; want x %v and w %v of one dtype", op.name, x.Shape(), x.Dtype(), w.Shape(), w.Dtype(), xs, ws)
	}
	var b *tensor.Dense
	if op.bias {
		if b, err = dense(op.name, "b", vals[2]); err != nil {
			return nil, err
		}
		if b.DataSize() != ws[0] || b.Dtype() != x.Dtype() {
			return nil, fmt.Errorf("gops: %s: bias has shape %v dtype %v; want [%d] %v", op.name, b.Shape(), b.Dtype(), ws[0], x.Dtype())
		}
	}
	y := reuse(&op.out, x.Dtype(), ys[:]...)
	wk := op.work
	if x.Dtype() == tensor.Float32 {
		var bd []float32
		if b != nil {
			bd = b.Float32s()
		}
		groupForward(wk, wk.c32, &wk.xg, &wk.yg, x.Float32s(), w.Float32s(), bd, y.Float32s())
	} else {
		var bd []float64
		if b != nil {
			bd = b.Float64s()
		}
		groupForward(wk, wk.c64, &wk.xg64, &wk.yg64, x.Float64s(), w.Float64s(), bd, y.Float64s())
	}
	return y, nil
}

func (op *groupConvOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = i > 0 || !op.p.NoInputGrad
	}
	return d
}

func (op *groupConvOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, len(inputs)); err != nil {
		return nil, err
	}
	x, w := inputs[0], inputs[1]
	grads := make(gorgonia.Nodes, len(inputs))
	var err error
	if !op.p.NoInputGrad {
		dx := &groupConvGradOp{base: base{name: "GradX" + op.name}, fwd: op, data: true}
		if grads[0], err = gorgonia.ApplyOp(dx, w, grad); err != nil {
			return nil, fmt.Errorf("gops: GroupConv2D input gradient: %w", err)
		}
	}
	dw := &groupConvGradOp{base: base{name: "GradW" + op.name}, fwd: op}
	if grads[1], err = gorgonia.ApplyOp(dw, x, grad); err != nil {
		return nil, fmt.Errorf("gops: GroupConv2D weight gradient: %w", err)
	}
	if op.bias {
		if grads[2], err = channelSum(grad); err != nil {
			return nil, fmt.Errorf("gops: GroupConv2D bias gradient: %w", err)
		}
	}
	return grads, nil
}

// groupConvGradOp computes dx from (w, dy) when data is set, else dw from (x, dy).
type groupConvGradOp struct {
	base
	fwd  *groupConvOp
	data bool
	out  *tensor.Dense
}

func (op *groupConvGradOp) Arity() int    { return 2 }
func (op *groupConvGradOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *groupConvGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	xs, ws, _ := op.fwd.full()
	if op.data {
		return tensor.Shape{xs[0], xs[1], xs[2], xs[3]}, nil
	}
	return tensor.Shape{ws[0], ws[1], ws[2], ws[3]}, nil
}

func (op *groupConvGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkArity(op, len(vals)); err != nil {
		return nil, err
	}
	a, err := dense(op.name, "input 0", vals[0])
	if err != nil {
		return nil, err
	}
	dy, err := dense(op.name, "dy", vals[1])
	if err != nil {
		return nil, err
	}
	xs, ws, ys := op.fwd.full()
	want, out := ws, xs // dx from (w, dy)
	if !op.data {
		want, out = xs, ws // dw from (x, dy)
	}
	if a.DataSize() != want[0]*want[1]*want[2]*want[3] || dy.DataSize() != ys[0]*ys[1]*ys[2]*ys[3] || a.Dtype() != dy.Dtype() {
		return nil, fmt.Errorf("gops: %s: got %v and dy %v; want %v and %v of one dtype", op.name, a.Shape(), dy.Shape(), want, ys)
	}
	r := reuse(&op.out, dy.Dtype(), out[:]...)
	wk := op.fwd.work
	switch {
	case dy.Dtype() == tensor.Float32 && op.data:
		groupBackwardData(wk, wk.c32, &wk.xg, &wk.yg, a.Float32s(), dy.Float32s(), r.Float32s())
	case dy.Dtype() == tensor.Float32:
		groupBackwardFilter(wk, wk.c32, &wk.xg, &wk.yg, a.Float32s(), dy.Float32s(), r.Float32s())
	case op.data:
		groupBackwardData(wk, wk.c64, &wk.xg64, &wk.yg64, a.Float64s(), dy.Float64s(), r.Float64s())
	default:
		groupBackwardFilter(wk, wk.c64, &wk.xg64, &wk.yg64, a.Float64s(), dy.Float64s(), r.Float64s())
	}
	return r, nil
}
