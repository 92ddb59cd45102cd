package adversarial

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"github.com/uqnn/uqnn/internal/seed"
)

// exactTol covers float32 probabilities fed into float64 logs.
const exactTol = 1e-6

func logs(p ...float64) []float64 {
	out := make([]float64, len(p))
	for i, v := range p {
		out[i] = math.Log(v)
	}
	return out
}

func TestFitness(t *testing.T) {
	tests := []struct {
		lp   []float64
		goal Goal
		want float64
	}{
		{logs(0.7, 0.2, 0.1), Goal{Label: 0, Target: 1}, math.Log(0.2) - math.Log(0.8)},
		{logs(0.7, 0.2, 0.1), Goal{Label: 0, Target: 2}, math.Log(0.1) - math.Log(0.9)},
		{logs(0.7, 0.2, 0.1), Goal{Label: 0, Target: -1}, math.Log(0.3) - math.Log(0.7)},
		{logs(0.25, 0.25, 0.5), Goal{Label: 2, Target: -1}, 0},
		// Log-probabilities far below float32's range (a confident logit model) still rank.
		{[]float64{-2000, 0, -3000}, Goal{Label: 1, Target: 0}, -2000},
		{[]float64{-2000, 0, -3000}, Goal{Label: 1, Target: -1}, -2000},
	}
	for _, tc := range tests {
		if got := fitness(tc.lp, tc.goal); math.Abs(got-tc.want) > exactTol {
			t.Errorf("fitness(%v, %+v) = %v; want %v", tc.lp, tc.goal, got, tc.want)
		}
	}
}

func TestSelectionProbs(t *testing.T) {
	fit := []float64{-3, -1, -1.05, 2, -400}
	for _, tau := range []float64{0.1, 1, 10} {
		got := make([]float64, len(fit))
		selectionProbs(fit, tau, got)
		var s float64
		for _, f := range fit {
			s += math.Exp(f / tau)
		}
		for i, f := range fit {
			if want := math.Exp(f/tau) / s; math.Abs(got[i]-want) > 1e-12 {
				t.Errorf("τ=%v: p[%d] = %v; want exp(f/τ)/Σ = %v", tau, i, got[i], want)
			}
		}
	}
}

func TestSchedule(t *testing.T) {
	fixed := Config{}.WithDefaults()
	for _, k := range []int{0, 3, 100} {
		if rho, alpha := fixed.schedule(k); rho != 0.05 || alpha != 1 {
			t.Errorf("fixed schedule after %d plateaus: ρ, α = %v, %v; want 0.05, 1", k, rho, alpha)
		}
	}
	c := Config{Adaptive: true}.WithDefaults()
	tests := []struct {
		plateaus   int
		rho, alpha float64
	}{
		{0, 0.5, 0.4},
		{1, 0.45, 0.36},
		{5, 0.5 * math.Pow(0.9, 5), 0.4 * math.Pow(0.9, 5)},
		{10, math.Max(0.1, 0.5*math.Pow(0.9, 10)), 0.15},
		{100, 0.1, 0.15},
	}
	for _, tc := range tests {
		rho, alpha := c.schedule(tc.plateaus)
		if math.Abs(rho-tc.rho) > 1e-12 || math.Abs(alpha-tc.alpha) > 1e-12 {
			t.Errorf("after %d plateaus: ρ, α = %v, %v; want %v, %v", tc.plateaus, rho, alpha, tc.rho, tc.alpha)
		}
	}
}

// binomialSigmas bounds a frequency test: a count off by more than this many standard
// deviations happens with probability below 1e-4 for a correct sampler.
const binomialSigmas = 4.5

func TestCrossoverFrequency(t *testing.T) {
	const d = 200000
	p1, p2 := make([]float32, d), make([]float32, d)
	for i := range p2 {
		p2[i] = 1
	}
	child := make([]float32, d)
	rng := rand.New(rand.NewPCG(11, 12))
	for _, w := range [][2]float64{{1, 1}, {3, 1}, {0.01, 0.99}} {
		crossover(rng, child, p1, p2, w[0], w[1])
		from1 := 0
		for _, v := range child {
			if v == 0 {
				from1++
			}
		}
		q := w[0] / (w[0] + w[1])
		sd := math.Sqrt(d * q * (1 - q))
		if math.Abs(float64(from1)-d*q) > binomialSigmas*sd {
			t.Errorf("weights %v: %d of %d pixels from parent 1; want %v·d = %.0f ± %.0f", w, from1, d, q, d*q, binomialSigmas*sd)
		}
	}
}

