package compress

import (
	"github.com/uqnn/uqnn/onnxio"
	"github.com/uqnn/uqnn/report"
)

// PruneFigure draws the ledger's layers as report.Pruning does: kept % per layer and each
// weight's histogram in src (before) and out (after; a layer out no longer has shows none).
func PruneFigure(title string, src, out *onnxio.Model, led *Ledger) ([]byte, error) {
	var ls []report.PruneLayer
	for _, l := range led.Layers {
		pl := report.PruneLayer{Name: l.Name, Before: src.Initializer(l.Weight).Float32}
		if t := out.Initializer(l.Weight); t != nil {
			pl.After = t.Float32
		}
		ls = append(ls, pl)
	}
	return report.Pruning(title, ls)
}
