package study

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/train"
	"gopkg.in/yaml.v3"
)

// Config sets every knob of a study. Default gives the full study, Quick the one `make run`
// runs; a YAML file (ParseConfig) overrides any field of either.
type Config struct {
	Seed uint64 `yaml:"seed" json:"seed"`
	// Data is the MNIST folder; "" means the embedded default (the GoMNIST module's files).
	Data string `yaml:"data" json:"data"`
	// Model is an ONNX classifier to study instead of training one; "" trains Train.Arch.
	Model string `yaml:"model" json:"model"`
	// Preprocess is the pixel mapping of Model (pixel.Parse syntax, or auto); ignored when
	// training.
	Preprocess string `yaml:"preprocess" json:"preprocess"`

	Train    TrainConfig    `yaml:"train" json:"train"`
	Compress CompressConfig `yaml:"compress" json:"compress"`
	Sample   SampleConfig   `yaml:"sample" json:"sample"`
	Attack   AttackConfig   `yaml:"attack" json:"attack"`
	Detect   DetectConfig   `yaml:"detect" json:"detect"`
	Sweep    SweepConfig    `yaml:"sweep" json:"sweep"`
}

// TrainConfig is the base network's training run (train.Job with Adam and a cosine decay).
type TrainConfig struct {
	Arch        string  `yaml:"arch" json:"arch"`
	Epochs      int     `yaml:"epochs" json:"epochs"`
	Batch       int     `yaml:"batch" json:"batch"`
	WeightDecay float64 `yaml:"weight_decay" json:"weight_decay"`
	// Images is the number of training images (0: the whole training split); ValImages and
	// TestImages likewise for validation and test (0: all).
	Images      int `yaml:"images" json:"images"`
	ValImages   int `yaml:"val_images" json:"val_images"`
	TestImages  int `yaml:"test_images" json:"test_images"`
	CurvesEvery int `yaml:"curves_every" json:"curves_every"`
}

// CompressConfig chooses the compressed networks and their settings.
type CompressConfig struct {
	// Methods are the compressed networks, in table order: magnitude, filter, sdr, svd, and
	// combined (svd, then magnitude, then quantization).
	Methods       []string `yaml:"methods" json:"methods"`
	RetrainEpochs int      `yaml:"retrain_epochs" json:"retrain_epochs"`
	// MagnitudeKeep is the fraction of layer weights magnitude pruning keeps (one threshold).
	MagnitudeKeep float64 `yaml:"magnitude_keep" json:"magnitude_keep"`
	// FilterRemove is the fraction of each conv's filters removed (mean-activation criterion).
	FilterRemove float64 `yaml:"filter_remove" json:"filter_remove"`
	FilterImages int     `yaml:"filter_images" json:"filter_images"`
	// SDRLambda and SDREpochs drive the SDR shrinkage run; SDRTolerance is the validation loss
	// rise (nats) the threshold may cost; SDRTuneEpochs fine-tune after the threshold (0: the
	// retrain_epochs of every method).
	SDRLambda     float64 `yaml:"sdr_lambda" json:"sdr_lambda"`
	SDREpochs     int     `yaml:"sdr_epochs" json:"sdr_epochs"`
	SDRTolerance  float64 `yaml:"sdr_tolerance" json:"sdr_tolerance"`
	SDRTuneEpochs int     `yaml:"sdr_tune_epochs" json:"sdr_tune_epochs"`
	// QuantBits is the weight code length of the combined network's quantization.
	QuantBits int `yaml:"quant_bits" json:"quant_bits"`
}

// SampleConfig drives the ensembles (bayes samplers started from each network).
type SampleConfig struct {
	Samplers []string `yaml:"samplers" json:"samplers"`
	Members  int      `yaml:"members" json:"members"`
	// Burnin steps before the first member, Thin steps between members (bayes.SampleConfig).
	Burnin      int     `yaml:"burnin" json:"burnin"`
	Thin        int     `yaml:"thin" json:"thin"`
	StepSize    float64 `yaml:"step_size" json:"step_size"`
	Temperature float64 `yaml:"temperature" json:"temperature"`
}

