package adversarial

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/uqnn/uqnn/internal/atomicfile"
	"github.com/uqnn/uqnn/report"
)

// Files WriteDetection writes in its folder.
const (
	DetectJSONFile = "detect.json"
	DetectROCFile  = "roc.png"
	DetectMIFile   = "mi-histogram.png"
)

// DetectionFiles are the paths WriteDetection writes in dir.
func DetectionFiles(dir string) []string {
	return []string{filepath.Join(dir, DetectJSONFile), filepath.Join(dir, DetectROCFile), filepath.Join(dir, DetectMIFile)}
}

// WriteDetection writes a detection's figures to dir — roc.png (the ROC curve with the
// operating points chosen on the validation images) and mi-histogram.png (MI of the clean and
// the adversarial images) — and doc, the caller's JSON document holding d, as detect.json; each
// atomically.
func WriteDetection(dir string, doc any, d *Detection) error {
	s := report.ROCSeries{Name: string(d.Score), AUROC: d.AUROC.Value}
	for _, p := range d.ROC {
		s.FPR, s.TPR = append(s.FPR, p.FPR), append(s.TPR, p.TPR)
	}
	for _, a := range d.AtFPR {
		s.Operating = append(s.Operating, report.OperatingPoint{Label: fmt.Sprintf("%g %% validation FPR", 100*a.FPR), FPR: a.CleanFPR, TPR: a.TPR.Value})
	}
	roc, err := report.DetectionROC([]report.ROCSeries{s}, fmt.Sprintf("%s detects %d adversarial vs %d clean", d.Score, d.Adversarial, d.Clean))
	if err != nil {
		return err
	}
	hist, err := report.MIHistogram([]report.Series{{Name: "clean", Values: d.CleanMI}, {Name: "adversarial", Values: d.AdversarialMI}},
		fmt.Sprintf("ensemble MI: mean ratio adversarial/clean %.3g", float64(d.MI.MeanRatio)))
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{DetectROCFile: roc, DetectMIFile: hist} {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, DetectJSONFile), append(b, '\n'))
}
