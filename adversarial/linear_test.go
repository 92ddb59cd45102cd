package adversarial

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/uqnn/uqnn/internal/prob"
)

// linearModel is an analytic classifier for tests: softmax(W·(raw/255) + b). It records how
// many images it evaluated and, when keep is set, every image it saw.
type linearModel struct {
	w       [][]float64 // classes × d
	b       []float64
	calls   atomic.Int64
	images  atomic.Int64
	keep    bool
	mu      sync.Mutex
	seen    [][]float32 // raw images, when keep
	corrupt func([]float32)
}

func newLinearModel(seed uint64, classes, d int) *linearModel {
	rng := rand.New(rand.NewPCG(seed, 0))
	m := &linearModel{w: make([][]float64, classes), b: make([]float64, classes)}
	for k := range m.w {
		m.w[k] = make([]float64, d)
		for j := range m.w[k] {
			m.w[k][j] = rng.NormFloat64()
		}
	}
	return m
}

func (m *linearModel) Classes() int { return len(m.w) }

func (m *linearModel) Probs(ctx context.Context, raw []float32, n int) ([]float32, error) {
	m.calls.Add(1)
	m.images.Add(int64(n))
	d := len(raw) / n
	out := make([]float32, 0, n*len(m.w))
	for i := range n {
		img := raw[i*d : (i+1)*d]
		if m.keep {
			m.mu.Lock()
			m.seen = append(m.seen, append([]float32(nil), img...))
			m.mu.Unlock()
		}
		out = append(out, m.probs(img)...)
	}
	if m.corrupt != nil {
		m.corrupt(out)
	}
	return out, nil
}

// probs is the exact softmax in float64, rounded to float32 at the end.
func (m *linearModel) probs(raw []float32) []float32 {
	z := make([]float64, len(m.w))
	mx := math.Inf(-1)
	for k, w := range m.w {
		z[k] = m.b[k]
		for j, v := range raw {
			z[k] += w[j] * float64(v) / 255
		}
		mx = math.Max(mx, z[k])
	}
	var s float64
	for k := range z {
		z[k] = math.Exp(z[k] - mx)
		s += z[k]
	}
	p := make([]float32, len(z))
	for k := range z {
		p[k] = float32(z[k] / s)
	}
	return p
}

// predict is the class the model gives to a 0..1 image.
func (m *linearModel) predict(img []float32) int {
	raw := make([]float32, len(img))
	for i, v := range img {
		raw[i] = v * 255
	}
	return prob.Argmax(m.probs(raw))
}

// gridImage is a deterministic 0..1 image on the 1/255 grid.
func gridImage(seed uint64, d int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, d)
	for i := range x {
		x[i] = float32(rng.IntN(256)) / 255
	}
	return x
}
