package gops

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// f32Tol bounds float32 gradients against the float64 run of the same net: a few thousand
// float32 roundings (relative 6e-8 each) through two conv layers stay well below 1e-3 of the
// gradient's scale.
const f32Tol = 1e-3

// TestFloat32MatchesFloat64 trains the zoo net one step in both dtypes from the same weights
// and data, reading float32 gradients through BindDualValues (as gorgonia's solvers do), and
// checks the loss and gradients agree and that repeated runs are bit-identical.
func TestFloat32MatchesFloat64(t *testing.T) {
	const batch = 8
	n64 := buildTrainNet(t, benchNets["zoo"], batch, tensor.Float64, rand.New(rand.NewPCG(5, 6)))
	n32 := buildTrainNet(t, benchNets["zoo"], batch, tensor.Float32, rand.New(rand.NewPCG(5, 6)))
	// Same draws in both nets, rounded to float32 in n32: copy them exactly into n64.
	copyTo64 := func(dst, src *gorgonia.Node) {
		d, s := dst.Value().Data().([]float64), src.Value().Data().([]float32)
		for i, v := range s {
			d[i] = float64(v)
		}
	}
	for i := range n32.params {
		copyTo64(n64.params[i], n32.params[i])
	}
	for _, name := range []string{"x", "y"} {
		copyTo64(n64.g.ByName(name)[0], n32.g.ByName(name)[0])
	}
	m64 := gorgonia.NewTapeMachine(n64.g)
	defer m64.Close()
	m32 := gorgonia.NewTapeMachine(n32.g, gorgonia.BindDualValues(n32.params...))
	defer m32.Close()
	if err := m64.RunAll(); err != nil {
		t.Fatal(err)
	}
	var first []float32
	for run := 0; run < 2; run++ {
		m32.Reset()
		for _, p := range n32.params { // solvers zero the derivatives after each step
			if g, err := p.Grad(); err == nil && g != nil {
				g.(tensor.Tensor).Zero()
			}
		}
		if err := m32.RunAll(); err != nil {
			t.Fatal(err)
		}
		l32, l64 := n32.cost.Value().Data().(float32), n64.cost.Value().Data().(float64)
		if math.Abs(float64(l32)-l64) > f32Tol*math.Max(1, math.Abs(l64)) {
			t.Errorf("loss float32 %v; float64 %v", l32, l64)
		}
		var all []float32
		for i, p := range n32.params {
			gv, err := p.Grad()
			if err != nil {
				t.Fatal(err)
			}
			g32 := gv.Data().([]float32)
			g64 := n64.grads[i].Value().Data().([]float64)
			scale := 0.0
			for _, v := range g64 {
				scale = math.Max(scale, math.Abs(v))
			}
			for j := range g64 {
				if math.Abs(float64(g32[j])-g64[j]) > f32Tol*scale {
					t.Fatalf("run %d: d loss/d %s[%d]: float32 %v; float64 %v (scale %v)", run, p.Name(), j, g32[j], g64[j], scale)
				}
			}
			all = append(all, g32...)
		}
		if run == 0 {
			first = all
			continue
		}
		for j := range all {
			if all[j] != first[j] {
				t.Fatalf("second run gradient [%d] = %v; first %v (want bit-identical)", j, all[j], first[j])
			}
		}
	}
}
