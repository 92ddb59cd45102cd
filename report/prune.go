package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Colours shared by the figures: blue for "before" / training, orange for "after" / validation.
var (
	blue   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	orange = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

// PruneLayer is one layer of a pruning figure: its weights before and after compression (After
// may be shorter, after filter removal; its zeros count as pruned).
type PruneLayer struct {
	Name   string
	Before []float32
	After  []float32
}

// pruneBins is the number of histogram bins per layer.
const pruneBins = 40

// Pruning draws a pruning result as one PNG: on top, the percentage of weights kept per layer
// (bars, non-zero after ÷ count before); below, small multiples with one column per layer: the
// histogram of the weights before (blue, top row) and of the non-zero weights after (orange,
// bottom row), on the same bins so the hole pruning cuts around zero shows. Same input, same
// bytes.
func Pruning(title string, layers []PruneLayer) ([]byte, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("report: pruning figure: no layers")
	}
	names := make([]string, len(layers))
	kept := make(plotter.Values, len(layers))
	for i, l := range layers {
		if len(l.Before) == 0 {
			return nil, fmt.Errorf("report: pruning figure: layer %q has no weights before", l.Name)
		}
		names[i] = l.Name
		nz := 0
		for _, v := range l.After {
			if v != 0 {
				nz++
			}
		}
		kept[i] = 100 * float64(nz) / float64(len(l.Before))
	}
	bars := plot.New()
	bars.Title.Text = title + ": weights kept per layer"
	bars.Y.Label.Text = "kept (%)"
	bars.Y.Min, bars.Y.Max = 0, 100
	bc, err := plotter.NewBarChart(kept, vg.Points(28))
	if err != nil {
		return nil, fmt.Errorf("report: pruning figure: %w", err)
	}
	bc.Color = blue
	bc.LineStyle.Width = 0
	bars.Add(plotter.NewGrid(), bc)
	bars.NominalX(names...)
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: barTops(kept), Labels: percentLabels(kept)})
	if err != nil {
		return nil, fmt.Errorf("report: pruning figure: %w", err)
	}
	bars.Add(labels)

	hist := make([][]*plot.Plot, 2)
	for row := range hist {
		hist[row] = make([]*plot.Plot, len(layers))
	}
	for i, l := range layers {
		lo, hi := minMax(l.Before)
		if hi == lo {
			lo, hi = lo-0.5, hi+0.5
		}
		var after []float32
		for _, v := range l.After {
			if v != 0 {
				after = append(after, v)
			}
		}
		for row, data := range [][]float32{l.Before, after} {
			p := plot.New()
			c := blue
			p.Title.Text = l.Name + " before"
			if row == 1 {
				c = orange
				p.Title.Text = fmt.Sprintf("%s after (%d non-zero)", l.Name, len(after))
				p.X.Label.Text = "weight"
			}
			h := &plotter.Histogram{Bins: bin(data, lo, hi), Width: (hi - lo) / pruneBins, FillColor: c}
			h.LineStyle.Width = 0
			p.Add(h)
			p.X.Min, p.X.Max = lo, hi
			p.Y.Min = 0
			if i == 0 {
				p.Y.Label.Text = "count"
			}
			hist[row][i] = p
		}
	}

	width := vg.Points(math.Max(720, 190*float64(len(layers))))
	barH, histH := vg.Points(230), vg.Points(340)
	img := vgimg.New(width, barH+histH)
	dc := draw.New(img)
	top := draw.Crop(dc, vg.Points(6), -vg.Points(10), histH, -vg.Points(6))
	bars.Draw(top)
	bottom := draw.Crop(dc, 0, 0, 0, -barH)
	tiles := draw.Tiles{Rows: 2, Cols: len(layers), PadX: vg.Points(10), PadY: vg.Points(8), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
	cs := plot.Align(hist, tiles, bottom)
	for r := range hist {
		for c := range hist[r] {
			hist[r][c].Draw(cs[r][c])
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report: encode pruning figure: %w", err)
	}
	return buf.Bytes(), nil
}

// bin counts data into pruneBins equal bins over [lo, hi] (values outside go to the end bins).
func bin(data []float32, lo, hi float64) []plotter.HistogramBin {
	w := (hi - lo) / pruneBins
	bins := make([]plotter.HistogramBin, pruneBins)
	for i := range bins {
		bins[i].Min = lo + float64(i)*w
		bins[i].Max = lo + float64(i+1)*w
	}
	for _, v := range data {
		i := int((float64(v) - lo) / w)
		bins[min(max(i, 0), pruneBins-1)].Weight++
	}
	return bins
}

func minMax(v []float32) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo = math.Min(lo, float64(x))
		hi = math.Max(hi, float64(x))
	}
	return lo, hi
}

func barTops(v plotter.Values) plotter.XYs {
	xy := make(plotter.XYs, len(v))
	for i, y := range v {
		xy[i] = plotter.XY{X: float64(i) - 0.25, Y: math.Min(y+2, 95)}
	}
	return xy
}

func percentLabels(v plotter.Values) []string {
	s := make([]string, len(v))
	for i, y := range v {
		s[i] = fmt.Sprintf("%.1f%%", y)
	}
	return s
}
