package study

import (
	"fmt"
	"slices"
	"strconv"
)

// Networks are the studied networks in table order: the base network and each compressed one.
func (c Config) Networks() []string { return append([]string{Base}, c.Compress.Methods...) }

// NetworkStage is the stage that writes network n's model.onnx and network.json.
func NetworkStage(n string) string {
	if n == Base {
		return "train"
	}
	return "compress/" + n
}

// SweepStage names the sweep point of method m at removed fraction r.
func SweepStage(m string, r float64) string {
	return "sweep/" + m + "/" + strconv.FormatFloat(100*r, 'f', -1, 64)
}

// Plan lists the study's stages in run order (Groups' order).
func Plan(c Config) []*Stage {
	var p []*Stage
	add := func(s *Stage) { p = append(p, s) }
	add(&Stage{Name: "train", Group: "train", Version: 2, Slice: trainSlice(c), run: runTrain})
	for _, m := range c.Compress.Methods {
		deps, group, version := []string{"train"}, "compress", 3
		if m == Combined && slices.Contains(c.Compress.Methods, SVD) {
			// The combined network continues from the svd network (its zeros kept) rather than
			// sparsifying again.
			deps, group, version = append(deps, NetworkStage(SVD)), "combine", 4
		}
		add(&Stage{Name: NetworkStage(m), Group: group, Deps: deps, Version: version,
			Slice: compressSlice(c, m), run: compressRunner(m)})
	}
	for _, n := range c.Networks() {
		for _, s := range c.Sample.Samplers {
			add(&Stage{Name: "sample/" + n + "/" + s, Group: "sample", Deps: []string{NetworkStage(n)}, Version: 1,
				Slice: struct {
					Sampler string
					Sample  SampleConfig
					Train   TrainConfig
				}{s, c.Sample, c.Train}, run: sampleRunner(s)})
		}
	}
	for _, n := range c.Networks() {
		add(&Stage{Name: "attack/" + n, Group: "attack", Deps: []string{NetworkStage(n)}, Version: 1,
			Slice: struct {
				Attack     AttackConfig
				TestImages int
			}{c.Attack, c.Train.TestImages}, run: attackRunner(c.Attack.N)})
	}
	for _, m := range c.Sweep.Methods {
		for _, r := range c.Sweep.Removed {
			// Version 2: every method, and each point's ensemble and detection AUROC.
			add(&Stage{Name: SweepStage(m, r), Group: "sweep", Deps: []string{"train"}, Version: 2,
				Slice: sweepSlice(c, m, r), run: sweepRunner(m, r)})
		}
	}
	var attacks []string
	for _, n := range c.Networks() {
		attacks = append(attacks, "attack/"+n)
	}
	for _, n := range c.Networks() {
		for _, s := range c.Sample.Samplers {
			add(&Stage{Name: "detect/" + n + "/" + s, Group: "detect",
				Deps:     uniq("sample/"+n+"/"+s, "attack/"+n, "attack/"+Base),
				Optional: attacks, Version: 1,
				Slice: c.Detect, run: detectRunner(n, s)})
		}
	}
	return p
}

// groupOf returns the stages of group g.
func groupOf(p []*Stage, g string) []*Stage {
	var out []*Stage
	for _, s := range p {
		if s.Group == g {
			out = append(out, s)
		}
	}
	return out
}

func trainSlice(c Config) any {
	return struct {
		Seed             uint64
		Data, Model, Pre string
		Train            TrainConfig
	}{c.Seed, c.Data, c.Model, c.Preprocess, c.Train}
}

func compressSlice(c Config, m string) any {
	c.Compress.Methods = nil // which other networks are made does not change this one
	return struct {
		Method   string
		Compress CompressConfig
		Train    TrainConfig
	}{m, c.Compress, c.Train}
}

// sweepSlice is what sweep point (m, r) reads of the config: the sweep's settings that apply to
// m (not which other points are swept), the compress settings m uses, the sample section's chain
// settings, the detection FPR, the attack and the training data.
func sweepSlice(c Config, m string, r float64) any {
	sw := c.Sweep
	sw.Methods, sw.Removed = nil, nil
	if m != SDR {
		sw.SDREpochs = 0
	}
	if m != SVD {
		sw.SVDEpochs = 0
	}
	var comp any
	switch m {
	case Filter:
		comp = c.Compress.FilterImages
	case SDR:
		comp = c.Compress.SDRLambda
	}
	smp := c.Sample
	smp.Samplers, smp.Members = nil, 0 // the point's ensemble is pSGLD with sweep.members
	return struct {
		Method   string
		Removed  float64
		Sweep    SweepConfig
		Compress any
		Sample   SampleConfig
		FPR      float64
		Attack   AttackConfig
		Train    TrainConfig
	}{m, r, sw, comp, smp, c.Detect.FPR, c.Attack, c.Train}
}

func (s *Stage) String() string { return fmt.Sprintf("%s (%s)", s.Name, s.Group) }

func uniq(v ...string) []string {
	var out []string
	for _, x := range v {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
