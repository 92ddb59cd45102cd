package train

import (
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/pixel"
)

// Param is one trainable tensor seen as flat slices. Value and Grad alias the network's own
// storage: a Stepper writes Value in place, and Net.LossGrad overwrites Grad.
type Param struct {
	Name  string
	Value []float32
	Grad  []float32
}

// Net is a trainable classifier over flat inputs. internal/nn's Net satisfies it through a thin
// adapter; tests use small analytic models.
type Net interface {
	// Params lists the trainable tensors in a fixed order.
	Params() []Param
	// LossGrad computes the mean cross-entropy of the minibatch (len(labels) rows of x) and
	// writes its gradient into every Param.Grad.
	LossGrad(x []float32, labels []int) (float64, error)
	// Forward returns the logits, len(labels)×classes, row-major.
	Forward(x []float32) ([]float32, error)
}

// Set is the labelled image set the loop trains and evaluates on (fixtures.Set: N images of
// Rows×Cols raw 8-bit pixels).
type Set = fixtures.Set

// Data is what Loop trains on: a training set, a validation set (may be empty) and the pixel
// map x·Scale + Offset that turns a raw pixel into a network input.
type Data struct {
	Train, Val    Set
	Scale, Offset float32
}

// fill writes images idx of s, mapped by scale/offset, into x and their labels into y.
func fill(s Set, idx []int, scale, offset float32, x []float32, y []int) {
	d := s.Dim()
	for r, i := range idx {
		src := s.Images[i*d : (i+1)*d]
		dst := x[r*d : (r+1)*d]
		for j, p := range src {
			dst[j] = float32(p)*scale + offset
		}
		y[r] = int(s.Labels[i])
	}
}

// MNISTData is the loop's data from MNIST's one split (fixtures.MNIST.Split): the first trainN
// training-split images (≤ 0: all 55,000) and the first valN validation images (≤ 0: all 5,000),
// mapped by pp.
func MNISTData(m *fixtures.MNIST, trainN, valN int, pp pixel.Preprocess) (Data, error) {
	tr, val, err := m.Split(trainN)
	if err != nil {
		return Data{}, err
	}
	if valN > 0 {
		val = val.Slice(0, min(valN, val.N))
	}
	return Data{Train: *tr, Val: *val, Scale: pp.Scale, Offset: pp.Offset}, nil
}
