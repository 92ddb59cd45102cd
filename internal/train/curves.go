package train

import (
	"encoding/csv"
	"io"
	"strconv"
)

// CSVHeader names the columns WriteCSV writes.
var CSVHeader = []string{"epoch", "step", "lr", "batch_loss", "evaluated", "train_loss", "train_acc", "val_loss", "val_acc"}

// WriteCSV writes the curves, one row per point; unevaluated points leave the four evaluated
// columns empty.
func WriteCSV(w io.Writer, pts []Point) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	for _, p := range pts {
		row := []string{f(p.Epoch), strconv.Itoa(p.Step), f(p.LR), f(p.BatchLoss), strconv.FormatBool(p.Evaluated), "", "", "", ""}
		if p.Evaluated {
			row[5], row[6], row[7], row[8] = f(p.TrainLoss), f(p.TrainAcc), f(p.ValLoss), f(p.ValAcc)
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}
