package study

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/report"
)

// TestPlanSweepsEveryMethod: the full and the quick study sweep magnitude, filter, sdr and svd at
// every removed fraction, each point a stage of the sweep group reading the base network.
func TestPlanSweepsEveryMethod(t *testing.T) {
	for name, c := range map[string]Config{"default": Default(), "quick": Quick()} {
		stages := map[string]*Stage{}
		for _, s := range Plan(c) {
			stages[s.Name] = s
		}
		if want := []string{Magnitude, Filter, SDR, SVD}; !slices.Equal(c.Sweep.Methods, want) {
			t.Errorf("%s: sweep.methods %v; want %v", name, c.Sweep.Methods, want)
		}
		n := 0
		for _, m := range c.Sweep.Methods {
			for _, r := range c.Sweep.Removed {
				s := stages[SweepStage(m, r)]
				if s == nil {
					t.Errorf("%s: no stage %s", name, SweepStage(m, r))
					continue
				}
				n++
				if s.Group != "sweep" || !slices.Equal(s.Deps, []string{"train"}) || s.Version < 2 {
					t.Errorf("%s: %s in group %s, deps %v, version %d; want sweep, [train], ≥ 2", name, s.Name, s.Group, s.Deps, s.Version)
				}
			}
		}
		if want := 4 * len(c.Sweep.Removed); n != want || len(groupOf(Plan(c), "sweep")) != want {
			t.Errorf("%s: %d sweep stages; want %d", name, n, want)
		}
	}
	if d, q := Default().Sweep.Removed, Quick().Sweep.Removed; !slices.Equal(d, []float64{0.5, 0.75, 0.9, 0.95, 0.99, 0.995}) || !slices.Equal(q, []float64{0.5, 0.9, 0.99}) {
		t.Errorf("removed: default %v, quick %v", d, q)
	}
}

// TestSweepMethodTargets: each point's method gets its target from r and its epochs from the
// sweep section.
func TestSweepMethodTargets(t *testing.T) {
	c := Quick()
	c.Sweep.RetrainEpochs, c.Sweep.SDREpochs, c.Sweep.SVDEpochs = 2, 3, 4
	const r = 0.9
	const eps = 1e-12 // 1 − 0.9 in float64
	m, err := sweepMethod(c, Magnitude, r)
	if p := m.(*compress.MagnitudeMethod); err != nil || math.Abs(p.KeepAll-0.1) > eps || p.Epochs != 2 {
		t.Errorf("magnitude: %+v (%v); want keep-all 0.1, 2 epochs per stage", m, err)
	}
	m, err = sweepMethod(c, Filter, r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	if !strings.Contains(string(b), `"remove":0.9`) {
		t.Errorf("filter: %s; want remove 0.9", b)
	}
	m, err = sweepMethod(c, SDR, r)
	if p := m.(*compress.SDRMethod); err != nil || math.Abs(p.Keep-0.1) > eps || p.Epochs != 3 || p.TuneEpochs != 2 || p.Lambda != c.Compress.SDRLambda {
		t.Errorf("sdr: %+v (%v); want keep 0.1, 3 shrinkage and 2 fine-tuning epochs, λ %g", m, err, c.Compress.SDRLambda)
	}
	m, err = sweepMethod(c, SVD, r)
	if p := m.(*compress.SVDMethod); err != nil || math.Abs(p.Keep-0.1) > eps || p.Epochs != 4 {
		t.Errorf("svd: %+v (%v); want keep 0.1, 4 epochs", m, err)
	}
}

// TestSweepSliceKeys: a point's key changes with what it reads and not with the others' settings
// (adding a method or a fraction keeps the finished points).
func TestSweepSliceKeys(t *testing.T) {
	key := func(c Config, m string) string {
		b, err := json.Marshal(sweepSlice(c, m, 0.9))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	base := Quick()
	for _, tc := range []struct {
		name   string
		change func(*Config)
		method string
		same   bool
	}{
		{"other methods", func(c *Config) { c.Sweep.Methods = []string{Magnitude} }, Magnitude, true},
		{"other fractions", func(c *Config) { c.Sweep.Removed = []float64{0.9} }, SDR, true},
		{"svd epochs, magnitude point", func(c *Config) { c.Sweep.SVDEpochs = 5 }, Magnitude, true},
		{"svd epochs, svd point", func(c *Config) { c.Sweep.SVDEpochs = 5 }, SVD, false},
		{"sdr λ, sdr point", func(c *Config) { c.Compress.SDRLambda = 0.5 }, SDR, false},
		{"sdr λ, filter point", func(c *Config) { c.Compress.SDRLambda = 0.5 }, Filter, true},
		{"members", func(c *Config) { c.Sweep.Members = 7 }, Filter, false},
		{"chain step size", func(c *Config) { c.Sample.StepSize = 1 }, SVD, false},
		{"samplers of the ensembles", func(c *Config) { c.Sample.Samplers = []string{BAOAB} }, SVD, true},
	} {
		c := base
		c.Sweep.Methods, c.Sweep.Removed = slices.Clone(c.Sweep.Methods), slices.Clone(c.Sweep.Removed)
		tc.change(&c)
		if got := key(c, tc.method) == key(base, tc.method); got != tc.same {
			t.Errorf("%s: key unchanged %v; want %v", tc.name, got, tc.same)
		}
	}
}

// TestSweepConfigErrors: the new keys are checked, naming the key.
func TestSweepConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"sweep: {members: 1}", "sweep.members"},
		{"sweep: {sdr_epochs: 0}", "sweep.sdr_epochs"},
		{"sweep: {svd_epochs: 0}", "sweep.svd_epochs"},
		{"sweep: {methods: [combined]}", "sweep.methods"},
		{"sweep: {removed: [0.5, 1]}", "sweep.removed"},
	} {
		if _, err := ParseConfig(strings.NewReader(tc.yaml), Quick()); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: %v; want an error naming %s", tc.yaml, err, tc.key)
		}
	}
}

