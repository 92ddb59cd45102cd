package train

import (
	"fmt"

	"github.com/uqnn/uqnn/internal/nn"
)

// nnNet adapts a float32 *nn.Net to Net. The parameter values are the graph's own tensors;
// the gradients are copied after each LossGrad into buffers the adapter owns, so Param.Grad
// stays valid however the graph manages its gradient storage (and hooks may edit it).
type nnNet struct {
	n      *nn.Net
	src    []*nn.Param
	params []Param
}

// NN adapts n, which must be a float32 Net, to the Net this package trains.
func NN(n *nn.Net) (Net, error) {
	a := &nnNet{n: n, src: n.Params()}
	for _, p := range a.src {
		v := p.Value32()
		if v == nil {
			return nil, fmt.Errorf("train: parameter %q is not float32; build the nn.Net without Float64", p.Name)
		}
		a.params = append(a.params, Param{Name: p.Name, Value: v, Grad: make([]float32, len(v))})
	}
	return a, nil
}

func (a *nnNet) Params() []Param { return a.params }

func (a *nnNet) Forward(x []float32) ([]float32, error) { return a.n.Forward(x) }

func (a *nnNet) LossGrad(x []float32, labels []int) (float64, error) {
	loss, err := a.n.LossGrad(x, labels)
	if err != nil {
		return 0, err
	}
	for i, p := range a.src {
		g := p.Grad32()
		if len(g) != len(a.params[i].Grad) {
			return 0, fmt.Errorf("train: parameter %q: %d gradients after LossGrad; want %d", p.Name, len(g), len(a.params[i].Grad))
		}
		copy(a.params[i].Grad, g)
	}
	return loss, nil
}
