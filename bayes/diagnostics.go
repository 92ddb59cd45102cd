package bayes

import (
	"fmt"
	"math"
)

// Convergence diagnostics of scalar draws from several chains (Gelman et al., Bayesian Data
// Analysis, 3rd ed., §11.4–11.5): chains[c][i] is draw i of chain c; every chain must have the
// same length. Both split each chain in halves first, so a trend within a chain shows up as
// disagreement between its halves.

// RHat is the split potential scale reduction factor: √(var⁺/W), var⁺ = (n−1)/n·W + B/n over
// the 2m half-chains of length n, W the mean within-half variance and B/n the variance of their
// means. It approaches 1 as the chains mix; values above about 1.01–1.1 say they have not.
func RHat(chains [][]float64) (float64, error) {
	halves, err := splitChains(chains)
	if err != nil {
		return 0, err
	}
	varPlus, w, _ := pooled(halves)
	if w == 0 {
		if varPlus == 0 {
			return 1, nil
		}
		return math.Inf(1), nil
	}
	return math.Sqrt(varPlus / w), nil
}

// ESS is the effective sample size m·n/τ of the split chains, τ = 1 + 2Σρₜ with the
// autocorrelations ρₜ = 1 − Vₜ/(2·var⁺) from the variogram Vₜ (BDA3 eq. 11.7), summed in
// Geyer's initial positive sequence of pairs (ρ₂ₖ + ρ₂ₖ₊₁ > 0).
func ESS(chains [][]float64) (float64, error) {
	halves, err := splitChains(chains)
	if err != nil {
		return 0, err
	}
	m, n := len(halves), len(halves[0])
	varPlus, _, _ := pooled(halves)
	if varPlus == 0 {
		return float64(m * n), nil
	}
	rho := func(t int) float64 {
		var v float64
		for _, c := range halves {
			for i := t; i < n; i++ {
				d := c[i] - c[i-t]
				v += d * d
			}
		}
		v /= float64(m * (n - t))
		return 1 - v/(2*varPlus)
	}
	tau := -1.0 // −ρ₀ + 2·Σ pairs, with ρ₀ = 1 counted in the first pair
	for k := 0; 2*k+1 < n; k++ {
		p := rho(2 * k)
		if 2*k == 0 {
			p = 1
		}
		p += rho(2*k + 1)
		if p <= 0 {
			break
		}
		tau += 2 * p
	}
	tau = max(tau, 1/math.Log10(float64(m*n)+10)) // Stan's bound against super-efficiency blow-up
	return float64(m*n) / tau, nil
}

func splitChains(chains [][]float64) ([][]float64, error) {
	if len(chains) < 1 {
		return nil, fmt.Errorf("bayes: convergence diagnostics: no chains")
	}
	n := len(chains[0])
	if n < 4 {
		return nil, fmt.Errorf("bayes: convergence diagnostics: chains of %d draws; want at least 4", n)
	}
	var out [][]float64
	for c, ch := range chains {
		if len(ch) != n {
			return nil, fmt.Errorf("bayes: convergence diagnostics: chain %d has %d draws, chain 0 %d; want equal lengths", c, len(ch), n)
		}
		for i, v := range ch {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("bayes: convergence diagnostics: chain %d draw %d is %v", c, i, v)
			}
		}
		h := n / 2
		out = append(out, ch[:h], ch[n-h:]) // an odd middle draw is dropped
	}
	return out, nil
}

// pooled returns var⁺, W and B/n of equal-length chains.
func pooled(chains [][]float64) (varPlus, w, bn float64) {
	m, n := float64(len(chains)), float64(len(chains[0]))
	means := make([]float64, len(chains))
	var grand float64
	for c, ch := range chains {
		var s float64
		for _, v := range ch {
			s += v
		}
		means[c] = s / n
		grand += means[c] / m
	}
	for c, ch := range chains {
		var s float64
		for _, v := range ch {
			d := v - means[c]
			s += d * d
		}
		w += s / (n - 1) / m
		d := means[c] - grand
		bn += d * d
	}
	if m > 1 {
		bn /= m - 1
	} else {
		bn = 0
	}
	return (n-1)/n*w + bn, w, bn
}
