package compress

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/nn"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
)

// TestSVDMeasure is the measured full run, off by default: UQNN_SVD_MODEL names a trained
// model (its pixel preprocessing from its metadata, else 0..1), UQNN_SVD_OUT the output file;
// UQNN_SVD_EPOCHS, UQNN_SVD_LR and UQNN_SVD_WARMUP override the defaults. It trains on the
// training part of the one split and reports the validation accuracy per epoch (the test set
// is scored separately, in onnxruntime, with uqnn eval).
func TestSVDMeasure(t *testing.T) {
	path := os.Getenv("UQNN_SVD_MODEL")
	if path == "" {
		t.Skip("set UQNN_SVD_MODEL (and UQNN_SVD_OUT) for the measured run")
	}
	m, err := onnxio.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := fixtures.DefaultMNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	mn, err := fixtures.LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr, val, err := mn.Split(0)
	if err != nil {
		t.Fatal(err)
	}
	pp, ok := pixel.FromModel(m)
	if !ok {
		pp, _, _ = pixel.Parse("0..1")
	}
	f := func(name string) float64 {
		v, _ := strconv.ParseFloat(os.Getenv(name), 64)
		return v
	}
	cfg := SVDConfig{Epochs: int(f("UQNN_SVD_EPOCHS")), LR: f("UQNN_SVD_LR"), Warmup: f("UQNN_SVD_WARMUP"), Seed: 1}
	data := train.Data{Train: *tr, Val: *val, Scale: pp.Scale, Offset: pp.Offset}
	start := time.Now()
	epochs := cfg.withDefaults().Epochs
	report := train.Hook{AfterEpoch: func(_ context.Context, s *train.State) error {
		p := s.Curves[len(s.Curves)-1]
		var kept, total int
		for _, l := range s.Params {
			if !hasParam(s.Params, l.Name+nn.LogSigma2Suffix) {
				continue
			}
			total += len(l.Value)
			kept += int(nonZero(l.Value))
		}
		fmt.Printf("epoch %d/%d  %.0fs  batch loss %.4f  val loss %.4f  val acc %.4f %d/%d\n", s.Epoch, epochs, time.Since(start).Seconds(), p.BatchLoss, p.ValLoss, p.ValAcc, kept, total)
		return nil
	}}
	res, err := SVD(context.Background(), m, data, cfg, report)
	if err != nil {
		t.Fatal(err)
	}
	var kept, total int
	for _, l := range res.Layers {
		fmt.Printf("%-12s %8d → %7d (%.2f%%)  mean log α %.2f\n", l.Weight, l.Params, l.Kept, 100*float64(l.Kept)/float64(l.Params), l.MeanLogAlpha)
		kept += l.Kept
		total += l.Params
	}
	fmt.Printf("total %d → %d: %.2f%% kept, %.1f×; KL %.0f; %.0f s, %.0f images/s\n", total, kept, 100*float64(kept)/float64(total), float64(total)/float64(kept), res.KL, time.Since(start).Seconds(), res.Result.ImagesPerSecond())
	if out := os.Getenv("UQNN_SVD_OUT"); out != "" {
		if err := res.Model.Save(out, onnxio.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func hasParam(ps []train.Param, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}
