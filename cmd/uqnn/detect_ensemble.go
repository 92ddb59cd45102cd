package main

import (
	"context"
	"fmt"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/onnxio"
)

// ensembleGraphFile is the combined graph `uqnn sample` writes beside the members.
const ensembleGraphFile = bayes.EnsembleFile

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
	members, graph, err := bayes.EnsembleFiles(path)
	if err != nil {
		return nil, err
	}
	if len(members) > 0 {
		return openMembers(ctx, g, path, members, preprocess, m, calibN)
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
	e, err := bayes.NewGraphEnsemble(file, model, pp.Preprocess, c.Classes())
	if err != nil {
		return nil, err
	}
	return &openedEnsemble{Ensemble: e, Path: path, Files: []string{file}, Preprocess: pp, close: func() {}}, nil
}
