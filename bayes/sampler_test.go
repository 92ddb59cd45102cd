package bayes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/uqnn/uqnn/internal/train"
)

// The analytic reference: Bayesian linear regression y = f·w + ε, ε ~ N(0, s²), prior
// w ~ N(0, σ²·I). The posterior is Gaussian with precision A = FᵀF/s² + I/σ² and mean
// μ = A⁻¹Fᵀy/s²; tempered to exp(−U/T) its covariance is T·A⁻¹ and its mean stays μ.
const (
	regN     = 256 // training points (indices fit two pixel bytes)
	regD     = 3   // bias and two correlated features
	regNoise = 1.0 // s
	regPrior = 1.0 // σ
)

// linReg is a train.Net whose "images" are two bytes holding an index into its own data: its
// LossGrad is the mean Gaussian negative log-likelihood of the indexed points and its gradient.
type linReg struct {
	f    [][regD]float64
	y    []float64
	w, g []float32
}

func newLinReg() *linReg {
	rng := rand.New(rand.NewPCG(11, 12))
	m := &linReg{w: make([]float32, regD), g: make([]float32, regD)}
	truth := [regD]float64{0.5, -1, 2}
	for range regN {
		x1 := rng.NormFloat64()
		x2 := 0.5*x1 + 0.85*rng.NormFloat64() // correlated features give a correlated posterior
		f := [regD]float64{1, x1, x2}
		y := regNoise * rng.NormFloat64()
		for j := range regD {
			y += truth[j] * f[j]
		}
		m.f = append(m.f, f)
		m.y = append(m.y, y)
	}
	return m
}

func (m *linReg) Params() []train.Param {
	return []train.Param{{Name: "w", Value: m.w, Grad: m.g}}
}

func (m *linReg) LossGrad(x []float32, labels []int) (float64, error) {
	if len(x) != 2*len(labels) {
		return 0, fmt.Errorf("linReg: %d inputs for %d rows", len(x), len(labels))
	}
	var loss float64
	var g [regD]float64
	for r := range labels {
		i := int(x[2*r])*256 + int(x[2*r+1])
		f := m.f[i]
		res := m.y[i]
		for j := range regD {
			res -= f[j] * float64(m.w[j])
		}
		loss += res*res/(2*regNoise*regNoise) + 0.5*math.Log(2*math.Pi*regNoise*regNoise)
		for j := range regD {
			g[j] -= f[j] * res / (regNoise * regNoise)
		}
	}
	n := float64(len(labels))
	for j := range regD {
		m.g[j] = float32(g[j] / n)
	}
	return loss / n, nil
}

func (m *linReg) Forward(x []float32) ([]float32, error) { return make([]float32, len(x)), nil }

// posterior returns μ and A⁻¹ (T = 1) by Gauss–Jordan elimination.
func (m *linReg) posterior() (mu [regD]float64, cov [regD][regD]float64) {
	var a [regD][2 * regD]float64
	var b [regD]float64
	for i, f := range m.f {
		for r := range regD {
			for c := range regD {
				a[r][c] += f[r] * f[c] / (regNoise * regNoise)
			}
			b[r] += f[r] * m.y[i] / (regNoise * regNoise)
		}
	}
	for r := range regD {
		a[r][r] += 1 / (regPrior * regPrior)
		a[r][regD+r] = 1
	}
	for c := range regD {
		p := a[c][c]
		for k := range 2 * regD {
			a[c][k] /= p
		}
		for r := range regD {
			if r != c {
				f := a[r][c]
				for k := range 2 * regD {
					a[r][k] -= f * a[c][k]
				}
			}
		}
	}
	for r := range regD {
		for c := range regD {
			cov[r][c] = a[r][regD+c]
			mu[r] += cov[r][c] * b[c]
		}
	}
	return mu, cov
}

// regData is the index set: image i holds the two bytes of i.
func regData() train.Data {
	s := train.Set{Images: make([]uint8, 2*regN), Labels: make([]uint8, regN), N: regN, Rows: 1, Cols: 2}
	for i := range regN {
		s.Images[2*i], s.Images[2*i+1] = uint8(i/256), uint8(i%256)
	}
	return train.Data{Train: s, Val: train.Set{Rows: 1, Cols: 2}, Scale: 1}
}

// priorHook is train's one prior hook for the N(0, σ²) prior: decay = 1/(N·σ²).
func priorHook() train.Hook { return train.L2Prior(1 / (regN * regPrior * regPrior)) }

// chain is one sampler run: the parameters after every step past burn-in, and per step the
// stepper's diagnostics where it has them.
type chain struct {
	theta      [][regD]float64
	kin, confT []float64
}

