package adversarial

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/seed"
)

// testSet is n random images of rows×cols labelled with the model's own class, except those
// listed in wrong, which get the next class.
func testSet(m *linearModel, n, rows, cols int, wrong func(i int) bool) *fixtures.Set {
	rng := rand.New(rand.NewPCG(7, 7))
	s := &fixtures.Set{N: n, Rows: rows, Cols: cols, Images: make([]uint8, n*rows*cols), Labels: make([]uint8, n)}
	for i := range s.Images {
		s.Images[i] = uint8(rng.IntN(256))
	}
	for i := range n {
		img := make([]float32, rows*cols)
		for j, p := range s.Image(i) {
			img[j] = float32(p) / 255
		}
		c := m.predict(img)
		if wrong(i) {
			c = (c + 1) % m.Classes()
		}
		s.Labels[i] = uint8(c)
	}
	return s
}

// TestSelectCorrect crosses the 1000-image chunk and checks the first n correct images, the
// number scanned and the clean accuracy against a plain loop over the labels.
func TestSelectCorrect(t *testing.T) {
	m := newLinearModel(1, 4, 12)
	wrong := func(i int) bool { return i%7 == 0 }
	test := testSet(m, 1200, 3, 4, wrong)
	for _, n := range []int{1, 5, 900, 1100} {
		var want []int
		scanned := 0
		for i := 0; i < test.N && len(want) < n; i++ {
			scanned = i + 1
			if !wrong(i) {
				want = append(want, i)
			}
		}
		sel, got, err := SelectCorrect(context.Background(), m, test, n)
		if err != nil {
			t.Fatal(err)
		}
		if !equalInts(got, want) || sel.Scanned != scanned || sel.Selected != len(want) || sel.Requested != n ||
			sel.CleanAccuracy != float64(len(want))/float64(scanned) {
			t.Errorf("n %d: selection %+v, %d indices (first %v); want %d indices (first %v), %d scanned",
				n, sel, len(got), got[:min(3, len(got))], len(want), want[:min(3, len(want))], scanned)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTasksTargetsByIndex: a targeted example's target is the draw of stream ("target", test
// index), whatever else is in the list, and never its label.
func TestTasksTargetsByIndex(t *testing.T) {
	m := newLinearModel(1, 10, 6)
	test := testSet(m, 40, 2, 3, func(int) bool { return false })
	all := Tasks(test, []int{3, 5, 17, 30}, true, 9, 10)
	one := Tasks(test, []int{17}, true, 9, 10)
	if all[2].Goal != one[0].Goal {
		t.Fatalf("target of example 17: %+v in a list of four, %+v alone", all[2].Goal, one[0].Goal)
	}
	for _, tk := range all {
		want := RandomTarget(seed.Indexed(9, "target", tk.Index), int(test.Labels[tk.Index]), 10)
		if tk.Goal.Target != want || tk.Goal.Target == tk.Goal.Label || len(tk.Image) != 6 {
			t.Errorf("example %d: goal %+v, %d pixels; want target %d ≠ label, 6 pixels", tk.Index, tk.Goal, len(tk.Image), want)
		}
		if tk.Image[1] != float32(test.Image(tk.Index)[1])/255 {
			t.Errorf("example %d: pixel 1 = %v; want %v/255", tk.Index, tk.Image[1], test.Image(tk.Index)[1])
		}
	}
	if u := Tasks(test, []int{3}, false, 9, 10); u[0].Goal.Target != -1 {
		t.Errorf("untargeted goal %+v; want target -1", u[0].Goal)
	}
}

func testCampaign(m Model, test *fixtures.Set, dir string) *Campaign {
	return &Campaign{Model: m, Test: test, N: 6, Budget: 400, Config: Config{Epsilon: 0.2}, Seed: 3,
		Workers: 1, Dir: dir, Grid: 4, Tool: "test", Version: "v0"}
}

// TestCampaignResumeAfterTornLine runs a campaign whole, then replays it from a folder holding
// its first two records and a torn third line: the resumed run repairs the file, attacks only
// the rest, and writes the same bytes as the whole run.
func TestCampaignResumeAfterTornLine(t *testing.T) {
	m := newLinearModel(2, 3, 20)
	test := testSet(m, 12, 4, 5, func(i int) bool { return i == 2 })
	ctx := context.Background()
	whole := t.TempDir()
	want, err := testCampaign(m, test, whole).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want.Attacked != 6 || want.Selection.Scanned != 7 || want.Successes == 0 {
		t.Fatalf("whole run: %d attacked, %d scanned, %d successes; want 6, 7, some", want.Attacked, want.Selection.Scanned, want.Successes)
	}
	lines, _ := os.ReadFile(filepath.Join(whole, RecordsFile))
	ls := bytes.SplitAfter(lines, []byte("\n"))

	cut := t.TempDir()
	run, _ := os.ReadFile(filepath.Join(whole, RunFile))
	os.WriteFile(filepath.Join(cut, RunFile), run, 0o644)
	torn := append(append(append([]byte{}, ls[0]...), ls[1]...), ls[2][:len(ls[2])/2]...)
	os.WriteFile(filepath.Join(cut, RecordsFile), torn, 0o644)

	c := testCampaign(m, test, cut)
	if _, err := c.Run(ctx); !errors.Is(err, ErrCampaignDir) {
		t.Fatalf("a folder with records and no Resume: %v; want ErrCampaignDir", err)
	}
	c.Budget, c.Resume = 300, true
	if _, err := c.Run(ctx); !errors.Is(err, ErrCampaignDir) || !strings.Contains(err.Error(), "budget_per_example") {
		t.Fatalf("resume with another budget: %v; want ErrCampaignDir naming budget_per_example", err)
	}
	c.Budget = 400
	var firstDone int
	c.Progress = func(p Progress) {
		if firstDone == 0 {
			firstDone = p.Done
		}
	}
	got, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if firstDone != 3 {
		t.Errorf("first progress after resuming reports %d done; want 3 (2 kept + 1 new)", firstDone)
	}
	for _, f := range []string{RecordsFile, ImagesFile, LabelsFile, PredsFile, GridFile} {
		a, _ := os.ReadFile(filepath.Join(whole, f))
		b, _ := os.ReadFile(filepath.Join(cut, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: %d bytes resumed, %d whole; want the same bytes", f, len(b), len(a))
		}
	}
	if got.Queries != want.Queries || got.QueriesAll != want.QueriesAll || got.Successes != want.Successes {
		t.Errorf("resumed report %+v / %+v; whole %+v / %+v", got.Queries, got.Successes, want.Queries, want.Successes)
	}

	rep, recs, err := ReadCampaign(cut)
	if err != nil || len(recs) != 6 || rep.Successes != want.Successes || rep.Params.Budget != 400 {
		t.Fatalf("ReadCampaign: %v, %d records, report %+v", err, len(recs), rep.Params)
	}
	for i, r := range recs {
		if len(r.Image) != 20 || (i > 0 && r.Index <= recs[i-1].Index) {
			t.Errorf("record %d: index %d, %d pixels; want ascending indices, 20 pixels", i, r.Index, len(r.Image))
		}
	}
}

func TestReadRecordsDropsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), RecordsFile)
	var buf bytes.Buffer
	for i := range 2 {
		b, _ := json.Marshal(Record{Index: i, Image: make([]byte, 784)})
		buf.Write(append(b, '\n'))
	}
	good := buf.Len()
	buf.WriteString(`{"index":2,"label":`)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	done, err := ReadRecords(path, 784, true)
	if err != nil || len(done) != 2 {
		t.Fatalf("ReadRecords: %d records, %v; want 2", len(done), err)
	}
	if st, _ := os.Stat(path); st.Size() != int64(good) {
		t.Fatalf("file is %d bytes after dropping the torn line; want %d", st.Size(), good)
	}
	// A damaged line in the middle is an error, not silently skipped.
	os.WriteFile(path, append([]byte("garbage\n"), buf.Bytes()[:good]...), 0o644)
	if _, err := ReadRecords(path, 784, true); err == nil {
		t.Fatal("a damaged middle line was accepted")
	}
	// An image of another size than the set's is an error.
	os.WriteFile(path, buf.Bytes()[:good], 0o644)
	if _, err := ReadRecords(path, 20, true); err == nil {
		t.Fatal("records of 784 pixels were accepted for 20-pixel images")
	}
}

func TestSummarizeAndHistogram(t *testing.T) {
	s := Summarize([]float64{10, 1, 4, 2, 3})
	if s.N != 5 || s.Mean != 4 || s.Median != 3 || s.Min != 1 || s.Max != 10 || math.Abs(s.P90-7.6) > 1e-12 {
		t.Fatalf("Summarize = %+v; want n 5, mean 4, median 3, p90 7.6 (linear interpolation)", s)
	}
	h := QueryHistogram([]float64{6, 10, 11, 150, 10000}, 10000)
	wantHi := []int64{10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}
	wantCount := []int{2, 1, 0, 0, 1, 0, 0, 0, 0, 1}
	if len(h) != len(wantHi) {
		t.Fatalf("%d bins; want %d", len(h), len(wantHi))
	}
	for i, b := range h {
		if b.Hi != wantHi[i] || b.Count != wantCount[i] {
			t.Errorf("bin %d = %+v; want hi %d count %d", i, b, wantHi[i], wantCount[i])
		}
	}
}

// TestBuildReport checks the figures on hand-computed records, and that a campaign without a
// success reports its query and norm statistics as missing (null), not as 0.
func TestBuildReport(t *testing.T) {
	recs := []Record{
		{Index: 0, Success: true, Queries: 100, Linf: 0.2, L2: 1},
		{Index: 4, Success: false, Queries: 3000, Linf: 0.3, L2: 5},
		{Index: 9, Success: true, Queries: 300, Linf: 0.1, L2: 3},
	}
	r := BuildReport(CampaignParams{Budget: 3000}, Selection{Requested: 3, Selected: 3, Scanned: 4}, recs, 3400, 2e9)
	if r.Attacked != 3 || r.Successes != 2 || r.SuccessRate != 2.0/3 || r.Selection.CleanAccuracy != 0.75 ||
		r.Queries.Mean != 200 || r.Queries.Median != 200 || r.Queries.N != 2 ||
		math.Abs(r.QueriesAll.Mean-3400.0/3) > 1e-9 || r.QueriesAll.Max != 3000 ||
		math.Abs(r.Linf.Mean-0.15) > 1e-12 || r.L2.Mean != 2 || r.QueriesPerSec != 1700 {
		t.Fatalf("report %+v; want 2/3 successes, clean accuracy 0.75, queries mean 200, all mean 1133.3, L∞ 0.15, L2 2, 1700 q/s", r)
	}
	var binned int
	for _, b := range r.Histogram {
		binned += b.Count
	}
	if binned != 2 {
		t.Errorf("histogram holds %d examples; want the 2 successes", binned)
	}

	none := BuildReport(CampaignParams{Budget: 3000}, Selection{}, recs[1:2], 3000, 0)
	if none.Successes != 0 || none.SuccessRate != 0 || none.QueriesAll.N != 1 || none.QueriesPerSec != 0 {
		t.Fatalf("report without successes %+v", none)
	}
	b, _ := json.Marshal(none)
	doc := map[string]map[string]any{}
	var raw map[string]json.RawMessage
	json.Unmarshal(b, &raw)
	for _, k := range []string{"queries", "linf", "l2", "queries_all"} {
		var m map[string]any
		json.Unmarshal(raw[k], &m)
		doc[k] = m
	}
	for _, k := range []string{"queries", "linf", "l2"} {
		if doc[k]["n"] != 0.0 || doc[k]["mean"] != nil || doc[k]["median"] != nil {
			t.Errorf("%s without successes = %v; want n 0 and null figures", k, doc[k])
		}
	}
	if doc["queries_all"]["mean"] != 3000.0 {
		t.Errorf("queries_all = %v; want mean 3000", doc["queries_all"])
	}
	// The null figures read back as an empty sample.
	var back CampaignReport
	if err := json.Unmarshal(b, &back); err != nil || back.Queries != (Stats{}) {
		t.Errorf("read back: %v, queries %+v; want an empty sample", err, back.Queries)
	}
}

// FuzzReadRecords feeds arbitrary records files to the resume reader: errors are fine, panics
// are not, and whatever it accepts has well-formed images.
func FuzzReadRecords(f *testing.F) {
	b, _ := json.Marshal(Record{Index: 3, Image: make([]byte, 784)})
	f.Add(append(b, '\n'))
	f.Add([]byte("{\"index\":1}\n{"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), RecordsFile)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		done, err := ReadRecords(path, 784, true)
		if err != nil {
			return
		}
		for _, r := range done {
			if len(r.Image) != 784 {
				t.Fatalf("accepted a record with %d pixels", len(r.Image))
			}
		}
	})
}
