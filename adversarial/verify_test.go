package adversarial

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A resume checks every record it keeps: an edited field (a query count beyond the budget, a
// label, a prediction, a probability, an image outside ε) refuses the resume, naming the
// example and the field; the untouched log resumes.
func TestResumeRefusesTamperedRecords(t *testing.T) {
	m := newLinearModel(2, 3, 20)
	test := testSet(m, 12, 4, 5, func(i int) bool { return i == 2 })
	ctx := context.Background()
	whole := t.TempDir()
	if _, err := testCampaign(m, test, whole).Run(ctx); err != nil {
		t.Fatal(err)
	}
	run, _ := os.ReadFile(filepath.Join(whole, RunFile))
	lines, _ := os.ReadFile(filepath.Join(whole, RecordsFile))
	first := bytes.SplitAfter(lines, []byte("\n"))[0]
	var rec Record
	if err := json.Unmarshal(first, &rec); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, mention string
		edit          func(r *Record)
	}{
		{"untouched", "", func(*Record) {}},
		{"queries over budget", "queries", func(r *Record) { r.Queries = 99999 }},
		{"label", "label", func(r *Record) { r.Label = (r.Label + 1) % 3 }},
		{"prediction", "prediction", func(r *Record) { r.Pred = (r.Pred + 1) % 3; r.Success = !r.Success }},
		{"success", "success", func(r *Record) { r.Success = !r.Success }},
		{"probability", "probability", func(r *Record) { r.Probs[0] += 0.01 }},
		{"image outside eps", "levels", func(r *Record) {
			if r.Image[0] < 128 {
				r.Image[0] = 255
			} else {
				r.Image[0] = 0
			}
		}},
		{"distance", "L∞", func(r *Record) { r.Linf /= 2 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, RunFile), run, 0o644)
			r := rec
			r.Probs = append([]float32(nil), rec.Probs...)
			r.Image = append([]byte(nil), rec.Image...)
			c.edit(&r)
			b, _ := json.Marshal(r)
			os.WriteFile(filepath.Join(dir, RecordsFile), append(b, '\n'), 0o644)
			camp := testCampaign(m, test, dir)
			camp.Resume = true
			_, err := camp.Run(ctx)
			if c.mention == "" {
				if err != nil {
					t.Fatalf("untouched record: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCampaignDir) || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("err = %v; want ErrCampaignDir mentioning %q", err, c.mention)
			}
		})
	}
}
