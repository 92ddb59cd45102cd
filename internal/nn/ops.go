package nn

import (
	"fmt"
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/uqnn/uqnn/internal/nn/gops"
	"github.com/uqnn/uqnn/onnxio"
)

// node builds one IR node.
func (b *builder) node(n *onnxio.Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return b.errorf(n, onnxio.ErrUnsupported, "domain %q is not supported", n.Domain)
	}
	var (
		y   *G.Node
		err error
	)
	if len(n.Outputs) == 0 || n.Outputs[0] == "" {
		return b.errorf(n, onnxio.ErrInvalidModel, "node has no output")
	}
	if n.Op != "Constant" && (len(n.Inputs) == 0 || n.Inputs[0] == "") {
		return b.errorf(n, onnxio.ErrInvalidModel, "node has no first input")
	}
	if shapeOps[n.Op] && !b.dataPath(n) {
		return b.shapeOp(n)
	}
	if b.fused[n] {
		return nil
	}
	switch n.Op {
	case "Constant":
		return b.constant(n)
	case "Identity", "Dropout":
		if len(n.Outputs) > 1 && n.Outputs[1] != "" && len(b.m.Graph.Consumers(n.Outputs[1])) > 0 {
			return b.errorf(n, onnxio.ErrUnsupported, "the dropout mask output is used")
		}
		if t, ok := b.consts[n.Inputs[0]]; ok && !b.isParam[n.Inputs[0]] {
			b.consts[n.Outputs[0]] = t
			return nil
		}
		y, err = b.value(n, 0)
	case "Relu":
		var x *G.Node
		if x, err = b.value(n, 0); err != nil {
			break
		}
		if b.poolFirst(n) {
			b.reluBeforePool[n.Outputs[0]] = x
			return nil
		}
		if y, err = gops.ReLU(x); err != nil {
			err = b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
	case "LeakyRelu":
		y, err = b.unaryNode(n, leakyReluFn(float64(n.Float("alpha", 0.01))))
	case "Tanh":
		y, err = b.unaryNode(n, tanhFn())
	case "Sigmoid":
		y, err = b.unaryNode(n, sigmoidFn())
	case "Elu":
		y, err = b.unaryNode(n, eluFn(float64(n.Float("alpha", 1))))
	case "Softplus":
		y, err = b.unaryNode(n, softplusFn())
	case "Clip":
		y, err = b.clip(n)
	case "Add", "Sub", "Mul", "Div":
		y, err = b.arith(n)
	case "Sum", "Mean":
		y, err = b.sumMean(n)
	case "Pad":
		y, err = b.padNode(n)
	case "Squeeze", "Unsqueeze":
		y, err = b.squeeze(n)
	case "Concat":
		y, err = b.concat(n)
	case "Conv":
		y, err = b.conv(n)
	case "MaxPool", "AveragePool":
		y, err = b.pool(n)
	case "GlobalAveragePool":
		var x *G.Node
		if x, err = b.value(n, 0); err == nil {
			if y, err = globalAvgPool(x); err != nil {
				err = b.errorf(n, onnxio.ErrUnsupported, "%v", err)
			}
		}
	case "Gemm":
		y, err = b.gemm(n)
	case "MatMul":
		y, err = b.matmul(n)
	case "Flatten", "Reshape":
		y, err = b.reshape(n)
	case "Transpose":
		y, err = b.transpose(n)
	case "BatchNormalization":
		y, err = b.batchNorm(n)
	case "Softmax", "LogSoftmax":
		y, err = b.softmax(n)
	default:
		return b.errorf(n, onnxio.ErrUnsupported, "op %s is not supported by the Gorgonia builder", n.Op)
	}
	if err != nil {
		return err
	}
	return b.set(n, y)
}

func (b *builder) constant(n *onnxio.Node) error {
	t := n.Tensor("value")
	if t == nil {
		return b.errorf(n, onnxio.ErrUnsupported, "only the tensor form (value attribute) is supported")
	}
	b.consts[n.Outputs[0]] = t
	return nil
}

