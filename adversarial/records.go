package adversarial

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/uqnn/uqnn/fixtures"
)

// Record is one finished example of a campaign: a line of records.jsonl.
type Record struct {
	Index       int       `json:"index"`  // position in the test set
	Label       int       `json:"label"`  // true class
	Target      int       `json:"target"` // target class, -1 when untargeted
	Pred        int       `json:"pred"`   // the model's class for Image
	Success     bool      `json:"success"`
	Queries     int64     `json:"queries"`
	Generations int       `json:"generations"`
	Linf        float64   `json:"linf"` // distances from the original, 0..1 pixel units
	L2          float64   `json:"l2"`
	Probs       []float32 `json:"probs"` // the model's probabilities for Image
	Image       []byte    `json:"image"` // Rows·Cols uint8 pixels, row-major (base64 in JSON)
}

// NewRecord turns an outcome into a record, its image rounded to uint8 pixels.
func NewRecord(o Outcome) Record {
	img := make([]byte, len(o.Adversarial))
	for i, v := range o.Adversarial {
		img[i] = uint8(math.Round(float64(v) * 255))
	}
	return Record{
		Index: o.Index, Label: o.Goal.Label, Target: o.Goal.Target, Pred: o.Pred, Success: o.Success,
		Queries: o.Queries, Generations: o.Generations, Linf: o.Linf, L2: o.L2, Probs: o.Probs, Image: img,
	}
}

// appendRecord writes one line and flushes it to disk, so an interruption keeps it.
func appendRecord(f *os.File, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("adversarial: %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("adversarial: %s: %w", f.Name(), err)
	}
	return nil
}

// ReadRecords reads the finished examples in a records.jsonl (none if the file is absent),
// keyed by test index; a repeated index keeps its first record. Every image must have pixels
// values (pass pixels ≤ 0 to accept any size, as long as all are equal). A last line cut short
// by a crash is dropped and, when repair is set, the file is truncated before it; a damaged line
// elsewhere is an error.
func ReadRecords(path string, pixels int, repair bool) (map[int]Record, error) {
	done := map[int]Record{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, fmt.Errorf("adversarial: %w", err)
	}
	good, line := 0, 0
	for good < len(b) {
		end := bytes.IndexByte(b[good:], '\n')
		var r Record
		if end < 0 || json.Unmarshal(b[good:good+end], &r) != nil {
			if end >= 0 && bytes.IndexByte(b[good+end+1:], '\n') >= 0 {
				return nil, fmt.Errorf("adversarial: %s: line %d is not a record; the file is damaged", path, line+1)
			}
			break // a torn last line
		}
		line++
		if pixels <= 0 && len(r.Image) > 0 {
			pixels = len(r.Image)
		}
		if len(r.Image) != pixels || pixels == 0 {
			return nil, fmt.Errorf("adversarial: %s: line %d: image of %d pixels; want %d", path, line, len(r.Image), pixels)
		}
		if _, dup := done[r.Index]; !dup {
			done[r.Index] = r
		}
		good += end + 1
	}
	if good < len(b) && repair {
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, fmt.Errorf("adversarial: dropping a torn last line of %s: %w", path, err)
		}
	}
	return done, nil
}

// ReadCampaign reads back a finished campaign folder: its report and its records in example
// order, checked against the IDX images written beside them. It changes nothing on disk.
func ReadCampaign(dir string) (CampaignReport, []Record, error) {
	var rep CampaignReport
	b, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		return rep, nil, fmt.Errorf("adversarial: campaign %s: %w (is it a finished campaign?)", dir, err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, nil, fmt.Errorf("adversarial: campaign %s: %s: %w", dir, ReportFile, err)
	}
	pix, n, rows, cols, err := fixtures.ReadIDXImages(filepath.Join(dir, ImagesFile))
	if err != nil {
		return rep, nil, fmt.Errorf("adversarial: campaign %s: %w", dir, err)
	}
	done, err := ReadRecords(filepath.Join(dir, RecordsFile), rows*cols, false)
	if err != nil {
		return rep, nil, err
	}
	recs := sortedRecords(done)
	if len(recs) != n || n != rep.Attacked {
		return rep, nil, fmt.Errorf("adversarial: campaign %s: %d records, %d images, report says %d attacked; want equal counts",
			dir, len(recs), n, rep.Attacked)
	}
	d := rows * cols
	for i, r := range recs {
		if !bytes.Equal(r.Image, pix[i*d:(i+1)*d]) {
			return rep, nil, fmt.Errorf("adversarial: campaign %s: record of example %d differs from image %d of %s", dir, r.Index, i, ImagesFile)
		}
	}
	return rep, recs, nil
}
