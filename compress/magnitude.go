package compress

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/uqnn/uqnn/onnxio"
)

// MagnitudeConfig chooses how Magnitude sets each layer's threshold. Exactly one of Quality,
// Keep and KeepAll must be set.
type MagnitudeConfig struct {
	// Quality is Han et al.'s rule: a layer keeps the weights with |w| > Quality·σ, where σ is
	// the standard deviation of all the layer's weights (zeros included). Han et al. report
	// LeNet-5 at about 8% kept after iterating prune → retrain.
	Quality float64 `json:"quality,omitempty"`
	// Keep is the fraction of weights each named layer keeps (its largest magnitudes), keyed
	// by layer name or weight initializer name; layers not named are left alone. Fractions
	// are of kept weights, as Han et al.'s tables report them (HanLeNet5Keep).
	Keep map[string]float64 `json:"keep,omitempty"`
	// KeepAll is the fraction of all selected layers' weights kept, with one magnitude
	// threshold shared by every layer.
	KeepAll float64 `json:"keep_all,omitempty"`
	// Layers restricts Quality and KeepAll to these layers (names or weight names); nil means
	// every layer Layers finds.
	Layers []string `json:"layers,omitempty"`
	// Prior is a mask from an earlier stage: what it prunes stays pruned, whatever the
	// magnitudes now say (zeros are the smallest magnitudes, so this only matters for entries
	// that retraining moved without a mask).
	Prior Masks `json:"-"`
}

// HanLeNet5Keep is the kept fraction per LeNet-5 layer that Han et al. (2015, "Learning both
// Weights and Connections for Efficient Neural Networks", Table 2) reach with iterative
// pruning and retraining: 8% of the weights overall, at the reference accuracy.
var HanLeNet5Keep = map[string]float64{"conv1": 0.66, "conv2": 0.12, "fc1": 0.08, "fc2": 0.19}

// Magnitude prunes the smallest-magnitude weights of m's layers as cfg says, and returns a
// copy of m with them set to zero together with the masks (entries for every layer it
// touched). m is unchanged. With Keep and KeepAll the number kept is round(fraction·count),
// the largest magnitudes first, ties broken by position (earlier kept), so the result is exact
// and deterministic.
func Magnitude(m *onnxio.Model, cfg MagnitudeConfig) (*onnxio.Model, Masks, error) {
	set := 0
	if cfg.Quality != 0 {
		set++
	}
	if len(cfg.Keep) > 0 {
		set++
	}
	if cfg.KeepAll != 0 {
		set++
	}
	if set != 1 {
		return nil, nil, fmt.Errorf("compress: magnitude: set exactly one of Quality, Keep and KeepAll (got %d)", set)
	}
	if cfg.Quality < 0 || math.IsNaN(cfg.Quality) || math.IsInf(cfg.Quality, 0) {
		return nil, nil, fmt.Errorf("compress: magnitude: quality %g; want a finite value > 0", cfg.Quality)
	}
	if cfg.KeepAll != 0 && !(cfg.KeepAll > 0 && cfg.KeepAll <= 1) {
		return nil, nil, fmt.Errorf("compress: magnitude: overall kept fraction %g; want a value in (0, 1]", cfg.KeepAll)
	}
	ls, err := Layers(m)
	if err != nil {
		return nil, nil, err
	}
	if len(ls) == 0 {
		return nil, nil, fmt.Errorf("compress: magnitude: the model has no Conv, Gemm or MatMul weights to prune: %w", onnxio.ErrUnsupported)
	}
	var sel []Layer
	keep := map[string]float64{} // weight name → fraction, for cfg.Keep
	if len(cfg.Keep) > 0 {
		for _, k := range slices.Sorted(maps.Keys(cfg.Keep)) {
			l, ok := findLayer(ls, k)
			if !ok {
				return nil, nil, fmt.Errorf("compress: magnitude: no layer %q; the model's layers are %s", k, layerNames(ls))
			}
			f := cfg.Keep[k]
			if !(f > 0 && f <= 1) {
				return nil, nil, fmt.Errorf("compress: magnitude: layer %q kept fraction %g; want a value in (0, 1]", k, f)
			}
			if _, dup := keep[l.Weight]; dup {
				return nil, nil, fmt.Errorf("compress: magnitude: layer %q is named twice (by layer and by weight name)", l.Name)
			}
			keep[l.Weight] = f
		}
		for _, l := range ls {
			if _, ok := keep[l.Weight]; ok {
				sel = append(sel, l)
			}
		}
	} else if sel, err = selectLayers(ls, cfg.Layers); err != nil {
		return nil, nil, err
	}
	if cfg.Prior != nil {
		if err := cfg.Prior.check(m); err != nil {
			return nil, nil, err
		}
	}
	ms := Masks{}
	switch {
	case cfg.Quality > 0:
		for _, l := range sel {
			w := m.Initializer(l.Weight).Float32
			thr := cfg.Quality * stddev(w)
			k := make([]bool, len(w))
			for i, v := range w {
				k[i] = math.Abs(float64(v)) > thr
			}
			ms[l.Weight] = k
		}
	case len(keep) > 0:
		for _, l := range sel {
			w := m.Initializer(l.Weight).Float32
			ms[l.Weight] = keepLargest([][]float32{w}, keep[l.Weight])[0]
		}
	default:
		ws := make([][]float32, len(sel))
		for i, l := range sel {
			ws[i] = m.Initializer(l.Weight).Float32
		}
		for i, k := range keepLargest(ws, cfg.KeepAll) {
			ms[sel[i].Weight] = k
		}
	}
	if cfg.Prior != nil {
		for name, k := range ms {
			if p, ok := cfg.Prior[name]; ok {
				for i := range k {
					k[i] = k[i] && p[i]
				}
			}
		}
	}
	out, err := Apply(m, ms)
	if err != nil {
		return nil, nil, err
	}
	return out, ms, nil
}