// AttackConfig drives GenAttack against every network (adversarial.Campaign).
type AttackConfig struct {
	N       int     `yaml:"n" json:"n"`
	Budget  int64   `yaml:"budget" json:"budget"`
	Epsilon float64 `yaml:"epsilon" json:"epsilon"`
	Workers int     `yaml:"workers" json:"workers"`
	Grid    int     `yaml:"grid" json:"grid"`
}

// DetectConfig names the detection settings evaluated for every (network, sampler) pair.
type DetectConfig struct {
	Settings []string `yaml:"settings" json:"settings"`
	// FPR is the false-positive rate at which the TPR is reported.
	FPR float64 `yaml:"fpr" json:"fpr"`
}

// SweepConfig is the sparsity sweep: each method at each removed fraction, retrained, scored
// and attacked on fewer images, with a small pSGLD ensemble per point for the detection AUROC
// of the point's own adversarial images, all with bootstrap intervals.
type SweepConfig struct {
	Methods []string `yaml:"methods" json:"methods"`
	// Removed are the fractions removed: of the layer weights for magnitude, sdr and svd (their
	// kept-fraction targets: keep-all, sdr-keep, svd-keep = 1 − r), of each conv's filters for
	// filter.
	Removed []float64 `yaml:"removed" json:"removed"`
	// RetrainEpochs retrain magnitude and filter points and fine-tune sdr points after the cut.
	RetrainEpochs int `yaml:"retrain_epochs" json:"retrain_epochs"`
	// SDREpochs are an sdr point's shrinkage epochs (compress.sdr_lambda), SVDEpochs an svd
	// point's training epochs: fewer than the compressed networks', to keep the sweep affordable.
	SDREpochs int `yaml:"sdr_epochs" json:"sdr_epochs"`
	SVDEpochs int `yaml:"svd_epochs" json:"svd_epochs"`
	AttackN   int `yaml:"attack_n" json:"attack_n"`
	// Members of each point's pSGLD ensemble (the sample section's chain settings).
	Members   int `yaml:"members" json:"members"`
	Bootstrap int `yaml:"bootstrap" json:"bootstrap"`
}

// Method names.
const (
	Base      = "base"
	Magnitude = "magnitude"
	Filter    = "filter"
	SDR       = "sdr"
	SVD       = "svd"
	Combined  = "combined"
	PSGLD     = "psgld"
	BAOAB     = "baoab"
)

var (
	knownMethods  = []string{Magnitude, Filter, SDR, SVD, Combined}
	knownSamplers = []string{PSGLD, BAOAB}
	sweepMethods  = []string{Magnitude, Filter, SDR, SVD}
	// DetectSettings are the three detection settings of the original study: the adversarial
	// images of the network the ensemble was sampled from (white-box transfer to the posterior),
	// those of the base network, and those of every network pooled.
	DetectSettings = []string{"own", "base", "pooled"}
)

// Default is the full study of the issue: LeNet-5 for 10 epochs on the whole training split, four
// compressed networks and the combined one, 2×6 ensembles of 10 members, 1,000 attacks per network,
// and the sparsity sweep of every pruning method.
func Default() Config {
	return Config{
		Seed: 1,
		Train: TrainConfig{Arch: train.DefaultArch, Epochs: train.DefaultEpochs, Batch: train.DefaultBatch,
			WeightDecay: train.DefaultWeightDecay, CurvesEvery: train.DefaultCurvesEvery},
		// The compress library's defaults (measured on LeNet-5's validation split; see the
		// compress package and the README), so the study's networks are the ones `uqnn compress`
		// makes.
		Compress: CompressConfig{
			Methods: []string{Magnitude, Filter, SDR, SVD, Combined}, RetrainEpochs: compress.DefaultMagnitudeEpochs,
			MagnitudeKeep: compress.DefaultMagnitudeKeepAll, FilterRemove: compress.DefaultFilterRemove,
			FilterImages: compress.DefaultFilterCalibN, SDRLambda: compress.DefaultSDRLambda,
			SDREpochs: compress.DefaultSDREpochs, SDRTolerance: compress.DefaultSDRTolerance,
			SDRTuneEpochs: compress.DefaultSDRTuneEpochs, QuantBits: 5,
		},
		Sample: SampleConfig{Samplers: []string{PSGLD, BAOAB}, Members: 10, Burnin: 500, Thin: 200, StepSize: 1e-4, Temperature: 1},
		Attack: AttackConfig{N: 1000, Budget: 10000, Epsilon: 0.3, Workers: 2, Grid: 10},
		Detect: DetectConfig{Settings: DetectSettings, FPR: 0.05},
		Sweep: SweepConfig{
			Methods: []string{Magnitude, Filter, SDR, SVD}, Removed: []float64{0.5, 0.75, 0.9, 0.95, 0.99, 0.995},
			RetrainEpochs: 1, SDREpochs: 2, SVDEpochs: 2, AttackN: 100, Members: 5, Bootstrap: 1000,
		},
	}
}

