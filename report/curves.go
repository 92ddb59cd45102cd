package report

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Colours of the curves: training in blue, validation in orange (colour-blind safe pair).
var (
	trainColor = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	valColor   = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

// LearningCurves draws the curves as a PNG report figure: loss against epoch on a log scale on the left
// (training minibatch loss, the running mean at each point, in blue; validation loss at epoch
// ends in orange) and accuracy against epoch on the right (training subset and validation).
// CurvePoint is one point of a learning curve (the fields of train.Point the figure draws).
type CurvePoint struct {
	Epoch, BatchLoss          float64
	Evaluated                 bool
	TrainAcc, ValLoss, ValAcc float64
}

func LearningCurves(pts []CurvePoint, title string) ([]byte, error) {
	var batch, trainAcc, valLoss, valAcc plotter.XYs
	// The loss axis is logarithmic: zero losses (no validation set, an exact fit) are left out.
	for _, p := range pts {
		if p.BatchLoss > 0 {
			batch = append(batch, plotter.XY{X: p.Epoch, Y: p.BatchLoss})
		}
		if p.Evaluated {
			trainAcc = append(trainAcc, plotter.XY{X: p.Epoch, Y: p.TrainAcc})
			if p.ValLoss > 0 {
				valLoss = append(valLoss, plotter.XY{X: p.Epoch, Y: p.ValLoss})
				valAcc = append(valAcc, plotter.XY{X: p.Epoch, Y: p.ValAcc})
			}
		}
	}
	if len(batch) == 0 {
		return nil, fmt.Errorf("report: no learning-curve points to plot")
	}
	loss := plot.New()
	loss.Title.Text = title + ": loss"
	loss.X.Label.Text = "epoch"
	loss.Y.Label.Text = "cross-entropy (nats, log scale)"
	loss.Y.Scale = plot.LogScale{}
	loss.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	acc := plot.New()
	acc.Title.Text = title + ": accuracy"
	acc.X.Label.Text = "epoch"
	acc.Y.Label.Text = "accuracy"
	for _, s := range []struct {
		p      *plot.Plot
		xy     plotter.XYs
		c      color.Color
		label  string
		points bool
	}{
		{loss, batch, trainColor, "training (minibatch mean)", false},
		{loss, valLoss, valColor, "validation", true},
		{acc, trainAcc, trainColor, "training (first images)", true},
		{acc, valAcc, valColor, "validation", true},
	} {
		if len(s.xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(s.xy)
		if err != nil {
			return nil, fmt.Errorf("report: plot %s: %w", s.label, err)
		}
		l.Color = s.c
		l.Width = vg.Points(1.5)
		s.p.Add(l)
		if s.points {
			sc, err := plotter.NewScatter(s.xy)
			if err != nil {
				return nil, fmt.Errorf("report: plot %s: %w", s.label, err)
			}
			sc.Color = s.c
			sc.Shape = draw.CircleGlyph{}
			s.p.Add(sc)
		}
		s.p.Legend.Add(s.label, l)
	}
	// Axes that show every point: epochs from 0 with a margin past the last, accuracy up to 1
	// and down to just below the lowest value (a single point would otherwise sit on the frame
	// of an auto-ranged axis).
	lastEpoch, minAcc := 0.0, 1.0
	for _, p := range pts {
		lastEpoch = max(lastEpoch, p.Epoch)
		if p.Evaluated {
			minAcc = min(minAcc, p.TrainAcc)
			if p.ValLoss > 0 {
				minAcc = min(minAcc, p.ValAcc)
			}
		}
	}
	for _, p := range []*plot.Plot{loss, acc} {
		p.X.Min, p.X.Max = 0, lastEpoch*1.04+1e-9
	}
	acc.Y.Max = 1.002
	acc.Y.Min = max(0, minAcc-0.02*(1.002-minAcc)-0.005)
	loss.Legend.Top = true
	acc.Legend.Top = false
	acc.Legend.Left = false
	loss.Add(plotter.NewGrid())
	acc.Add(plotter.NewGrid())

	img := vgimg.New(vg.Points(720), vg.Points(300))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(20), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
	plots := [][]*plot.Plot{{loss, acc}}
	cs := plot.Align(plots, tiles, dc)
	loss.Draw(cs[0][0])
	acc.Draw(cs[0][1])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report: encode plot: %w", err)
	}
	return buf.Bytes(), nil
}