// keepLargest marks the round(frac·total) largest magnitudes across ws as kept; ties go to the
// earlier tensor and position.
func keepLargest(ws [][]float32, frac float64) [][]bool {
	return keepTop(ws, func(t, i int) float64 { return math.Abs(float64(ws[t][i])) }, frac)
}

// keepTop returns masks over tensors shaped like ws keeping the round(frac·n) entries (n over
// every tensor) with the highest score; ties go to the earlier tensor and position. Magnitude
// ranks by |w|, svd's kept-fraction target by −log α.
func keepTop(ws [][]float32, score func(t, i int) float64, frac float64) [][]bool {
	type ref struct {
		s   float64
		t   int
		pos int
	}
	var all []ref
	for t, w := range ws {
		for i := range w {
			all = append(all, ref{score(t, i), t, i})
		}
	}
	slices.SortStableFunc(all, func(x, y ref) int { return cmp.Compare(y.s, x.s) })
	n := int(math.Round(frac * float64(len(all))))
	out := make([][]bool, len(ws))
	for t, w := range ws {
		out[t] = make([]bool, len(w))
	}
	for _, r := range all[:n] {
		out[r.t][r.pos] = true
	}
	return out
}

// stddev is the population standard deviation of w (computed in float64).
func stddev(w []float32) float64 {
	if len(w) == 0 {
		return 0
	}
	var s float64
	for _, v := range w {
		s += float64(v)
	}
	mean := s / float64(len(w))
	var ss float64
	for _, v := range w {
		d := float64(v) - mean
		ss += d * d
	}
	return math.Sqrt(ss / float64(len(w)))
}

// ParseKeep reads per-layer kept fractions written as "conv1=0.66,conv2=0.12,fc1=0.08": layer
// (or weight) name, '=', the fraction of weights kept in (0, 1].
func ParseKeep(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("compress: kept fraction %q: want name=fraction, e.g. conv1=0.66", part)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || !(f > 0 && f <= 1) {
			return nil, fmt.Errorf("compress: kept fraction %q: want a number in (0, 1] after '='", part)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("compress: kept fraction for %q given twice", name)
		}
		out[name] = f
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("compress: no kept fractions in %q; want name=fraction pairs separated by commas", s)
	}
	return out, nil
}

// Stages splits a pruning target into n prune → retrain stages. Stage i (1..n) keeps
// final^(i/n) of each layer's weights, so every stage removes the same fraction of what the
// previous one kept, and the last stage reaches final exactly. Han et al. prune iteratively
// this way; a caller runs, per stage, Magnitude with Keep set to the stage (and Prior set to the
// previous masks) and then retrains with the returned masks.
func Stages(final map[string]float64, n int) ([]map[string]float64, error) {
	if n < 1 {
		return nil, fmt.Errorf("compress: %d pruning stages; want at least 1", n)
	}
	for k, f := range final {
		if !(f > 0 && f <= 1) {
			return nil, fmt.Errorf("compress: layer %q kept fraction %g; want a value in (0, 1]", k, f)
		}
	}
	out := make([]map[string]float64, n)
	for i := range n {
		s := make(map[string]float64, len(final))
		for k, f := range final {
			if i == n-1 {
				s[k] = f
			} else {
				s[k] = math.Pow(f, float64(i+1)/float64(n))
			}
		}
		out[i] = s
	}
	return out, nil
}

func findLayer(ls []Layer, name string) (Layer, bool) {
	for _, l := range ls {
		if l.Name == name || l.Weight == name {
			return l, true
		}
	}
	return Layer{}, false
}

func selectLayers(ls []Layer, names []string) ([]Layer, error) {
	if names == nil {
		return ls, nil
	}
	var sel []Layer
	for _, n := range names {
		l, ok := findLayer(ls, n)
		if !ok {
			return nil, fmt.Errorf("compress: no layer %q; the model's layers are %s", n, layerNames(ls))
		}
		if slices.ContainsFunc(sel, func(s Layer) bool { return s.Weight == l.Weight }) {
			return nil, fmt.Errorf("compress: layer %q is listed twice", n)
		}
		sel = append(sel, l)
	}
	return sel, nil
}

func layerNames(ls []Layer) string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return strings.Join(names, ", ")
}
