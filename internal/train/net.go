package train

import "fmt"

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

// Set is a labelled image set: N images of Dim raw 8-bit pixels each, row-major.
type Set struct {
	Images []uint8
	Labels []uint8
	N      int
	Dim    int
}

func (s Set) check(name string) error {
	if s.N < 0 || s.Dim <= 0 {
		return fmt.Errorf("train: %s set: N=%d Dim=%d; want N ≥ 0 and Dim > 0", name, s.N, s.Dim)
	}
	if len(s.Images) != s.N*s.Dim {
		return fmt.Errorf("train: %s set: %d pixels; want N·Dim = %d·%d = %d", name, len(s.Images), s.N, s.Dim, s.N*s.Dim)
	}
	if len(s.Labels) != s.N {
		return fmt.Errorf("train: %s set: %d labels; want N = %d", name, len(s.Labels), s.N)
	}
	return nil
}

// Data is what Loop trains on: a training set, a validation set (may be empty) and the pixel
// map x·Scale + Offset that turns a raw pixel into a network input.
type Data struct {
	Train, Val    Set
	Scale, Offset float32
}

// Split returns the first n−val images of s as the training set and the last val as the
// validation set (sharing storage). val ≤ 0 gives an empty validation set.
func Split(s Set, val int) (trainSet, valSet Set, err error) {
	if err := s.check("input"); err != nil {
		return Set{}, Set{}, err
	}
	if val < 0 {
		val = 0
	}
	if val >= s.N {
		return Set{}, Set{}, fmt.Errorf("train: validation split of %d images leaves nothing to train on from %d", val, s.N)
	}
	k := s.N - val
	trainSet = Set{Images: s.Images[:k*s.Dim], Labels: s.Labels[:k], N: k, Dim: s.Dim}
	valSet = Set{Images: s.Images[k*s.Dim:], Labels: s.Labels[k:], N: val, Dim: s.Dim}
	return trainSet, valSet, nil
}

// fill writes images idx of s, mapped by scale/offset, into x and their labels into y.
func fill(s Set, idx []int, scale, offset float32, x []float32, y []int) {
	for r, i := range idx {
		src := s.Images[i*s.Dim : (i+1)*s.Dim]
		dst := x[r*s.Dim : (r+1)*s.Dim]
		for j, p := range src {
			dst[j] = float32(p)*scale + offset
		}
		y[r] = int(s.Labels[i])
	}
}