// Quick is `uqnn study --quick`: every stage of Default on less data, fewer epochs, members and
// attacks, sized for ≤ 15 minutes on 2 cores.
func Quick() Config {
	c := Default()
	c.Train.Epochs, c.Train.Images, c.Train.ValImages, c.Train.TestImages = 1, 10000, 1000, 1000
	c.Compress.RetrainEpochs, c.Compress.SDREpochs, c.Compress.FilterImages = 1, 1, 200
	c.Compress.SDRLambda, c.Compress.SDRTolerance, c.Compress.SDRTuneEpochs = 1e-3, 0.01, 0
	c.Sample.Members, c.Sample.Burnin, c.Sample.Thin = 3, 50, 50
	c.Attack.N, c.Attack.Budget = 20, 2000
	c.Sweep.Removed = []float64{0.5, 0.9, 0.99}
	c.Sweep.SDREpochs, c.Sweep.SVDEpochs, c.Sweep.Members = 1, 1, 3
	c.Sweep.AttackN, c.Sweep.Bootstrap = 10, 200
	return c
}

// ParseConfig reads YAML over base: keys present replace base's values, absent keys keep them.
// An unknown key, a second document or a bad value is an error naming it.
func ParseConfig(r io.Reader, base Config) (Config, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	c := base
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("study: config: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("study: config: want one YAML document, found more")
	}
	return c, c.Validate()
}

// YAML is the config as a YAML document (what DIR/config.yaml holds).
func (c Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# uqnn study: the effective configuration (uqnn study --config this file reproduces the study)\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("study: config: %w", err)
	}
	return b.Bytes(), enc.Close()
}

