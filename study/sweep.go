package study

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/onnxio"
)

// SweepFile is a sweep stage's result.
const SweepFile = "sweep.json"

// Interval is an estimate with its 95 % percentile-bootstrap interval.
type Interval struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// SweepPoint is one method at one removed fraction.
type SweepPoint struct {
	Method  string  `json:"method"`
	Removed float64 `json:"removed"` // the fraction asked for (weights for magnitude, filters for filter)
	// WeightsRemoved is 1 − the measured kept fraction of layer weights (compress.Ledger).
	WeightsRemoved float64      `json:"weights_removed"`
	Test           bayes.Scores `json:"test"`
	Accuracy       Interval     `json:"accuracy"`
	Attacked       int          `json:"attacked"`
	Success        Interval     `json:"attack_success"`
	// MedianQueries is over successful attacks; nil when none succeeded.
	MedianQueries *Interval `json:"median_queries"`
}

// sweepRunner prunes the base network with method at removed fraction r (compress library,
// retrained), scores it and attacks Sweep.AttackN images.
func sweepRunner(method string, r float64) func(ctx context.Context, e *Env, w *Work) error {
	return func(ctx context.Context, e *Env, w *Work) error {
		c := e.Config.Compress
		c.MagnitudeKeep, c.FilterRemove = 1-r, r
		m, err := newMethod(SweepStage(method, r), method, c, e.Config.Sweep.RetrainEpochs)
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
		return writeJSON(w.Path(SweepFile), p)
	}
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
