package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/uqnn/uqnn/internal/atomicfile"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/uqnn/uqnn/adversarial"
	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
)

// attackRecord is one finished example: a line of records.jsonl.
type attackRecord struct {
	Index       int       `json:"index"`  // position in the MNIST test set
	Label       int       `json:"label"`  // true class
	Target      int       `json:"target"` // target class, -1 when untargeted
	Pred        int       `json:"pred"`   // the model's class for Image
	Success     bool      `json:"success"`
	Queries     int64     `json:"queries"`
	Generations int       `json:"generations"`
	Linf        float64   `json:"linf"` // distances from the original, 0..1 pixel units
	L2          float64   `json:"l2"`
	Probs       []float32 `json:"probs"` // the model's probabilities for Image
	Image       []byte    `json:"image"` // 784 uint8 pixels, row-major (base64 in JSON)
}

func newAttackRecord(o adversarial.Outcome) attackRecord {
	img := make([]byte, len(o.Adversarial))
	for i, v := range o.Adversarial {
		img[i] = uint8(math.Round(float64(v) * 255))
	}
	return attackRecord{
		Index: o.Index, Label: o.Goal.Label, Target: o.Goal.Target, Pred: o.Pred, Success: o.Success,
		Queries: o.Queries, Generations: o.Generations, Linf: o.Linf, L2: o.L2, Probs: o.Probs, Image: img,
	}
}

// appendRecord writes one line and flushes it to disk, so an interruption keeps it.
func appendRecord(f *os.File, r attackRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("attack: %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("attack: %s: %w", f.Name(), err)
	}
	return nil
}

// readRecords reads the finished examples of an earlier run (none if the file is absent).
// A last line cut short by a crash is dropped and the file truncated before it.
func readRecords(path string) (map[int]attackRecord, error) {
	done := map[int]attackRecord{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, fmt.Errorf("attack: %w", err)
	}
	good, line := 0, 0
	for good < len(b) {
		end := bytes.IndexByte(b[good:], '\n')
		var r attackRecord
		if end < 0 || json.Unmarshal(b[good:good+end], &r) != nil {
			if end >= 0 && bytes.IndexByte(b[good+end+1:], '\n') >= 0 {
				return nil, fmt.Errorf("attack: %s: line %d is not a record; the file is damaged", path, line+1)
			}
			break // a torn last line
		}
		line++
		if len(r.Image) != fixtures.Pixels {
			return nil, fmt.Errorf("attack: %s: line %d: image of %d pixels; want %d", path, line, len(r.Image), fixtures.Pixels)
		}
		if _, dup := done[r.Index]; !dup {
			done[r.Index] = r
		}
		good += end + 1
	}
	if good < len(b) {
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, fmt.Errorf("attack: dropping a torn last line: %w", err)
		}
	}
	return done, nil
}

// attackProgress reports on stderr: redrawn in place on a terminal, a line a second otherwise.
type attackProgress struct {
	w                 io.Writer
	quiet, tty        bool
	total, done, succ int
	start, last       time.Time
	queries           *atomic.Int64
}

func newAttackProgress(w io.Writer, quiet bool, total int, done map[int]attackRecord) *attackProgress {
	p := &attackProgress{w: w, quiet: quiet, tty: isTerminal(w), total: total, done: len(done), start: time.Now()}
	for _, r := range done {
		if r.Success {
			p.succ++
		}
	}
	return p
}

func (p *attackProgress) add(r attackRecord) {
	p.done++
	if r.Success {
		p.succ++
	}
	if p.quiet || (time.Since(p.last) < time.Second && p.done < p.total) {
		return
	}
	p.last = time.Now()
	qps := rate(int(p.queries.Load()), time.Since(p.start))
	end := "\n"
	if p.tty {
		end = "\033[K\r"
	}
	fmt.Fprintf(p.w, "attack: %d/%d done, %d successful (%.1f%%), %.0f queries/s%s",
		p.done, p.total, p.succ, 100*float64(p.succ)/float64(max(p.done, 1)), qps, end)
}

func (p *attackProgress) finish() {
	if p.tty && !p.quiet && p.done > 0 {
		fmt.Fprintln(p.w)
	}
}

