package bayes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"

	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/onnxio"
	"github.com/uqnn/uqnn/report"
)

// ManifestFormat versions manifest.json.
const ManifestFormat = "uqnn-ensemble-1"

// Manifest describes an ensemble folder: the sampler and every hyperparameter, the seed, the
// source model's hash, each member's chain, step and losses, and the diagnostics.
type Manifest struct {
	Format   string  `json:"format"`
	Sampler  string  `json:"sampler"`
	Members  int     `json:"members"`
	Chains   int     `json:"chains"`
	Burnin   int     `json:"burnin_steps"`
	Thin     int     `json:"thin_steps"`
	StepSize float64 `json:"step_size"` // h; h0, each cycle's first, when cyclical
	// Cyclical SG-MCMC (Zhang et al., ICLR 2020): Cycles of CycleSteps steps each, the step
	// size h0·½(cos(π·mod(k−1, L)/L) + 1) at step k, the first ExploreFraction of each cycle
	// without noise, MembersPerCycle members at each cycle's end. Cycles 0: a constant step.
	Cycles                int     `json:"cycles"`
	CycleSteps            int     `json:"cycle_steps,omitempty"`
	ExploreFraction       float64 `json:"explore_fraction,omitempty"`
	MembersPerCycle       int     `json:"members_per_cycle,omitempty"`
	Schedule              string  `json:"schedule"`
	Temperature           float64 `json:"temperature"`
	TemperatureConvention string  `json:"temperature_convention"`
	Friction              float64 `json:"friction,omitempty"` // BAOAB's γ; 0: DefaultFrictionStep/h
	FrictionStep          float64 `json:"friction_times_step,omitempty"`
	Lambda                float64 `json:"lambda,omitempty"` // pSGLD
	Alpha                 float64 `json:"alpha,omitempty"`  // pSGLD
	// The prior: N(0, σ²) on every weight, as train.L2Prior's decay = 1/(N·σ²).
	WeightDecay  float64 `json:"weight_decay"`
	PriorSigma   float64 `json:"prior_sigma,omitempty"`
	Batch        int     `json:"batch"`
	Seed         uint64  `json:"seed"`
	Masked       bool    `json:"masked"`        // the source's zero weights were held at zero
	MaskedZeros  int     `json:"masked_zeros"`  // how many
	Source       string  `json:"source"`        // the model file sampled from
	SourceSHA256 string  `json:"source_sha256"` //
	Preprocess   string  `json:"preprocess"`    // pixel map of the members' input
	TrainImages  int     `json:"train_images"`
	ValImages    int     `json:"validation_images"`
	TestImages   int     `json:"test_images,omitempty"`
	// Validation scores the ensemble (mean of the members' probabilities) on the validation split.
	Validation *Scores        `json:"validation,omitempty"`
	MemberList []MemberRecord `json:"member_list"`
	// RHat and ESS of the members' test log-likelihood (two chains or more, test set given).
	RHat      *float64 `json:"rhat_test_loglik,omitempty"`
	ESS       *float64 `json:"ess_test_loglik,omitempty"`
	Ensemble  string   `json:"ensemble"`
	Trace     string   `json:"trace_csv"`
	TracePNGs []string `json:"trace_png"`
}

// ReadManifest reads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("bayes: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("bayes: %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("bayes: %s: format %q; want %q", filepath.Join(dir, ManifestFile), m.Format, ManifestFormat)
	}
	return &m, nil
}

