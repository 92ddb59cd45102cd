package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bcastPlan walks an output of numpy-broadcast shape and the matching offsets into both
// operands: a stride of 0 repeats an operand along an axis where its size is 1.
type bcastPlan struct {
	out    tensor.Shape
	sa, sb []int
}

// broadcastShapes applies numpy's rule: align trailing axes; each pair must match or one be 1.
func broadcastShapes(a, b tensor.Shape) (tensor.Shape, error) {
	r := max(len(a), len(b), 1)
	out := make(tensor.Shape, r)
	for i := 0; i < r; i++ {
		da, db := dimFromEnd(a, r-1-i), dimFromEnd(b, r-1-i)
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast (axis %d: %d vs %d)", a, b, i, da, db)
		}
	}
	return out, nil
}

// dimFromEnd returns the size of axis k counted from the last axis (0 = last), 1 if absent.
func dimFromEnd(s tensor.Shape, k int) int {
	if k >= len(s) {
		return 1
	}
	return s[len(s)-1-k]
}

func newBcastPlan(a, b tensor.Shape) (*bcastPlan, error) {
	out, err := broadcastShapes(a, b)
	if err != nil {
		return nil, err
	}
	return &bcastPlan{out: out, sa: bstrides(a, out), sb: bstrides(b, out)}, nil
}

// bstrides gives s's element strides laid over out's axes, 0 along broadcast axes.
func bstrides(s, out tensor.Shape) []int {
	r := len(out)
	st := make([]int, r)
	acc := 1
	for k := 0; k < r; k++ { // k from the last axis
		d := dimFromEnd(s, k)
		if d != 1 {
			st[r-1-k] = acc
		}
		acc *= d
	}
	return st
}

// walk calls row for each innermost row of the output: output offset o, operand offsets
// ia, ib; the row has plan.out[last] elements stepping ia by sa and ib by sb.
func (p *bcastPlan) walk(row func(o, ia, ib int)) {
	r := len(p.out)
	inner := p.out[r-1]
	total := p.out.TotalSize()
	idx := make([]int, r)
	ia, ib := 0, 0
	for o := 0; o < total; o += inner {
		row(o, ia, ib)
		for ax := r - 2; ax >= 0; ax-- {
			idx[ax]++
			ia += p.sa[ax]
			ib += p.sb[ax]
			if idx[ax] < p.out[ax] {
				break
			}
			ia -= p.sa[ax] * p.out[ax]
			ib -= p.sb[ax] * p.out[ax]
			idx[ax] = 0
		}
	}
}

func bcastFwd[T float32 | float64](op byte, p *bcastPlan, out, a, b []T) {
	r := len(p.out)
	n, sa, sb := p.out[r-1], p.sa[r-1], p.sb[r-1]
	p.walk(func(o, ia, ib int) {
		row := out[o : o+n]
		switch op {
		case '+':
			for j := range row {
				row[j] = a[ia+j*sa] + b[ib+j*sb]
			}
		case '-':
			for j := range row {
				row[j] = a[ia+j*sa] - b[ib+j*sb]
			}
		case '*':
			for j := range row {
				row[j] = a[ia+j*sa] * b[ib+j*sb]
			}
		case '/':
			for j := range row {
				row[j] = a[ia+j*sa] / b[ib+j*sb]
			}
		}
	})
}

// bcastGrad accumulates the gradient of one operand (left when left is true): the upstream
// gradient g times the local derivative, summed over the axes the operand was broadcast along.
func bcastGrad[T float32 | float64](op byte, left bool, p *bcastPlan, out, a, b, g []T) {
	clear(out)
	r := len(p.out)
	n, sa, sb := p.out[r-1], p.sa[r-1], p.sb[r-1]
	p.walk(func(o, ia, ib int) {
		gr := g[o : o+n]
		for j, gv := range gr {
			x, y := ia+j*sa, ib+j*sb
			var d T
			switch op {
			case '+':
				d = gv
			case '-':
				d = gv
				if !left {
					d = -gv
				}
			case '*':
				if left {
					d = gv * b[y]
				} else {
					d = gv * a[x]
				}
			case '/':
				if left {
					d = gv / b[y]
				} else {
					d = -gv * a[x] / (b[y] * b[y])
				}
			}
			if left {
				out[x] += d
			} else {
				out[y] += d
			}
		}
	})
}

// broadcastOp applies an elementwise Add ('+'), Sub ('-'), Mul ('*') or Div ('/') with numpy
// broadcasting; both operands are differentiable.
func broadcastOp(op byte, a, b *G.Node) (*G.Node, error) {
	return broadcastView(op, a, b, a.Shape(), b.Shape())
}

// broadcastView is broadcastOp with the operands read as shapes va and vb (same sizes as
// their nodes' shapes), e.g. a Conv bias [C] as [C,1,1]; gradients keep the nodes' shapes.
func broadcastView(op byte, a, b *G.Node, va, vb tensor.Shape) (*G.Node, error) {
	if va.TotalSize() != a.Shape().TotalSize() || vb.TotalSize() != b.Shape().TotalSize() {
		return nil, fmt.Errorf("broadcast views %v, %v do not match operand shapes %v, %v", va, vb, a.Shape(), b.Shape())
	}
	sa, sb := a.Shape().Clone(), b.Shape().Clone()
	p, err := newBcastPlan(va.Clone(), vb.Clone())
	if err != nil {
		return nil, err
	}
	k := &kernel{
		name: fmt.Sprintf("bcast%c%v%v%v%v", op, sa, sb, va, vb),
		in:   []int{a.Dims(), b.Dims()},
		out:  p.out,
		f32:  func(o []float32, in [][]float32) { bcastFwd(op, p, o, in[0], in[1]) },
		f64:  func(o []float64, in [][]float64) { bcastFwd(op, p, o, in[0], in[1]) },
		wrt:  []bool{true, true},
	}
	k.grads = func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		res := make(G.Nodes, 2)
		for i, left := range []bool{true, false} {
			shape, side := sa, "a"
			if !left {
				shape, side = sb, "b"
			}
			gk := &kernel{
				name: fmt.Sprintf("bcastgrad%c%s%v%v%v%v", op, side, sa, sb, va, vb),
				in:   []int{a.Dims(), b.Dims(), len(p.out)},
				out:  shape,
				f32:  func(o []float32, in [][]float32) { bcastGrad(op, left, p, o, in[0], in[1], in[2]) },
				f64:  func(o []float64, in [][]float64) { bcastGrad(op, left, p, o, in[0], in[1], in[2]) },
			}
			n, err := gk.apply(in[0], in[1], grad)
			if err != nil {
				return nil, err
			}
			res[i] = n
		}
		return res, nil
	}
	return k.apply(a, b)
}
