package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"github.com/uqnn/uqnn/onnxio"
)

// clipFn limits x to [lo, hi]; the gradient passes where lo ≤ x ≤ hi (PyTorch's clamp).
func clipFn(lo, hi float64) unaryFn {
	return unaryFn{clipKind, lo, hi, fmt.Sprintf("Clip(%g,%g)", lo, hi), func(x float64) float64 {
		return min(max(x, lo), hi)
	}, func(x, _ float64) float64 {
		if x < lo || x > hi {
			return 0
		}
		return 1
	}}
}

// eluFn is x for x > 0 and α(eˣ−1) otherwise; its derivative there is y+α.
func eluFn(alpha float64) unaryFn {
	return unaryFn{eluKind, alpha, 0, fmt.Sprintf("Elu(%g)", alpha), func(x float64) float64 {
		if x > 0 {
			return x
		}
		return alpha * math.Expm1(x)
	}, func(x, y float64) float64 {
		if x > 0 {
			return 1
		}
		return y + alpha
	}}
}

// softplusFn is log(1+eˣ), computed as max(x,0)+log1p(e^−|x|) so that it neither overflows
// nor loses the small values; its derivative is the logistic sigmoid.
func softplusFn() unaryFn {
	sig := sigmoidFn().f
	return unaryFn{generic, 0, 0, "Softplus", func(x float64) float64 {
		return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
	}, func(x, _ float64) float64 { return sig(x) }}
}

// clip builds Clip: the bounds are the min and max attributes before opset 11 and the
// optional constant inputs 1 and 2 from opset 11 on; a missing bound is unbounded.
func (b *builder) clip(n *onnxio.Node) (*G.Node, error) {
	lo, hi := math.Inf(-1), math.Inf(1)
	if b.opset(n) < 11 {
		lo = float64(n.Float("min", float32(math.Inf(-1))))
		hi = float64(n.Float("max", float32(math.Inf(1))))
	} else {
		for i, bound := range []*float64{&lo, &hi} {
			if len(n.Inputs) <= i+1 || n.Inputs[i+1] == "" {
				continue
			}
			v, err := b.constFloats(n, i+1)
			if err != nil {
				return nil, err
			}
			if len(v) != 1 {
				return nil, b.errorf(n, onnxio.ErrInvalidModel, "bound %q has %d values; want a scalar", n.Inputs[i+1], len(v))
			}
			*bound = float64(v[0])
		}
	}
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return nil, b.errorf(n, onnxio.ErrUnsupported, "bounds min %g, max %g; want numbers", lo, hi)
	}
	return b.unaryNode(n, clipFn(lo, hi))
}
