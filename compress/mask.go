package compress

import (
	"fmt"
	"maps"
	"slices"

	"github.com/uqnn/uqnn/onnxio"
)

// Masks marks which weights survive pruning: initializer name → one entry per element of that
// initializer (row-major, as in Tensor.Float32), true where the weight is kept. An initializer
// without an entry is kept whole. Retraining (train.Fit) takes the same map and keeps the false
// entries exactly zero through every step.
type Masks map[string][]bool

// Clone returns a deep copy.
func (ms Masks) Clone() Masks {
	c := make(Masks, len(ms))
	for k, v := range ms {
		c[k] = slices.Clone(v)
	}
	return c
}

// Kept returns the number of true entries of name's mask and its length.
func (ms Masks) Kept(name string) (kept, total int) {
	for _, k := range ms[name] {
		if k {
			kept++
		}
	}
	return kept, len(ms[name])
}

// Names returns the masked initializers, sorted.
func (ms Masks) Names() []string { return slices.Sorted(maps.Keys(ms)) }

// Apply returns a copy of m with every masked-out weight set to exactly zero; m is unchanged.
// A mask that names a missing or non-float initializer, or whose length differs from the
// initializer's element count, is an error.
func Apply(m *onnxio.Model, ms Masks) (*onnxio.Model, error) {
	if err := ms.check(m); err != nil {
		return nil, err
	}
	c := m.Clone()
	for name, keep := range ms {
		w := c.Initializer(name).Float32
		for i, k := range keep {
			if !k {
				w[i] = 0
			}
		}
	}
	return c, nil
}

func (ms Masks) check(m *onnxio.Model) error {
	for _, name := range ms.Names() {
		t := m.Initializer(name)
		if t == nil {
			return fmt.Errorf("compress: mask for %q: the model has no such initializer", name)
		}
		if t.DType != onnxio.Float {
			return fmt.Errorf("compress: mask for %q: initializer is %v; want float32", name, t.DType)
		}
		if int64(len(ms[name])) != t.NumElements() {
			return fmt.Errorf("compress: mask for %q has %d entries; the initializer has dims %v (%d values)", name, len(ms[name]), t.Dims, t.NumElements())
		}
	}
	return nil
}

// NonZero returns the masks of the model's layers as they stand: true where a weight is not
// zero. It recovers the masks of a pruned model read back from a file.
func NonZero(m *onnxio.Model) (Masks, error) {
	ls, err := Layers(m)
	if err != nil {
		return nil, err
	}
	ms := Masks{}
	for _, l := range ls {
		w := m.Initializer(l.Weight).Float32
		k := make([]bool, len(w))
		for i, v := range w {
			k[i] = v != 0
		}
		ms[l.Weight] = k
	}
	return ms, nil
}

// PriorOf returns the masks a model brings to a new compression: its zeros (NonZero) when uqnn
// compressed it before (its metadata holds compression records), nil otherwise. Retraining it
// under them keeps what the earlier compression pruned, as a chain would.
func PriorOf(m *onnxio.Model) (Masks, error) {
	recs, err := Records(m)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return NonZero(m)
}

// Intersect returns a mask keeping what both a and b keep (an initializer missing from one is
// taken whole from the other).
func Intersect(a, b Masks) (Masks, error) {
	c := a.Clone()
	for name, kb := range b {
		ka, ok := c[name]
		if !ok {
			c[name] = slices.Clone(kb)
			continue
		}
		if len(ka) != len(kb) {
			return nil, fmt.Errorf("compress: masks for %q have %d and %d entries; want equal lengths", name, len(ka), len(kb))
		}
		for i := range ka {
			ka[i] = ka[i] && kb[i]
		}
	}
	return c, nil
}