// TestSweepSectionAUROC: the sweep section draws the AUROC figure from the points that have one
// and writes n/a for a point whose attack never succeeded.
func TestSweepSectionAUROC(t *testing.T) {
	e := &Env{Config: Quick()}
	iv := func(v float64) *Interval { return &Interval{Value: v, Lo: v - 0.1, Hi: min(1, v+0.1)} }
	pt := func(m string, r float64, au *Interval) SweepPoint {
		return SweepPoint{Method: m, Removed: r, WeightsRemoved: r, Accuracy: Interval{0.9, 0.8, 0.95}, Success: Interval{0.5, 0.2, 0.8},
			Attacked: 10, MedianQueries: &Interval{300, 200, 400}, AUROC: au, Adversarial: 5, Members: 3}
	}
	pts := []SweepPoint{pt(Magnitude, 0.5, iv(0.8)), pt(SDR, 0.5, iv(0.7)), pt(SVD, 0.9, nil)}
	var s report.Section
	if err := e.sweepSection(&s, pts); err != nil {
		t.Fatal(err)
	}
	if len(s.Figures) != 2 || s.Figures[1].Name != "sweep-auroc.png" || len(s.Figures[1].PNG) == 0 {
		t.Fatalf("figures %v; want sweep.png and sweep-auroc.png", figureNames(s.Figures))
	}
	rows := s.Tables[0].Rows
	if last := rows[2][len(rows[2])-1]; last != "n/a" {
		t.Errorf("svd point without adversarial images: AUROC cell %q; want n/a", last)
	}
	if first := rows[0][len(rows[0])-1]; !strings.HasPrefix(first, "0.800 [0.700, 0.900]") {
		t.Errorf("magnitude AUROC cell %q; want 0.800 [0.700, 0.900] …", first)
	}
	for _, p := range s.Paragraphs {
		if strings.Contains(p, "not swept") {
			t.Errorf("paragraph still says AUROC is not swept: %s", p)
		}
	}
	// No point with an AUROC: no empty figure, a note instead.
	s = report.Section{}
	if err := e.sweepSection(&s, []SweepPoint{pt(Filter, 0.5, nil)}); err != nil {
		t.Fatal(err)
	}
	if len(s.Figures) != 1 || len(s.Missing) != 1 {
		t.Errorf("figures %v, missing %q; want sweep.png alone and a note", figureNames(s.Figures), s.Missing)
	}
}

func figureNames(fs []report.Figure) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name)
	}
	return n
}
