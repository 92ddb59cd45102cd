package bayes

import (
	"slices"
	"testing"
)

// TestCyclicalMembers checks where a cyclical chain draws its members: with the defaults and
// --members 100, 5 per cycle of 859 steps, DefaultCycleThin apart, the last at each cycle's end;
// the constant-step chain keeps burn-in and thinning.
func TestCyclicalMembers(t *testing.T) {
	c, err := SampleConfig{Members: 100}.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	if c.Cycles != DefaultCycles || c.CycleSteps != DefaultCycleSteps || c.ExploreFraction != DefaultExploreFraction ||
		c.Thin != DefaultCycleThin || c.Burnin != 0 || c.StepSize != DefaultPSGLDCycleStep || c.MembersPerCycle() != 5 {
		t.Fatalf("resolved defaults %+v", c)
	}
	var want, got []int
	for cyc := 1; cyc <= c.Cycles; cyc++ {
		for j := 4; j >= 0; j-- {
			want = append(want, cyc*c.CycleSteps-j*c.Thin)
		}
	}
	for s := 0; s <= c.Steps()+c.CycleSteps; s++ {
		if c.emits(s) {
			got = append(got, s)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("members at steps %v; want %v", got, want)
	}
	if c.Steps() != 20*859 {
		t.Errorf("%d steps; want %d", c.Steps(), 20*859)
	}
	k, err := SampleConfig{Sampler: SamplerBAOAB, Members: 3, Cycles: -1, Burnin: 10, Thin: 5}.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for s := 0; s <= 40; s++ {
		if k.emits(s) {
			got = append(got, s)
		}
	}
	if want := []int{15, 20, 25}; k.Steps() != 25 || !slices.Equal(got[:3], want) || k.StepSize != DefaultBAOABStep {
		t.Errorf("constant-step chain: members at %v, %d steps, h %g; want %v, 25, %g", got, k.Steps(), k.StepSize, want, DefaultBAOABStep)
	}
}
