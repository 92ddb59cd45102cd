package study

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/seed"
	"github.com/uqnn/uqnn/onnxio"
)

// SweepFile is a sweep stage's result; the stage also keeps the point's model.onnx, its campaign
// (CampaignDir), ensemble (EnsembleDir) and detection (DetectionFile).
const SweepFile = "sweep.json"

// Interval is an estimate with its 95 % percentile-bootstrap interval.
type Interval struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// SweepPoint is one method at one removed fraction.
type SweepPoint struct {
	Method string `json:"method"`
	// Removed is the fraction asked for: of the layer weights for magnitude, sdr and svd, of the
	// filters for filter.
	Removed float64 `json:"removed"`
	// WeightsRemoved is 1 − the measured kept fraction of layer weights (compress.Ledger).
	WeightsRemoved float64      `json:"weights_removed"`
	Test           bayes.Scores `json:"test"`
	Accuracy       Interval     `json:"accuracy"`
	Attacked       int          `json:"attacked"`
	Success        Interval     `json:"attack_success"`
	// MedianQueries is over successful attacks; nil when none succeeded.
	MedianQueries *Interval `json:"median_queries"`
	// AUROC is the MI detector's (adversarial.Detect) on the point's own adversarial images
	// (Adversarial of them) against their clean originals, with a pSGLD ensemble of Members
	// sampled from the point's network; nil (n/a) when no attack succeeded.
	AUROC       *Interval `json:"detection_auroc"`
	Adversarial int       `json:"adversarial"`
	Members     int       `json:"members"`
}

// sweepMethod is the compress method of a sweep point: method at removed fraction r, with the
// sweep's epochs (magnitude and filter retrain Sweep.RetrainEpochs per stage; sdr shrinks
// Sweep.SDREpochs, cuts at the kept fraction 1 − r and fine-tunes Sweep.RetrainEpochs; svd trains
// Sweep.SVDEpochs and keeps the 1 − r with the lowest log α).
func sweepMethod(c Config, method string, r float64) (compress.Method, error) {
	cc := c.Compress
	cc.MagnitudeKeep, cc.FilterRemove = 1-r, r
	cc.SDREpochs, cc.SDRTuneEpochs = c.Sweep.SDREpochs, 0 // 0: the retrain epochs given below
	m, err := newMethod(SweepStage(method, r), method, cc, c.Sweep.RetrainEpochs)
	if err != nil {
		return nil, err
	}
	set := func(name string, v any) {
		if err == nil {
			err = setOption(m, name, v)
		}
	}
	switch method {
	case SDR:
		set("sdr-keep", 1-r)
	case SVD:
		set("svd-keep", 1-r)
		set("svd-epochs", c.Sweep.SVDEpochs)
	}
	return m, err
}

