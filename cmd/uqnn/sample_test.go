package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// sampleSource trains the small zoo net of smallTrain once per test and, when prune is set,
// zeroes every other weight of its first layer (a pruned model) before saving it.
func sampleSource(t *testing.T, dir string, prune bool) string {
	t.Helper()
	o := smallTrain(dir)
	o.json = true
	if _, _, err := runSmall(t, o); err != nil {
		t.Fatal(err)
	}
	if !prune {
		return o.out
	}
	m, err := onnxio.Load(o.out)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Params()[0]
	for i := range w.Float32 {
		if i%2 == 0 {
			w.Float32[i] = 0
		}
	}
	out := filepath.Join(dir, "pruned.onnx")
	if err := m.Save(out, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	return out
}

// smallSample draws a few members on a few hundred images.
func smallSample(out string) sampleOptions {
	return sampleOptions{
		cfg: bayes.SampleConfig{Sampler: bayes.SamplerPSGLD, Members: 4, Thin: 3, Temperature: 1, Lambda: bayes.DefaultPSGLDLambda,
			Alpha: bayes.DefaultAlpha, WeightDecay: bayes.DefaultWeightDecay, Chains: 1, Batch: 32, Seed: 5, StepSize: 1e-4},
		burnin: 4, cycles: -1, out: out, json: true, trainN: 320, valN: 96, testN: 200,
	}
}

// cyclicalSample is smallSample as a cyclical chain: per chain 2 cycles of 6 steps (β 0.5),
// 2 members per cycle 2 steps apart, at steps 4, 6, 10 and 12.
func cyclicalSample(out string) sampleOptions {
	o := smallSample(out)
	o.burnin, o.cycles, o.exploreFraction = 0, 2, 0.5
	o.cfg.CycleSteps, o.cfg.Thin = 6, 2
	return o
}

func runSampleJSON(t *testing.T, src string, o sampleOptions) (*bayes.Manifest, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	g := &globals{stdout: &stdout, stderr: &stderr, quiet: true}
	if err := runSample(context.Background(), g, src, o); err != nil {
		return nil, err
	}
	var m bayes.Manifest
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		t.Fatalf("--json does not parse: %v\n%s", err, stdout.String())
	}
	return &m, nil
}