// Validate checks every field, naming the YAML key at fault.
func (c Config) Validate() error {
	chk := func(ok bool, format string, a ...any) error {
		if ok {
			return nil
		}
		return fmt.Errorf("study: config: "+format, a...)
	}
	frac := func(v float64) bool { return v > 0 && v < 1 }
	errs := []error{
		chk(c.Model != "" || c.Train.Arch != "", "train.arch is empty; want lenet5, zoo or mlp (or set model)"),
		chk(c.Train.Epochs >= 1, "train.epochs %d; want ≥ 1", c.Train.Epochs),
		chk(c.Train.Batch >= 1, "train.batch %d; want ≥ 1", c.Train.Batch),
		chk(c.Train.WeightDecay >= 0, "train.weight_decay %g; want ≥ 0", c.Train.WeightDecay),
		chk(c.Train.Images >= 0 && c.Train.ValImages >= 0 && c.Train.TestImages >= 0, "train.images, val_images and test_images want ≥ 0 (0: all)"),
		chk(c.Train.CurvesEvery >= 0, "train.curves_every %d; want ≥ 0", c.Train.CurvesEvery),
		chk(c.Compress.RetrainEpochs >= 1, "compress.retrain_epochs %d; want ≥ 1", c.Compress.RetrainEpochs),
		chk(frac(c.Compress.MagnitudeKeep), "compress.magnitude_keep %g; want a fraction in (0, 1)", c.Compress.MagnitudeKeep),
		chk(frac(c.Compress.FilterRemove), "compress.filter_remove %g; want a fraction in (0, 1)", c.Compress.FilterRemove),
		chk(c.Compress.FilterImages >= 1, "compress.filter_images %d; want ≥ 1", c.Compress.FilterImages),
		chk(frac(c.Compress.SDRLambda), "compress.sdr_lambda %g; want a value in (0, 1)", c.Compress.SDRLambda),
		chk(c.Compress.SDREpochs >= 1, "compress.sdr_epochs %d; want ≥ 1", c.Compress.SDREpochs),
		chk(c.Compress.SDRTuneEpochs >= 0, "compress.sdr_tune_epochs %d; want ≥ 0", c.Compress.SDRTuneEpochs),
		chk(c.Compress.SDRTolerance >= 0, "compress.sdr_tolerance %g; want ≥ 0", c.Compress.SDRTolerance),
		chk(c.Compress.QuantBits >= 1 && c.Compress.QuantBits <= 16, "compress.quant_bits %d; want 1..16", c.Compress.QuantBits),
		chk(c.Sample.Members >= 2, "sample.members %d; want ≥ 2 (an ensemble)", c.Sample.Members),
		chk(c.Sample.Burnin >= 0, "sample.burnin %d; want ≥ 0", c.Sample.Burnin),
		chk(c.Sample.Thin >= 1, "sample.thin %d; want ≥ 1", c.Sample.Thin),
		chk(c.Sample.StepSize > 0, "sample.step_size %g; want > 0", c.Sample.StepSize),
		chk(c.Sample.Temperature > 0, "sample.temperature %g; want > 0", c.Sample.Temperature),
		chk(c.Attack.N >= 1, "attack.n %d; want ≥ 1", c.Attack.N),
		chk(c.Attack.Budget >= 1, "attack.budget %d; want ≥ 1", c.Attack.Budget),
		chk(c.Attack.Epsilon >= 1.0/255 && c.Attack.Epsilon <= 1, "attack.epsilon %g; want 1/255..1", c.Attack.Epsilon),
		chk(c.Attack.Workers >= 1, "attack.workers %d; want ≥ 1", c.Attack.Workers),
		chk(c.Attack.Grid >= 0, "attack.grid %d; want ≥ 0", c.Attack.Grid),
		chk(frac(c.Detect.FPR), "detect.fpr %g; want a fraction in (0, 1)", c.Detect.FPR),
		chk(c.Sweep.RetrainEpochs >= 1, "sweep.retrain_epochs %d; want ≥ 1", c.Sweep.RetrainEpochs),
		chk(c.Sweep.SDREpochs >= 1, "sweep.sdr_epochs %d; want ≥ 1", c.Sweep.SDREpochs),
		chk(c.Sweep.SVDEpochs >= 1, "sweep.svd_epochs %d; want ≥ 1", c.Sweep.SVDEpochs),
		chk(c.Sweep.AttackN >= 1, "sweep.attack_n %d; want ≥ 1", c.Sweep.AttackN),
		chk(c.Sweep.Members >= 2, "sweep.members %d; want ≥ 2 (an ensemble)", c.Sweep.Members),
		chk(c.Sweep.Bootstrap >= 10, "sweep.bootstrap %d; want ≥ 10 resamples", c.Sweep.Bootstrap),
		oneOf("compress.methods", c.Compress.Methods, knownMethods),
		oneOf("sample.samplers", c.Sample.Samplers, knownSamplers),
		oneOf("detect.settings", c.Detect.Settings, DetectSettings),
		oneOf("sweep.methods", c.Sweep.Methods, sweepMethods),
	}
	for i, r := range c.Sweep.Removed {
		errs = append(errs, chk(frac(r), "sweep.removed[%d] = %g; want a fraction in (0, 1)", i, r))
	}
	if len(c.Sample.Samplers) == 0 {
		errs = append(errs, fmt.Errorf("study: config: sample.samplers is empty; want psgld and/or baoab"))
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func oneOf(key string, got, known []string) error {
	seen := map[string]bool{}
	for _, g := range got {
		if !slices.Contains(known, g) {
			return fmt.Errorf("study: config: %s: %q; want some of %v", key, g, known)
		}
		if seen[g] {
			return fmt.Errorf("study: config: %s: %q twice", key, g)
		}
		seen[g] = true
	}
	return nil
}
