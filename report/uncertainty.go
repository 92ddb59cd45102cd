package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var grey = color.Gray{Y: 0x80}

// encodePNG lays the plots out side by side on a width×height canvas and encodes it.
func encodePNG(width, height vg.Length, plots ...*plot.Plot) ([]byte, error) {
	img := vgimg.New(width, height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Points(20), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
	cs := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(cs[0][i])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report: encode plot: %w", err)
	}
	return buf.Bytes(), nil
}

func line(xy plotter.XYs, c color.Color, dashed bool) (*plotter.Line, error) {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	return l, nil
}

// ReliabilityBin is one confidence bin of a reliability diagram. It has bayes.Bin's fields, so
// report.ReliabilityBin(b) converts one (report cannot import bayes: bayes imports train, which
// draws its curves here).
type ReliabilityBin struct {
	Lo, Hi     float64 // confidence range (Lo, Hi]
	Count      int     // examples in the bin
	Confidence float64 // their mean confidence
	Accuracy   float64 // the fraction of them classified right
}

// Reliability draws a reliability diagram: per confidence bin (bayes.Reliability), the accuracy
// as a bar from the bin's lower edge to its upper, each bin's (mean confidence, accuracy) as an
// orange dot (on the grey diagonal when calibrated); the title carries the ECE.
func Reliability(bins []ReliabilityBin, title string) ([]byte, error) {
	var n int
	var ece float64
	for _, b := range bins {
		n += b.Count
	}
	if n == 0 {
		return nil, fmt.Errorf("report: reliability diagram: no examples in %d bins", len(bins))
	}
	p := plot.New()
	var acc, gap plotter.XYs
	for _, b := range bins {
		ece += float64(b.Count) * math.Abs(b.Accuracy-b.Confidence) / float64(n)
		if b.Count == 0 {
			continue
		}
		// A bar as a closed step outline: up at Lo, across at the accuracy, down at Hi.
		acc = append(acc, plotter.XY{X: b.Lo, Y: 0}, plotter.XY{X: b.Lo, Y: b.Accuracy}, plotter.XY{X: b.Hi, Y: b.Accuracy}, plotter.XY{X: b.Hi, Y: 0})
		gap = append(gap, plotter.XY{X: b.Confidence, Y: b.Accuracy})
	}
	p.Title.Text = fmt.Sprintf("%s (ECE %.4f, %d examples)", title, ece, n)
	p.X.Label.Text = "confidence (max probability)"
	p.Y.Label.Text = "accuracy"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	diag, err := line(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}, grey, true)
	if err != nil {
		return nil, err
	}
	bars, err := line(acc, blue, false)
	if err != nil {
		return nil, err
	}
	conf, err := plotter.NewScatter(gap)
	if err != nil {
		return nil, err
	}
	conf.Color, conf.Shape = orange, draw.CircleGlyph{}
	p.Add(plotter.NewGrid(), diag, bars, conf)
	p.Legend.Add("accuracy per bin", bars)
	p.Legend.Add("(mean confidence, accuracy) per bin", conf)
	p.Legend.Add("perfect calibration", diag)
	p.Legend.Top, p.Legend.Left = true, true
	return encodePNG(vg.Points(420), vg.Points(400), p)
}

// Series is one named set of values to draw, e.g. the MI of clean or adversarial images.
type Series struct {
	Name   string
	Values []float64
}

// MIFloor is where MIHistogram puts values at or below it (exact zeros: members that agree) on
// its log axis; the axis label says so.
const MIFloor = 1e-6

// miBins is the number of log-spaced bins of MIHistogram.
const miBins = 40

