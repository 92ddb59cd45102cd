package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/onnxio"
)

// ensembleGraphFile is the combined graph `uqnn sample` writes beside the members.
const ensembleGraphFile = "ensemble.onnx"

// openedEnsemble is an ensemble ready for adversarial.Detect or a detector-aware attack.
type openedEnsemble struct {
	adversarial.Ensemble
	Path       string         // the folder or ensemble.onnx given
	Files      []string       // the member files, or the one graph
	Preprocess pixel.Resolved // the members' pixel convention
	close      func()
}

func (e *openedEnsemble) Close() { e.close() }

// openEnsemble opens ENSEMBLE: a folder with member-NNN.onnx files (members run one by one:
// votes and the variation ratio are available), else a folder's ensemble.onnx or that file
// itself (the combined graph: mean probabilities, entropy and MI, no votes). The members'
// pixel convention is resolved once, on member 0 (or the graph), with --preprocess.
func openEnsemble(ctx context.Context, g *globals, path, preprocess string, m *fixtures.MNIST, calibN int) (*openedEnsemble, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: cannot read the ensemble: %v", path, onnxio.ErrInvalidModel, err)
	}
	graph := path
	if st.IsDir() {
		members, _ := filepath.Glob(filepath.Join(path, "member-*.onnx"))
		sort.Strings(members)
		if len(members) > 0 {
			return openMembers(ctx, g, path, members, preprocess, m, calibN)
		}
		graph = filepath.Join(path, ensembleGraphFile)
		if _, err := os.Stat(graph); err != nil {
			return nil, fmt.Errorf("%s: %w: no member-NNN.onnx files and no %s; want an ensemble folder from uqnn sample or an ensemble.onnx", path, onnxio.ErrInvalidModel, ensembleGraphFile)
		}
	}
	return openGraph(ctx, g, path, graph, preprocess, m, calibN)
}

func openMembers(ctx context.Context, g *globals, path string, files []string, preprocess string, m *fixtures.MNIST, calibN int) (*openedEnsemble, error) {
	var cs []*ort.Classifier
	closeAll := func() {
		for _, c := range cs {
			c.Close()
		}
	}
	var pp pixel.Resolved
	models := make([]adversarial.Model, len(files))
	for i, f := range files {
		c, model, err := openClassifier(g, f, m.Test, ort.Options{Threads: 1})
		if err != nil {
			closeAll()
			return nil, err
		}
		cs = append(cs, c)
		if i == 0 {
			if pp, err = resolvePreprocess(ctx, preprocess, c, model, m, calibN); err != nil {
				closeAll()
				return nil, err
			}
		}
		models[i] = c.WithPreprocess(pp.Preprocess)
	}
	e, err := adversarial.NewMemberEnsemble(models)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("%s: %w: %v", path, onnxio.ErrInvalidModel, err)
	}
	return &openedEnsemble{Ensemble: e, Path: path, Files: files, Preprocess: pp, close: closeAll}, nil
}

func openGraph(ctx context.Context, g *globals, path, file, preprocess string, m *fixtures.MNIST, calibN int) (*openedEnsemble, error) {
	c, model, err := openClassifier(g, file, m.Test, ort.Options{Threads: 1})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	pp, err := resolvePreprocess(ctx, preprocess, c, model, m, calibN)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, o := range model.Graph.Outputs {
		idx[o.Name] = i
	}
	for _, name := range []string{bayes.EnsembleProbs, bayes.EnsembleEntropy, bayes.EnsembleMI} {
		if _, ok := idx[name]; !ok {
			return nil, fmt.Errorf("%s: %w: no output %q; want the outputs of bayes.EnsembleGraph (%s, %s, %s)",
				file, onnxio.ErrInvalidModel, name, bayes.EnsembleProbs, bayes.EnsembleEntropy, bayes.EnsembleMI)
		}
	}
	e := &graphEnsemble{model: model, pp: pp.Preprocess, classes: c.Classes(), idx: idx}
	return &openedEnsemble{Ensemble: e, Path: path, Files: []string{file}, Preprocess: pp, close: func() {}}, nil
}

// graphEnsemble runs the combined graph with ort.RunModel: one session per call, so it suits
// scoring whole sets (uqnn detect), not the many small queries of an attack.
type graphEnsemble struct {
	model   *onnxio.Model
	pp      pixel.Preprocess
	classes int
	idx     map[string]int
}

// graphChunk bounds the images of one RunModel call (its memory grows with the batch × members).
const graphChunk = 1000

func (e *graphEnsemble) Classes() int { return e.classes }
func (e *graphEnsemble) Members() int { return 0 }

func (e *graphEnsemble) Predict(ctx context.Context, raw []float32, n int) (*bayes.Predictive, error) {
	k := e.classes
	p := &bayes.Predictive{N: n, K: k, Probs: make([]float64, 0, n*k)}
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
		probs, ent, mi := outs[e.idx[bayes.EnsembleProbs]], outs[e.idx[bayes.EnsembleEntropy]], outs[e.idx[bayes.EnsembleMI]]
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
