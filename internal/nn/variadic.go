package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/uqnn/uqnn/onnxio"
)

// sumMean builds Sum and Mean: the inputs added with numpy broadcasting, in order (so float
// rounding matches a left fold), and divided by their count for Mean.
func (b *builder) sumMean(n *onnxio.Node) (*G.Node, error) {
	if len(n.Inputs) == 0 {
		return nil, b.errorf(n, onnxio.ErrInvalidModel, "no inputs; want at least one")
	}
	y, err := b.value(n, 0)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(n.Inputs); i++ {
		x, err := b.value(n, i)
		if err != nil {
			return nil, err
		}
		if y, err = broadcastOp('+', y, x); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "input %d: %v", i, err)
		}
	}
	if n.Op == "Mean" && len(n.Inputs) > 1 {
		k := b.constNode(fmt.Sprintf("%s:count", n.Name), []float32{float32(len(n.Inputs))}, 1)
		if y, err = broadcastOp('/', y, k); err != nil {
			return nil, b.errorf(n, onnxio.ErrUnsupported, "%v", err)
		}
	}
	return y, nil
}
