package study

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// Files of the other stages.
const (
	CampaignDir   = "campaign" // attack: the adversarial.Campaign folder
	EnsembleDir   = "ensemble" // sample: the bayes.Sample folder
	DetectionFile = "detection.json"
	ScoresFile    = "scores.json" // detect: per-image MI of both sets (MI histograms, ROC)
)

// setOption sets a compress.Method's option by its flag name.
func setOption(m compress.Method, name string, v any) error {
	for _, o := range m.Options() {
		if o.Name != name {
			continue
		}
		switch p := o.Value.(type) {
		case *float64:
			*p = v.(float64)
		case *int:
			*p = v.(int)
		case *string:
			*p = v.(string)
		case *bool:
			*p = v.(bool)
		default:
			return fmt.Errorf("study: compress method %s: option %s has type %T", m.Name(), name, o.Value)
		}
		return nil
	}
	return fmt.Errorf("study: compress method %s has no option %q in this build", m.Name(), name)
}

// newMethod returns a configured compress method, or a NotAvailableError when this build does not
// register it.
func newMethod(stage, name string, c CompressConfig, retrain int) (compress.Method, error) {
	m, err := compress.NewMethod(name)
	if err != nil {
		return nil, &NotAvailableError{Stage: stage, Missing: []string{fmt.Sprintf("compress method %q (registered: %v)", name, compress.MethodNames())}}
	}
	var opts []struct {
		name string
		v    any
	}
	add := func(n string, v any) {
		opts = append(opts, struct {
			name string
			v    any
		}{n, v})
	}
	switch name {
	case Magnitude:
		add("keep-all", c.MagnitudeKeep)
	case Filter:
		add("remove", c.FilterRemove)
		add("filter-images", c.FilterImages)
	case SDR:
		add("sdr-lambda", c.SDRLambda)
		add("sdr-epochs", c.SDREpochs)
		add("tolerance", c.SDRTolerance)
	}
	for _, o := range opts {
		if err := setOption(m, o.name, o.v); err != nil {
			return nil, err
		}
	}
	if ft, ok := m.(compress.FineTuner); ok {
		if name == SDR && c.SDRTuneEpochs > 0 {
			retrain = c.SDRTuneEpochs
		}
		ft.SetFineTuneEpochs(retrain)
	}
	return m, nil
}

// compressEnv is the compress.Env of the study's data for a network with pixel map pp.
func (e *Env) compressEnv(pp pixel.Preprocess, sd uint64) (compress.Env, error) {
	d, err := e.Data()
	if err != nil {
		return compress.Env{}, err
	}
	if err := ort.Setup(e.ORTLib); err != nil {
		return compress.Env{}, err
	}
	return compress.Env{
		Data: train.Data{Train: *d.Train, Val: *d.Val, Scale: pp.Scale, Offset: pp.Offset},
		Run:  ort.RunModel, Seed: sd,
		Tune: compress.Tune{WeightDecay: e.Config.Train.WeightDecay, Batch: e.Config.Train.Batch},
	}, nil
}

// compressRunner makes network m from the base network with the compress library's methods
// (combined: svd, then magnitude, then quantization, as one compress.Chain; where the study also
// makes the svd network, combined starts from it and chains magnitude and quantization only).
func compressRunner(method string) func(ctx context.Context, e *Env, w *Work) error {
	return func(ctx context.Context, e *Env, w *Work) error {
		c := e.Config.Compress
		names := []string{method}
		startDir := w.Input("train")
		if method == Combined {
			names = []string{SVD, Magnitude, "quantize"}
			if d := w.Input(NetworkStage(SVD)); d != "" {
				names, startDir = names[1:], d
			}
		}
		var ms []compress.Method
		var missing []string
		for _, n := range names {
			m, err := newMethod("compress/"+method, n, c, c.RetrainEpochs)
			var na *NotAvailableError
			if errors.As(err, &na) {
				missing = append(missing, na.Missing...)
				continue
			} else if err != nil {
				return err
			}
			ms = append(ms, m)
		}
		if len(missing) > 0 {
			return &NotAvailableError{Stage: "compress/" + method, Missing: missing}
		}
		base, pp, err := loadNetwork(w.Input("train"))
		if err != nil {
			return err
		}
		start := base
		if startDir != w.Input("train") {
			if start, _, err = loadNetwork(startDir); err != nil {
				return err
			}
		}
		sha, err := onnxio.FileSHA256(filepath.Join(startDir, ModelFile))
		if err != nil {
			return err
		}
		env, err := e.compressEnv(pp, w.Seed)
		if err != nil {
			return err
		}
		// A compressed start (the svd network) keeps its zeros through magnitude's retraining.
		if env.Prior, err = compress.PriorOf(start); err != nil {
			return err
		}
		res, err := compress.Chain(ctx, start, ms, env, sha)
		if err != nil {
			return err
		}
		pp.Store(res.Model)
		if err := res.Model.Save(w.Path(ModelFile), onnxio.SaveOptions{}); err != nil {
			return err
		}
		note := ""
		for _, n := range res.Notes {
			note += n + "\n"
		}
		return e.writeNetwork(ctx, w, method, base, res.Model, pp, nil, false, note)
	}
}