// runChain runs st full-batch (no minibatch noise) for steps steps of size h from the
// posterior mean's neighbourhood and keeps the last steps−burn states.
func runChain(t *testing.T, st train.Stepper, h float64, steps, burn int, seed uint64) *chain {
	t.Helper()
	net := newLinReg()
	c := &chain{}
	rec := train.Hook{AfterStep: func(_ context.Context, s *train.State) error {
		if s.Step <= burn {
			return nil
		}
		var th [regD]float64
		for j, v := range net.w {
			th[j] = float64(v)
		}
		c.theta = append(c.theta, th)
		if b, ok := st.(*BAOAB); ok {
			c.kin = append(c.kin, b.KineticTemperature())
			c.confT = append(c.confT, b.ConfigurationalTemperature())
		}
		return nil
	}}
	cfg := train.Config{Epochs: steps, Batch: regN, LR: h, Seed: seed, EvalTrain: -1}
	if _, err := train.Loop(context.Background(), net, regData(), st, cfg, priorHook(), rec); err != nil {
		t.Fatal(err)
	}
	return c
}

// Monte-Carlo error: batch means over statBatches contiguous blocks, each much longer than the
// chain's autocorrelation time, so the block estimates are nearly independent.
const statBatches = 40

// zTol is how many Monte-Carlo standard errors an estimate may miss the analytic value by:
// with 40 blocks the standard error itself is uncertain by ±11%, and each test makes up to 12
// comparisons, so 4.5 keeps the chance of a false failure below 1e-4 per test.
const zTol = 4.5

// estimate is a statistic's batch-means estimate and its standard error.
type estimate struct{ v, se float64 }

// blockStat returns the batch-means estimate of the mean of f over the samples.
func blockStat(n int, f func(i int) float64) estimate {
	per := n / statBatches
	var sum, sum2 float64
	for b := range statBatches {
		var s float64
		for i := b * per; i < (b+1)*per; i++ {
			s += f(i)
		}
		s /= float64(per)
		sum += s
		sum2 += s * s
	}
	m := sum / statBatches
	v := (sum2/statBatches - m*m) * statBatches / (statBatches - 1)
	return estimate{m, math.Sqrt(v / statBatches)}
}

// moments are the chain's mean and covariance with their standard errors.
func (c *chain) moments() (mean [regD]estimate, cov [regD][regD]estimate) {
	n := len(c.theta)
	var m [regD]float64
	for j := range regD {
		mean[j] = blockStat(n, func(i int) float64 { return c.theta[i][j] })
		m[j] = mean[j].v
	}
	for r := range regD {
		for k := range regD {
			cov[r][k] = blockStat(n, func(i int) float64 { return (c.theta[i][r] - m[r]) * (c.theta[i][k] - m[k]) })
		}
	}
	return mean, cov
}

// checkPosterior compares the chain's mean and covariance with μ and T·A⁻¹. relBias is the
// sampler's known relative O(h) bias on the covariance, added to the Monte-Carlo allowance.
func checkPosterior(t *testing.T, c *chain, temp, relBias float64) {
	t.Helper()
	mu, cov := newLinReg().posterior()
	mean, est := c.moments()
	for j := range regD {
		if d := math.Abs(mean[j].v - mu[j]); d > zTol*mean[j].se {
			t.Errorf("mean[%d] = %.5f ± %.5f; want %.5f (off by %.1f standard errors)", j, mean[j].v, mean[j].se, mu[j], d/mean[j].se)
		}
	}
	for r := range regD {
		for k := range regD {
			want := temp * cov[r][k]
			got := est[r][k]
			if d := math.Abs(got.v - want); d > zTol*got.se+relBias*math.Abs(want) {
				t.Errorf("cov[%d][%d] = %.3g ± %.2g; want %.3g (T·A⁻¹; off by %.1f standard errors)", r, k, got.v, got.se, want, d/got.se)
			}
		}
		// Power: the test must be able to see a 20% error in each variance.
		if se := est[r][r].se; se > 0.04*temp*cov[r][r] {
			t.Errorf("var[%d] standard error %.2g is over 4%% of %.3g: the chain is too short to test anything", r, se, temp*cov[r][r])
		}
	}
	t.Logf("%d samples; var ratio to T·A⁻¹: %.4f %.4f %.4f (±%.4f); mean z: %.2f %.2f %.2f",
		len(c.theta),
		est[0][0].v/(temp*cov[0][0]), est[1][1].v/(temp*cov[1][1]), est[2][2].v/(temp*cov[2][2]), est[2][2].se/(temp*cov[2][2]),
		(mean[0].v-mu[0])/mean[0].se, (mean[1].v-mu[1])/mean[1].se, (mean[2].v-mu[2])/mean[2].se)
}

