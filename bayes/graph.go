package bayes

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/onnxio"
)

// EnsembleFiles finds an ensemble given as path: a folder's member-NNN.onnx files (sorted), else
// the folder's ensemble.onnx, else path itself as the combined graph (graph is "" when members
// are found).
func EnsembleFiles(path string) (members []string, graph string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w: cannot read the ensemble: %v", path, onnxio.ErrInvalidModel, err)
	}
	if !st.IsDir() {
		return nil, path, nil
	}
	members, _ = filepath.Glob(filepath.Join(path, "member-*.onnx"))
	sort.Strings(members)
	if len(members) > 0 {
		return members, "", nil
	}
	graph = filepath.Join(path, EnsembleFile)
	if _, err := os.Stat(graph); err != nil {
		return nil, "", fmt.Errorf("%s: %w: no member-NNN.onnx files and no %s; want an ensemble folder from uqnn sample or an ensemble.onnx", path, onnxio.ErrInvalidModel, EnsembleFile)
	}
	return nil, graph, nil
}

// GraphEnsemble runs a combined graph (EnsembleGraph's outputs) with ort.RunModel: one session
// per call, so it suits scoring whole sets, not the many small queries of an attack. It gives
// mean probabilities, entropy and MI; it has no members' votes (Members is 0, the vote is the
// mean's argmax, the variation ratio NaN).
type GraphEnsemble struct {
	model   *onnxio.Model
	pp      pixel.Preprocess
	classes int
	idx     map[string]int
}

// graphChunk bounds the images of one RunModel call (its memory grows with the batch × members).
const graphChunk = 1000

// NewGraphEnsemble checks that model (read from file) has EnsembleGraph's three outputs.
func NewGraphEnsemble(file string, model *onnxio.Model, pp pixel.Preprocess, classes int) (*GraphEnsemble, error) {
	idx := map[string]int{}
	for i, o := range model.Graph.Outputs {
		idx[o.Name] = i
	}
	for _, name := range []string{EnsembleProbs, EnsembleEntropy, EnsembleMI} {
		if _, ok := idx[name]; !ok {
			return nil, fmt.Errorf("%s: %w: no output %q; want the outputs of bayes.EnsembleGraph (%s, %s, %s)",
				file, onnxio.ErrInvalidModel, name, EnsembleProbs, EnsembleEntropy, EnsembleMI)
		}
	}
	return &GraphEnsemble{model: model, pp: pp, classes: classes, idx: idx}, nil
}

func (e *GraphEnsemble) Classes() int { return e.classes }
func (e *GraphEnsemble) Members() int { return 0 }

// Predict maps raw pixels (n images) by the ensemble's preprocessing and runs the graph.
func (e *GraphEnsemble) Predict(ctx context.Context, raw []float32, n int) (*Predictive, error) {
	k := e.classes
	p := &Predictive{N: n, K: k, Probs: make([]float64, 0, n*k)}
	d := len(raw) / n
	for lo := 0; lo < n; lo += graphChunk {
		hi := min(lo+graphChunk, n)
		x := make([]float32, (hi-lo)*d)
		for i, v := range raw[lo*d : hi*d] {
			x[i] = v*e.pp.Scale + e.pp.Offset
		}
		outs, err := ort.RunModel(ctx, e.model, x, hi-lo)
		if err != nil {
			return nil, err
		}
		probs, ent, mi := outs[e.idx[EnsembleProbs]], outs[e.idx[EnsembleEntropy]], outs[e.idx[EnsembleMI]]
		if len(probs) != (hi-lo)*k || len(ent) != hi-lo || len(mi) != hi-lo {
			return nil, fmt.Errorf("ensemble graph: %d probabilities, %d entropies, %d MIs for %d images of %d classes: %w",
				len(probs), len(ent), len(mi), hi-lo, k, onnxio.ErrInvalidModel)
		}
		for i := range hi - lo {
			row := probs[i*k : (i+1)*k]
			for _, v := range row {
				p.Probs = append(p.Probs, float64(v))
			}
			p.Entropy = append(p.Entropy, float64(ent[i]))
			p.MI = append(p.MI, float64(mi[i]))
			p.ExpectedEntropy = append(p.ExpectedEntropy, float64(ent[i])-float64(mi[i]))
			p.VariationRatio = append(p.VariationRatio, math.NaN())
			p.Vote = append(p.Vote, prob.Argmax(row))
		}
	}
	return p, nil
}