func (b *builder) unaryNode(n *onnxio.Node, fn unaryFn) (*G.Node, error) {
	x, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	return unary(fn, x)
}

func (b *builder) arith(n *onnxio.Node) (*G.Node, error) {
	if len(n.Inputs) != 2 {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "%d inputs; want 2", len(n.Inputs))
	}
	if n.Int("broadcast", 0) != 0 && b.opset(n) < 7 {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "legacy broadcast attribute (opset < 7)")
	}
	x, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	y, err := b.value(n, 1)
	if err != nil {
		return nil, err
	}
	op := map[string]byte{"Add": '+', "Sub": '-', "Mul": '*', "Div": '/'}[n.Op]
	out, err := broadcastOp(op, x, y)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	return out, nil
}

// spatial reads the 2-D kernel, strides, dilations and resolved pads [top, left, bottom, right]
// of a Conv or pool node over input [N,C,H,W].
func (b *builder) spatial(n *onnxio.Node, xs tensor.Shape, kernel []int64) (k, strides, dil, pads []int, err error) {
	if len(xs) != 4 {
		return nil, nil, nil, nil, b.errorf(n, onnxio.ErrUnsupported, "input shape %v; want rank 4 (NCHW)", xs)
	}
	if len(kernel) != 2 {
		return nil, nil, nil, nil, b.errorf(n, onnxio.ErrUnsupported, "kernel %v; want 2-D", kernel)
	}
	ints := func(name string, def []int64, want int) ([]int, error) {
		v := n.Ints(name, def)
		if len(v) != want {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%s %v; want %d values", name, v, want)
		}
		out := make([]int, len(v))
		for i, x := range v {
			out[i] = int(x)
		}
		return out, nil
	}
	k = []int{int(kernel[0]), int(kernel[1])}
	if strides, err = ints("strides", []int64{1, 1}, 2); err != nil {
		return
	}
	if dil, err = ints("dilations", []int64{1, 1}, 2); err != nil {
		return
	}
	if pads, err = ints("pads", []int64{0, 0, 0, 0}, 4); err != nil {
		return
	}
	for i := range 2 {
		if strides[i] <= 0 || dil[i] <= 0 || k[i] <= 0 {
			return nil, nil, nil, nil, b.errorf(n, onnxio.ErrInvalidModel, "kernel %v, strides %v, dilations %v; want positive values", k, strides, dil)
		}
	}
	switch ap := n.String("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
	case "VALID":
		pads = []int{0, 0, 0, 0}
	case "SAME_UPPER", "SAME_LOWER":
		for i := range 2 {
			in := xs[2+i]
			out := (in + strides[i] - 1) / strides[i]
			total := max(0, (out-1)*strides[i]+(k[i]-1)*dil[i]+1-in)
			lo := total / 2
			if ap == "SAME_LOWER" {
				lo = total - total/2
			}
			pads[i], pads[i+2] = lo, total-lo
		}
	default:
		return nil, nil, nil, nil, b.errorf(n, onnxio.ErrUnsupported, "auto_pad %q", ap)
	}
	for _, p := range pads {
		if p < 0 {
			return nil, nil, nil, nil, b.errorf(n, onnxio.ErrUnsupported, "negative pads %v", pads)
		}
	}
	return k, strides, dil, pads, nil
}

