package study

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/uqnn/uqnn/adversarial"
)

// Row is one line of the results table: a network with one sampler's ensemble. Figures that
// could not be measured (their stage did not finish) are nil and print as "—".
type Row struct {
	Network string   `json:"network"`
	Sampler string   `json:"sampler"`
	Kept    *float64 `json:"params_kept"`   // fraction of layer weights non-zero
	Archive *int64   `json:"archive_bytes"` // compressed archive size
	// NoArchive is why a finished network has no archive (it is not quantized); "" otherwise.
	NoArchive string `json:"no_archive,omitempty"`
	// The network alone on the test images.
	NetAccuracy *float64 `json:"net_accuracy"`
	// The ensemble on the test images.
	Accuracy *float64 `json:"accuracy"`
	NLL      *float64 `json:"nll"`
	ECE      *float64 `json:"ece"`
	// GenAttack against the network.
	AttackSuccess *float64 `json:"attack_success"`
	MedianQueries *float64 `json:"median_queries"`
	// The ensemble on the network's own adversarial images ("own" setting).
	VoteAccuracy  *float64 `json:"vote_accuracy_adversarial"`
	MIMedianClean *float64 `json:"mi_median_clean"`
	MIMedianAdv   *float64 `json:"mi_median_adversarial"`
	MIMeanRatio   *float64 `json:"mi_mean_ratio"`
	// Detection AUROC and TPR at Detect.FPR per setting.
	AUROC map[string]*float64 `json:"detection_auroc"`
	TPR   map[string]*float64 `json:"detection_tpr"`
	// MisclassAUROC ranks the ensemble's wrong clean predictions by MI.
	MisclassAUROC *float64 `json:"misclassification_auroc"`
	MIWrong       *float64 `json:"mean_mi_wrong"`
	MIRight       *float64 `json:"mean_mi_right"`
}