func TestMutationFrequencyAndRange(t *testing.T) {
	const d = 200000
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ rho, r float64 }{{0.5, 0.12}, {0.1, 0.045}} {
		v := make([]float32, d)
		for i := range v {
			v[i] = 0.5
		}
		mutate(rng, v, tc.rho, tc.r)
		changed := 0
		for _, x := range v {
			if x != 0.5 {
				changed++
				if math.Abs(float64(x)-0.5) > tc.r+1e-6 {
					t.Fatalf("ρ=%v r=%v: pixel moved by %v; want at most r", tc.rho, tc.r, float64(x)-0.5)
				}
			}
		}
		sd := math.Sqrt(d * tc.rho * (1 - tc.rho))
		if math.Abs(float64(changed)-d*tc.rho) > binomialSigmas*sd {
			t.Errorf("ρ=%v: %d of %d pixels mutated; want %.0f ± %.0f", tc.rho, changed, d, d*tc.rho, binomialSigmas*sd)
		}
	}
}

func TestProjectStaysInBallAndGrid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := gridImage(3, 784)
	for _, grid := range []bool{true, false} {
		eps := 0.3
		b := newBox(x, eps, grid)
		e := eps
		if grid {
			e = 76.0 / 255
		}
		v := make([]float32, len(x))
		for trial := range 50 {
			for i := range v {
				v[i] = x[i] + float32(rng.NormFloat64()*float64(trial)*0.05)
			}
			b.project(v)
			for i := range v {
				if math.Abs(float64(v[i])-float64(x[i])) > e+1e-7 || v[i] < 0 || v[i] > 1 {
					t.Fatalf("grid=%v: pixel %d = %v from %v; want within %v and in [0,1]", grid, i, v[i], x[i], e)
				}
				if k := v[i] * 255; grid && float64(k) != math.Round(float64(k)) {
					t.Fatalf("pixel %d = %v is off the 1/255 grid", i, v[i])
				}
			}
		}
	}
}

// attackFixture is a linear model and an image it classifies as label.
func attackFixture(t *testing.T, seed uint64, classes, d int) (*linearModel, []float32, int) {
	t.Helper()
	m := newLinearModel(seed, classes, d)
	x := gridImage(seed, d)
	return m, x, m.predict(x)
}

func TestGenAttackSucceedsInBallWithExactQueryCount(t *testing.T) {
	for _, tc := range []struct {
		name     string
		targeted bool
		cfg      Config
	}{
		{"untargeted", false, Config{}},
		{"targeted", true, Config{}},
		{"targeted-continuous", true, Config{Continuous: true, Epsilon: 0.2}},
		{"population-10", false, Config{Population: 10, Epsilon: 0.1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, x, label := attackFixture(t, 42, 10, 64)
			m.keep = true
			goal := Goal{Label: label, Target: -1}
			if tc.targeted {
				goal.Target = (label + 3) % 10
			}
			o, err := NewOracle(m, 10000)
			if err != nil {
				t.Fatal(err)
			}
			r, err := GenAttack(context.Background(), o, x, goal, tc.cfg, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatal(err)
			}
			cfg := tc.cfg.WithDefaults()
			n := int64(cfg.Population)
			if !r.Success {
				t.Fatalf("no success in %d queries (fitness %v)", r.Queries, r.Fitness)
			}
			if want := n + int64(r.Generations)*(n-1); r.Queries != want || m.images.Load() != want {
				t.Fatalf("%d generations cost %d queries (model saw %d); want N + g(N−1) = %d", r.Generations, r.Queries, m.images.Load(), want)
			}
			if got := m.predict(r.Adversarial); got != r.Pred || !succeeded(logs32(m.probs(scale255(r.Adversarial))), goal) {
				t.Fatalf("adversarial predicted %d by the model, %d by the result; goal %+v", got, r.Pred, goal)
			}
			eps := cfg.EffectiveEpsilon()
			for k, img := range m.seen {
				for i, v := range img {
					if math.Abs(float64(v)/255-float64(x[i])) > eps+1e-6 || v < 0 || v > 255 {
						t.Fatalf("query %d pixel %d = %v/255, original %v: outside the ε=%v ball or [0,1]", k, i, v, x[i], eps)
					}
					if !cfg.Continuous && v != float32(math.Round(float64(v))) {
						t.Fatalf("query %d pixel %d = %v off the pixel grid", k, i, v)
					}
				}
			}
			linf, l2 := distances(x, r.Adversarial)
			if linf != r.Linf || l2 != r.L2 || linf > eps+1e-6 {
				t.Fatalf("norms %v, %v; want %v, %v with L∞ ≤ %v", r.Linf, r.L2, linf, l2, eps)
			}
		})
	}
}