func TestSampleEndToEnd(t *testing.T) {
	testenv.ORT(t)
	testenv.MNIST(t)
	dir := t.TempDir()
	src := sampleSource(t, dir, false)
	out := filepath.Join(dir, "ens")
	man, err := runSampleJSON(t, src, smallSample(out))
	if err != nil {
		t.Fatal(err)
	}
	// The manifest: sampler, hyperparameters, seed, the source's hash, members' steps.
	sum, _ := onnxio.FileSHA256(src)
	disk, err := bayes.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if disk.SourceSHA256 != sum || man.SourceSHA256 != sum {
		t.Errorf("source sha256 %q (disk %q); want %q", man.SourceSHA256, disk.SourceSHA256, sum)
	}
	if disk.Sampler != "psgld" || disk.Seed != 5 || disk.StepSize != 1e-4 || disk.Thin != 3 || disk.Burnin != 4 ||
		disk.Temperature != 1 || disk.Lambda != bayes.DefaultPSGLDLambda || disk.Alpha != bayes.DefaultAlpha ||
		disk.WeightDecay != bayes.DefaultWeightDecay || disk.Batch != 32 || disk.TrainImages != 320 || disk.ValImages != 96 {
		t.Errorf("manifest settings %+v", disk)
	}
	if want := 1 / math.Sqrt(320*bayes.DefaultWeightDecay); math.Abs(disk.PriorSigma-want) > 1e-12 {
		t.Errorf("prior σ %g; want 1/√(N·decay) = %g", disk.PriorSigma, want)
	}
	if !strings.Contains(disk.TemperatureConvention, "T = 1") {
		t.Errorf("temperature convention %q", disk.TemperatureConvention)
	}
	if len(disk.MemberList) != 4 {
		t.Fatalf("%d members in the manifest; want 4", len(disk.MemberList))
	}
	srcModel, err := onnxio.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	for j, r := range disk.MemberList {
		if want := 4 + 3*(j+1); r.Step != want || r.File != bayes.MemberFile(j) {
			t.Errorf("member %d: %s at step %d; want %s at step %d", j, r.File, r.Step, bayes.MemberFile(j), want)
		}
		if !(r.Loss > 0) || !(r.ValNLL > 0) || r.ValAccuracy <= 0 {
			t.Errorf("member %d: loss %g, validation NLL %g, accuracy %g; want positive", j, r.Loss, r.ValNLL, r.ValAccuracy)
		}
		m, err := onnxio.Load(filepath.Join(out, r.File))
		if err != nil {
			t.Fatal(err)
		}
		if m.Graph.Inputs[0].Name != srcModel.Graph.Inputs[0].Name || m.Graph.Outputs[0].Name != srcModel.Graph.Outputs[0].Name {
			t.Errorf("member %d changes the interface", j)
		}
		if _, ok := pixel.FromModel(m); !ok {
			t.Errorf("member %d has no pixel metadata", j)
		}
		if moved(srcModel, m) == 0 {
			t.Errorf("member %d equals the source", j)
		}
	}
	for _, f := range []string{bayes.TraceFile, bayes.TracePNG(0), bayes.EnsembleFile} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	csv, _ := os.ReadFile(filepath.Join(out, bayes.TraceFile))
	if rows := strings.Count(string(csv), "\n") - 1; rows != (4+4*3)/bayes.TraceEvery {
		t.Errorf("trace has %d rows; want %d", rows, (4+4*3)/bayes.TraceEvery)
	}

	// uqnn uncertainty on the folder (four onnxruntime sessions and Go's float64 Combine)
	// against ensemble.onnx's own outputs, computed by onnxruntime inside one graph.
	var stdout bytes.Buffer
	g := &globals{stdout: &stdout, stderr: &bytes.Buffer{}}
	if err := runUncertainty(context.Background(), g, out, uncertaintyOptions{split: "test", json: true, testN: 200}); err != nil {
		t.Fatal(err)
	}
	var rep uncertaintyReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Members != 4 || rep.Scores.N != 200 || len(rep.MI) != 200 || len(rep.Variation) != 200 {
		t.Fatalf("report: %d members, %d images, %d MI values", rep.Members, rep.Scores.N, len(rep.MI))
	}
	for _, f := range rep.Files {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	mn := testenv.MNIST(t)
	test := mn.Test.Slice(0, 200)
	pp, _ := pixel.FromModel(srcModel)
	dirOut, err := bayes.LoadEnsemble(context.Background(), out, false, pp, test.Float(0, 200), 200, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	graphOut, err := bayes.LoadEnsemble(context.Background(), filepath.Join(out, bayes.EnsembleFile), false, pp, test.Float(0, 200), 200, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	a, err := bayes.Assess(dirOut.Probs, dirOut.Classes, test.Labels, 0)
	if err != nil {
		t.Fatal(err)
	}
	// ortGraphTol: float32 softmax, mean and logs inside the graph against float64 in Go on the
	// same float32 member outputs; entropies of ten probabilities stay within a few ulps of 1.
	const ortGraphTol = 1e-5
	for i, v := range graphOut.Mean {
		if math.Abs(float64(v)-a.Probs[i]) > ortGraphTol {
			t.Fatalf("ensemble.onnx mean probability %d: %g; uncertainty's %g", i, v, a.Probs[i])
		}
	}
	for i, v := range graphOut.MI {
		if math.Abs(float64(v)-a.MI[i]) > ortGraphTol || math.Abs(rep.MI[i]-a.MI[i]) > 1e-12 {
			t.Fatalf("MI %d: ensemble.onnx %g, uncertainty %g, Go %g", i, v, rep.MI[i], a.MI[i])
		}
	}
}

// moved counts the weights that differ between two models with the same initializers.
func moved(a, b *onnxio.Model) int {
	n := 0
	for _, t := range a.Params() {
		u := b.Initializer(t.Name)
		for i, v := range t.Float32 {
			if u.Float32[i] != v {
				n++
			}
		}
	}
	return n
}

func TestSampleResumeSameBytes(t *testing.T) {
	testenv.ORT(t)
	testenv.MNIST(t)
	dir := t.TempDir()
	src := sampleSource(t, dir, false)
	for _, name := range []string{bayes.SamplerPSGLD, bayes.SamplerBAOAB, "cyclical-" + bayes.SamplerPSGLD, "cyclical-" + bayes.SamplerBAOAB} {
		t.Run(name, func(t *testing.T) {
			sampler, cyclical := strings.CutPrefix(name, "cyclical-")
			o := smallSample(filepath.Join(dir, name+"-whole"))
			if cyclical {
				o = cyclicalSample(o.out)
			}
			o.cfg.Sampler = sampler
			o.cfg.Chains, o.cfg.Members = 2, 8
			if sampler == bayes.SamplerBAOAB {
				o.cfg.Lambda, o.cfg.Alpha = 0, 0
			}
			whole, err := runSampleJSON(t, src, o)
			if err != nil {
				t.Fatal(err)
			}
			if whole.RHat == nil || whole.ESS == nil {
				t.Errorf("two chains: no R-hat or ESS in the manifest")
			}
			// Interrupted after the second chain's first member, then resumed.
			if cyclical {
				want := []int{4, 6, 10, 12, 4, 6, 10, 12}
				for j, r := range whole.MemberList {
					if r.Step != want[j] {
						t.Errorf("cyclical: member %d at step %d; want %d", j, r.Step, want[j])
					}
				}
				if whole.Cycles != 2 || whole.CycleSteps != 6 || whole.ExploreFraction != 0.5 || whole.MembersPerCycle != 2 || whole.Burnin != 0 {
					t.Errorf("cyclical manifest: cycles %d, cycle steps %d, β %g, %d per cycle, burn-in %d; want 2, 6, 0.5, 2, 0",
						whole.Cycles, whole.CycleSteps, whole.ExploreFraction, whole.MembersPerCycle, whole.Burnin)
				}
			}
			o.out = filepath.Join(dir, name+"-resumed")
			ctx, cancel := context.WithCancel(context.Background())
			chainsSeen := 0
			o.hooks = []train.Hook{{AfterStep: func(_ context.Context, s *train.State) error {
				if s.Step == 1 {
					chainsSeen++
				}
				if chainsSeen == 2 && s.Step == 11 {
					cancel()
				}
				return nil
			}}}
			g := &globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, quiet: true}
			err = runSample(ctx, g, src, o)
			if !errors.Is(err, context.Canceled) || exitCode(err) != exitInterrupted {
				t.Fatalf("interrupted run: %v (exit %d); want context.Canceled, exit %d", err, exitCode(err), exitInterrupted)
			}
			if _, err := os.Stat(filepath.Join(o.out, bayes.MemberFile(5))); err != nil {
				t.Fatalf("the member drawn before the interruption is missing: %v", err)
			}
			o.hooks, o.cfg.Resume = nil, true
			if _, err := runSampleJSON(t, src, o); err != nil {
				t.Fatal(err)
			}
			files := []string{bayes.EnsembleFile, bayes.ManifestFile, bayes.TraceFile}
			for j := range 8 {
				files = append(files, bayes.MemberFile(j))
			}
			for _, f := range files {
				a, _ := os.ReadFile(filepath.Join(dir, name+"-whole", f))
				b, err := os.ReadFile(filepath.Join(o.out, f))
				if err != nil || !bytes.Equal(a, b) {
					t.Errorf("%s differs after the resume (err %v)", f, err)
				}
			}
			// A resume with another setting is refused, naming the flag.
			o.cfg.StepSize = 2e-4
			if _, err := runSampleJSON(t, src, o); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--step-size") {
				t.Errorf("resume with another --step-size: %v; want a usage error naming it", err)
			}
		})
	}
}

func TestSampleKeepsMask(t *testing.T) {
	testenv.ORT(t)
	testenv.MNIST(t)
	dir := t.TempDir()
	src := sampleSource(t, dir, true)
	srcModel, _ := onnxio.Load(src)
	w0 := srcModel.Params()[0]
	for _, noMask := range []bool{false, true} {
		o := smallSample(filepath.Join(dir, map[bool]string{false: "masked", true: "unmasked"}[noMask]))
		o.cfg.Members, o.cfg.NoMask = 2, noMask
		man, err := runSampleJSON(t, src, o)
		if err != nil {
			t.Fatal(err)
		}
		if man.Masked == noMask || (!noMask && man.MaskedZeros < len(w0.Float32)/2) {
			t.Errorf("no-mask %v: manifest masked %v, %d zeros", noMask, man.Masked, man.MaskedZeros)
		}
		for _, r := range man.MemberList {
			m, _ := onnxio.Load(filepath.Join(o.out, r.File))
			w := m.Initializer(w0.Name).Float32
			zeros, movedOff := 0, 0
			for i := range w {
				if i%2 == 0 {
					if w[i] == 0 {
						zeros++
					} else {
						movedOff++
					}
				}
			}
			if !noMask && movedOff != 0 {
				t.Errorf("%s: %d pruned weights of %s are not zero", r.File, movedOff, w0.Name)
			}
			if noMask && zeros > len(w)/20 {
				t.Errorf("--no-mask %s: %d of the source's zeros still zero; want them to move", r.File, zeros)
			}
			if moved(srcModel, m) == 0 {
				t.Errorf("%s equals the source", r.File)
			}
		}
	}
}

func TestSampleUsageErrors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	writeIdentityModel(t, model, 1, 784)
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), []byte("x"), 0o644)
	out := filepath.Join(dir, "ens")
	tests := []struct {
		name     string
		args     []string
		mentions string
	}{
		{"no output", []string{"sample", model}, "-o"},
		{"no model", []string{"sample", "-o", out}, "sample"},
		{"bad sampler", []string{"sample", model, "-o", out, "--sampler", "hmc"}, "--sampler"},
		{"zero members", []string{"sample", model, "-o", out, "--members", "0"}, "--members"},
		{"members not a multiple of chains", []string{"sample", model, "-o", out, "--members", "5", "--chains", "2"}, "--chains"},
		{"negative thin", []string{"sample", model, "-o", out, "--thin", "-1"}, "--thin"},
		{"negative step", []string{"sample", model, "-o", out, "--step-size", "-1"}, "--step-size"},
		{"zero temperature", []string{"sample", model, "-o", out, "--temperature", "0"}, "--temperature"},
		{"friction for psgld", []string{"sample", model, "-o", out, "--friction", "1"}, "--friction"},
		{"lambda for baoab", []string{"sample", model, "-o", out, "--sampler", "baoab", "--lambda", "0.1"}, "--lambda"},
		{"negative burnin", []string{"sample", model, "-o", out, "--burnin", "-3"}, "--burnin"},
		{"negative cycles", []string{"sample", model, "-o", out, "--cycles", "-1"}, "--cycles"},
		{"burnin in a cyclical chain", []string{"sample", model, "-o", out, "--burnin", "50"}, "--burnin"},
		{"members not a multiple of cycles", []string{"sample", model, "-o", out, "--members", "30", "--cycles", "20"}, "--cycles"},
		{"explore fraction 1", []string{"sample", model, "-o", out, "--explore-fraction", "1"}, "--explore-fraction"},
		{"members reach into exploration", []string{"sample", model, "-o", out, "--members", "100", "--cycles", "10", "--thin", "100"}, "exploration"},
		{"cycle steps without cycles", []string{"sample", model, "-o", out, "--cycles", "0", "--cycle-steps", "100"}, "--cycle-steps"},
		{"folder not empty", []string{"sample", model, "-o", full}, "not empty"},
		{"resume nothing", []string{"sample", model, "-o", out, "--resume"}, "--resume"},
		{"bad flag", []string{"sample", model, "-o", out, "--members", "x"}, "--members"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertCleanFailure(t, uqnn(t, tc.args...), exitUsage, tc.mentions)
		})
	}
	assertCleanFailure(t, uqnn(t, "uncertainty", filepath.Join(dir, "missing")), exitUsage, "missing")
	assertCleanFailure(t, uqnn(t, "uncertainty", full), exitBadModel, "member")
}
