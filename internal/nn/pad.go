package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// pad2D pads the two spatial axes of an NCHW tensor: top, left, bottom, right rows/columns of
// value (0 before a convolution, -Inf before a max pool). The gradient crops.
func pad2D(x *G.Node, top, left, bottom, right int, value float64) (*G.Node, error) {
	s := x.Shape().Clone()
	if len(s) != 4 {
		return nil, fmt.Errorf("pad: input shape %v; want rank 4 (NCHW)", s)
	}
	n, c, h, w := s[0], s[1], s[2], s[3]
	oh, ow := h+top+bottom, w+left+right
	out := tensor.Shape{n, c, oh, ow}
	k := &kernel{
		name: fmt.Sprintf("Pad%v(%d,%d,%d,%d,%g)", s, top, left, bottom, right, value),
		in:   []int{4},
		out:  out,
		f32:  func(o []float32, in [][]float32) { padFwd(o, in[0], n*c, h, w, top, left, oh, ow, float32(value)) },
		f64:  func(o []float64, in [][]float64) { padFwd(o, in[0], n*c, h, w, top, left, oh, ow, value) },
		wrt:  []bool{true},
	}
	k.grads = func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		gk := &kernel{
			name: fmt.Sprintf("PadGrad%v(%d,%d,%d,%d)", s, top, left, bottom, right),
			in:   []int{4},
			out:  s,
			f32:  func(o []float32, in [][]float32) { cropFwd(o, in[0], n*c, h, w, top, left, oh, ow) },
			f64:  func(o []float64, in [][]float64) { cropFwd(o, in[0], n*c, h, w, top, left, oh, ow) },
		}
		g, err := gk.apply(grad)
		return G.Nodes{g}, err
	}
	return k.apply(x)
}

func padFwd[T float32 | float64](out, x []T, planes, h, w, top, left, oh, ow int, v T) {
	for i := range out {
		out[i] = v
	}
	for p := 0; p < planes; p++ {
		for r := 0; r < h; r++ {
			copy(out[p*oh*ow+(r+top)*ow+left:], x[p*h*w+r*w:p*h*w+r*w+w])
		}
	}
}

func cropFwd[T float32 | float64](out, x []T, planes, h, w, top, left, oh, ow int) {
	for p := 0; p < planes; p++ {
		for r := 0; r < h; r++ {
			copy(out[p*h*w+r*w:p*h*w+r*w+w], x[p*oh*ow+(r+top)*ow+left:])
		}
	}
}
