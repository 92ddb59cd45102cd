package bayes

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ar1 draws m chains of n values of x_t = φ·x_{t−1} + ε_t (stationary start), offset by
// shift·c for chain c. The integrated autocorrelation time of an AR(1) is (1+φ)/(1−φ).
func ar1(m, n int, phi, shift float64, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([][]float64, m)
	for c := range out {
		x := rng.NormFloat64() / math.Sqrt(1-phi*phi)
		for range n {
			x = phi*x + rng.NormFloat64()
			out[c] = append(out[c], x+shift*float64(c))
		}
	}
	return out
}

func TestRHatAndESSOnAR1(t *testing.T) {
	const m, n = 4, 5000
	for _, tc := range []struct {
		phi float64
		// essTol is relative: the ESS estimate's own spread at 20,000 draws is a few percent
		// for φ = 0 and about 10% for φ = 0.9 (the autocorrelation sum is noisier).
		essTol float64
	}{{0, 0.06}, {0.5, 0.08}, {0.9, 0.15}} {
		chains := ar1(m, n, tc.phi, 0, 3)
		r, err := RHat(chains)
		if err != nil {
			t.Fatal(err)
		}
		// Mixed chains of 2,500 (half) draws: R-hat exceeds 1 by O(τ/n), under 1% here.
		if r < 0.995 || r > 1.01 {
			t.Errorf("φ %g: R-hat %.4f; want ≈ 1 for chains from one stationary law", tc.phi, r)
		}
		ess, err := ESS(chains)
		if err != nil {
			t.Fatal(err)
		}
		want := m * n * (1 - tc.phi) / (1 + tc.phi)
		if math.Abs(ess-want) > tc.essTol*want {
			t.Errorf("φ %g: ESS %.0f; want %.0f ± %.0f%%", tc.phi, ess, want, 100*tc.essTol)
		}
	}
}

func TestRHatFlagsSeparatedChains(t *testing.T) {
	// Chains centred 0, 2, 4, 6 with unit noise, split into eight halves with means 0 0 2 2 4 4
	// 6 6: var⁺ ≈ 1 + 40/7 (their sample variance), so R-hat ≈ √(47/7) ≈ 2.59.
	r, err := RHat(ar1(4, 2000, 0, 2, 5))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r-math.Sqrt(47.0/7)) > 0.1 {
		t.Errorf("R-hat %.3f; want ≈ %.3f", r, math.Sqrt(47.0/7))
	}
	// A trend within one chain shows up between its halves.
	trend := make([]float64, 1000)
	for i := range trend {
		trend[i] = float64(i) / 100
	}
	if r, _ := RHat([][]float64{trend}); r < 2 {
		t.Errorf("R-hat of a trending chain %.3f; want ≫ 1", r)
	}
}

func TestRHatByHand(t *testing.T) {
	// Two chains of 4, split into [1 2] [3 4] [2 2] [4 6]: means 1.5 3.5 2 5, within variances
	// 0.5 0.5 0 2 → W = 0.75; B/n = sample variance of the means = 7.5/3 = 2.5;
	// var⁺ = W/2 + B/n = 2.875.
	r, err := RHat([][]float64{{1, 2, 3, 4}, {2, 2, 4, 6}})
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Sqrt(2.875 / 0.75); math.Abs(r-want) > 1e-12 {
		t.Errorf("R-hat %v; want %v", r, want)
	}
}

func TestDiagnosticsErrors(t *testing.T) {
	for _, c := range [][][]float64{nil, {{1, 2, 3}}, {{1, 2, 3, 4}, {1, 2, 3}}, {{1, 2, math.NaN(), 4}}} {
		if _, err := RHat(c); err == nil {
			t.Errorf("RHat(%v): no error", c)
		}
		if _, err := ESS(c); err == nil {
			t.Errorf("ESS(%v): no error", c)
		}
	}
}
