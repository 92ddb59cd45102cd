package bayes

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"math"
	"path/filepath"

	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// MemberRecord is one drawn member as the manifest lists it.
type MemberRecord struct {
	File  string  `json:"file"`
	Chain int     `json:"chain"`
	Step  int     `json:"step"` // the chain's steps completed when it was drawn
	Loss  float64 `json:"loss"` // minibatch loss (mean cross-entropy) of its last step
	// ValNLL and ValAccuracy score the member alone on the validation split.
	ValNLL      float64 `json:"val_nll"`
	ValAccuracy float64 `json:"val_accuracy"`
	// TestLogLik is the mean log-likelihood of the test set under the member (SampleJob.Test
	// given), the series whose R-hat and ESS the manifest reports.
	TestLogLik *float64 `json:"test_loglik,omitempty"`
}

// TraceRow is the mean over TraceEvery steps of a chain: minibatch loss and, for BAOAB, the
// kinetic and configurational temperatures (NaN for pSGLD).
type TraceRow struct {
	Chain           int
	Step            int // steps completed at the row's end
	Loss            float64
	Kinetic         float64
	Configurational float64
}

// chainState is what a chain's member hook collects; it goes into the loop's checkpoints (gob)
// and, once the chain is complete, into chainN.gob.
type chainState struct {
	Members []MemberRecord
	Trace   []TraceRow
	// ValProbs is the sum of the members' validation probabilities (n×k, float64).
	ValProbs []float64
	// The trace row being accumulated.
	AccLoss, AccKin, AccConf float64
	AccN                     int
}

type memberHook struct {
	job      *SampleJob
	cfg      SampleConfig
	st       train.Stepper
	chain    int
	perChain int
	state    chainState
}

func newMemberHook(job *SampleJob, cfg SampleConfig, st train.Stepper, chain, perChain int) *memberHook {
	return &memberHook{job: job, cfg: cfg, st: st, chain: chain, perChain: perChain}
}

func (h *memberHook) hook() train.Hook {
	return train.Hook{
		Name: "bayes.members",
		Save: func() ([]byte, error) {
			var buf bytes.Buffer
			err := gob.NewEncoder(&buf).Encode(&h.state)
			return buf.Bytes(), err
		},
		Load: func(b []byte) error {
			h.state = chainState{}
			return gob.NewDecoder(bytes.NewReader(b)).Decode(&h.state)
		},
		AfterStep: h.afterStep,
	}
}

func (h *memberHook) afterStep(ctx context.Context, s *train.State) error {
	kin, conf := math.NaN(), math.NaN()
	if b, ok := h.st.(*BAOAB); ok {
		kin, conf = b.KineticTemperature(), b.ConfigurationalTemperature()
	}
	st := &h.state
	st.AccLoss += s.Loss
	st.AccKin += kin
	st.AccConf += conf
	st.AccN++
	if s.Step%TraceEvery == 0 {
		n := float64(st.AccN)
		st.Trace = append(st.Trace, TraceRow{Chain: h.chain, Step: s.Step, Loss: st.AccLoss / n, Kinetic: st.AccKin / n, Configurational: st.AccConf / n})
		st.AccLoss, st.AccKin, st.AccConf, st.AccN = 0, 0, 0, 0
	}
	if !h.cfg.emits(s.Step) {
		return nil
	}
	j := len(st.Members)
	if j >= h.perChain {
		return errChainDone
	}
	rec, err := h.emit(ctx, s, h.chain*h.perChain+j)
	if err != nil {
		return err
	}
	st.Members = append(st.Members, rec)
	if len(st.Members) == h.perChain {
		return errChainDone
	}
	return nil
}

// emit writes member i from the current parameters and scores it.
func (h *memberHook) emit(ctx context.Context, s *train.State, i int) (MemberRecord, error) {
	m, err := memberModel(h.job.Source, s.Params)
	if err != nil {
		return MemberRecord{}, err
	}
	rec := MemberRecord{File: MemberFile(i), Chain: h.chain, Step: s.Step, Loss: s.Loss}
	if err := m.Save(filepath.Join(h.job.Dir, rec.File), onnxio.SaveOptions{}); err != nil {
		return rec, fmt.Errorf("bayes: writing member %d: %w", i, err)
	}
	// The member is on disk: score it even when ctx is cancelled meanwhile (seconds), so the
	// loop's next step writes the checkpoint with this member in the hook's state.
	ctx = context.WithoutCancel(ctx)
	d := h.job.Data
	if d.Val.N > 0 {
		p, err := netProbs(ctx, s.Net, d.Val, d.Scale, d.Offset, h.cfg.Batch)
		if err != nil {
			return rec, err
		}
		sc, err := Evaluate(p, len(p)/d.Val.N, d.Val.Labels, 0)
		if err != nil {
			return rec, err
		}
		rec.ValNLL, rec.ValAccuracy = sc.NLL, sc.Accuracy
		if h.state.ValProbs == nil {
			h.state.ValProbs = make([]float64, len(p))
		}
		for k, v := range p {
			h.state.ValProbs[k] += float64(v)
		}
	}
	if t := h.job.Test; t.N > 0 {
		p, err := netProbs(ctx, s.Net, t, d.Scale, d.Offset, h.cfg.Batch)
		if err != nil {
			return rec, err
		}
		sc, err := Evaluate(p, len(p)/t.N, t.Labels, 0)
		if err != nil {
			return rec, err
		}
		ll := -sc.NLL
		rec.TestLogLik = &ll
	}
	return rec, nil
}

// memberModel is a copy of src holding the current parameter values: every input, output,
// name and metadata entry of the source, so each member is a complete model.
func memberModel(src *onnxio.Model, params []train.Param) (*onnxio.Model, error) {
	m := src.Clone()
	for _, p := range params {
		if err := m.SetFloat32(p.Name, p.Value); err != nil {
			return nil, fmt.Errorf("bayes: member: %w", err)
		}
	}
	return m, nil
}

// netProbs returns the softmax of net's logits on every image of s (n×k, float32), fed in
// batches of exactly batch images (the last padded with zeros, whose rows are dropped).
func netProbs(ctx context.Context, net train.Net, s train.Set, scale, offset float32, batch int) ([]float32, error) {
	d := s.Dim()
	x := make([]float32, batch*d)
	var out []float32
	for lo := 0; lo < s.N; lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(batch, s.N-lo)
		for i := range n {
			img := s.Images[(lo+i)*d : (lo+i+1)*d]
			row := x[i*d : (i+1)*d]
			for j, p := range img {
				row[j] = float32(p)*scale + offset
			}
		}
		clear(x[n*d:])
		logits, err := net.Forward(x)
		if err != nil {
			return nil, fmt.Errorf("bayes: forward on images %d..%d: %w", lo, lo+n-1, err)
		}
		if len(logits)%batch != 0 || len(logits) == 0 {
			return nil, fmt.Errorf("bayes: forward on a batch of %d returned %d logits", batch, len(logits))
		}
		k := len(logits) / batch
		row := append([]float32(nil), logits[:n*k]...)
		prob.Softmax(row, k)
		out = append(out, row...)
	}
	return out, nil
}
