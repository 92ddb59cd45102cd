package study

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/report"
)

// Report files in the study folder.
const (
	ReportHTML  = "report.html"
	ReportMD    = "report.md"
	ResultsCSV  = "results.csv"
	ResultsJSON = "results.json"
	ResultsMD   = "results.md"
	ConfigFile  = "config.yaml"
	FiguresDir  = "figures"
)

// SectionIDs are the report's sections, in order (the render check looks for each).
var SectionIDs = []string{"results", "findings", "curves", "attacks", "mi", "roc", "sweep", "stages"}

// Results is results.json.
type Results struct {
	Tool     string       `json:"tool"`
	Version  string       `json:"version"`
	Config   Config       `json:"config"`
	Rows     []Row        `json:"rows"`
	Findings []Finding    `json:"findings"`
	Sweep    []SweepPoint `json:"sweep"`
	Stages   []Outcome    `json:"stages"`
}

// Assemble writes the report of whatever stages of the plan are finished: results.{json,csv,md},
// report.md with figures/, and the self-contained report.html. outcomes (from Run; may be nil)
// give the errors of stages that did not finish.
func (e *Env) Assemble(plan []*Stage, outcomes []Outcome) error {
	c := e.Config
	rows := Rows(e.Dir, c)
	sweep := ReadSweep(e.Dir, c)
	status := stageStatus(e.Dir, plan, outcomes)
	res := Results{Tool: e.Tool, Version: e.Version, Config: c, Rows: rows, Findings: c.Findings(rows), Sweep: sweep, Stages: status}

	header, cells := c.Table(rows)
	table := report.Table{Caption: fmt.Sprintf("Per network × sampler (%d test images; attacks on %d images)", e.testN(), c.Attack.N), Header: header, Rows: cells}
	var fr [][]string
	for _, f := range res.Findings {
		fr = append(fr, []string{f.Claim, f.Ours, f.Verdict})
	}
	page := report.Page{
		Title:    "uqnn study",
		Subtitle: fmt.Sprintf("%s %s, seed %d. Compression, Bayesian ensembles (pSGLD, BAOAB) and GenAttack on %s.", e.Tool, e.Version, c.Seed, describeBase(c)),
	}
	missing := func(stage string) []string {
		for _, s := range status {
			if s.Stage == stage && s.Status != StatusDone && s.Status != StatusCached {
				return []string{fmt.Sprintf("%s: %s %s", s.Stage, s.Status, s.Error)}
			}
		}
		return nil
	}
	sec := func(id, title string) *report.Section {
		page.Sections = append(page.Sections, report.Section{ID: id, Title: title})
		return &page.Sections[len(page.Sections)-1]
	}
	s := sec("results", "Results")
	s.Tables = []report.Table{table}
	s.Paragraphs = []string{"— marks a figure whose stage did not finish (see Stages). Archive size: " + archiveNote}
	s = sec("findings", "Findings of the original study")
	s.Tables = []report.Table{{Header: []string{"claim", "this study", "verdict"}, Rows: fr}}

	// Each figure is built after the section pointer is taken; sections are appended in order.
	var err error
	if err = e.curvesSection(sec("curves", "Learning curves"), missing); err == nil {
		if err = e.attacksSection(sec("attacks", "Adversarial examples"), missing); err == nil {
			if err = e.uncertaintySections(sec("mi", "Mutual information, clean vs adversarial"), missing); err == nil {
				if err = e.rocSection(sec("roc", "Detection ROC curves"), missing); err == nil {
					err = e.sweepSection(sec("sweep", "Sparsity sweep"), sweep)
				}
			}
		}
	}
	if err != nil {
		return err
	}
	s = sec("stages", "Stages")
	var sr [][]string
	for _, o := range status {
		sr = append(sr, []string{o.Stage, o.Status, fmt.Sprintf("%.1f", o.Seconds), o.Error})
	}
	s.Tables = []report.Table{{Header: []string{"stage", "status", "seconds", "note"}, Rows: sr}}

	// Figures for report.md.
	figDir := filepath.Join(e.Dir, FiguresDir)
	if err := os.MkdirAll(figDir, 0o755); err != nil {
		return err
	}
	for _, sc := range page.Sections {
		for _, f := range sc.Figures {
			if err := atomicfile.WriteFile(filepath.Join(figDir, f.Name), f.PNG); err != nil {
				return err
			}
		}
	}
	html, err := page.HTML()
	if err != nil {
		return err
	}
	csvb, err := c.CSV(rows)
	if err != nil {
		return err
	}
	js, _ := json.MarshalIndent(res, "", "  ")
	for name, b := range map[string][]byte{
		ReportHTML: html, ReportMD: page.Markdown(FiguresDir), ResultsCSV: csvb, ResultsJSON: append(js, '\n'),
		ResultsMD: []byte(report.MarkdownTable(table) + "\n" + report.MarkdownTable(page.Sections[1].Tables[0])),
	} {
		if err := atomicfile.WriteFile(filepath.Join(e.Dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

const archiveNote = "bytes of model.uqz, the network packed by compress.Archive (uqnn decompress restores it); " +
	"n/a: the network is not quantized, and the archive codes quantized layers only."

func (e *Env) testN() int {
	if d, err := e.Data(); err == nil {
		return d.Test.N
	}
	return 0
}

func describeBase(c Config) string {
	if c.Model != "" {
		return c.Model
	}
	return fmt.Sprintf("%s trained %d epochs", c.Train.Arch, c.Train.Epochs)
}

// stageStatus is every planned stage's state: finished (done.json), or the outcome of this run.
func stageStatus(dir string, plan []*Stage, outcomes []Outcome) []Outcome {
	got := map[string]Outcome{}
	for _, o := range outcomes {
		got[o.Stage] = o
	}
	var out []Outcome
	for _, s := range plan {
		if d, err := ReadDone(dir, s.Name); err == nil {
			st := StatusDone
			if o, ok := got[s.Name]; ok && o.Status == StatusCached {
				st = StatusCached
			}
			out = append(out, Outcome{Stage: s.Name, Status: st, Seconds: d.Seconds})
			continue
		}
		o, ok := got[s.Name]
		if !ok {
			o = Outcome{Stage: s.Name, Status: "not run", Error: "not run yet (another shard, or an earlier stop)"}
		}
		out = append(out, o)
	}
	return out
}

func figName(parts ...string) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(strings.Join(parts, "-")) + ".png"
}

func (e *Env) curvesSection(s *report.Section, missing func(string) []string) error {
	for _, n := range e.Config.Networks() {
		dir := StageDir(e.Dir, NetworkStage(n))
		b, err := os.ReadFile(filepath.Join(dir, CurvesPNG))
		if err == nil {
			s.Figures = append(s.Figures, report.Figure{Name: figName("curves", n), Caption: "learning curves: " + n, PNG: b})
		} else if m := missing(NetworkStage(n)); m != nil && n == Base {
			s.Missing = append(s.Missing, m...)
		}
	}
	if len(s.Figures) == 0 && len(s.Missing) == 0 {
		s.Missing = []string{"no network was trained in this study (--model given): no learning curves"}
	}
	s.Paragraphs = []string{"Training of the base network (the compressed networks are retrained by the compress library, which keeps no curves)."}
	return nil
}

func (e *Env) attacksSection(s *report.Section, missing func(string) []string) error {
	for _, n := range e.Config.Networks() {
		b, err := os.ReadFile(filepath.Join(StageDir(e.Dir, "attack/"+n), CampaignDir, adversarial.GridFile))
		if err != nil {
			s.Missing = append(s.Missing, missing("attack/"+n)...)
			continue
		}
		s.Figures = append(s.Figures, report.Figure{Name: figName("attack", n), Caption: "GenAttack on " + n + ": originals above adversarial images", PNG: b})
	}
	return nil
}

// scoresOf reads a detect stage's per-image scores.
func (e *Env) scoresOf(n, smp string) (map[string]map[string][]float64, error) {
	var sc map[string]map[string][]float64
	err := readJSON(filepath.Join(StageDir(e.Dir, "detect/"+n+"/"+smp), ScoresFile), &sc)
	return sc, err
}

func (e *Env) uncertaintySections(s *report.Section, missing func(string) []string) error {
	for _, n := range e.Config.Networks() {
		for _, smp := range e.Config.Sample.Samplers {
			stage := "detect/" + n + "/" + smp
			sc, err := e.scoresOf(n, smp)
			if err != nil || sc["own"] == nil {
				s.Missing = append(s.Missing, missing(stage)...)
				continue
			}
			own := sc["own"]
			png, err := report.MIHistogram([]report.Series{{Name: "clean", Values: own["clean_mi"]}, {Name: "adversarial", Values: own["adversarial_mi"]}},
				fmt.Sprintf("MI: %s + %s", n, smp))
			if err != nil {
				return err
			}
			s.Figures = append(s.Figures, report.Figure{Name: figName("mi", n, smp), Caption: fmt.Sprintf("%s + %s: MI of clean test vs its own adversarial images", n, smp), PNG: png})
		}
	}
	return nil
}

func (e *Env) rocSection(s *report.Section, missing func(string) []string) error {
	for _, n := range e.Config.Networks() {
		var series []report.ROCSeries
		for _, smp := range e.Config.Sample.Samplers {
			sc, err := e.scoresOf(n, smp)
			if err != nil || sc["own"] == nil {
				s.Missing = append(s.Missing, missing("detect/"+n+"/"+smp)...)
				continue
			}
			cv, err := adversarial.ROC(sc["own"]["adversarial_score"], sc["own"]["clean_score"])
			if err != nil {
				return err
			}
			rs := report.ROCSeries{Name: smp, AUROC: cv.AUROC}
			for _, p := range cv.Points {
				rs.FPR, rs.TPR = append(rs.FPR, p.FPR), append(rs.TPR, p.TPR)
			}
			series = append(series, rs)
			if len(series) == 2 {
				break
			}
		}
		if len(series) == 0 {
			continue
		}
		png, err := report.DetectionROC(series, "MI detector: "+n)
		if err != nil {
			return err
		}
		s.Figures = append(s.Figures, report.Figure{Name: figName("roc", n), Caption: "ROC of the MI detector, " + n + " (own adversarial images vs clean test images)", PNG: png})
	}
	return nil
}

func (e *Env) sweepSection(s *report.Section, pts []SweepPoint) error {
	if len(pts) == 0 {
		s.Missing = []string{"no sweep point finished (see Stages)"}
		return nil
	}
	c := e.Config.Sweep
	acc, succ, q := report.Panel{Title: "test accuracy", YLabel: "accuracy"}, report.Panel{Title: "attack success", YLabel: "success rate", Unit: true},
		report.Panel{Title: "median queries (successes)", YLabel: "queries", LogY: true}
	det := report.Panel{Title: "detection AUROC (MI)", YLabel: "AUROC", Unit: true}
	aurocs := 0
	for _, m := range c.Methods {
		var a, sc, qq, au report.IntervalSeries
		a.Name, sc.Name, qq.Name, au.Name = m, m, m, m
		for _, p := range pts {
			if p.Method != m {
				continue
			}
			x := 100 * p.WeightsRemoved
			a.Points = append(a.Points, report.IntervalPoint{X: x, Y: p.Accuracy.Value, Lo: p.Accuracy.Lo, Hi: p.Accuracy.Hi})
			sc.Points = append(sc.Points, report.IntervalPoint{X: x, Y: p.Success.Value, Lo: p.Success.Lo, Hi: p.Success.Hi})
			if p.MedianQueries != nil {
				qq.Points = append(qq.Points, report.IntervalPoint{X: x, Y: p.MedianQueries.Value, Lo: p.MedianQueries.Lo, Hi: p.MedianQueries.Hi})
			}
			if p.AUROC != nil {
				au.Points = append(au.Points, report.IntervalPoint{X: x, Y: p.AUROC.Value, Lo: p.AUROC.Lo, Hi: p.AUROC.Hi})
				aurocs++
			}
		}
		acc.Series, succ.Series, q.Series = append(acc.Series, a), append(succ.Series, sc), append(q.Series, qq)
		det.Series = append(det.Series, au)
	}
	const xlabel = "layer weights removed (%)"
	png, err := report.Sweep([]report.Panel{acc, succ, q}, xlabel)
	if err != nil {
		return err
	}
	s.Figures = []report.Figure{{Name: "sweep.png", Caption: "Sparsity sweep with 95% bootstrap intervals", PNG: png}}
	if aurocs > 0 {
		png, err := report.Sweep([]report.Panel{det}, xlabel)
		if err != nil {
			return err
		}
		s.Figures = append(s.Figures, report.Figure{Name: "sweep-auroc.png", PNG: png,
			Caption: fmt.Sprintf("Detection AUROC of the MI of a %d-member pSGLD ensemble sampled from each point's network, its own adversarial images against their clean originals, with 95%% bootstrap intervals", c.Members)})
	} else {
		s.Missing = append(s.Missing, "detection AUROC: no sweep point has an adversarial image to detect (every attack failed)")
	}
	s.Paragraphs = []string{fmt.Sprintf("Each point prunes the base network: magnitude keeps 1 − r of the layer weights (one threshold, %d prune → retrain stages), "+
		"filter removes r of each conv's filters, sdr shrinks for %d epoch(s) and cuts to keep 1 − r (--sdr-keep), svd trains %d epoch(s) and keeps the 1 − r with the lowest log α (--svd-keep); "+
		"each retrains or fine-tunes %d epoch(s) except svd. The x axis is the measured share of layer weights removed. "+
		"Each point is attacked on %d test images; a %d-member pSGLD ensemble (the sample section's chain settings) sampled from the point's network scores "+
		"the point's own adversarial images against their clean originals (adversarial.Detect, MI); n/a where no attack succeeded.",
		compress.DefaultMagnitudeStages, c.SDREpochs, c.SVDEpochs, c.RetrainEpochs, c.AttackN, c.Members)}
	var rows [][]string
	for _, p := range pts {
		mq := "—"
		if p.MedianQueries != nil {
			mq = fmt.Sprintf("%.0f [%.0f, %.0f]", p.MedianQueries.Value, p.MedianQueries.Lo, p.MedianQueries.Hi)
		}
		au := "n/a"
		if p.AUROC != nil {
			au = fmt.Sprintf("%.3f [%.3f, %.3f] (%d adv.)", p.AUROC.Value, p.AUROC.Lo, p.AUROC.Hi, p.Adversarial)
		}
		rows = append(rows, []string{p.Method, fmt.Sprintf("%g%%", 100*p.Removed), fmt.Sprintf("%.1f%%", 100*p.WeightsRemoved),
			fmt.Sprintf("%.2f%% [%.2f, %.2f]", 100*p.Accuracy.Value, 100*p.Accuracy.Lo, 100*p.Accuracy.Hi),
			fmt.Sprintf("%.0f%% [%.0f, %.0f] of %d", 100*p.Success.Value, 100*p.Success.Lo, 100*p.Success.Hi, p.Attacked), mq, au})
	}
	s.Tables = []report.Table{{Header: []string{"method", "asked removed", "weights removed", "accuracy [95% CI]", "attack success", "median queries", "detection AUROC [95% CI]"}, Rows: rows}}
	return nil
}