func (b *builder) conv(n *onnxio.Node) (*G.Node, error) {
	x, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	w, err := b.value(n, 1)
	if err != nil {
		return nil, err
	}
	ws := w.Shape()
	group := n.Int("group", 1)
	if len(ws) != 4 || len(x.Shape()) != 4 {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "input shape %v and weight %q shape %v; want [N,C,H,W] and [M,C/group,kh,kw]", x.Shape(), n.Inputs[1], ws)
	}
	if c := x.Shape()[1]; group < 1 || int64(c)%group != 0 || int64(ws[0])%group != 0 || int64(ws[1])*group != int64(c) {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "group %d with input shape %v and weight %q shape %v; want a group dividing the input and output channels and weight [M,C/group,kh,kw]", group, x.Shape(), n.Inputs[1], ws)
	}
	kernel := n.Ints("kernel_shape", []int64{int64(ws[2]), int64(ws[3])})
	k, strides, dil, pads, err := b.spatial(n, x.Shape(), kernel)
	if err != nil {
		return nil, err
	}
	if k[0] != ws[2] || k[1] != ws[3] {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "kernel_shape %v does not match weight shape %v", k, ws)
	}
	var (
		bias  *G.Node
		fused *onnxio.Node // an Add of a per-channel bias that the convolution takes over
	)
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		if bias, err = b.value(n, 2); err != nil {
			return nil, err
		}
		if !slices.Equal(bias.Shape(), tensor.Shape{ws[0]}) {
			bias = nil // not [M]: added below by broadcasting
		}
	} else if fused, bias, err = b.biasAdd(n, ws[0], [][]int64{{int64(ws[0]), 1, 1}, {1, int64(ws[0]), 1, 1}}); err != nil {
		return nil, err
	}
	p := gops.ConvParams{
		Pads:        [4]int{pads[0], pads[1], pads[2], pads[3]},
		Strides:     [2]int{strides[0], strides[1]},
		Dilations:   [2]int{dil[0], dil[1]},
		NoInputGrad: b.dataOnly(n.Inputs[0]),
	}
	var y *G.Node
	if group == 1 {
		if y, err = b.fusedConv(n, x, w, bias, p); err != nil {
			return nil, err
		}
	}
	if y == nil {
		if y, err = gops.GroupConv2D(x, w, bias, p, int(group)); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
		if y, err = b.variational(n, x, w, y, func(x2, s2 *G.Node) (*G.Node, error) { return gops.GroupConv2D(x2, s2, nil, p, int(group)) }); err != nil {
			return nil, err
		}
	}
	if fused != nil {
		return y, b.set(fused, y)
	}
	if bias == nil && len(n.Inputs) > 2 && n.Inputs[2] != "" {
		bias, err := b.value(n, 2)
		if err != nil {
			return nil, err
		}
		if bias.Shape().TotalSize() != ws[0] {
			return nil, b.errorf(n, onnxio.ErrInvalidModel, "bias %q shape %v; want [%d]", n.Inputs[2], bias.Shape(), ws[0])
		}
		if y, err = broadcastView('+', y, bias, y.Shape(), tensor.Shape{ws[0], 1, 1}); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
	}
	return y, nil
}

func (b *builder) pool(n *onnxio.Node) (*G.Node, error) {
	x, relu := b.reluBeforePool[n.Inputs[0]] // only ever set for a MaxPool's input
	if !relu {
		var err error
		if x, err = b.value(n, 0); err != nil {
			return nil, err
		}
	}
	kernel := n.Ints("kernel_shape", nil)
	k, strides, dil, pads, err := b.spatial(n, x.Shape(), kernel)
	if err != nil {
		return nil, err
	}
	if dil[0] != 1 || dil[1] != 1 {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "dilations %v; want 1", dil)
	}
	var extra [2]int // ceil_mode's bottom and right overhang, outside any padding
	switch c := n.Int("ceil_mode", 0); c {
	case 0:
	case 1:
		if ap := n.String("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "" {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "ceil_mode 1 with auto_pad %q; want explicit pads", ap)
		}
		extra = ceilExtra(x.Shape(), k, strides, pads)
	default:
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "ceil_mode %d; want 0 or 1", c)
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "the Indices output")
	}
	if relu && slices.ContainsFunc([]int{0, 1, 2, 3}, func(i int) bool { return pads[i] >= k[i%2] }) {
		// A window may hold padding only: the ReLU goes first, where the model has it.
		// (gops.MaxPool2D rejects such pads today; this keeps the reordering exact if not.)
		if x, err = gops.ReLU(x); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
		relu = false
	}
	padded := slices.ContainsFunc(pads, func(p int) bool { return p != 0 })
	if n.Op == "AveragePool" {
		if padded && n.Int("count_include_pad", 0) != 0 {
			// Padding counted in the divisor: pad with zeros explicitly.
			if x, err = pad2D(x, pads[0], pads[1], pads[2], pads[3], 0); err != nil {
				return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
			}
			pads = []int{0, 0, 0, 0}
		}
		y, err := gops.AvgPool2D(x, [2]int{k[0], k[1]}, [4]int{pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1]}, [2]int{strides[0], strides[1]})
		if err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
		return y, nil
	}
	y, err := gops.MaxPool2D(x, [2]int{k[0], k[1]}, [4]int{pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1]}, [2]int{strides[0], strides[1]})
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	if relu {
		if y, err = gops.ReLU(y); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "ReLU moved after the pooling: %v", err)
		}
	}
	return y, nil
}