// stats summarises a sample.
type stats struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// summarize uses linear interpolation between order statistics for the quantiles.
func summarize(v []float64) stats {
	if len(v) == 0 {
		return stats{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	q := func(p float64) float64 {
		h := p * float64(len(s)-1)
		lo := int(math.Floor(h))
		if lo+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
	}
	var sum float64
	for _, x := range s {
		sum += x
	}
	return stats{N: len(s), Mean: sum / float64(len(s)), Median: q(0.5), P90: q(0.9), Min: s[0], Max: s[len(s)-1]}
}

// histBin counts successful examples with lo < queries ≤ hi.
type histBin struct {
	Lo    int64 `json:"lo"`
	Hi    int64 `json:"hi"`
	Count int   `json:"count"`
}

// queryHistogram bins the queries of successful examples on a 1-2-5 scale up to the budget.
func queryHistogram(q []float64, budget int64) []histBin {
	var edges []int64
	for dec := int64(10); dec < budget; dec *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if e := m * dec; e < budget {
				edges = append(edges, e)
			}
		}
	}
	edges = append(edges, budget)
	bins := make([]histBin, len(edges))
	lo := int64(0)
	for i, hi := range edges {
		bins[i] = histBin{Lo: lo, Hi: hi}
		lo = hi
	}
	for _, x := range q {
		i := sort.Search(len(edges), func(i int) bool { return float64(edges[i]) >= x })
		bins[min(i, len(bins)-1)].Count++
	}
	return bins
}

// attackReport is report.json and the --json document.
type attackReport struct {
	Tool       string       `json:"tool"`
	Version    string       `json:"version"`
	ORTVersion string       `json:"onnxruntime"`
	Params     attackParams `json:"params"`
	Selection  struct {
		Requested     int     `json:"requested"`
		Selected      int     `json:"selected"`
		Scanned       int     `json:"scanned"`
		CleanAccuracy float64 `json:"clean_accuracy_on_scanned"`
		Note          string  `json:"note"`
	} `json:"selection"`
	Attacked    int     `json:"attacked"`
	Successes   int     `json:"successes"`
	SuccessRate float64 `json:"success_rate"`
	// Queries and the norms are over successful examples (as the paper reports them);
	// QueriesAll counts every attacked example, a failure at the queries it used (its budget).
	Queries    stats     `json:"queries"`
	QueriesAll stats     `json:"queries_all"`
	Linf       stats     `json:"linf"`
	L2         stats     `json:"l2"`
	Histogram  []histBin `json:"queries_histogram"`
	// Session figures: queries evaluated and wall time in this invocation (a resumed run counts
	// only its own part).
	SessionQueries int64             `json:"session_queries"`
	SessionSeconds float64           `json:"session_seconds"`
	QueriesPerSec  float64           `json:"queries_per_sec"`
	Files          map[string]string `json:"files"`
}

func buildAttackReport(p attackParams, sel selection, recs []attackRecord, queries int64, elapsed time.Duration) attackReport {
	r := attackReport{Tool: "uqnn attack", Version: version, ORTVersion: ort.Version, Params: p}
	r.Selection.Requested, r.Selection.Selected, r.Selection.Scanned = p.N, sel.correct, sel.scanned
	if sel.scanned > 0 {
		r.Selection.CleanAccuracy = float64(sel.correct) / float64(sel.scanned)
	}
	r.Selection.Note = "the first N correctly classified test images; the evaluations that choose them are not attack queries"
	var qs, qall, linf, l2 []float64
	for _, x := range recs {
		qall = append(qall, float64(x.Queries))
		if x.Success {
			r.Successes++
			qs = append(qs, float64(x.Queries))
			linf = append(linf, x.Linf)
			l2 = append(l2, x.L2)
		}
	}
	r.Attacked = len(recs)
	if r.Attacked > 0 {
		r.SuccessRate = float64(r.Successes) / float64(r.Attacked)
	}
	r.Queries, r.QueriesAll, r.Linf, r.L2 = summarize(qs), summarize(qall), summarize(linf), summarize(l2)
	r.Histogram = queryHistogram(qs, p.Budget)
	r.SessionQueries, r.SessionSeconds = queries, elapsed.Seconds()
	if elapsed > 0 {
		r.QueriesPerSec = float64(queries) / elapsed.Seconds()
	}
	r.Files = map[string]string{
		"images": attackImagesFile, "labels": attackLabelsFile, "predictions": attackPredsFile,
		"records": attackRecordsFile, "grid": attackGridFile, "params": attackRunFile,
	}
	return r
}

// writeAttackOutputs writes the final files, each atomically, in example order.
func writeAttackOutputs(dir string, recs []attackRecord, rep attackReport, gridN int, test *fixtures.Set) error {
	pix := make([]uint8, 0, len(recs)*fixtures.Pixels)
	labels := make([]uint8, len(recs))
	preds := make([]uint8, len(recs))
	var lines bytes.Buffer
	for i, r := range recs {
		pix = append(pix, r.Image...)
		labels[i], preds[i] = uint8(r.Label), uint8(r.Pred)
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		lines.Write(append(b, '\n'))
	}
	if err := fixtures.WriteIDXImages(filepath.Join(dir, attackImagesFile), pix, len(recs), fixtures.Rows, fixtures.Cols); err != nil {
		return err
	}
	if err := fixtures.WriteIDXLabels(filepath.Join(dir, attackLabelsFile), labels); err != nil {
		return err
	}
	if err := fixtures.WriteIDXLabels(filepath.Join(dir, attackPredsFile), preds); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, attackRecordsFile), lines.Bytes()); err != nil {
		return err
	}
	grid, err := attackGrid(recs[:min(gridN, len(recs))], test)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, attackGridFile), grid); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, attackReportFile), append(b, '\n'))
}

