package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
)

type unaryKind int

const (
	leaky unaryKind = iota
	tanhKind
	sigmoidKind
	clipKind
	eluKind
	generic // f and df, through float64
)

// unaryFn is an elementwise activation: f maps x to y, df gives dy/dx from x and y.
type unaryFn struct {
	kind  unaryKind
	alpha float64 // LeakyRelu slope, Elu scale, Clip lower bound
	beta  float64 // Clip upper bound
	name  string
	f     func(x float64) float64
	df    func(x, y float64) float64
}

func leakyReluFn(alpha float64) unaryFn {
	return unaryFn{leaky, alpha, 0, fmt.Sprintf("LeakyRelu(%g)", alpha), func(x float64) float64 {
		if x >= 0 {
			return x
		}
		return alpha * x
	}, func(x, _ float64) float64 {
		if x >= 0 {
			return 1
		}
		return alpha
	}}
}

func tanhFn() unaryFn {
	return unaryFn{tanhKind, 0, 0, "Tanh", math.Tanh, func(_, y float64) float64 { return 1 - y*y }}
}

func sigmoidFn() unaryFn {
	return unaryFn{sigmoidKind, 0, 0, "Sigmoid", func(x float64) float64 {
		if x >= 0 {
			return 1 / (1 + math.Exp(-x))
		}
		e := math.Exp(x)
		return e / (1 + e)
	}, func(_, y float64) float64 { return y * (1 - y) }}
}

func unaryFwd[T float32 | float64](fn unaryFn, out, x []T) {
	out = out[:len(x)]
	switch fn.kind {
	case leaky:
		a := T(fn.alpha)
		for i, v := range x {
			if v < 0 {
				v *= a
			}
			out[i] = v
		}
	case tanhKind:
		for i, v := range x {
			out[i] = T(math.Tanh(float64(v)))
		}
	case clipKind:
		lo, hi := T(fn.alpha), T(fn.beta)
		for i, v := range x {
			out[i] = min(max(v, lo), hi)
		}
	case eluKind:
		a := fn.alpha
		for i, v := range x {
			if v <= 0 {
				v = T(a * math.Expm1(float64(v)))
			}
			out[i] = v
		}
	default:
		for i, v := range x {
			out[i] = T(fn.f(float64(v)))
		}
	}
}

func unaryBwd[T float32 | float64](fn unaryFn, out, x, y, g []T) {
	out, y, g = out[:len(x)], y[:len(x)], g[:len(x)]
	switch fn.kind {
	case leaky:
		a := T(fn.alpha)
		for i, v := range x {
			d := g[i]
			if v < 0 {
				d *= a
			}
			out[i] = d
		}
	case tanhKind:
		for i, v := range y {
			out[i] = g[i] * (1 - v*v)
		}
	case sigmoidKind:
		for i, v := range y {
			out[i] = g[i] * v * (1 - v)
		}
	case clipKind:
		lo, hi := T(fn.alpha), T(fn.beta)
		for i, v := range x {
			d := g[i]
			if v < lo || v > hi {
				d = 0
			}
			out[i] = d
		}
	case eluKind:
		a := T(fn.alpha)
		for i, v := range x {
			d := g[i]
			if v <= 0 {
				d *= y[i] + a
			}
			out[i] = d
		}
	default:
		for i := range x {
			out[i] = g[i] * T(fn.df(float64(x[i]), float64(y[i])))
		}
	}
}

// unary applies an elementwise activation.
func unary(fn unaryFn, x *G.Node) (*G.Node, error) {
	s := x.Shape().Clone()
	k := &kernel{
		name: fmt.Sprintf("%s%v", fn.name, s),
		in:   []int{len(s)},
		out:  s,
		f32:  func(o []float32, in [][]float32) { unaryFwd(fn, o, in[0]) },
		f64:  func(o []float64, in [][]float64) { unaryFwd(fn, o, in[0]) },
		wrt:  []bool{true},
	}
	k.grads = func(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
		gk := &kernel{
			name: fmt.Sprintf("%sGrad%v", fn.name, s),
			in:   []int{len(s), len(s), len(s)},
			out:  s,
			f32:  func(o []float32, in [][]float32) { unaryBwd(fn, o, in[0], in[1], in[2]) },
			f64:  func(o []float64, in [][]float64) { unaryBwd(fn, o, in[0], in[1], in[2]) },
		}
		n, err := gk.apply(in[0], out, grad)
		return G.Nodes{n}, err
	}
	return k.apply(x)
}