// ceilExtra returns the rows and columns (bottom, right) that ceil_mode 1 adds past the
// padded input of a pooling over xs ([N,C,H,W]): the output size rounds up,
// ⌈(H+pt+pb−k)/s⌉+1, less one when the last window would start past the input and the top
// padding (as onnxruntime and PyTorch count). The overhang holds no input cell, so it is
// pooling padding that no window's maximum or mean ever includes; the last window still
// starts inside the input, so the padding stays smaller than the kernel.
func ceilExtra(xs tensor.Shape, k, strides, pads []int) [2]int {
	var extra [2]int
	for i := range 2 {
		in, lo, hi := xs[2+i], pads[i], pads[i+2]
		span := in + lo + hi - k[i]
		if span < 0 {
			continue // smaller than the kernel: the pooling reports it
		}
		out := (span+strides[i]-1)/strides[i] + 1
		if (out-1)*strides[i] >= in+lo {
			out--
		}
		extra[i] = max(0, (out-1)*strides[i]+k[i]-(in+lo+hi))
	}
	return extra
}

// poolFirst reports whether Relu node n feeds a MaxPool only, so that the pair is built as
// MaxPool then ReLU: the two commute exactly (ReLU is non-decreasing, so the maximum of the
// rectified window is the rectified maximum, and the first maximal element, where the
// gradient goes, is the same element whenever the maximum is positive; otherwise both
// gradients are zero), and the ReLU then runs on a quarter (2×2 pooling) of the values,
// forward and backward. The pool node checks that no window is all padding (each resolved
// pad smaller than the kernel), and otherwise applies the ReLU first.
func (b *builder) poolFirst(n *onnxio.Node) bool {
	out := n.Outputs[0]
	if len(n.Outputs) != 1 || b.isGraphOutput(out) {
		return false
	}
	cs := b.m.Graph.Consumers(out)
	if len(cs) != 1 || cs[0].Op != "MaxPool" || len(cs[0].Inputs) != 1 || cs[0].Inputs[0] != out {
		return false
	}
	p := cs[0]
	return (p.Domain == "" || p.Domain == "ai.onnx") && (len(p.Outputs) < 2 || p.Outputs[1] == "")
}

func (b *builder) isGraphOutput(name string) bool {
	return slices.ContainsFunc(b.m.Graph.Outputs, func(v *onnxio.ValueInfo) bool { return v.Name == name })
}