// MIHistogram overlays the distributions of one or two series (blue, then orange) of
// non-negative values, mutual information in nats usually, as step lines of the fraction of each
// series per bin, on log-spaced bins over a log x axis. Values ≤ MIFloor are counted in the
// first bin. NaN or negative values are an error naming the series and index.
func MIHistogram(series []Series, title string) ([]byte, error) {
	if len(series) == 0 || len(series) > 2 {
		return nil, fmt.Errorf("report: MI histogram: %d series; want 1 or 2", len(series))
	}
	hi := MIFloor * 10
	for _, s := range series {
		if len(s.Values) == 0 {
			return nil, fmt.Errorf("report: MI histogram: series %q is empty", s.Name)
		}
		for i, v := range s.Values {
			if !(v >= 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("report: MI histogram: series %q value %d is %v; want finite ≥ 0", s.Name, i, v)
			}
			hi = max(hi, v)
		}
	}
	lo, top := math.Log10(MIFloor), math.Log10(hi)*1.0000001
	if top <= lo {
		top = lo + 1
	}
	width := (top - lo) / miBins
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = fmt.Sprintf("mutual information (nats, log scale; ≤ %g shown at %g)", MIFloor, MIFloor)
	p.Y.Label.Text = "fraction per bin"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = decades{}
	p.Add(plotter.NewGrid())
	var ymax float64
	for si, s := range series {
		counts := make([]float64, miBins)
		for _, v := range s.Values {
			j := 0
			if v > MIFloor {
				j = min(int((math.Log10(v)-lo)/width), miBins-1)
			}
			counts[j]++
		}
		var xy plotter.XYs
		for j, c := range counts {
			f := c / float64(len(s.Values))
			ymax = max(ymax, f)
			a, b := math.Pow(10, lo+float64(j)*width), math.Pow(10, lo+float64(j+1)*width)
			xy = append(xy, plotter.XY{X: a, Y: f}, plotter.XY{X: b, Y: f})
		}
		l, err := line(xy, []color.Color{blue, orange}[si], false)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (%d)", s.Name, len(s.Values)), l)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min, p.Y.Max = 0, 1.3*ymax // headroom for the legend
	return encodePNG(vg.Points(520), vg.Points(340), p)
}

// decades ticks a log axis at the powers of ten, labelled exactly ("1e-06", "0.01", "1").
type decades struct{}

func (decades) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for k := int(math.Floor(math.Log10(lo))); k <= int(math.Ceil(math.Log10(hi))); k++ {
		v := math.Pow10(k)
		if v >= lo && v <= hi {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	return ts
}

// TracePoint is one recorded sampler step: the minibatch loss and, for BAOAB, its kinetic and
// configurational temperatures (NaN when the sampler has none).
type TracePoint struct {
	Step            int
	Loss            float64
	Kinetic         float64
	Configurational float64
}

// SamplerTrace draws a sampler run: the minibatch loss against the step on the left (log scale
// when every loss is positive), and where the points carry temperatures, the kinetic (blue) and
// configurational (orange) temperature against the step on the right with the target T as a
// dashed grey line.
func SamplerTrace(pts []TracePoint, temperature float64, title string) ([]byte, error) {
	if len(pts) == 0 {
		return nil, fmt.Errorf("report: sampler trace: no points")
	}
	var loss, kin, conf plotter.XYs
	positive := true
	for _, q := range pts {
		if math.IsNaN(q.Loss) || math.IsInf(q.Loss, 0) {
			return nil, fmt.Errorf("report: sampler trace: loss %v at step %d", q.Loss, q.Step)
		}
		positive = positive && q.Loss > 0
		x := float64(q.Step)
		loss = append(loss, plotter.XY{X: x, Y: q.Loss})
		if !math.IsNaN(q.Kinetic) && !math.IsInf(q.Kinetic, 0) {
			kin = append(kin, plotter.XY{X: x, Y: q.Kinetic})
		}
		if !math.IsNaN(q.Configurational) && !math.IsInf(q.Configurational, 0) {
			conf = append(conf, plotter.XY{X: x, Y: q.Configurational})
		}
	}
	lp := plot.New()
	lp.Title.Text = title + ": loss"
	lp.X.Label.Text = "step"
	lp.Y.Label.Text = "minibatch loss (nats)"
	if positive {
		lp.Y.Scale = plot.LogScale{}
		lp.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		lp.Y.Label.Text += ", log scale"
	}
	l, err := line(loss, blue, false)
	if err != nil {
		return nil, err
	}
	lp.Add(plotter.NewGrid(), l)
	if len(kin) == 0 && len(conf) == 0 {
		return encodePNG(vg.Points(420), vg.Points(300), lp)
	}
	tp := plot.New()
	tp.Title.Text = fmt.Sprintf("%s: temperature (T = %g)", title, temperature)
	tp.X.Label.Text = "step"
	tp.Y.Label.Text = "temperature"
	tp.Add(plotter.NewGrid())
	first, last := float64(pts[0].Step), float64(pts[len(pts)-1].Step)
	target, err := line(plotter.XYs{{X: first, Y: temperature}, {X: last, Y: temperature}}, grey, true)
	if err != nil {
		return nil, err
	}
	tp.Add(target)
	tp.Legend.Add("target T", target)
	for _, s := range []struct {
		xy    plotter.XYs
		c     color.Color
		label string
	}{{kin, blue, "kinetic ⟨p²⟩"}, {conf, orange, "configurational θ·∇U/d"}} {
		if len(s.xy) == 0 {
			continue
		}
		l, err := line(s.xy, s.c, false)
		if err != nil {
			return nil, err
		}
		l.Width = vg.Points(1)
		tp.Add(l)
		tp.Legend.Add(s.label, l)
	}
	tp.Legend.Top = true
	return encodePNG(vg.Points(720), vg.Points(300), lp, tp)
}
