package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// palette colours the series of the study's figures, in order.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// IntervalPoint is an estimate at X with its interval [Lo, Hi].
type IntervalPoint struct{ X, Y, Lo, Hi float64 }

// IntervalSeries is one named line of a sweep panel.
type IntervalSeries struct {
	Name   string
	Points []IntervalPoint
}

// Panel is one small plot of a sweep figure.
type Panel struct {
	Title, YLabel string
	Series        []IntervalSeries
	// LogY draws the y axis on a log scale (query counts).
	LogY bool
	// Unit fixes the y axis to [0, 1] (rates and AUROCs), so panels compare at a glance and a
	// constant series does not get an arbitrary range.
	Unit bool
}

type errBars []IntervalPoint

func (e errBars) Len() int                    { return len(e) }
func (e errBars) XY(i int) (float64, float64) { return e[i].X, e[i].Y }
func (e errBars) YError(i int) (float64, float64) {
	return e[i].Y - e[i].Lo, e[i].Hi - e[i].Y
}

// Sweep draws panels side by side against a shared x quantity (xlabel), each series a line
// with markers and its intervals as error bars. NaN values are an error naming the series.
func Sweep(panels []Panel, xlabel string) ([]byte, error) {
	if len(panels) == 0 {
		return nil, fmt.Errorf("report: sweep: no panels")
	}
	var plots []*plot.Plot
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.Title
		p.X.Label.Text = xlabel
		p.Y.Label.Text = pn.YLabel
		if pn.LogY {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		for i, s := range pn.Series {
			for j, q := range s.Points {
				if math.IsNaN(q.X) || math.IsNaN(q.Y) || math.IsNaN(q.Lo) || math.IsNaN(q.Hi) {
					return nil, fmt.Errorf("report: sweep %q: series %q point %d is NaN", pn.Title, s.Name, j)
				}
				if pn.LogY && q.Lo <= 0 {
					return nil, fmt.Errorf("report: sweep %q: series %q point %d: %g ≤ 0 on a log axis", pn.Title, s.Name, j, q.Lo)
				}
			}
			if len(s.Points) == 0 {
				continue
			}
			c := palette[i%len(palette)]
			lp, sp, err := plotter.NewLinePoints(errBars(s.Points))
			if err != nil {
				return nil, err
			}
			lp.Color, sp.Color = c, c
			eb, err := plotter.NewYErrorBars(errBars(s.Points))
			if err != nil {
				return nil, err
			}
			eb.Color = c
			p.Add(lp, sp, eb)
			p.Legend.Add(s.Name, lp, sp)
		}
		if pn.Unit {
			p.Y.Min, p.Y.Max = 0, 1
		}
		// Bottom left: at the left (little removed) the metrics are still high, and the lines
		// fall towards the bottom right.
		p.Legend.Top, p.Legend.Left = false, true
		p.Legend.XOffs, p.Legend.YOffs = vg.Points(4), vg.Points(4)
		plots = append(plots, p)
	}
	return encodePNG(vg.Points(float64(280*len(panels))), vg.Points(260), plots...)
}
