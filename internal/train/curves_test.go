package train

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestCurvesCSV(t *testing.T) {
	pts := []Point{
		{Epoch: 0.5, Step: 10, LR: 0.001, BatchLoss: 1.5},
		{Epoch: 1, Step: 20, LR: 0.0009, BatchLoss: 0.8, Evaluated: true, TrainLoss: 0.7, TrainAcc: 0.8, ValLoss: 0.75, ValAcc: 0.79},
		{Epoch: 2, Step: 40, LR: 0.0005, BatchLoss: 0.4, Evaluated: true, TrainLoss: 0.35, TrainAcc: 0.9, ValLoss: 0.4, ValAcc: 0.88},
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, pts); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || len(rows[0]) != len(CSVHeader) {
		t.Fatalf("CSV has %d rows of %d columns; want 4 of %d", len(rows), len(rows[0]), len(CSVHeader))
	}
	if rows[1][8] != "" || rows[2][8] != "0.79" || rows[3][1] != "40" {
		t.Errorf("CSV rows %q; want empty val_acc on the unevaluated row, 0.79 and step 40 after", rows[1:])
	}
}
