package train

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// softmaxReg is multinomial logistic regression, logits = W·x + b, with its analytic gradient:
// a stand-in for internal/nn's Net whose loss and gradient are known in closed form.
type softmaxReg struct {
	d, k   int
	w, b   []float32
	gw, gb []float32
	// seen, when set, is called with every training minibatch.
	seen func(x []float32, labels []int)
	// batch, when set, is the only number of rows Forward and LossGrad accept, as for an
	// internal/nn Net.
	batch int
}

func newSoftmaxReg(d, k int, rng *rand.Rand) *softmaxReg {
	m := &softmaxReg{d: d, k: k, w: make([]float32, d*k), b: make([]float32, k), gw: make([]float32, d*k), gb: make([]float32, k)}
	for i := range m.w {
		m.w[i] = float32(rng.NormFloat64() * 0.01)
	}
	return m
}

func (m *softmaxReg) Params() []Param {
	return []Param{{Name: "W", Value: m.w, Grad: m.gw}, {Name: "b", Value: m.b, Grad: m.gb}}
}

func (m *softmaxReg) Forward(x []float32) ([]float32, error) {
	n := len(x) / m.d
	if m.batch > 0 && n != m.batch {
		return nil, fmt.Errorf("softmaxReg: %d rows; want %d", n, m.batch)
	}
	out := make([]float32, n*m.k)
	for r := 0; r < n; r++ {
		for c := 0; c < m.k; c++ {
			s := m.b[c]
			for j := 0; j < m.d; j++ {
				s += m.w[c*m.d+j] * x[r*m.d+j]
			}
			out[r*m.k+c] = s
		}
	}
	return out, nil
}

func (m *softmaxReg) LossGrad(x []float32, labels []int) (float64, error) {
	if len(x) != len(labels)*m.d {
		return 0, fmt.Errorf("softmaxReg: %d inputs for %d labels of %d", len(x), len(labels), m.d)
	}
	if m.batch > 0 && len(labels) != m.batch {
		return 0, fmt.Errorf("softmaxReg: %d labels; want %d", len(labels), m.batch)
	}
	if m.seen != nil {
		m.seen(x, labels)
	}
	z, _ := m.Forward(x)
	clear(m.gw)
	clear(m.gb)
	n := len(labels)
	var loss float64
	p := make([]float64, m.k)
	for r := 0; r < n; r++ {
		row := z[r*m.k : (r+1)*m.k]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for c, v := range row {
			p[c] = math.Exp(float64(v) - mx)
			s += p[c]
		}
		loss += mx + math.Log(s) - float64(row[labels[r]])
		for c := range p {
			g := p[c] / s
			if c == labels[r] {
				g--
			}
			g /= float64(n)
			m.gb[c] += float32(g)
			for j := 0; j < m.d; j++ {
				m.gw[c*m.d+j] += float32(g) * x[r*m.d+j]
			}
		}
	}
	return loss / float64(n), nil
}

// blobs makes n images of d pixels in k classes: class c lights pixels c·d/k … (c+1)·d/k−1
// brighter than the rest, with noise, so a linear model separates them well but not trivially.
func blobs(n, d, k int, rng *rand.Rand) Set {
	s := Set{Images: make([]uint8, n*d), Labels: make([]uint8, n), N: n, Rows: 1, Cols: d}
	for i := 0; i < n; i++ {
		c := rng.IntN(k)
		s.Labels[i] = uint8(c)
		for j := 0; j < d; j++ {
			v := 60 + rng.NormFloat64()*50
			if j*k/d == c {
				v += 60
			}
			s.Images[i*d+j] = uint8(math.Max(0, math.Min(255, v)))
		}
	}
	return s
}