// sampleRunner draws a sampler's ensemble from a network (bayes.Sample), resuming an interrupted
// draw in the work folder.
func sampleRunner(sampler string) func(ctx context.Context, e *Env, w *Work) error {
	return func(ctx context.Context, e *Env, w *Work) error {
		var netDir string
		for _, d := range w.Inputs {
			netDir = d
		}
		src, pp, err := loadNetwork(netDir)
		if err != nil {
			return err
		}
		return e.sample(ctx, src, pp, filepath.Join(netDir, ModelFile), w.Path(EnsembleDir), sampler, e.Config.Sample.Members, w.Seed)
	}
}

// sample draws members of a sampler's ensemble from src (read from path, pixel map pp) into dir
// with bayes.Sample and the study's chain settings, resuming an interrupted draw there.
func (e *Env) sample(ctx context.Context, src *onnxio.Model, pp pixel.Preprocess, path, dir, sampler string, members int, sd uint64) error {
	d, err := e.Data()
	if err != nil {
		return err
	}
	sha, err := onnxio.FileSHA256(path)
	if err != nil {
		return err
	}
	c := e.Config.Sample
	burnin := c.Burnin
	if burnin == 0 {
		burnin = -1 // bayes: negative means none
	}
	_, statErr := os.Stat(dir)
	_, err = bayes.Sample(ctx, bayes.SampleJob{
		Source: src, SourceFile: path, SourceSHA256: sha,
		Data: train.Data{Train: *d.Train, Val: *d.Val, Scale: pp.Scale, Offset: pp.Offset},
		Test: *d.Test, Dir: dir,
		// The study configures a constant-step chain (burn-in, thinning), not the cyclical default.
		Config: bayes.SampleConfig{Sampler: sampler, Members: members, Burnin: burnin, Thin: c.Thin, Cycles: -1,
			StepSize: c.StepSize, Temperature: c.Temperature, WeightDecay: e.Config.Train.WeightDecay,
			Batch: e.Config.Train.Batch, Seed: sd, Resume: statErr == nil},
	})
	return err
}

// openEnsemble opens the members of the ensemble folder dir in onnxruntime; closeAll releases
// them.
func (e *Env) openEnsemble(dir string) (ens *adversarial.MemberEnsemble, closeAll func(), err error) {
	man, err := bayes.ReadManifest(dir)
	if err != nil {
		return nil, nil, err
	}
	pp, _, err := pixel.Parse(man.Preprocess)
	if err != nil {
		return nil, nil, fmt.Errorf("study: %s: preprocess: %w", dir, err)
	}
	var members []adversarial.Model
	var opened []*ort.Classifier
	closeAll = func() {
		for _, c := range opened {
			c.Close()
		}
	}
	for _, m := range man.MemberList {
		cl, err := e.open(filepath.Join(dir, m.File), pp, 1)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		opened = append(opened, cl)
		members = append(members, cl)
	}
	if ens, err = adversarial.NewMemberEnsemble(members); err != nil {
		closeAll()
		return nil, nil, err
	}
	return ens, closeAll, nil
}

// attackRunner attacks a network with GenAttack (adversarial.Campaign), resuming its records.
func attackRunner(n int) func(ctx context.Context, e *Env, w *Work) error {
	return func(ctx context.Context, e *Env, w *Work) error {
		var netDir string
		for _, d := range w.Inputs {
			netDir = d
		}
		_, err := e.campaign(ctx, filepath.Join(netDir, ModelFile), w.Path(CampaignDir), n, w.Seed)
		return err
	}
}

// campaign runs adversarial.Campaign on a model file into dir.
func (e *Env) campaign(ctx context.Context, path, dir string, n int, sd uint64) (adversarial.CampaignReport, error) {
	d, err := e.Data()
	if err != nil {
		return adversarial.CampaignReport{}, err
	}
	m, err := onnxio.Load(path)
	if err != nil {
		return adversarial.CampaignReport{}, err
	}
	pp, ok := pixel.FromModel(m)
	if !ok {
		return adversarial.CampaignReport{}, fmt.Errorf("study: %s: no %s metadata", path, pixel.MetaKey)
	}
	cl, err := e.open(path, pp, 1)
	if err != nil {
		return adversarial.CampaignReport{}, err
	}
	defer cl.Close()
	sha, err := onnxio.FileSHA256(path)
	if err != nil {
		return adversarial.CampaignReport{}, err
	}
	a := e.Config.Attack
	camp := adversarial.Campaign{
		Model: cl, Test: d.Test, N: n, Budget: a.Budget,
		Config: adversarial.Config{Epsilon: a.Epsilon, Adaptive: true, RhoInit: adversarial.DefaultRho, AlphaInit: adversarial.DefaultAlpha,
			RhoMin: adversarial.MNISTRhoMin, AlphaMin: adversarial.MNISTAlphaMin, Plateau: adversarial.MNISTPlateau}.WithDefaults(),
		Seed: sd, Workers: a.Workers, Dir: dir, Resume: true, Grid: a.Grid,
		ModelPath: filepath.Base(path), ModelSHA256: sha, DataDir: d.MNIST.Dir,
		Preprocess: pixel.Resolved{Preprocess: pp, Source: pixel.FromMetadata},
		Tool:       e.Tool, Version: e.Version, ORTVersion: ort.Version,
	}
	return camp.Run(ctx)
}

