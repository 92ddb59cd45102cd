package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
	"github.com/uqnn/uqnn/onnxio"
)

// perturbedEnsemble writes members copies of model with every weight multiplied by 1 + σ·z
// (z standard normal, seeded per member) as member-NNN.onnx in dir, and their ensemble.onnx.
// Multiplicative noise keeps each member accurate while making them disagree near the
// decision boundary, which is all a detection test needs.
func perturbedEnsemble(t *testing.T, model, dir string, members int, sigma float64) {
	t.Helper()
	var ms []*onnxio.Model
	for k := range members {
		m, err := onnxio.Load(model)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(k), 11))
		for _, p := range m.Params() {
			for i := range p.Float32 {
				p.Float32[i] *= float32(1 + sigma*rng.NormFloat64())
			}
		}
		if err := m.Save(filepath.Join(dir, fmt.Sprintf("member-%03d.onnx", k)), onnxio.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	g, err := bayes.EnsembleGraph(ms, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Save(filepath.Join(dir, ensembleGraphFile), onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestDetectEndToEnd: attack one member, then detect with the members (votes) and with the
// ensemble graph alone; the two must agree on everything the graph can give, the files must be
// written, and the same seed must give the same JSON.
func TestDetectEndToEnd(t *testing.T) {
	models := testmodels.Dir(t)
	testenv.ORT(t)
	tmp := t.TempDir()
	ensDir := filepath.Join(tmp, "ens")
	os.MkdirAll(ensDir, 0o755)
	perturbedEnsemble(t, filepath.Join(models, attackModel), ensDir, 4, 0.1)
	atk := filepath.Join(tmp, "atk")
	if r := uqnn(t, "attack", filepath.Join(ensDir, "member-000.onnx"), "-o", atk, "--n", "12", "--budget", "3000",
		"--preprocess", "-1..1", "--workers", "2", "-q"); r.code != 0 {
		t.Fatalf("attack: exit %d\n%s", r.code, r.stderr)
	}
	detect := func(ens string, extra ...string) (adversarial.Detection, result) {
		args := append([]string{"detect", ens, "--adversarial", atk, "--preprocess", "-1..1", "--bootstrap", "200", "--json"}, extra...)
		r := uqnn(t, args...)
		if r.code != 0 {
			t.Fatalf("detect %s: exit %d\n%s", ens, r.code, r.stderr)
		}
		var out struct{ Detection adversarial.Detection }
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("detect --json: %v\n%s", err, r.stdout)
		}
		return out.Detection, r
	}
	outDir := filepath.Join(tmp, "det")
	mem, r1 := detect(ensDir, "-o", outDir)
	graph, _ := detect(filepath.Join(ensDir, ensembleGraphFile))
	_, r2 := detect(ensDir)
	if r1.stdout != r2.stdout {
		t.Error("two runs with the same seed printed different JSON")
	}
	if mem.Members != 4 || graph.Members != 0 || !strings.Contains(graph.Vote, "argmax") {
		t.Errorf("members %d (%q) and %d (%q); want 4 with votes, 0 with the argmax", mem.Members, mem.Vote, graph.Members, graph.Vote)
	}
	if mem.Adversarial == 0 || mem.Clean != 12 || mem.Validation != 5000 || mem.Adversarial != graph.Adversarial {
		t.Errorf("counts: %d adversarial, %d clean, %d validation (graph: %d adversarial); want some, 12, 5000",
			mem.Adversarial, mem.Clean, mem.Validation, graph.Adversarial)
	}
	// MI in float32 (graph) and float64 (members): the AUROC may move only where two scores are
	// within float32 rounding of each other; with these few images it does not move at all.
	const miTol = 1e-5 // float32 MI of a few nats, summed over 10 classes
	if math.Abs(mem.AUROC.Value-graph.AUROC.Value) > 1e-9 || math.Abs(mem.MI.MeanAdversarial-graph.MI.MeanAdversarial) > miTol {
		t.Errorf("members: AUROC %v mean MI %v; graph: %v %v", mem.AUROC.Value, mem.MI.MeanAdversarial, graph.AUROC.Value, graph.MI.MeanAdversarial)
	}
	if !(mem.AUROC.Lo <= mem.AUROC.Value && mem.AUROC.Value <= mem.AUROC.Hi) || len(mem.AtFPR) != 2 {
		t.Errorf("AUROC %+v, %d operating points", mem.AUROC, len(mem.AtFPR))
	}
	for _, f := range []string{detectJSONFile, detectROCFile, detectMIFile} {
		if st, err := os.Stat(filepath.Join(outDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("-o: %s not written (%v)", f, err)
		}
	}
	if r := uqnn(t, "detect", ensDir, "--adversarial", atk, "--preprocess", "-1..1", "--bootstrap", "50"); r.code != 0 ||
		!strings.Contains(r.stdout, "AUROC") || !strings.Contains(r.stdout, "majority vote of 4 members") {
		t.Errorf("text output (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, bad := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"detect", ensDir}, exitUsage, "--adversarial"},
		{[]string{"detect", ensDir, "--adversarial", atk, "--score", "nope"}, exitUsage, "--score"},
		{[]string{"detect", filepath.Join(ensDir, ensembleGraphFile), "--adversarial", atk, "--score", "varratio", "--preprocess", "-1..1"}, exitFailure, "varratio"},
		{[]string{"detect", ensDir, "--adversarial", tmp}, exitUsage, "--adversarial"},
		{[]string{"detect", tmp, "--adversarial", atk}, exitBadModel, "member-NNN.onnx"},
	} {
		assertCleanFailure(t, uqnn(t, bad.args...), bad.code, bad.say)
	}
}

// TestAttackDetectorAwareAndEnsembleTarget: uqnn attack with --detector pays two queries per
// candidate and records the guard in its parameters; the ensemble graph is attacked as a
// classifier; uqnn detect reads both campaigns.
func TestAttackDetectorAwareAndEnsembleTarget(t *testing.T) {
	models := testmodels.Dir(t)
	testenv.ORT(t)
	tmp := t.TempDir()
	ensDir := filepath.Join(tmp, "ens")
	os.MkdirAll(ensDir, 0o755)
	perturbedEnsemble(t, filepath.Join(models, attackModel), ensDir, 3, 0.1)
	aware := filepath.Join(tmp, "aware")
	r := uqnn(t, "attack", filepath.Join(ensDir, "member-000.onnx"), "-o", aware, "--n", "4", "--budget", "801",
		"--preprocess", "-1..1", "--workers", "2", "-q", "--json", "--detector", ensDir, "--detector-score", "entropy")
	if r.code != 0 {
		t.Fatalf("attack --detector: exit %d\n%s", r.code, r.stderr)
	}
	rep, recs, err := adversarial.ReadCampaign(aware)
	if err != nil {
		t.Fatal(err)
	}
	g := rep.Params.GenAttack.Guard
	if g == nil || g.Score != adversarial.ScoreEntropy || g.FPR != 0.05 || g.Name != ensDir || !(g.Threshold > 0) {
		t.Fatalf("recorded guard %+v; want entropy at 5 %% validation FPR with a positive threshold", g)
	}
	for _, rec := range recs {
		if rec.Queries%2 != 0 || rec.Queries > 801 || (!rec.Success && rec.Queries != 800 && !rec.Fooled()) {
			t.Errorf("example %d: %d queries, success %v; want an even count ≤ 800 (classifier + detector per candidate)", rec.Index, rec.Queries, rec.Success)
		}
	}
	target := filepath.Join(tmp, "target")
	if r := uqnn(t, "attack", filepath.Join(ensDir, ensembleGraphFile), "-o", target, "--n", "4", "--budget", "400",
		"--preprocess", "-1..1", "--workers", "2", "-q"); r.code != 0 {
		t.Fatalf("attack ensemble.onnx: exit %d\n%s", r.code, r.stderr)
	}
	for _, dir := range []string{aware, target} {
		if _, recs, err := adversarial.ReadCampaign(dir); err != nil || len(recs) != 4 {
			t.Fatalf("%s: %d records, %v", dir, len(recs), err)
		}
	}
	assertCleanFailure(t, uqnn(t, "attack", filepath.Join(ensDir, "member-000.onnx"), "-o", filepath.Join(tmp, "x"),
		"--preprocess", "-1..1", "--detector", filepath.Join(ensDir, ensembleGraphFile)), exitUsage, "member-NNN.onnx")
	assertCleanFailure(t, uqnn(t, "attack", filepath.Join(ensDir, "member-000.onnx"), "-o", filepath.Join(tmp, "y"),
		"--detector", ensDir, "--detector-fpr", "0"), exitUsage, "--detector-fpr")
}