func (b *builder) gemm(n *onnxio.Node) (*G.Node, error) {
	a, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	w, err := b.value(n, 1)
	if err != nil {
		return nil, err
	}
	if len(a.Shape()) != 2 || len(w.Shape()) != 2 {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "input shapes %v and %v; want matrices", a.Shape(), w.Shape())
	}
	transA, transB := n.Int("transA", 0) != 0, n.Int("transB", 0) != 0
	ak, wk, wm := a.Shape()[1], w.Shape()[0], w.Shape()[1]
	if transA {
		ak = a.Shape()[0]
	}
	if transB {
		wk, wm = wm, wk
	}
	if ak != wk {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "A is %v and B is %v (transA %v, transB %v); want inner dimensions equal", a.Shape(), w.Shape(), transA, transB)
	}
	hasC := len(n.Inputs) > 2 && n.Inputs[2] != ""
	if !transA && n.Float("alpha", 1) == 1 {
		// The common case (a Linear layer) on OpenBLAS, with a [M] bias fused.
		var c *G.Node
		if hasC && n.Float("beta", 1) == 1 {
			if c, err = b.value(n, 2); err != nil {
				return nil, err
			}
			if slices.Equal(c.Shape(), tensor.Shape{1, wm}) {
				if c, err = G.Reshape(c, tensor.Shape{wm}); err != nil {
					return nil, b.errorf(n, onnxio.ErrUnsupported, "C %q as [%d]: %v", n.Inputs[2], wm, err)
				}
			}
			if !slices.Equal(c.Shape(), tensor.Shape{wm}) {
				c = nil
			}
		}
		y, err := b.fusedDense(n, a, w, c, transB)
		if err != nil {
			return nil, err
		}
		if y == nil {
			if y, err = gops.Dense(a, w, c, transB); err != nil {
				return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
			}
		}
		if c != nil || !hasC {
			return y, nil
		}
		return b.gemmC(n, y, a.Shape()[0], wm)
	}
	if b.cfg.Variational {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "transA or alpha ≠ 1 in a variational net; want a plain Linear layer")
	}
	if transA {
		if a, err = G.Transpose(a, 1, 0); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
	}
	if transB {
		if w, err = G.Transpose(w, 1, 0); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
	}
	y, err := G.Mul(a, w)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	if alpha := n.Float("alpha", 1); alpha != 1 {
		if y, err = broadcastOp('*', y, b.constNode(fmt.Sprintf("%s:alpha", n.Name), []float32{alpha}, 1)); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
	}
	if !hasC {
		return y, nil
	}
	return b.gemmC(n, y, a.Shape()[0], w.Shape()[1])
}

// gemmC adds beta·C to a Gemm's product y ([rows, cols]).
func (b *builder) gemmC(n *onnxio.Node, y *G.Node, rows, cols int) (*G.Node, error) {
	c, err := b.value(n, 2)
	if err != nil {
		return nil, err
	}
	if beta := n.Float("beta", 1); beta != 1 {
		if c, err = broadcastOp('*', c, b.constNode(fmt.Sprintf("%s:beta", n.Name), []float32{beta}, 1)); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
	}
	if y, err = broadcastOp('+', y, c); err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "C: %v", err)
	}
	if !slices.Equal(y.Shape(), tensor.Shape{rows, cols}) {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "C %q shape %v does not broadcast to the output", n.Inputs[2], c.Shape())
	}
	return y, nil
}

func (b *builder) matmul(n *onnxio.Node) (*G.Node, error) {
	a, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	w, err := b.value(n, 1)
	if err != nil {
		return nil, err
	}
	if len(a.Shape()) != 2 || len(w.Shape()) != 2 {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "input shapes %v and %v; want matrices", a.Shape(), w.Shape())
	}
	if a.Shape()[1] != w.Shape()[0] {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "shapes %v and %v; want inner dimensions equal", a.Shape(), w.Shape())
	}
	m := w.Shape()[1]
	add, c, err := b.biasAdd(n, m, [][]int64{{int64(m)}, {1, int64(m)}})
	if err != nil {
		return nil, err
	}
	y, err := b.fusedDense(n, a, w, c, false)
	if err != nil {
		return nil, err
	}
	if y == nil {
		if y, err = gops.Dense(a, w, c, false); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
	}
	if add != nil {
		return y, b.set(add, y)
	}
	return y, nil
}