// psgldRelaxation is h·G·κ on the analytic problem's stiffest direction for the pSGLD tests:
// Euler's variance bias is then ≤ 3.3% (eulerBias), and 400k steps mix well enough
// for a 3% standard error.
const psgldRelaxation = 0.03

// psgldStep is the h giving psgldRelaxation at temperature T: G ≈ N/√(T·Aᵢᵢ) scales as 1/√T.
func psgldStep(temp float64) float64 { return psgldRelaxation / (16 * 1.5) * math.Sqrt(temp) }

// eulerBias bounds Euler–Maruyama's relative variance inflation for pSGLD's final
// preconditioner: an OU process relaxing by r per step has stationary variance 1/(1 − r/2) times
// the true one, and r ≤ h·trace(G·A/N) (the trace bounds the largest eigenvalue).
func eulerBias(st *PSGLD, h float64) float64 {
	net := newLinReg()
	G := st.Preconditioner(0)
	var r float64
	for _, f := range net.f {
		for j := range regD {
			r += h * G[j] * f[j] * f[j] / regN
		}
	}
	return 1/(1-r/2) - 1
}

func TestPSGLDPosterior(t *testing.T) {
	// α = 0.9999 averages g² over 10⁴ steps, far longer than the chain's ~100-step relaxation,
	// so G is a constant preconditioner there: the regime where dropping Γ is exact and the
	// test checks the √(2hGT/N) noise scaling alone. (TestPSGLDAdaptive measures α = 0.99.)
	const (
		steps = 400_000
		burn  = 20_000
	)
	for _, temp := range []float64{1, 0.25} {
		t.Run(fmt.Sprintf("T=%g", temp), func(t *testing.T) {
			st := &PSGLD{Temperature: temp, Alpha: 0.9999}
			h := psgldStep(temp)
			c := runChain(t, st, h, steps, burn, 1)
			bias := eulerBias(st, h)
			t.Logf("Euler bias bound %.4f", bias)
			checkPosterior(t, c, temp, bias)
		})
	}
}

func TestPSGLDAdaptive(t *testing.T) {
	// With the default α = 0.99, V follows g² over ~100 steps, as fast as θ moves, so G(θ) is
	// larger near the mode (small gradients) and the chain spends less time there: without Γ the
	// stationary density is ∝ exp(−U/T)/G(θ), wider than the posterior. Full-batch gradients are
	// the worst case (in a network, minibatch noise dominates V and G hardly depends on θ).
	// Measured variance ratios (T = 1, h as in TestPSGLDPosterior): 1.17–1.47 for every
	// λ ≤ 1e-2, falling towards 1 as λ grows past √V ≈ 0.06. The mean stays right (the
	// distortion is symmetric about the mode); the variances must stay inflated by less than 60%.
	const maxInflation = 1.6
	st := &PSGLD{}
	c := runChain(t, st, psgldStep(1), 100_000, 10_000, 1)
	mu, cov := newLinReg().posterior()
	mean, est := c.moments()
	for j := range regD {
		if d := math.Abs(mean[j].v - mu[j]); d > zTol*mean[j].se {
			t.Errorf("mean[%d] = %.5f ± %.5f; want %.5f", j, mean[j].v, mean[j].se, mu[j])
		}
		if r := est[j][j].v / cov[j][j]; r > maxInflation || r < 1/maxInflation {
			t.Errorf("var[%d] is %.2f times the posterior's; want within %.1f×", j, r, maxInflation)
		}
	}
	t.Logf("α = 0.99: variance ratios %.3f %.3f %.3f (±%.3f)", est[0][0].v/cov[0][0], est[1][1].v/cov[1][1], est[2][2].v/cov[2][2], est[2][2].se/cov[2][2])
}