// finish writes the trace, its pictures, ensemble.onnx and the manifest.
func finish(ctx context.Context, job *SampleJob, cfg SampleConfig, chains []*chainState, masked int) (*Manifest, error) {
	d := job.Data
	man := &Manifest{
		Format: ManifestFormat, Sampler: cfg.Sampler, Members: cfg.Members, Chains: cfg.Chains, Burnin: cfg.Burnin, Thin: cfg.Thin,
		StepSize: cfg.StepSize, Cycles: cfg.Cycles, CycleSteps: cfg.CycleSteps, ExploreFraction: cfg.ExploreFraction,
		MembersPerCycle: cfg.MembersPerCycle(), Schedule: cfg.schedule(), Temperature: cfg.Temperature, TemperatureConvention: TemperatureConvention,
		Lambda: cfg.Lambda, Alpha: cfg.Alpha, WeightDecay: cfg.WeightDecay, Batch: cfg.Batch, Seed: cfg.Seed,
		Masked: !cfg.NoMask, MaskedZeros: masked, Source: job.SourceFile, SourceSHA256: job.SourceSHA256,
		Preprocess:  fmt.Sprintf("scale=%g,offset=%g", d.Scale, d.Offset),
		TrainImages: d.Train.N, ValImages: d.Val.N, TestImages: job.Test.N,
		Ensemble: EnsembleFile, Trace: TraceFile,
	}
	if cfg.Sampler == SamplerBAOAB {
		man.Friction = cfg.Friction
		man.FrictionStep = cfg.Friction * cfg.StepSize
		if cfg.Friction == 0 {
			man.FrictionStep = DefaultFrictionStep
		}
	}
	if cfg.WeightDecay > 0 {
		man.PriorSigma = 1 / math.Sqrt(float64(d.Train.N)*cfg.WeightDecay)
	}
	var valSum []float64
	var csv bytes.Buffer
	csv.WriteString("chain,step,loss,kinetic_temperature,configurational_temperature\n")
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	var ll [][]float64
	for c, st := range chains {
		man.MemberList = append(man.MemberList, st.Members...)
		if st.ValProbs != nil {
			if valSum == nil {
				valSum = make([]float64, len(st.ValProbs))
			}
			for i, v := range st.ValProbs {
				valSum[i] += v
			}
		}
		var pts []report.TracePoint
		for _, r := range st.Trace {
			fmt.Fprintf(&csv, "%d,%d,%s,%s,%s\n", r.Chain, r.Step, f(r.Loss), f(r.Kinetic), f(r.Configurational))
			pts = append(pts, report.TracePoint{Step: r.Step, Loss: r.Loss, Kinetic: r.Kinetic, Configurational: r.Configurational})
		}
		if len(pts) > 0 {
			png, err := report.SamplerTrace(pts, cfg.Temperature, fmt.Sprintf("%s chain %d", cfg.Sampler, c))
			if err != nil {
				return nil, err
			}
			if err := atomicfile.WriteFile(filepath.Join(job.Dir, TracePNG(c)), png); err != nil {
				return nil, err
			}
			man.TracePNGs = append(man.TracePNGs, TracePNG(c))
		}
		var series []float64
		for _, m := range st.Members {
			if m.TestLogLik != nil {
				series = append(series, *m.TestLogLik)
			}
		}
		ll = append(ll, series)
	}
	if err := atomicfile.WriteFile(filepath.Join(job.Dir, TraceFile), csv.Bytes()); err != nil {
		return nil, err
	}
	if valSum != nil && d.Val.N > 0 {
		for i := range valSum {
			valSum[i] /= float64(cfg.Members)
		}
		sc, err := Score(valSum, len(valSum)/d.Val.N, d.Val.Labels, 0)
		if err != nil {
			return nil, err
		}
		man.Validation = &sc
	}
	if cfg.Chains >= 2 && job.Test.N > 0 {
		if r, err := RHat(ll); err == nil {
			man.RHat = &r
		}
		if e, err := ESS(ll); err == nil {
			man.ESS = &e
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: before writing %s (every member is drawn; --resume writes it): %w", ErrInterrupted, EnsembleFile, err)
	}
	if err := WriteEnsemble(job.Dir, man.MemberList); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(job.Dir, ManifestFile), append(b, '\n')); err != nil {
		return nil, err
	}
	return man, nil
}

// WriteEnsemble builds dir/ensemble.onnx from the member files (EnsembleGraph on logits). Only
// each member's float data is kept while the graph is assembled, so 100 LeNet-5 members cost
// about their 172 MB twice, not their decoded protobufs too.
func WriteEnsemble(dir string, members []MemberRecord) error {
	ms := make([]*onnxio.Model, len(members))
	for i, r := range members {
		m, err := onnxio.Load(filepath.Join(dir, r.File))
		if err != nil {
			return fmt.Errorf("bayes: ensemble: %w", err)
		}
		// A decoded model keeps its protobuf; a copy of its parts without it halves the memory.
		ms[i] = &onnxio.Model{IRVersion: m.IRVersion, Producer: m.Producer, ProducerVersion: m.ProducerVersion, Domain: m.Domain,
			ModelVersion: m.ModelVersion, Doc: m.Doc, Opsets: m.Opsets, Metadata: m.Metadata, Graph: m.Graph}
	}
	e, err := EnsembleGraph(ms, !outputsProbs(ms[0]))
	if err != nil {
		return err
	}
	clear(ms)
	debug.FreeOSMemory()
	if err := e.Save(filepath.Join(dir, EnsembleFile), onnxio.SaveOptions{}); err != nil {
		return fmt.Errorf("bayes: ensemble: %w", err)
	}
	return nil
}

// outputsProbs reports whether the model's output is produced by a Softmax node (then the
// members' outputs are probabilities already).
func outputsProbs(m *onnxio.Model) bool {
	if len(m.Graph.Outputs) != 1 {
		return false
	}
	p := m.Graph.Producer(m.Graph.Outputs[0].Name)
	return p != nil && p.Op == "Softmax"
}