// detectRunner evaluates a (network, sampler) ensemble in the detection settings
// (adversarial.Detect): "own" the network's own adversarial images, "base" the base network's,
// "pooled" every network's.
func detectRunner(network, sampler string) func(ctx context.Context, e *Env, w *Work) error {
	return func(ctx context.Context, e *Env, w *Work) error {
		d, err := e.Data()
		if err != nil {
			return err
		}
		ens, closeAll, err := e.openEnsemble(filepath.Join(w.Input("sample/"+network+"/"+sampler), EnsembleDir))
		if err != nil {
			return err
		}
		defer closeAll()
		records := map[string][]adversarial.Record{}
		var pooled []string
		for _, n := range e.Config.Networks() {
			in, ok := w.Inputs["attack/"+n]
			if !ok {
				continue // not finished: the pooled setting goes without it
			}
			pooled = append(pooled, n)
			_, recs, err := adversarial.ReadCampaign(filepath.Join(in, CampaignDir))
			if err != nil {
				return err
			}
			records[n] = recs
		}
		out := map[string]*adversarial.Detection{}
		scores := map[string]map[string][]float64{}
		for _, setting := range e.Config.Detect.Settings {
			var recs []adversarial.Record
			switch setting {
			case "own":
				recs = records[network]
			case "base":
				recs = records[Base]
			case "pooled":
				for _, n := range pooled {
					recs = append(recs, records[n]...)
				}
			}
			adv, clean, err := adversarial.CampaignSets(recs, d.Test, d.Test.N)
			if err != nil {
				return fmt.Errorf("study: detect %s: %w", setting, err)
			}
			det, err := adversarial.Detect(ctx, ens, adversarial.DetectSets{Adversarial: adv, Clean: clean, Validation: d.Val},
				adversarial.DetectConfig{FPRs: []float64{e.Config.Detect.FPR}, Bootstrap: e.Config.Sweep.Bootstrap, Seed: w.Seed})
			if err != nil {
				return fmt.Errorf("study: detect %s: %w", setting, err)
			}
			out[setting] = det
			scores[setting] = map[string][]float64{"adversarial_mi": det.AdversarialMI, "clean_mi": det.CleanMI,
				"adversarial_score": det.AdversarialScore, "clean_score": det.CleanScore}
		}
		// Misclassification: does the ensemble's MI rank its wrong clean test predictions first?
		p, err := ens.Predict(ctx, d.Test.Float(0, d.Test.N), d.Test.N)
		if err != nil {
			return err
		}
		wrong, err := p.Wrong(d.Test.Labels)
		if err != nil {
			return err
		}
		mis := MisclassResult{Wrong: count(wrong), N: len(wrong), MeanMIWrong: meanWhere(p.MI, wrong, true), MeanMIRight: meanWhere(p.MI, wrong, false)}
		if mis.Wrong > 0 && mis.Wrong < mis.N {
			a, err := bayes.AUROC(p.MI, wrong)
			if err != nil {
				return err
			}
			mis.AUROC = &a
		}
		sc, err := p.Score(d.Test.Labels, bayes.DefaultECEBins)
		if err != nil {
			return err
		}
		if err := writeJSON(w.Path(ScoresFile), scores); err != nil {
			return err
		}
		return writeJSON(w.Path(DetectionFile), DetectResult{Settings: out, Misclass: mis, Test: sc, Members: ens.Members(), Pooled: pooled})
	}
}

// DetectResult is a detect stage's detection.json.
type DetectResult struct {
	Members  int                               `json:"members"`
	Test     bayes.Scores                      `json:"test"` // the ensemble on the clean test images
	Settings map[string]*adversarial.Detection `json:"settings"`
	Misclass MisclassResult                    `json:"misclassification"`
	Pooled   []string                          `json:"pooled_networks"` // whose attacks the pooled setting used
}

// MisclassResult is how well the ensemble's MI flags its own mistakes on clean test images.
type MisclassResult struct {
	N           int      `json:"n"`
	Wrong       int      `json:"wrong"`
	AUROC       *float64 `json:"auroc"` // null when every prediction is right (or wrong)
	MeanMIWrong float64  `json:"mean_mi_wrong"`
	MeanMIRight float64  `json:"mean_mi_right"`
}

func count(b []bool) int {
	k := 0
	for _, v := range b {
		if v {
			k++
		}
	}
	return k
}

func meanWhere(v []float64, b []bool, want bool) float64 {
	var s float64
	k := 0
	for i, x := range v {
		if b[i] == want {
			s += x
			k++
		}
	}
	if k == 0 {
		return 0
	}
	return s / float64(k)
}
