package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ROCSeries is one detector's ROC curve: the (FPR, TPR) corners from (0, 0) to (1, 1), its
// AUROC for the legend, and the operating points to mark (thresholds set on validation
// images, at the false-positive rate they reach on the clean test images).
type ROCSeries struct {
	Name      string
	FPR, TPR  []float64
	AUROC     float64
	Operating []OperatingPoint
}

// OperatingPoint is a marked threshold of an ROC curve.
type OperatingPoint struct {
	Label    string // e.g. "5 % validation FPR"
	FPR, TPR float64
}

// DetectionROC draws one or two ROC curves (blue, then orange) on the unit square with the chance
// diagonal in dashed grey, each operating point as a dot labelled in the legend. Values
// outside [0, 1], NaN, or FPR and TPR of different lengths are an error naming the series.
func DetectionROC(series []ROCSeries, title string) ([]byte, error) {
	if len(series) == 0 || len(series) > 2 {
		return nil, fmt.Errorf("report: detection ROC: %d series; want 1 or 2", len(series))
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "false-positive rate (clean test images flagged)"
	p.Y.Label.Text = "true-positive rate (adversarial images flagged)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())
	diag, err := line(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}, grey, true)
	if err != nil {
		return nil, err
	}
	p.Add(diag)
	unit := func(v float64) bool { return v >= 0 && v <= 1 }
	for si, s := range series {
		if len(s.FPR) != len(s.TPR) || len(s.FPR) < 2 {
			return nil, fmt.Errorf("report: detection ROC: series %q has %d FPR and %d TPR values; want equal counts, at least 2", s.Name, len(s.FPR), len(s.TPR))
		}
		xy := make(plotter.XYs, len(s.FPR))
		for i := range s.FPR {
			if !unit(s.FPR[i]) || !unit(s.TPR[i]) {
				return nil, fmt.Errorf("report: detection ROC: series %q point %d is (%v, %v); want rates in [0, 1]", s.Name, i, s.FPR[i], s.TPR[i])
			}
			xy[i] = plotter.XY{X: s.FPR[i], Y: s.TPR[i]}
		}
		c := []color.Color{blue, orange}[si]
		l, err := line(xy, c, false)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		name := s.Name
		if !math.IsNaN(s.AUROC) {
			name = fmt.Sprintf("%s (AUROC %.3f)", s.Name, s.AUROC)
		}
		p.Legend.Add(name, l)
		for k, op := range s.Operating {
			if !unit(op.FPR) || !unit(op.TPR) {
				return nil, fmt.Errorf("report: detection ROC: series %q operating point %q is (%v, %v); want rates in [0, 1]", s.Name, op.Label, op.FPR, op.TPR)
			}
			sc, err := plotter.NewScatter(plotter.XYs{{X: op.FPR, Y: op.TPR}})
			if err != nil {
				return nil, err
			}
			sc.Color = c
			sc.Radius = vg.Points(3.5)
			sc.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}}[k%3]
			p.Add(sc)
			p.Legend.Add(fmt.Sprintf("%s: TPR %.3f at FPR %.3f", op.Label, op.TPR, op.FPR), sc)
		}
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(4), vg.Points(4)
	return encodePNG(vg.Points(440), vg.Points(420), p)
}