// Grid geometry: each image drawn gridScale times larger, a caption band below it.
const (
	gridScale   = 3
	gridCell    = fixtures.Cols * gridScale
	gridCaption = 16
	gridGap     = 6
	gridTitle   = 18
)

// attackGrid draws originals (top, captioned with the true class) above adversarials
// (captioned with the model's class; green when the attack succeeded, red when not).
func attackGrid(recs []attackRecord, test *fixtures.Set) ([]byte, error) {
	cols := max(len(recs), 1)
	w := gridGap + cols*(gridCell+gridGap)
	h := gridTitle + 2*(gridCell+gridCaption+gridGap)
	img := image.NewRGBA(image.Rect(0, 0, max(w, 330), h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text := func(x, y int, c color.Color, s string) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	text(gridGap, 13, color.Black, "top: original (true class)  bottom: adversarial (predicted)")
	put := func(x0, y0 int, pix []byte) {
		for y := range fixtures.Rows {
			for x := range fixtures.Cols {
				g := color.Gray{Y: pix[y*fixtures.Cols+x]}
				draw.Draw(img, image.Rect(x0+x*gridScale, y0+y*gridScale, x0+(x+1)*gridScale, y0+(y+1)*gridScale),
					image.NewUniform(g), image.Point{}, draw.Src)
			}
		}
	}
	green, red := color.RGBA{0, 128, 0, 255}, color.RGBA{200, 0, 0, 255}
	for i, r := range recs {
		x0 := gridGap + i*(gridCell+gridGap)
		y0 := gridTitle
		put(x0, y0, test.Image(r.Index))
		text(x0, y0+gridCell+13, color.Black, fmt.Sprintf("#%d: %d", r.Index, r.Label))
		y1 := y0 + gridCell + gridCaption + gridGap
		put(x0, y1, r.Image)
		c, s := red, fmt.Sprintf("%d (kept)", r.Pred)
		if r.Success {
			c, s = green, fmt.Sprintf("-> %d", r.Pred)
		}
		text(x0, y1+gridCell+13, c, s)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func printAttack(w io.Writer, r attackReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := "untargeted"
	if r.Params.Targeted {
		mode = "targeted (random target)"
	}
	c := r.Params.GenAttack
	fmt.Fprintf(tw, "model\t%s\n", r.Params.Model)
	fmt.Fprintf(tw, "preprocess\t%s\n", r.Params.Preprocess.Preprocess.Describe())
	fmt.Fprintf(tw, "attack\tGenAttack, %s, ε %.4g (%.0f/255 levels), budget %d queries per example, seed %d\n",
		mode, r.Params.Epsilon, math.Round(r.Params.EpsEffective*255), r.Params.Budget, r.Params.Seed)
	if c.Adaptive {
		fmt.Fprintf(tw, "settings\tN %d, τ %.3g, adaptive ρ = max(%.3g, %.3g·%.3g^k), α = max(%.3g, %.3g·%.3g^k), plateau %d\n",
			c.Population, c.Temperature, c.RhoMin, c.RhoInit, c.Decay, c.AlphaMin, c.AlphaInit, c.Decay, c.Plateau)
	} else {
		fmt.Fprintf(tw, "settings\tN %d, τ %.3g, ρ %.3g, α %.3g\n", c.Population, c.Temperature, c.Rho, c.Alpha)
	}
	fmt.Fprintf(tw, "examples\t%d attacked (first correctly classified of %d test images scanned)\n", r.Attacked, r.Selection.Scanned)
	fmt.Fprintf(tw, "success\t%d/%d = %.2f%%\n", r.Successes, r.Attacked, 100*r.SuccessRate)
	fmt.Fprintf(tw, "queries\tmean %.0f, median %.0f, p90 %.0f (successful examples)\n", r.Queries.Mean, r.Queries.Median, r.Queries.P90)
	fmt.Fprintf(tw, "norms\tL∞ mean %.4f, L2 mean %.3f (successful examples)\n", r.Linf.Mean, r.L2.Mean)
	fmt.Fprintf(tw, "speed\t%.0f queries/s\n", r.QueriesPerSec)
	return tw.Flush()
}
