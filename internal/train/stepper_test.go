package train

import (
	"context"
	"math"
	"testing"
)

// stepTol bounds the difference between a float32 step and its float64 hand computation: a few
// float32 ulps at magnitude ~2.
const stepTol = 1e-6

func TestSteppersAgainstHandComputedSteps(t *testing.T) {
	// Two parameters starting at (1, −2), lr 0.1, gradients (0.5, −2) then (0.25, 1). The
	// wants are the published update rules evaluated by hand in float64:
	// Adam step 1 moves each parameter by lr·g/(|g|+ε) (bias correction makes m̂ = g, v̂ = g²);
	// step 2: m = (0.07, −0.08), v = (3.1225e-4, 4.996e-3), m̂ = m/0.19, v̂ = v/0.001999.
	grads := [][2]float32{{0.5, -2}, {0.25, 1}}
	tests := []struct {
		name  string
		st    Stepper
		decay float64      // L2Prior
		want  [][2]float64 // after each step
	}{
		{"adam", &Adam{}, 0, [][2]float64{{0.900000002, -1.9000000005}, {0.8067820404774624, -1.8733662967024316}}},
		// SGD, momentum 0.9, weight decay 0.01: g' = g + 0.01θ; v = 0.9v + g'; θ −= 0.1v.
		{"sgd-momentum-wd", &SGD{Momentum: 0.9}, 0.01, [][2]float64{{0.949, -1.798}, {0.877151, -1.714402}}},
		{"sgd-plain", &SGD{}, 0, [][2]float64{{0.95, -1.8}, {0.925, -1.9}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := []Param{{Name: "theta", Value: []float32{1, -2}, Grad: make([]float32, 2)}}
			if err := tc.st.Init(p); err != nil {
				t.Fatal(err)
			}
			for k, g := range grads {
				copy(p[0].Grad, g[:])
				if h := L2Prior(tc.decay); h.AfterGrad != nil {
					h.AfterGrad(context.Background(), &State{Params: p})
				}
				if err := tc.st.Step(p, StepInfo{Step: k, LR: 0.1}); err != nil {
					t.Fatal(err)
				}
				for i := range 2 {
					if got, want := float64(p[0].Value[i]), tc.want[k][i]; math.Abs(got-want) > stepTol {
						t.Errorf("step %d θ[%d] = %.9g; want %.9g", k+1, i, got, want)
					}
				}
			}
		})
	}
}

func TestStepperStateRoundTrip(t *testing.T) {
	// A stepper restored from its marshalled state takes exactly the step the original takes.
	for _, mk := range []func() Stepper{
		func() Stepper { return &Adam{Beta1: 0.8} },
		func() Stepper { return &SGD{Momentum: 0.9} },
	} {
		a, b := mk(), mk()
		pa := []Param{{Name: "w", Value: []float32{0.3, -0.7, 1.1}, Grad: []float32{0.2, -0.1, 0.4}}}
		a.Init(pa)
		for k := range 3 {
			a.Step(pa, StepInfo{Step: k, LR: 0.01})
		}
		st, err := a.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		pb := []Param{{Name: "w", Value: append([]float32(nil), pa[0].Value...), Grad: pa[0].Grad}}
		b.Init(pb)
		if err := b.UnmarshalState(st); err != nil {
			t.Fatal(err)
		}
		a.Step(pa, StepInfo{Step: 3, LR: 0.01})
		b.Step(pb, StepInfo{Step: 3, LR: 0.01})
		for i := range pa[0].Value {
			if pa[0].Value[i] != pb[0].Value[i] {
				t.Errorf("%T: after restore θ[%d] = %v; want %v", a, i, pb[0].Value[i], pa[0].Value[i])
			}
		}
		if err := b.UnmarshalState(st[:len(st)-1]); err == nil {
			t.Errorf("%T: truncated state accepted", a)
		}
	}
}

func TestSchedules(t *testing.T) {
	const tol = 1e-12 // exact arithmetic apart from cos rounding
	tests := []struct {
		name        string
		s           Schedule
		step, total int
		want        float64
	}{
		{"cosine start", Cosine(0.1), 0, 101, 1},
		{"cosine middle", Cosine(0.1), 50, 101, 0.55},
		{"cosine end", Cosine(0.1), 100, 101, 0.1},
		{"step decay before", StepDecay(10, 0.5), 9, 100, 1},
		{"step decay after two", StepDecay(10, 0.5), 25, 100, 0.25},
	}
	for _, tc := range tests {
		if got := tc.s(tc.step, tc.total); math.Abs(got-tc.want) > tol {
			t.Errorf("%s: schedule(%d, %d) = %v; want %v", tc.name, tc.step, tc.total, got, tc.want)
		}
	}
}

func TestFakeNetGradient(t *testing.T) {
	// The analytic gradient of the test model against central finite differences in float64
	// arithmetic over float32 parameters: h = 1e-2 keeps the float32 rounding of the loss
	// (~1e-7 relative) well below the O(h²) truncation, which bounds the error near 1e-4.
	const h, tol = 1e-2, 2e-3
	net := fakeNet()
	data := fakeData(t)
	x := make([]float32, 8*fakeDim)
	y := make([]int, 8)
	fill(data.Train, []int{0, 1, 2, 3, 4, 5, 6, 7}, data.Scale, 0, x, y)
	if _, err := net.LossGrad(x, y); err != nil {
		t.Fatal(err)
	}
	for _, p := range net.Params() {
		g := append([]float32(nil), p.Grad...)
		for _, i := range []int{0, 1, len(p.Value) / 2, len(p.Value) - 1} {
			v := p.Value[i]
			p.Value[i] = v + h
			lp, _ := net.LossGrad(x, y)
			p.Value[i] = v - h
			lm, _ := net.LossGrad(x, y)
			p.Value[i] = v
			if fd := (lp - lm) / (2 * h); math.Abs(fd-float64(g[i])) > tol {
				t.Errorf("%s[%d]: analytic %v; finite difference %v", p.Name, i, g[i], fd)
			}
		}
	}
}
