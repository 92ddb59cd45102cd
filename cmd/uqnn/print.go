package main

// Text output of the verbs (without --json): one function per verb, reading only its report.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/uqnn/uqnn/bayes"
	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/study"
)

// printTrain prints a finished training run.
func printTrain(w io.Writer, rep trainReport, model string) {
	fmt.Fprintf(w, "wrote %s (%s, %d parameters, %d epochs, %d steps, %.0f images/s)\n",
		rep.Output, model, rep.Params, rep.Epochs, rep.Steps, rep.ImagesPerSec)
	for _, s := range []struct {
		name string
		sc   train.Scores
	}{{"train", rep.Train}, {"validation", rep.Validation}, {"test", rep.Test}} {
		fmt.Fprintf(w, "%-10s (%5d images)  loss %.4f  accuracy %.2f%%\n", s.name, s.sc.Images, s.sc.Loss, 100*s.sc.Accuracy)
	}
	fmt.Fprintf(w, "curves     %s, %s\n", rep.CurvesCSV, rep.CurvesPNG)
}

// trainReport is what `uqnn train --json` prints.
type trainReport struct {
	Tool       string         `json:"tool"`
	Version    string         `json:"version"`
	Seed       uint64         `json:"seed"`
	Arch       string         `json:"arch,omitempty"`
	Init       string         `json:"init,omitempty"`
	Output     string         `json:"output"`
	CurvesCSV  string         `json:"curves_csv"`
	CurvesPNG  string         `json:"curves_png"`
	Preprocess pixel.Resolved `json:"preprocess"`
	Data       string         `json:"data"`
	train.Summary
}

func modelName(o *trainOptions) string {
	if o.init != "" {
		return o.init
	}
	return o.arch
}

// printSample prints a finished sampling run, or with --json its manifest.
func printSample(g *globals, o sampleOptions, man *bayes.Manifest) error {
	if o.json {
		return writeJSON(g.stdout, struct {
			Tool    string `json:"tool"`
			Version string `json:"version"`
			Dir     string `json:"dir"`
			*bayes.Manifest
		}{"uqnn sample", version, o.out, man})
	}
	fmt.Fprintf(g.stdout, "wrote %d members (%s, %d chain(s), h %g, T %g) and %s to %s\n",
		len(man.MemberList), man.Sampler, man.Chains, man.StepSize, man.Temperature, bayes.EnsembleFile, o.out)
	if v := man.Validation; v != nil {
		fmt.Fprintf(g.stdout, "validation (%d images): accuracy %.2f%%  NLL %.4f  Brier %.4f  ECE %.4f\n", v.N, 100*v.Accuracy, v.NLL, v.Brier, v.ECE)
	}
	if man.RHat != nil && man.ESS != nil {
		fmt.Fprintf(g.stdout, "test log-likelihood: R-hat %.3f  effective sample size %.1f of %d\n", *man.RHat, *man.ESS, man.Members)
	}
	return nil
}

// compressReport is what `uqnn compress --json` prints.
type compressReport struct {
	Tool          string                  `json:"tool"`
	Version       string                  `json:"version"`
	Seed          uint64                  `json:"seed"`
	Model         string                  `json:"model"`
	SourceSHA256  string                  `json:"source_sha256"`
	Output        string                  `json:"output"`
	PNG           string                  `json:"png"`
	Methods       []string                `json:"methods"`
	Records       []compress.Record       `json:"records"`
	Preprocess    pixel.Resolved          `json:"preprocess"`
	Data          string                  `json:"data"`
	TestImages    int                     `json:"test_images"`
	Ledger        *compress.Ledger        `json:"ledger"`
	ConvMACs      int64                   `json:"conv_macs"`
	ConvMACsAfter int64                   `json:"conv_macs_after"`
	Notes         []string                `json:"notes,omitempty"`
	Seconds       float64                 `json:"seconds"`
	Quantize      string                  `json:"quantize,omitempty"`
	Archive       string                  `json:"archive,omitempty"`
	ArchiveLedger *compress.ArchiveLedger `json:"archive_ledger,omitempty"`
}

func printCompress(g *globals, r compressReport) error {
	fmt.Fprintf(g.stdout, "%s → %s (%s; preprocess %s)\n", r.Model, r.Output, strings.Join(r.Methods, " → "), r.Preprocess.Describe())
	if err := r.Ledger.WriteTable(g.stdout); err != nil {
		return err
	}
	if r.ConvMACs > 0 {
		fmt.Fprintf(g.stdout, "conv FLOPs (multiply-adds) %d → %d (%.1f%%)\n", r.ConvMACs, r.ConvMACsAfter, 100*float64(r.ConvMACsAfter)/float64(r.ConvMACs))
	}
	fmt.Fprintf(g.stdout, "accuracy: MNIST test set, %d images, onnxruntime, the written file\n", r.TestImages)
	for _, n := range r.Notes {
		fmt.Fprintln(g.stdout, n)
	}
	if r.ArchiveLedger != nil {
		fmt.Fprintf(g.stdout, "archive %s (Deep Compression's columns; P pruning, Q quantization, H Huffman coding):\n", r.Archive)
		if err := r.ArchiveLedger.WriteTable(g.stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(g.stdout, "figure %s; %.0f s\n", r.PNG, r.Seconds)
	return nil
}

// printStudy prints where a study's report is, or with --json its results.json.
func printStudy(g *globals, dir string, asJSON bool) error {
	if asJSON {
		b, err := os.ReadFile(filepath.Join(dir, study.ResultsJSON))
		if err != nil {
			return err
		}
		_, err = g.stdout.Write(b)
		return err
	}
	fmt.Fprintf(g.stdout, "report: %s\n", filepath.Join(dir, study.ReportHTML))
	fmt.Fprintf(g.stdout, "        %s, %s, %s\n", filepath.Join(dir, study.ReportMD), filepath.Join(dir, study.ResultsCSV), filepath.Join(dir, study.ResultsJSON))
	return nil
}
