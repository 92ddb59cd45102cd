package adversarial

import (
	"encoding/json"
	"math"
	"sort"
	"time"
)

// Stats summarises a sample. An empty sample (N = 0) has no mean or quantiles: its other
// fields are 0 in Go and null in JSON, so that "no successes" never reads as "0 queries".
type Stats struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// MarshalJSON writes null for every figure of an empty sample.
func (s Stats) MarshalJSON() ([]byte, error) {
	if s.N == 0 {
		return []byte(`{"n":0,"mean":null,"median":null,"p90":null,"min":null,"max":null}`), nil
	}
	type plain Stats
	return json.Marshal(plain(s))
}

// Summarize computes the mean, min, max, median and 90th percentile of v, the quantiles by
// linear interpolation between order statistics (type 7 of Hyndman and Fan).
func Summarize(v []float64) Stats {
	if len(v) == 0 {
		return Stats{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	q := func(p float64) float64 {
		h := p * float64(len(s)-1)
		lo := int(math.Floor(h))
		if lo+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
	}
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Stats{N: len(s), Mean: sum / float64(len(s)), Median: q(0.5), P90: q(0.9), Min: s[0], Max: s[len(s)-1]}
}

// HistBin counts examples with Lo < queries ≤ Hi.
type HistBin struct {
	Lo    int64 `json:"lo"`
	Hi    int64 `json:"hi"`
	Count int   `json:"count"`
}

// QueryHistogram bins query counts on a 1-2-5 scale (10, 20, 50, 100, …) up to the budget,
// which closes the last bin.
func QueryHistogram(q []float64, budget int64) []HistBin {
	var edges []int64
	for dec := int64(10); dec < budget; dec *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if e := m * dec; e < budget {
				edges = append(edges, e)
			}
		}
	}
	edges = append(edges, budget)
	bins := make([]HistBin, len(edges))
	lo := int64(0)
	for i, hi := range edges {
		bins[i] = HistBin{Lo: lo, Hi: hi}
		lo = hi
	}
	for _, x := range q {
		i := sort.Search(len(edges), func(i int) bool { return float64(edges[i]) >= x })
		bins[min(i, len(bins)-1)].Count++
	}
	return bins
}

// Selection says how the attacked examples were chosen.
type Selection struct {
	Requested     int     `json:"requested"`
	Selected      int     `json:"selected"`
	Scanned       int     `json:"scanned"`
	CleanAccuracy float64 `json:"clean_accuracy_on_scanned"`
	Note          string  `json:"note"`
}

// CampaignReport is a campaign's report.json.
type CampaignReport struct {
	Tool       string         `json:"tool"`
	Version    string         `json:"version"`
	ORTVersion string         `json:"onnxruntime"`
	Params     CampaignParams `json:"params"`
	Selection  Selection      `json:"selection"`
	Attacked   int            `json:"attacked"`
	Successes  int            `json:"successes"`
	// SuccessRate is Successes/Attacked, 0 when nothing was attacked.
	SuccessRate float64 `json:"success_rate"`
	// Queries and the norms are over successful examples (as the paper reports them);
	// QueriesAll counts every attacked example, a failure at the queries it used (its budget).
	Queries    Stats     `json:"queries"`
	QueriesAll Stats     `json:"queries_all"`
	Linf       Stats     `json:"linf"`
	L2         Stats     `json:"l2"`
	Histogram  []HistBin `json:"queries_histogram"`
	// Session figures: queries evaluated and wall time in this invocation (a resumed campaign
	// counts only its own part).
	SessionQueries int64             `json:"session_queries"`
	SessionSeconds float64           `json:"session_seconds"`
	QueriesPerSec  float64           `json:"queries_per_sec"`
	Files          map[string]string `json:"files"`
}

const selectionNote = "the first N correctly classified test images; the evaluations that choose them are not attack queries"

// BuildReport computes the report of records recs (in example order).
func BuildReport(p CampaignParams, sel Selection, recs []Record, queries int64, elapsed time.Duration) CampaignReport {
	r := CampaignReport{Params: p, Selection: sel}
	r.Selection.Note = selectionNote
	if sel.Scanned > 0 {
		r.Selection.CleanAccuracy = float64(sel.Selected) / float64(sel.Scanned)
	}
	var qs, qall, linf, l2 []float64
	for _, x := range recs {
		qall = append(qall, float64(x.Queries))
		if x.Success {
			r.Successes++
			qs = append(qs, float64(x.Queries))
			linf = append(linf, x.Linf)
			l2 = append(l2, x.L2)
		}
	}
	r.Attacked = len(recs)
	if r.Attacked > 0 {
		r.SuccessRate = float64(r.Successes) / float64(r.Attacked)
	}
	r.Queries, r.QueriesAll, r.Linf, r.L2 = Summarize(qs), Summarize(qall), Summarize(linf), Summarize(l2)
	r.Histogram = QueryHistogram(qs, p.Budget)
	r.SessionQueries, r.SessionSeconds = queries, elapsed.Seconds()
	if elapsed > 0 {
		r.QueriesPerSec = float64(queries) / elapsed.Seconds()
	}
	r.Files = map[string]string{
		"images": ImagesFile, "labels": LabelsFile, "predictions": PredsFile,
		"records": RecordsFile, "grid": GridFile, "params": RunFile,
	}
	return r
}