// sweepRunner prunes the base network with method at removed fraction r (compress library,
// retrained), scores it, attacks Sweep.AttackN images, and measures how well a small pSGLD
// ensemble sampled from the pruned network detects those adversarial images.
func sweepRunner(method string, r float64) func(ctx context.Context, e *Env, w *Work) error {
	return func(ctx context.Context, e *Env, w *Work) error {
		m, err := sweepMethod(e.Config, method, r)
		if err != nil {
			return err
		}
		base, pp, err := loadNetwork(w.Input("train"))
		if err != nil {
			return err
		}
		sha, err := onnxio.FileSHA256(filepath.Join(w.Input("train"), ModelFile))
		if err != nil {
			return err
		}
		env, err := e.compressEnv(pp, w.Seed)
		if err != nil {
			return err
		}
		res, err := compress.Chain(ctx, base, []compress.Method{m}, env, sha)
		if err != nil {
			return err
		}
		pp.Store(res.Model)
		if err := res.Model.Save(w.Path(ModelFile), onnxio.SaveOptions{}); err != nil {
			return err
		}
		led, err := compress.NewLedger(base, res.Model)
		if err != nil {
			return err
		}
		sc, ok, err := e.score(ctx, w.Path(ModelFile), pp)
		if err != nil {
			return err
		}
		rep, err := e.campaign(ctx, w.Path(ModelFile), w.Path(CampaignDir), e.Config.Sweep.AttackN, w.Seed)
		if err != nil {
			return err
		}
		_, recs, err := adversarial.ReadCampaign(w.Path(CampaignDir))
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(w.Seed, 0xb007))
		B := e.Config.Sweep.Bootstrap
		p := SweepPoint{Method: method, Removed: r, WeightsRemoved: 1 - led.Kept, Test: sc, Attacked: rep.Attacked,
			Accuracy: bootstrap(boolsToFloat(ok), mean, B, rng)}
		succ := make([]float64, len(recs))
		var q []float64
		for i, x := range recs {
			if x.Success {
				succ[i] = 1
				q = append(q, float64(x.Queries))
			}
		}
		if len(succ) > 0 {
			p.Success = bootstrap(succ, mean, B, rng)
		}
		if len(q) > 0 {
			iv := bootstrap(q, median, B, rng)
			p.MedianQueries = &iv
		}
		if err := e.sweepDetect(ctx, w, res.Model, pp, recs, &p); err != nil {
			return err
		}
		return writeJSON(w.Path(SweepFile), p)
	}
}

// sweepDetect samples Sweep.Members pSGLD members from the point's network (model.onnx in the
// work folder) and evaluates the MI detector on the point's adversarial images against their
// clean originals (adversarial.Detect; thresholds on the validation images), filling p's AUROC.
// With no adversarial image there is nothing to detect: no ensemble is drawn and AUROC stays nil.
func (e *Env) sweepDetect(ctx context.Context, w *Work, m *onnxio.Model, pp pixel.Preprocess, recs []adversarial.Record, p *SweepPoint) error {
	d, err := e.Data()
	if err != nil {
		return err
	}
	adv, clean, err := adversarial.CampaignSets(recs, d.Test, 0)
	if err != nil {
		return fmt.Errorf("study: sweep detection: %w", err)
	}
	if p.Adversarial = adv.N; adv.N == 0 {
		return nil
	}
	dir := w.Path(EnsembleDir)
	if err := e.sample(ctx, m, pp, w.Path(ModelFile), dir, PSGLD, e.Config.Sweep.Members, seed.Rand(w.Seed, "sweep ensemble").Uint64()); err != nil {
		return err
	}
	ens, closeAll, err := e.openEnsemble(dir)
	if err != nil {
		return err
	}
	defer closeAll()
	det, err := adversarial.Detect(ctx, ens, adversarial.DetectSets{Adversarial: adv, Clean: clean, Validation: d.Val},
		adversarial.DetectConfig{FPRs: []float64{e.Config.Detect.FPR}, Bootstrap: e.Config.Sweep.Bootstrap, Seed: w.Seed})
	if err != nil {
		return fmt.Errorf("study: sweep detection: %w", err)
	}
	p.AUROC = &Interval{Value: det.AUROC.Value, Lo: det.AUROC.Lo, Hi: det.AUROC.Hi}
	p.Members = det.Members
	return writeJSON(w.Path(DetectionFile), det)
}

func boolsToFloat(b []bool) []float64 {
	v := make([]float64, len(b))
	for i, x := range b {
		if x {
			v[i] = 1
		}
	}
	return v
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// bootstrap is stat(v) with the 2.5 and 97.5 percentiles of stat over B resamples.
func bootstrap(v []float64, stat func([]float64) float64, B int, rng *rand.Rand) Interval {
	est := stat(v)
	res := make([]float64, B)
	buf := make([]float64, len(v))
	for b := range res {
		for i := range buf {
			buf[i] = v[rng.IntN(len(v))]
		}
		res[b] = stat(buf)
	}
	slices.Sort(res)
	q := func(p float64) float64 { return res[min(int(p*float64(B)), B-1)] }
	return Interval{Value: est, Lo: q(0.025), Hi: q(0.975)}
}
