package nn

import (
	"fmt"
	"math"

	"github.com/uqnn/uqnn/internal/prob"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// softmaxRows writes softmax (or log-softmax when log is set) of each row of x ([rows, k]).
func softmaxRows[T float32 | float64](out, x []T, k int, log bool) {
	for r := 0; r+k <= len(x); r += k {
		row, o := x[r:r+k], out[r:r+k]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v - m))
		}
		if log {
			ls := T(math.Log(s))
			for j, v := range row {
				o[j] = v - m - ls
			}
			continue
		}
		for j, v := range row {
			o[j] = T(math.Exp(float64(v-m)) / s)
		}
	}
}

// softmaxBwd: for softmax dx = y·(g − Σ g·y); for log-softmax dx = g − exp(y)·Σ g.
func softmaxBwd[T float32 | float64](out, y, g []T, k int, log bool) {
	for r := 0; r+k <= len(y); r += k {
		yr, gr, o := y[r:r+k], g[r:r+k], out[r:r+k]
		var s T
		if log {
			for _, v := range gr {
				s += v
			}
			for j := range o {
				o[j] = gr[j] - T(math.Exp(float64(yr[j])))*s
			}
			continue
		}
		for j := range o {
			s += gr[j] * yr[j]
		}
		for j := range o {
			o[j] = yr[j] * (gr[j] - s)
		}
	}
}

// softmax applies Softmax or LogSoftmax over the last axis of x.
func softmax(x *G.Node, log bool) (*G.Node, error) {
	s := x.Shape().Clone()
	if len(s) == 0 {
		return nil, fmt.Errorf("softmax of a scalar")
	}
	k := s[len(s)-1]
	name := "Softmax"
	if log {
		name = "LogSoftmax"
	}
	op := &kernel{
		name: fmt.Sprintf("%s%v", name, s),
		in:   []int{len(s)},
		out:  s,
		f32:  func(o []float32, in [][]float32) { softmaxRows(o, in[0], k, log) },
		f64:  func(o []float64, in [][]float64) { softmaxRows(o, in[0], k, log) },
		wrt:  []bool{true},
	}
	op.grads = func(_ G.Nodes, out, grad *G.Node) (G.Nodes, error) {
		gk := &kernel{
			name: fmt.Sprintf("%sGrad%v", name, s),
			in:   []int{len(s), len(s)},
			out:  s,
			f32:  func(o []float32, in [][]float32) { softmaxBwd(o, in[0], in[1], k, log) },
			f64:  func(o []float64, in [][]float64) { softmaxBwd(o, in[0], in[1], k, log) },
		}
		n, err := gk.apply(out, grad)
		return G.Nodes{n}, err
	}
	return op.apply(x)
}

// crossEntropy is the mean softmax cross-entropy of logits [N,K] against *labels (read at run
// time, so the caller changes labels between steps without rebuilding the graph).
func crossEntropy(logits *G.Node, labels *[]int) (*G.Node, error) {
	s := logits.Shape().Clone()
	if len(s) != 2 {
		return nil, fmt.Errorf("cross-entropy: logits shape %v; want [batch, classes]", s)
	}
	n, k := s[0], s[1]
	op := &kernel{
		name: fmt.Sprintf("SoftmaxCrossEntropy%v", s),
		in:   []int{2},
		out:  nil,
		f32:  func(o []float32, in [][]float32) { o[0] = float32(ceLoss(in[0], *labels, n, k)) },
		f64:  func(o []float64, in [][]float64) { o[0] = ceLoss(in[0], *labels, n, k) },
		wrt:  []bool{true},
	}
	op.grads = func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		gk := &kernel{
			name: fmt.Sprintf("SoftmaxCrossEntropyGrad%v", s),
			in:   []int{2, 0},
			out:  s,
			f32:  func(o []float32, in [][]float32) { ceGrad(o, in[0], in[1][0], *labels, n, k) },
			f64:  func(o []float64, in [][]float64) { ceGrad(o, in[0], in[1][0], *labels, n, k) },
		}
		g, err := gk.apply(in[0], grad)
		return G.Nodes{g}, err
	}
	return op.apply(logits)
}

// ceLoss is mean over rows of logsumexp(z) − z[label], accumulated in float64.
func ceLoss[T float32 | float64](z []T, labels []int, n, k int) float64 {
	var total float64
	for r := 0; r < n; r++ {
		row := z[r*k : r*k+k]
		total += prob.LogSumExp(row) - float64(row[labels[r]])
	}
	return total / float64(n)
}

// ceGrad writes g·(softmax(z) − onehot(label))/N.
func ceGrad[T float32 | float64](out, z []T, g T, labels []int, n, k int) {
	softmaxRows(out, z, k, false)
	scale := g / T(n)
	for r := 0; r < n; r++ {
		out[r*k+labels[r]] -= 1
		for j := r * k; j < r*k+k; j++ {
			out[j] *= scale
		}
	}
}

// globalAvgPool averages each channel plane of an NCHW tensor to [N,C,1,1].
func globalAvgPool(x *G.Node) (*G.Node, error) {
	s := x.Shape().Clone()
	if len(s) != 4 {
		return nil, fmt.Errorf("shape %v; want rank 4 (NCHW)", s)
	}
	planes, hw := s[0]*s[1], s[2]*s[3]
	out := tensor.Shape{s[0], s[1], 1, 1}
	op := &kernel{
		name: fmt.Sprintf("GlobalAveragePool%v", s),
		in:   []int{4},
		out:  out,
		f32:  func(o []float32, in [][]float32) { gapFwd(o, in[0], planes, hw) },
		f64:  func(o []float64, in [][]float64) { gapFwd(o, in[0], planes, hw) },
		wrt:  []bool{true},
	}
	op.grads = func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		gk := &kernel{
			name: fmt.Sprintf("GlobalAveragePoolGrad%v", s),
			in:   []int{4},
			out:  s,
			f32:  func(o []float32, in [][]float32) { gapBwd(o, in[0], planes, hw) },
			f64:  func(o []float64, in [][]float64) { gapBwd(o, in[0], planes, hw) },
		}
		g, err := gk.apply(grad)
		return G.Nodes{g}, err
	}
	return op.apply(x)
}

func gapFwd[T float32 | float64](out, x []T, planes, hw int) {
	for p := 0; p < planes; p++ {
		var s T
		for _, v := range x[p*hw : p*hw+hw] {
			s += v
		}
		out[p] = s / T(hw)
	}
}

func gapBwd[T float32 | float64](out, g []T, planes, hw int) {
	for p := 0; p < planes; p++ {
		v := g[p] / T(hw)
		o := out[p*hw : p*hw+hw]
		for i := range o {
			o[i] = v
		}
	}
}