// biasAdd finds an Add that is the only reader of node n's output and adds a constant or
// parameter of one of the given dims (a per-channel or per-column bias of m values) to it:
// it returns that Add and the bias as an [m] node, and marks the Add as built, so that n is
// built with the bias fused (no broadcasting node, forward or backward). It returns nil when
// there is no such Add.
func (b *builder) biasAdd(n *onnxio.Node, m int, dims [][]int64) (*onnxio.Node, *G.Node, error) {
	if len(n.Outputs) != 1 || b.isGraphOutput(n.Outputs[0]) {
		return nil, nil, nil
	}
	out := n.Outputs[0]
	cs := b.m.Graph.Consumers(out)
	if len(cs) != 1 || cs[0].Op != "Add" || len(cs[0].Inputs) != 2 || len(cs[0].Outputs) != 1 || cs[0].Outputs[0] == "" ||
		cs[0].Domain != "" && cs[0].Domain != "ai.onnx" || b.opset(cs[0]) < 7 {
		return nil, nil, nil
	}
	add := cs[0]
	i := slices.Index(add.Inputs, out)
	other := add.Inputs[1-i]
	if other == out {
		return nil, nil, nil
	}
	t, ok := b.consts[other]
	if !ok || t.DType != onnxio.Float || !slices.ContainsFunc(dims, func(d []int64) bool { return slices.Equal(d, t.Dims) }) {
		return nil, nil, nil
	}
	c, err := b.value(add, 1-i)
	if err != nil {
		return nil, nil, err
	}
	if len(c.Shape()) != 1 {
		if c, err = G.Reshape(c, tensor.Shape{m}); err != nil {
			return nil, nil, b.errorf(add, onnxio.ErrUnsupported, "bias %q as [%d]: %v", other, m, err)
		}
	}
	b.fused[add] = true
	return add, c, nil
}

// reshape builds Flatten and Reshape. A Reshape target keeps the batch axis: its first entry
// may be the model's fixed batch, -1 or 0, and the rest is resolved per image, so a model
// exported with batch 1 runs at any batch size.
func (b *builder) reshape(n *onnxio.Node) (*G.Node, error) {
	x, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	s := x.Shape()
	var to tensor.Shape
	if n.Op == "Flatten" {
		axis := int(n.Int("axis", 1))
		if axis < 0 {
			axis += len(s)
		}
		if axis < 0 || axis > len(s) {
			return nil, b.errorf(n, onnxio.ErrInvalidModel, "axis %d for input shape %v", axis, s)
		}
		if axis == 0 {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "axis 0 mixes images of a batch")
		}
		to = tensor.Shape{tensor.Shape(s[:axis]).TotalSize(), tensor.Shape(s[axis:]).TotalSize()}
	} else {
		target, err := b.constInts(n, 1)
		if err != nil {
			return nil, err
		}
		if _, ok := b.consts[n.Inputs[0]]; ok {
			// A weight reshaped (CNTK): no batch axis.
			if to, err = resolveReshape(append(tensor.Shape{1}, s...), append([]int64{1}, target...), 1); err != nil {
				return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
			}
			return b.reshapeTo(n, x, to[1:])
		}
		if to, err = resolveReshape(s, target, b.modelBatch); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
	}
	if slices.Equal(to, s) {
		return x, nil
	}
	return b.reshapeTo(n, x, to)
}

func (b *builder) reshapeTo(n *onnxio.Node, x *G.Node, to tensor.Shape) (*G.Node, error) {
	y, err := G.Reshape(x, to)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	return y, nil
}

// resolveReshape resolves an ONNX Reshape target for an input of shape s whose first axis is
// the batch.
func resolveReshape(s tensor.Shape, target []int64, modelBatch int) (tensor.Shape, error) {
	if len(target) == 0 {
		return nil, fmt.Errorf("empty target for input shape %v", s)
	}
	batch := s[0]
	if t0 := int(target[0]); t0 != -1 && t0 != 0 && t0 != batch && t0 != modelBatch {
		return nil, fmt.Errorf("target %v changes the batch axis of input shape %v", target, s)
	}
	per := tensor.Shape(s[1:]).TotalSize()
	to := tensor.Shape{batch}
	known, infer := 1, -1
	for i, t := range target[1:] {
		d := int(t)
		switch {
		case d == 0:
			if i+1 >= len(s) {
				return nil, fmt.Errorf("target %v copies axis %d of input shape %v, which has none", target, i+1, s)
			}
			d = s[i+1]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("target %v has two -1 entries", target)
			}
			infer = len(to)
			d = 1
		case d < 0:
			return nil, fmt.Errorf("target %v has a negative entry", target)
		}
		known *= d
		to = append(to, d)
	}
	if infer >= 0 {
		if known == 0 || per%known != 0 {
			return nil, fmt.Errorf("target %v does not fit input shape %v", target, s)
		}
		to[infer] = per / known
	} else if known != per {
		return nil, fmt.Errorf("target %v (per image %d values) does not fit input shape %v (%d)", target, known, s, per)
	}
	return to, nil
}

