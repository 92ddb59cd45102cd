package compress

import (
	"bytes"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/uqnn/uqnn/onnxio"
)

// LayerStats is one row of a Ledger.
type LayerStats struct {
	Name   string `json:"name"`
	Op     string `json:"op"`
	Weight string `json:"weight"`
	// Shape is the weight's shape after compression (smaller after filter removal).
	Shape []int64 `json:"shape"`
	// Params is the number of weights in the source model.
	Params int64 `json:"params"`
	// NonZero is the number of non-zero weights after compression (removed ones count as zero).
	NonZero int64 `json:"nonzero"`
	// Kept is NonZero/Params.
	Kept float64 `json:"kept"`
	// MACs is the source model's multiply-adds per image for this layer (every weight counted);
	// MACsAfter counts only the non-zero weights of the compressed model, each at its output
	// positions — what a sparse kernel would do. For a Conv both are the FLOPs figure of the
	// pruning literature (multiply-adds × output positions).
	MACs      int64 `json:"macs"`
	MACsAfter int64 `json:"macs_after"`
}

// Ledger accounts for what a compression did to each layer of a model: parameters, non-zeros,
// kept fraction and multiply-adds before and after. The accuracy fields are the caller's to fill
// (the ledger never evaluates a model); they are omitted from JSON while zero.
type Ledger struct {
	Method string       `json:"method,omitempty"`
	Layers []LayerStats `json:"layers"`
	// Totals over Layers.
	Params    int64   `json:"params"`
	NonZero   int64   `json:"nonzero"`
	Kept      float64 `json:"kept"`
	MACs      int64   `json:"macs"`
	MACsAfter int64   `json:"macs_after"`
	// OtherParams and OtherAfter count the float initializers that are not layer weights
	// (biases, BatchNorm parameters and statistics) before and after.
	OtherParams int64 `json:"other_params"`
	OtherAfter  int64 `json:"other_after"`

	AccuracyBefore float64 `json:"accuracy_before,omitempty"`
	AccuracyAfter  float64 `json:"accuracy_after,omitempty"`
}

// NewLedger compares a source model with its compressed form, layer by layer (layers are
// matched by weight initializer name; a layer absent from after counts as fully removed).
func NewLedger(before, after *onnxio.Model) (*Ledger, error) {
	lb, err := Layers(before)
	if err != nil {
		return nil, err
	}
	la, err := Layers(after)
	if err != nil {
		return nil, err
	}
	byWeight := map[string]Layer{}
	for _, l := range la {
		byWeight[l.Weight] = l
	}
	matched := 0
	led := &Ledger{}
	for _, b := range lb {
		s := LayerStats{Name: b.Name, Op: b.Op, Weight: b.Weight, Params: b.Params, MACs: b.MACs}
		if a, ok := byWeight[b.Weight]; ok {
			matched++
			s.Shape = a.Shape
			s.NonZero = nonZero(after.Initializer(a.Weight).Float32)
			s.MACsAfter = s.NonZero * a.Positions
		}
		if s.Params > 0 {
			s.Kept = float64(s.NonZero) / float64(s.Params)
		}
		led.Layers = append(led.Layers, s)
		led.Params += s.Params
		led.NonZero += s.NonZero
		led.MACs += s.MACs
		led.MACsAfter += s.MACsAfter
	}
	if matched != len(la) {
		for _, a := range la {
			if _, ok := findLayer(lb, a.Weight); !ok {
				return nil, fmt.Errorf("compress: ledger: layer %q (weight %q) of the compressed model is not in the source model", a.Name, a.Weight)
			}
		}
	}
	if led.Params > 0 {
		led.Kept = float64(led.NonZero) / float64(led.Params)
	}
	led.OtherParams = otherParams(before, lb)
	led.OtherAfter = otherParams(after, la)
	return led, nil
}

func nonZero(w []float32) int64 {
	var n int64
	for _, v := range w {
		if v != 0 {
			n++
		}
	}
	return n
}

func otherParams(m *onnxio.Model, ls []Layer) int64 {
	isW := map[string]bool{}
	for _, l := range ls {
		isW[l.Weight] = true
	}
	var n int64
	for _, t := range m.Params() {
		if !isW[t.Name] {
			n += t.NumElements()
		}
	}
	return n
}

// WriteTable writes the ledger as an aligned text table, one row per layer and a total row.
func (l *Ledger) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "LAYER\tOP\tSHAPE\tPARAMS\tNON-ZERO\tKEPT\tMACS\tMACS AFTER\t")
	for _, s := range l.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%.1f%%\t%d\t%d\t\n", s.Name, s.Op, s.Shape, s.Params, s.NonZero, 100*s.Kept, s.MACs, s.MACsAfter)
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t%d\t%.1f%%\t%d\t%d\t\n", l.Params, l.NonZero, 100*l.Kept, l.MACs, l.MACsAfter)
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.NonZero > 0 {
		fmt.Fprintf(w, "compression %.1f× (weights), %.1f× (multiply-adds); other parameters %d → %d\n",
			float64(l.Params)/float64(l.NonZero), float64(l.MACs)/float64(max(l.MACsAfter, 1)), l.OtherParams, l.OtherAfter)
	}
	if l.AccuracyBefore != 0 || l.AccuracyAfter != 0 {
		_, err := fmt.Fprintf(w, "accuracy %.2f%% → %.2f%%\n", 100*l.AccuracyBefore, 100*l.AccuracyAfter)
		return err
	}
	return nil
}

// String is the text table.
func (l *Ledger) String() string {
	var b bytes.Buffer
	l.WriteTable(&b)
	return b.String()
}

// ConvMACs sums MACs and MACsAfter over the Conv layers: the convolution FLOPs figure of the
// filter-pruning literature, before and after.
func (l *Ledger) ConvMACs() (before, after int64) {
	for _, s := range l.Layers {
		if s.Op == "Conv" {
			before += s.MACs
			after += s.MACsAfter
		}
	}
	return before, after
}