func fp(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Rows reads every finished stage of a study folder into the table.
func Rows(dir string, c Config) []Row {
	var rows []Row
	for _, n := range c.Networks() {
		net, netErr := ReadNetwork(StageDir(dir, NetworkStage(n)))
		var camp *adversarial.CampaignReport
		if rep, _, err := adversarial.ReadCampaign(filepath.Join(StageDir(dir, "attack/"+n), CampaignDir)); err == nil {
			camp = &rep
		}
		for _, s := range c.Sample.Samplers {
			r := Row{Network: n, Sampler: s, AUROC: map[string]*float64{}, TPR: map[string]*float64{}}
			if netErr == nil {
				r.Kept, r.NetAccuracy = fp(net.Kept), fp(net.Test.Accuracy)
				if net.ArchiveBytes > 0 {
					r.Archive = &net.ArchiveBytes
				}
				r.NoArchive = net.NoArchive
			}
			if camp != nil {
				r.AttackSuccess = fp(camp.SuccessRate)
				if camp.Queries.N > 0 {
					r.MedianQueries = fp(camp.Queries.Median)
				}
			}
			var det DetectResult
			if readJSON(filepath.Join(StageDir(dir, "detect/"+n+"/"+s), DetectionFile), &det) == nil {
				r.Accuracy, r.NLL, r.ECE = fp(det.Test.Accuracy), fp(det.Test.NLL), fp(det.Test.ECE)
				if own := det.Settings["own"]; own != nil {
					r.VoteAccuracy = fp(own.VoteAccuracy)
					r.MIMedianClean, r.MIMedianAdv = fp(own.MI.MedianClean), fp(own.MI.MedianAdversarial)
					r.MIMeanRatio = fp(float64(own.MI.MeanRatio))
				}
				for k, d := range det.Settings {
					r.AUROC[k] = fp(d.AUROC.Value)
					if len(d.AtFPR) > 0 {
						r.TPR[k] = fp(d.AtFPR[0].TPR.Value)
					}
				}
				if det.Misclass.AUROC != nil {
					r.MisclassAUROC = det.Misclass.AUROC
				}
				r.MIWrong, r.MIRight = fp(det.Misclass.MeanMIWrong), fp(det.Misclass.MeanMIRight)
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// Columns of the table, in order, with their formatting.
func (c Config) columns() []column {
	cols := []column{
		{"network", func(r Row) string { return r.Network }},
		{"sampler", func(r Row) string { return r.Sampler }},
		{"params kept", pct(func(r Row) *float64 { return r.Kept })},
		{"archive bytes", func(r Row) string {
			if r.Archive == nil && r.NoArchive != "" {
				return "n/a"
			}
			if r.Archive == nil {
				return "—"
			}
			return strconv.FormatInt(*r.Archive, 10)
		}},
		{"net accuracy", pct(func(r Row) *float64 { return r.NetAccuracy })},
		{"ens. accuracy", pct(func(r Row) *float64 { return r.Accuracy })},
		{"NLL", num(func(r Row) *float64 { return r.NLL }, 'f', 4)},
		{"ECE", num(func(r Row) *float64 { return r.ECE }, 'f', 4)},
		{"attack success", pct(func(r Row) *float64 { return r.AttackSuccess })},
		{"median queries", num(func(r Row) *float64 { return r.MedianQueries }, 'f', 0)},
		{"vote acc. (adv.)", pct(func(r Row) *float64 { return r.VoteAccuracy })},
		{"MI median clean", num(func(r Row) *float64 { return r.MIMedianClean }, 'g', 3)},
		{"MI median adv.", num(func(r Row) *float64 { return r.MIMedianAdv }, 'g', 3)},
		{"MI mean ratio", num(func(r Row) *float64 { return r.MIMeanRatio }, 'g', 4)},
	}
	for _, s := range c.Detect.Settings {
		cols = append(cols,
			column{"AUROC " + s, num(func(r Row) *float64 { return r.AUROC[s] }, 'f', 3)},
			column{fmt.Sprintf("TPR@%g%% %s", 100*c.Detect.FPR, s), pct(func(r Row) *float64 { return r.TPR[s] })})
	}
	return append(cols, column{"misclass. AUROC (MI)", num(func(r Row) *float64 { return r.MisclassAUROC }, 'f', 3)})
}

type column struct {
	name string
	cell func(Row) string
}

func num(get func(Row) *float64, f byte, prec int) func(Row) string {
	return func(r Row) string {
		v := get(r)
		if v == nil {
			return "—"
		}
		return strconv.FormatFloat(*v, f, prec, 64)
	}
}

func pct(get func(Row) *float64) func(Row) string {
	return func(r Row) string {
		v := get(r)
		if v == nil {
			return "—"
		}
		return strconv.FormatFloat(100**v, 'f', 2, 64) + "%"
	}
}

// Table is the results as header and formatted cells.
func (c Config) Table(rows []Row) (header []string, cells [][]string) {
	cols := c.columns()
	for _, col := range cols {
		header = append(header, col.name)
	}
	for _, r := range rows {
		var line []string
		for _, col := range cols {
			line = append(line, col.cell(r))
		}
		cells = append(cells, line)
	}
	return header, cells
}

// CSV is the table as CSV, raw numbers (fractions, not percentages) and empty cells for
// missing values.
func (c Config) CSV(rows []Row) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	h := []string{"network", "sampler", "params_kept", "archive_bytes", "net_accuracy", "accuracy", "nll", "ece",
		"attack_success", "median_queries", "vote_accuracy_adversarial", "mi_median_clean", "mi_median_adversarial", "mi_mean_ratio"}
	for _, s := range c.Detect.Settings {
		h = append(h, "auroc_"+s, "tpr_"+s)
	}
	h = append(h, "misclassification_auroc")
	w.Write(h)
	f := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'g', -1, 64)
	}
	for _, r := range rows {
		arch := ""
		if r.Archive != nil {
			arch = strconv.FormatInt(*r.Archive, 10)
		}
		line := []string{r.Network, r.Sampler, f(r.Kept), arch, f(r.NetAccuracy), f(r.Accuracy), f(r.NLL), f(r.ECE),
			f(r.AttackSuccess), f(r.MedianQueries), f(r.VoteAccuracy), f(r.MIMedianClean), f(r.MIMedianAdv), f(r.MIMeanRatio)}
		for _, s := range c.Detect.Settings {
			line = append(line, f(r.AUROC[s]), f(r.TPR[s]))
		}
		w.Write(append(line, f(r.MisclassAUROC)))
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

// Finding is one claim of the original study and whether this study reproduces it.
type Finding struct {
	Claim string `json:"claim"`
	Ours  string `json:"ours"`
	// Verdict is "reproduced", "not reproduced" or "not measured".
	Verdict string `json:"verdict"`
}

func verdict(ok bool) string {
	if ok {
		return "reproduced"
	}
	return "not reproduced"
}

const notMeasured = "not measured"

func (c Config) row(rows []Row, n, s string) *Row {
	for i := range rows {
		if rows[i].Network == n && (s == "" || rows[i].Sampler == s) {
			return &rows[i]
		}
	}
	return nil
}

// Findings compares the table with the original study's claims.
func (c Config) Findings(rows []Row) []Finding {
	var out []Finding
	add := func(claim, ours, v string) { out = append(out, Finding{claim, ours, v}) }

	// Sparse VD is our svd (sparse variational dropout, Molchanov et al.).
	if r := c.row(rows, SVD, ""); r != nil && r.Kept != nil {
		add("Sparse VD kept 53% of the parameters (our svd; reproduced = within 10 points)",
			fmt.Sprintf("svd keeps %.2f%%", 100**r.Kept), verdict(math.Abs(*r.Kept-0.53) <= 0.10))
	} else {
		add("Sparse VD kept 53% of the parameters", "svd not finished", notMeasured)
	}

	var succ, k float64
	for _, n := range c.Networks() {
		if r := c.row(rows, n, ""); r != nil && r.AttackSuccess != nil {
			succ += *r.AttackSuccess
			k++
		}
	}
	if k > 0 {
		add("Over half of all attacks succeed", fmt.Sprintf("mean success over %d networks: %.1f%%", int(k), 100*succ/k), verdict(succ/k > 0.5))
	} else {
		add("Over half of all attacks succeed", "no attack finished", notMeasured)
	}

	base := c.row(rows, Base, "")
	for _, m := range []string{Filter, SVD} {
		claim := fmt.Sprintf("%s cuts attack success by over 10%% (percentage points, against the base network)", m)
		r := c.row(rows, m, "")
		if base == nil || r == nil || base.AttackSuccess == nil || r.AttackSuccess == nil {
			add(claim, "attack on "+m+" or base not finished", notMeasured)
			continue
		}
		d := *base.AttackSuccess - *r.AttackSuccess
		add(claim, fmt.Sprintf("base %.1f%%, %s %.1f%% (%+.1f points)", 100**base.AttackSuccess, m, 100**r.AttackSuccess, -100*d), verdict(d > 0.10))
	}

	// BAOAB vs pSGLD: over the networks with both, BAOAB's wrong-vs-right MI gap and its
	// adversarial/clean MI ratio are larger.
	var better, worse, total int
	for _, n := range c.Networks() {
		p, b := c.row(rows, n, PSGLD), c.row(rows, n, BAOAB)
		if p == nil || b == nil || p.MisclassAUROC == nil || b.MisclassAUROC == nil || p.MIMeanRatio == nil || b.MIMeanRatio == nil {
			continue
		}
		total++
		if *b.MisclassAUROC > *p.MisclassAUROC && *b.MIMeanRatio > *p.MIMeanRatio {
			better++
		} else {
			worse++
		}
	}
	claim := "BAOAB gives the better uncertainty (misclassified more uncertain, adversarial vs clean more dramatic)"
	if total == 0 {
		add(claim, "no network has both samplers' detection", notMeasured)
	} else {
		add(claim, fmt.Sprintf("BAOAB better on both counts for %d of %d networks", better, total), verdict(better > worse))
	}

	var votes []float64
	for _, r := range rows {
		if r.VoteAccuracy != nil {
			votes = append(votes, *r.VoteAccuracy)
		}
	}
	claim = "The ensemble's majority vote is often correct on adversarial examples (reproduced = above 50% on average)"
	if len(votes) == 0 {
		add(claim, "no detection finished", notMeasured)
	} else {
		add(claim, fmt.Sprintf("mean vote accuracy on adversarial images %.1f%% over %d pairs", 100*mean(votes), len(votes)), verdict(mean(votes) > 0.5))
	}

	claim = "Mean MI 154,000× larger on adversarial than clean data (sdr + BAOAB; reproduced = ratio ≥ 1,000)"
	if r := c.row(rows, SDR, BAOAB); r != nil && r.MIMeanRatio != nil {
		add(claim, fmt.Sprintf("sdr + BAOAB: %.4g×", *r.MIMeanRatio), verdict(*r.MIMeanRatio >= 1000))
	} else {
		add(claim, "sdr + BAOAB detection not finished", notMeasured)
	}
	return out
}

// ReadSweep reads every finished sweep point.
func ReadSweep(dir string, c Config) []SweepPoint {
	var pts []SweepPoint
	for _, m := range c.Sweep.Methods {
		for _, r := range c.Sweep.Removed {
			var p SweepPoint
			if err := readJSON(filepath.Join(StageDir(dir, SweepStage(m, r)), SweepFile), &p); err == nil {
				pts = append(pts, p)
			} else if !errors.Is(err, os.ErrNotExist) {
				continue
			}
		}
	}
	return pts
}