func (b *builder) transpose(n *onnxio.Node) (*G.Node, error) {
	x, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	r := len(x.Shape())
	perm := make([]int, r)
	for i := range perm {
		perm[i] = r - 1 - i
	}
	if p := n.Ints("perm", nil); p != nil {
		if len(p) != r {
			return nil, b.errorf(n, onnxio.ErrInvalidModel, "perm %v for input shape %v", p, x.Shape())
		}
		for i, v := range p {
			perm[i] = int(v)
		}
	}
	seen := make([]bool, r)
	for _, v := range perm {
		if v < 0 || v >= r || seen[v] {
			return nil, b.errorf(n, onnxio.ErrInvalidModel, "perm %v is not a permutation of 0..%d", perm, r-1)
		}
		seen[v] = true
	}
	if perm[0] != 0 {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "perm %v moves the batch axis", perm)
	}
	identity := true
	for i, v := range perm {
		identity = identity && v == i
	}
	if identity {
		return x, nil
	}
	y, err := G.Transpose(x, perm...)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	return y, nil
}

func (b *builder) batchNorm(n *onnxio.Node) (*G.Node, error) {
	if n.Int("training_mode", 0) != 0 {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "training_mode 1; want the inference form")
	}
	for _, o := range n.Outputs[1:] {
		if o != "" {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "running statistics outputs; want the inference form")
		}
	}
	x, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	xs := x.Shape()
	if len(xs) < 2 {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "input shape %v; want [N,C,...]", xs)
	}
	c := xs[1]
	view := tensor.Shape{c}
	for range xs[2:] {
		view = append(view, 1)
	}
	scale, err := b.value(n, 1)
	if err != nil {
		return nil, err
	}
	bias, err := b.value(n, 2)
	if err != nil {
		return nil, err
	}
	mean, err := b.constFloats(n, 3)
	if err != nil {
		return nil, err
	}
	variance, err := b.constFloats(n, 4)
	if err != nil {
		return nil, err
	}
	if len(mean) != c || len(variance) != c || scale.Shape().TotalSize() != c || bias.Shape().TotalSize() != c {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "statistics and parameters must have %d (channels) values", c)
	}
	eps := float64(n.Float("epsilon", 1e-5))
	inv := make([]float32, c)
	for i, v := range variance {
		inv[i] = float32(1 / math.Sqrt(float64(v)+eps))
	}
	meanN := b.constNode(n.Name+":mean", mean, c)
	invN := b.constNode(n.Name+":invstd", inv, c)
	centered, err := broadcastView('-', x, meanN, xs, view)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	s, err := broadcastView('*', scale, invN, tensor.Shape{c}, tensor.Shape{c})
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	y, err := broadcastView('*', centered, s, xs, view)
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	if y, err = broadcastView('+', y, bias, xs, view); err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	return y, nil
}

func (b *builder) softmax(n *onnxio.Node) (*G.Node, error) {
	x, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	r := len(x.Shape())
	def := int64(-1)
	if b.opset(n) < 13 {
		def = 1
	}
	axis := int(n.Int("axis", def))
	if axis < 0 {
		axis += r
	}
	// Before opset 13 the input is flattened to 2-D at axis; the two meanings agree when axis
	// is the last one.
	if axis != r-1 {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "axis %d for input shape %v; want the last axis", axis, x.Shape())
	}
	y, err := softmax(x, n.Op == "LogSoftmax")
	if err != nil {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
	}
	return y, nil
}