func logs32(p []float32) []float64 {
	out := make([]float64, len(p))
	for i, v := range p {
		out[i] = math.Log(float64(v))
	}
	return out
}

func scale255(img []float32) []float32 {
	raw := make([]float32, len(img))
	for i, v := range img {
		raw[i] = v * 255
	}
	return raw
}

func TestGenAttackNeverExceedsBudget(t *testing.T) {
	// ε of one pixel level cannot flip this model's decision, so the attack runs to the budget.
	for _, budget := range []int64{1, 5, 6, 7, 23, 500} {
		m, x, label := attackFixture(t, 7, 10, 16)
		m.b[label] = 50 // a wide margin
		o, err := NewOracle(m, budget)
		if err != nil {
			t.Fatal(err)
		}
		r, err := GenAttack(context.Background(), o, x, Goal{Label: label, Target: -1}, Config{Epsilon: 1.0 / 255}, rand.New(rand.NewPCG(2, 2)))
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		if r.Success || r.Queries != budget || m.images.Load() != budget {
			t.Fatalf("budget %d: success %v after %d queries (model saw %d); want failure using exactly the budget",
				budget, r.Success, r.Queries, m.images.Load())
		}
	}
}

func TestGenAttackPlateausAdapt(t *testing.T) {
	m, x, label := attackFixture(t, 7, 10, 16)
	m.b[label] = 50
	o, _ := NewOracle(m, 2000)
	r, err := GenAttack(context.Background(), o, x, Goal{Label: label, Target: -1}, Config{Epsilon: 1.0 / 255, Plateau: 10, Adaptive: true}, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	// At most one plateau per 10 generations; with a tiny ball the elite stops improving early.
	if r.Plateaus < 1 || r.Plateaus > r.Generations/10 {
		t.Fatalf("%d plateaus in %d generations; want between 1 and %d", r.Plateaus, r.Generations, r.Generations/10)
	}
}

func TestGenAttackRejectsBadInput(t *testing.T) {
	m, x, label := attackFixture(t, 1, 10, 16)
	o, _ := NewOracle(m, 100)
	bad := append([]float32(nil), x...)
	bad[3] = 1.5
	tests := []struct {
		name string
		x    []float32
		goal Goal
		cfg  Config
	}{
		{"eps>1", x, Goal{label, -1}, Config{Epsilon: 1.5}},
		{"eps<0", x, Goal{label, -1}, Config{Epsilon: -0.1}},
		{"eps below a level", x, Goal{label, -1}, Config{Epsilon: 0.001}},
		{"population 1", x, Goal{label, -1}, Config{Population: 1}},
		{"target is label", x, Goal{label, label}, Config{}},
		{"label out of range", x, Goal{10, -1}, Config{}},
		{"pixel out of range", bad, Goal{label, -1}, Config{}},
		{"empty image", nil, Goal{label, -1}, Config{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := GenAttack(context.Background(), o, tc.x, tc.goal, tc.cfg, rand.New(rand.NewPCG(1, 1))); err == nil {
				t.Fatal("GenAttack succeeded; want an error")
			}
		})
	}
	if o.Used() != 0 {
		t.Fatalf("rejected inputs cost %d queries; want 0", o.Used())
	}
}

func runTasks(t *testing.T, m Model, tasks []Task, opts RunOptions) []Outcome {
	t.Helper()
	var out []Outcome
	if err := Run(context.Background(), m, tasks, opts, func(o Outcome) error { out = append(out, o); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func linearTasks(m *linearModel, count, d int, targeted bool) []Task {
	var tasks []Task
	for i := range count {
		x := gridImage(uint64(100+i), d)
		g := Goal{Label: m.predict(x), Target: -1}
		if targeted {
			g.Target = RandomTarget(seed.Indexed(9, "target", i), g.Label, m.Classes())
		}
		tasks = append(tasks, Task{Index: i, Image: x, Goal: g})
	}
	return tasks
}

func TestRunDeterministicAcrossWorkers(t *testing.T) {
	m := newLinearModel(5, 10, 64)
	tasks := linearTasks(m, 12, 64, true)
	opts := RunOptions{Budget: 3000, Seed: 77, Config: Config{Epsilon: 0.1}}
	opts.Workers = 1
	a := runTasks(t, m, tasks, opts)
	opts.Workers = 4
	b := runTasks(t, m, tasks, opts)
	if len(a) != len(tasks) || !reflect.DeepEqual(a, b) {
		t.Fatalf("1 worker and 4 workers disagree (or missed tasks: %d, %d of %d)", len(a), len(b), len(tasks))
	}
	opts.Seed = 78
	c := runTasks(t, m, tasks, opts)
	if reflect.DeepEqual(a, c) {
		t.Fatal("seeds 77 and 78 gave identical outcomes; want the seed to matter")
	}
	succ := 0
	for _, o := range a {
		if o.Success {
			succ++
		}
	}
	if succ == 0 {
		t.Fatal("no targeted attack succeeded on the linear model at ε = 0.1")
	}
}

func TestRunInterrupted(t *testing.T) {
	m := newLinearModel(5, 10, 16)
	for i := range m.b {
		m.b[i] = 0
	}
	tasks := linearTasks(m, 50, 16, false)
	hopeless := Config{Epsilon: 1.0 / 255} // attacks mostly run to their budget
	ctx, cancel := context.WithCancel(context.Background())
	seen := 0
	err := Run(ctx, m, tasks, RunOptions{Budget: 200, Seed: 1, Workers: 2, Config: hopeless}, func(Outcome) error {
		seen++
		if seen == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want context.Canceled", err)
	}
	if seen < 3 || seen >= len(tasks) {
		t.Fatalf("done saw %d outcomes; want the finished ones only (≥ 3, < %d)", seen, len(tasks))
	}
}

func TestRandomTargetUniform(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const draws = 90000
	var counts [10]int
	for range draws {
		counts[RandomTarget(rng, 4, 10)]++
	}
	if counts[4] != 0 {
		t.Fatalf("the label was drawn %d times as a target", counts[4])
	}
	q := 1.0 / 9
	sd := math.Sqrt(draws * q * (1 - q))
	for k, c := range counts {
		if k != 4 && math.Abs(float64(c)-draws*q) > binomialSigmas*sd {
			t.Errorf("class %d drawn %d times; want %.0f ± %.0f", k, c, draws*q, binomialSigmas*sd)
		}
	}
}

func TestSampleFollowsProbabilities(t *testing.T) {
	const draws = 200000
	probs := []float64{0.5, 0.05, 0.3, 0.15}
	rng := rand.New(rand.NewPCG(8, 9))
	counts := make([]int, len(probs))
	for range draws {
		counts[sample(rng, probs)]++
	}
	for i, p := range probs {
		sd := math.Sqrt(draws * p * (1 - p))
		if math.Abs(float64(counts[i])-draws*p) > binomialSigmas*sd {
			t.Errorf("member %d drawn %d times; want %.0f ± %.0f", i, counts[i], draws*p, binomialSigmas*sd)
		}
	}
}

// TestGenAttackElitism checks that the elite is never lost: when an attack fails, its result is
// the fittest image the model ever evaluated for it.
func TestGenAttackElitism(t *testing.T) {
	m, x, label := attackFixture(t, 7, 10, 16)
	m.b[label] = 50
	m.keep = true
	o, _ := NewOracle(m, 601)
	goal := Goal{Label: label, Target: (label + 1) % 10}
	r, err := GenAttack(context.Background(), o, x, goal, Config{Epsilon: 3.0 / 255}, rand.New(rand.NewPCG(4, 4)))
	if err != nil || r.Success {
		t.Fatalf("err %v success %v; want a failed attack", err, r.Success)
	}
	best := math.Inf(-1)
	for _, raw := range m.seen {
		p := m.probs(raw)
		lp := make([]float64, len(p))
		for j, v := range p {
			lp[j] = math.Log(math.Max(float64(v), minProb))
		}
		best = math.Max(best, fitness(lp, goal))
	}
	if r.Fitness != best {
		t.Fatalf("result fitness %v; the best of the %d evaluated images is %v", r.Fitness, len(m.seen), best)
	}
}
