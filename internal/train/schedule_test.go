package train

import (
	"context"
	"math"
	"testing"
)

// paperStep is eq. 1 of Zhang, Li, Zhang, Chen & Wilson (ICLR 2020) written out for the
// 1-based step k of K in M cycles: α_k = α0/2·(cos(π·mod(k−1, ⌈K/M⌉)/⌈K/M⌉) + 1).
func paperStep(a0 float64, k, K, M int) float64 {
	L := (K + M - 1) / M
	return a0 / 2 * (math.Cos(math.Pi*float64((k-1)%L)/float64(L)) + 1)
}

func TestCyclicalMatchesPaper(t *testing.T) {
	const tol = 1e-15 // the same arithmetic up to one multiplication's rounding
	// By hand for K = 12, M = 3 (L = 4): ½(cos(π·r/4) + 1) for r = 0, 1, 2, 3.
	hand := []float64{1, (math.Sqrt2/2 + 1) / 2, 0.5, (1 - math.Sqrt2/2) / 2}
	s := Cyclical(4)
	for k := 1; k <= 12; k++ {
		if got, want := s(k-1, 12), hand[(k-1)%4]; math.Abs(got-want) > tol {
			t.Errorf("K 12, M 3: α_%d = %v; want %v", k, got, want)
		}
	}
	for _, tc := range []struct{ K, M int }{{12, 3}, {10, 3}, {859 * 20, 20}, {1000, 7}, {5, 5}} {
		L := (tc.K + tc.M - 1) / tc.M
		s := Cyclical(L)
		for k := 1; k <= tc.K; k++ {
			if got, want := 3e-4*s(k-1, tc.K), paperStep(3e-4, k, tc.K, tc.M); math.Abs(got-want) > tol*3e-4 {
				t.Fatalf("K %d, M %d: h_%d = %v; want %v", tc.K, tc.M, k, got, want)
			}
		}
	}
}

func TestCyclicalExploreStages(t *testing.T) {
	// L = 4, β = 0.5: positions r/L = 0, 0.25 explore; 0.5, 0.75 sample; again each cycle.
	e := CyclicalExplore(4, 0.5)
	for k := 1; k <= 12; k++ {
		if got, want := e(k-1, 12), (k-1)%4 < 2; got != want {
			t.Errorf("β 0.5, L 4: step %d explores %v; want %v", k, got, want)
		}
	}
	// β = 0: every step samples; β = 0.8 of L = 10: the first 8 steps of each cycle explore.
	for k := range 30 {
		if CyclicalExplore(10, 0)(k, 30) {
			t.Errorf("β 0: step %d explores", k+1)
		}
		if got, want := CyclicalExplore(10, 0.8)(k, 30), k%10 < 8; got != want {
			t.Errorf("β 0.8, L 10: step %d explores %v; want %v", k+1, got, want)
		}
	}
}

// stageRecorder is an SGD that records the rate and stage the loop hands it.
type stageRecorder struct {
	SGD
	lr      []float64
	explore []bool
}

func (s *stageRecorder) Step(p []Param, info StepInfo) error {
	s.lr = append(s.lr, info.LR)
	s.explore = append(s.explore, info.Explore)
	return s.SGD.Step(p, info)
}

func TestLoopHandsCyclicalStages(t *testing.T) {
	// 1,000 images at batch 100: 10 steps an epoch, 2 epochs, cycles of 6 steps (crossing the
	// epoch's end), β = 0.5.
	st := &stageRecorder{}
	cfg := Config{Epochs: 2, Batch: 100, LR: 0.1, Seed: 1, EvalTrain: -1, Schedule: Cyclical(6), Explore: CyclicalExplore(6, 0.5)}
	if _, err := Loop(context.Background(), fakeNet(), fakeData(t), st, cfg); err != nil {
		t.Fatal(err)
	}
	if len(st.lr) != 20 {
		t.Fatalf("%d steps; want 20", len(st.lr))
	}
	for k := 1; k <= 20; k++ {
		if got, want := st.lr[k-1], paperStep(0.1, k, 24, 4); math.Abs(got-want) > 1e-15 {
			t.Errorf("step %d: LR %v; want %v", k, got, want)
		}
		if got, want := st.explore[k-1], (k-1)%6 < 3; got != want {
			t.Errorf("step %d: Explore %v; want %v", k, got, want)
		}
	}
}
