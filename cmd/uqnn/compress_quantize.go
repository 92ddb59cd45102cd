package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/onnxio"
)

// quantizeOptions are the last two stages of Deep Compression on `uqnn compress`.
type quantizeOptions struct {
	spec    string // --quantize: int8, B, or conv=8,fc=5
	epochs  int    // --quantize-epochs: centroid fine-tuning
	compact bool   // --compact: uint8 indices + codebook joined by a Gather
	archive string // --archive OUT.uqz
}

func (q *quantizeOptions) bind(f *pflag.FlagSet) {
	f.StringVar(&q.spec, "quantize", "", "after pruning, share weights: k-means bits per layer (conv=8,fc=5 is Deep Compression's; one number for all) or int8 (per-channel symmetric QDQ)")
	f.IntVar(&q.epochs, "quantize-epochs", 1, "k-means: epochs of centroid fine-tuning (each centroid moves by the sum of its weights' gradients)")
	f.BoolVar(&q.compact, "compact", false, "k-means: store uint8 indices and a float codebook joined by a Gather instead of the shared values")
	f.StringVar(&q.archive, "archive", "", "also write the Huffman-coded archive (.uqz; uqnn decompress restores it exactly)")
}

// check validates the flags before any work (exit 2).
func (q *quantizeOptions) check() (compress.QuantizeConfig, error) {
	var cfg compress.QuantizeConfig
	if q.spec == "" {
		if q.compact {
			return cfg, usagef("compress: --compact needs --quantize (k-means bits)")
		}
		return cfg, nil
	}
	cfg, err := compress.ParseQuantize(q.spec)
	if err != nil {
		return cfg, usagef("compress: --quantize %q: %v", q.spec, err)
	}
	switch {
	case q.epochs < 0:
		return cfg, usagef("compress: --quantize-epochs %d: want ≥ 0", q.epochs)
	case q.compact && cfg.Int8:
		return cfg, usagef("compress: --compact is for k-means codebooks, not --quantize int8")
	}
	return cfg, nil
}

// apply quantizes the pruned model (fine-tuning centroids through the one training loop) and
// returns the model to write.
func (q *quantizeOptions) apply(ctx context.Context, cfg compress.QuantizeConfig, m *onnxio.Model, env *compress.Env) (*onnxio.Model, error) {
	if q.spec == "" {
		return m, nil
	}
	out, cbs, err := compress.QuantizeTuned(ctx, m, cfg, env, q.epochs)
	if err != nil {
		return nil, err
	}
	if q.compact {
		if out, err = compress.Compact(out, cbs); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeArchive writes the .uqz of the final model and returns its ledger (nil without --archive).
func (q *quantizeOptions) writeArchive(m *onnxio.Model) (*compress.ArchiveLedger, error) {
	if q.archive == "" {
		return nil, nil
	}
	b, led, err := compress.Archive(m)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(q.archive, b); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	return led, nil
}