func TestBAOABPosterior(t *testing.T) {
	// ω_max = √λmax(A) ≈ 21, so h·ω ≈ 0.4: stable, and BAOAB's configurational error on a
	// Gaussian is O(h²ω²) small. γ = 0.1/h = 5 decorrelates in tens of steps.
	const (
		h     = 0.02
		steps = 100_000
		burn  = 2_000
		// baoabBias: BAOAB's configurational marginal is exact for a harmonic potential (its
		// superconvergence), so only the float32 parameters add a bias, far below 0.1%.
		baoabBias = 0
	)
	for _, temp := range []float64{1, 0.25} {
		t.Run(fmt.Sprintf("T=%g", temp), func(t *testing.T) {
			c := runChain(t, &BAOAB{Temperature: temp}, h, steps, burn, 2)
			checkPosterior(t, c, temp, baoabBias)
			n := len(c.kin)
			// Both temperature estimators average to T.
			for _, s := range []struct {
				name string
				v    []float64
				bias float64
			}{
				// The kinetic temperature of BAOAB at integer times is biased by O(h²ω²)/4 for a
				// harmonic oscillator; h·ω ≤ 0.42 gives at most 4.5%.
				{"kinetic", c.kin, 0.045},
				{"configurational", c.confT, 0},
			} {
				e := blockStat(n, func(i int) float64 { return s.v[i] })
				if d := math.Abs(e.v - temp); d > zTol*e.se+s.bias*temp {
					t.Errorf("%s temperature %.4f ± %.4f; want T = %g", s.name, e.v, e.se, temp)
				}
				t.Logf("%s temperature %.4f ± %.4f (T = %g)", s.name, e.v, e.se, temp)
			}
		})
	}
}

func TestSamplersResumeBitIdentical(t *testing.T) {
	for name, mk := range map[string]func() train.Stepper{
		"pSGLD": func() train.Stepper { return &PSGLD{Temperature: 0.5} },
		"BAOAB": func() train.Stepper { return &BAOAB{Friction: 3} },
	} {
		for _, cyclical := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cyclical=%v", name, cyclical), func(t *testing.T) {
				h := map[string]float64{"pSGLD": 5e-4, "BAOAB": 0.02}[name]
				// Minibatches of 64 over 256 points: 4 steps an epoch, so interruptions fall inside
				// epochs and at their ends (and, cyclical, in both stages of cycles of 6 steps).
				cfg := train.Config{Epochs: 5, Batch: 64, LR: h, Seed: 9, EvalTrain: -1, Schedule: train.Cosine(0.1),
					Checkpoint: filepath.Join(t.TempDir(), "ck")}
				if cyclical {
					cfg.Schedule, cfg.Explore = train.Cyclical(6), train.CyclicalExplore(6, 0.5)
				}
				ref := newLinReg()
				if _, err := train.Loop(context.Background(), ref, regData(), mk(), cfg, priorHook()); err != nil {
					t.Fatal(err)
				}
				for _, stop := range []int{1, 2, 4, 7, 16, 19} {
					ctx, cancel := context.WithCancel(context.Background())
					stopAt := train.Hook{AfterStep: func(_ context.Context, s *train.State) error {
						if s.Step == stop {
							cancel()
						}
						return nil
					}}
					if _, err := train.Loop(ctx, newLinReg(), regData(), mk(), cfg, priorHook(), stopAt); !errors.Is(err, context.Canceled) {
						t.Fatalf("stop at %d: err = %v; want context.Canceled", stop, err)
					}
					cancel()
					got := newLinReg()
					if _, err := train.Resume(context.Background(), got, regData(), mk(), cfg, cfg.Checkpoint, priorHook()); err != nil {
						t.Fatal(err)
					}
					for j := range got.w {
						if math.Float32bits(got.w[j]) != math.Float32bits(ref.w[j]) {
							t.Fatalf("stop at step %d: resumed w = %v; uninterrupted %v", stop, got.w, ref.w)
						}
					}
				}
				// The uninterrupted run moved (the comparison above is not between two untouched nets).
				if ref.w[0] == 0 && ref.w[1] == 0 {
					t.Fatal("the reference run left the parameters at zero")
				}
			})
		}
	}
}

func TestSamplerStateRejectsMismatch(t *testing.T) {
	params := newLinReg().Params()
	for name, st := range map[string]train.Stepper{"pSGLD": &PSGLD{}, "BAOAB": &BAOAB{}} {
		if err := st.Init(params); err != nil {
			t.Fatal(err)
		}
		b, _ := st.MarshalState()
		for _, bad := range [][]byte{b[:len(b)-1], append(b, 0), nil} {
			if err := st.UnmarshalState(bad); err == nil {
				t.Errorf("%s: state of %d bytes (want %d) accepted", name, len(bad), len(b))
			}
		}
	}
	bad := []train.Stepper{&PSGLD{Alpha: 1}, &PSGLD{Lambda: -1}, &PSGLD{Temperature: math.NaN()}, &BAOAB{Temperature: -1}, &BAOAB{Friction: -2}}
	for _, st := range bad {
		if err := st.Init(params); err == nil {
			t.Errorf("%+v accepted", st)
		}
	}
}
