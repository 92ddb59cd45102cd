package compress

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/uqnn/uqnn/onnxio"
)

// Criterion ranks the filters of a Conv by their feature map over calibration images.
type Criterion int

const (
	// MeanActivation ranks by the mean |a| of the filter's feature map over images and
	// positions (Molchanov et al. 2017; Polyak & Wolf 2015): the smallest go first.
	MeanActivation Criterion = iota
	// APoZ ranks by the Average Percentage of Zeros of the feature map (Hu et al. 2016,
	// "Network Trimming"): the largest go first. Meaningful after a ReLU.
	APoZ
)

func (c Criterion) String() string {
	switch c {
	case MeanActivation:
		return "mean-activation"
	case APoZ:
		return "apoz"
	}
	return fmt.Sprintf("criterion(%d)", int(c))
}

// Runner runs a model on n inputs x (its one data input, flat and row-major, in the model's own
// layout and preprocessing) and returns every graph output of the model, flat, in graph output
// order. internal/ort.RunModel is the onnxruntime implementation; compress never imports
// onnxruntime itself.
type Runner func(ctx context.Context, m *onnxio.Model, x []float32, n int) ([][]float32, error)

// FilterScores are one Conv's per-filter statistics over the calibration images.
type FilterScores struct {
	Layer   string `json:"layer"`   // the Conv node's name (its weight's name if it has none)
	Weight  string `json:"weight"`  // its weight initializer
	Feature string `json:"feature"` // the tensor measured (see the chain rule in doc.go)
	// Mean is mean |a| and APoZ the fraction of exact zeros, per filter.
	Mean []float64 `json:"mean"`
	APoZ []float64 `json:"apoz"`
}

// convNodes returns the Conv nodes named in layers (node or weight name), or every Conv when
// layers is nil.
func convNodes(m *onnxio.Model, layers []string) ([]*onnxio.Node, error) {
	var all []*onnxio.Node
	for _, n := range m.Graph.Nodes {
		if n.Op == "Conv" {
			all = append(all, n)
		}
	}
	if layers == nil {
		if len(all) == 0 {
			return nil, fmt.Errorf("compress: filter pruning: the model has no Conv: %w", onnxio.ErrUnsupported)
		}
		return all, nil
	}
	var out []*onnxio.Node
	for _, name := range layers {
		i := slices.IndexFunc(all, func(n *onnxio.Node) bool { return n.Name == name || at(n.Inputs, 1) == name })
		if i < 0 {
			var names []string
			for _, n := range all {
				names = append(names, n.Name)
			}
			return nil, fmt.Errorf("compress: filter pruning: no Conv %q; the model's convs are %v", name, names)
		}
		if slices.Contains(out, all[i]) {
			return nil, fmt.Errorf("compress: filter pruning: conv %q is listed twice", name)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// foldedClone returns a copy of m with constants folded (Reshape targets become initializers).
func foldedClone(m *onnxio.Model) (*onnxio.Model, error) {
	c := m.Clone()
	if err := onnxio.FoldConstants(c); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	return c, nil
}

// ScoreFilters measures the filters of the named convs (nil: every Conv) on n calibration
// inputs x, fed as the model wants them (see Runner). The feature tensors are added as extra
// graph outputs of a copy of m, so one run of the model gives all of them. m is unchanged.
func ScoreFilters(ctx context.Context, m *onnxio.Model, run Runner, x []float32, n int, layers []string) ([]FilterScores, error) {
	if n < 1 {
		return nil, fmt.Errorf("compress: filter scores: %d calibration images; want at least 1", n)
	}
	f, err := foldedClone(m)
	if err != nil {
		return nil, err
	}
	convs, err := convNodes(f, layers)
	if err != nil {
		return nil, err
	}
	shapes, err := inferShapes(f)
	if err != nil {
		return nil, err
	}
	probe := f.Clone()
	var scores []FilterScores
	for _, cv := range convs {
		ch, err := planChain(f.Graph, shapes, cv, nil)
		if err != nil {
			return nil, err
		}
		name := cv.Name
		if name == "" {
			name = cv.Inputs[1]
		}
		scores = append(scores, FilterScores{Layer: name, Weight: cv.Inputs[1], Feature: ch.feature})
		probe.Graph.Outputs = append(probe.Graph.Outputs, &onnxio.ValueInfo{Name: ch.feature, Tensor: true, DType: onnxio.Float})
	}
	outs, err := run(ctx, probe, x, n)
	if err != nil {
		return nil, fmt.Errorf("compress: filter scores: running the model: %w", err)
	}
	base := len(f.Graph.Outputs)
	if len(outs) != base+len(scores) {
		return nil, fmt.Errorf("compress: filter scores: the runner returned %d outputs; want %d", len(outs), base+len(scores))
	}
	for i := range scores {
		a := outs[base+i]
		k := int(shapes[scores[i].Feature][1])
		if k < 1 || len(a)%(n*k) != 0 {
			return nil, fmt.Errorf("compress: filter scores: feature %q has %d values for %d images of %d channels", scores[i].Feature, len(a), n, k)
		}
		per := len(a) / (n * k)
		sum := make([]float64, k)
		zeros := make([]float64, k)
		for img := range n {
			for c := range k {
				for _, v := range a[(img*k+c)*per : (img*k+c+1)*per] {
					sum[c] += math.Abs(float64(v))
					if v == 0 {
						zeros[c]++
					}
				}
			}
		}
		cnt := float64(n * per)
		for c := range k {
			sum[c] /= cnt
			zeros[c] /= cnt
		}
		scores[i].Mean, scores[i].APoZ = sum, zeros
	}
	return scores, nil
}

// SelectFilters picks, per scored conv, the round(frac·filters) lowest-ranked filters by crit
// (at least one filter always stays). frac maps a layer (node or weight name) to its fraction;
// the entry "" applies to every layer without its own. Ties go to the lower filter index. The
// result maps conv node name → sorted filter indices, the form RemoveFilters takes.
func SelectFilters(scores []FilterScores, crit Criterion, frac map[string]float64) (map[string][]int64, error) {
	for k, f := range frac {
		if !(f >= 0 && f < 1) {
			return nil, fmt.Errorf("compress: filter pruning: layer %q removed fraction %g; want a value in [0, 1)", k, f)
		}
		if k != "" && !slices.ContainsFunc(scores, func(s FilterScores) bool { return s.Layer == k || s.Weight == k }) {
			return nil, fmt.Errorf("compress: filter pruning: no scored conv %q", k)
		}
	}
	if crit != MeanActivation && crit != APoZ {
		return nil, fmt.Errorf("compress: filter pruning: unknown criterion %d; want MeanActivation or APoZ", int(crit))
	}
	out := map[string][]int64{}
	for _, s := range scores {
		f, ok := frac[s.Layer]
		if !ok {
			if f, ok = frac[s.Weight]; !ok {
				f = frac[""]
			}
		}
		k := len(s.Mean)
		r := min(int(math.Round(f*float64(k))), k-1)
		if r <= 0 {
			continue
		}
		idx := make([]int64, k)
		for i := range idx {
			idx[i] = int64(i)
		}
		key := func(i int64) float64 {
			if crit == APoZ {
				return -s.APoZ[i]
			}
			return s.Mean[i]
		}
		slices.SortStableFunc(idx, func(a, b int64) int { return cmp.Compare(key(a), key(b)) })
		rm := slices.Clone(idx[:r])
		slices.Sort(rm)
		out[s.Layer] = rm
	}
	return out, nil
}

// RemoveFilters returns a copy of m without the given filters: remove maps a Conv (node name,
// or weight initializer name for unnamed nodes) to the indices of the output channels to take out. The Conv loses those weights and bias
// entries; every channelwise operation after it (bias Add, BatchNorm, scale, PRelu slope) loses
// the matching entries; the next Conv loses those input channels, and across a Flatten or
// Reshape the next Gemm or MatMul loses the matching weight rows (columns under transB), with
// the Reshape target updated. The result computes what m computes with those filters' feature
// maps set to zero (see doc.go for the feature), and is smaller. Graphs where the channels reach
// a residual Add, a Concat, a grouped Conv, a graph output or any other op not listed give an
// error wrapping onnxio.ErrUnsupported naming the node. m is unchanged; constants of the copy
// are folded (onnxio.FoldConstants) first.
func RemoveFilters(m *onnxio.Model, remove map[string][]int64) (*onnxio.Model, error) {
	c, err := foldedClone(m)
	if err != nil {
		return nil, err
	}
	shapes, err := inferShapes(c)
	if err != nil {
		return nil, err
	}
	var edits []edit
	var targets []targetEdit
	for _, name := range slices.Sorted(maps.Keys(remove)) {
		cvs, err := convNodes(c, []string{name})
		if err != nil {
			return nil, err
		}
		cv := cvs[0]
		rm := slices.Clone(remove[name])
		slices.Sort(rm)
		rm = slices.Compact(rm)
		if len(rm) == 0 {
			continue
		}
		ch, err := planChain(c.Graph, shapes, cv, nil)
		if err != nil {
			return nil, err
		}
		if rm[0] < 0 || rm[len(rm)-1] >= ch.filters {
			return nil, fmt.Errorf("compress: filter removal: conv %q has %d filters; asked to remove index %d", name, ch.filters, rm[len(rm)-1])
		}
		if int64(len(rm)) == ch.filters {
			return nil, fmt.Errorf("compress: filter removal: conv %q: removing all %d filters; want at least one left", name, ch.filters)
		}
		if ch, err = planChain(c.Graph, shapes, cv, rm); err != nil {
			return nil, err
		}
		edits = append(edits, ch.edits...)
		targets = append(targets, ch.targets...)
	}
	if err := applyEdits(c, edits, targets); err != nil {
		return nil, err
	}
	if err := refreshShapes(c); err != nil {
		return nil, err
	}
	return c, nil
}

// applyEdits slices the initializers (all edits of one tensor together, in original indices)
// and rewrites Reshape targets.
func applyEdits(m *onnxio.Model, edits []edit, targets []targetEdit) error {
	g := m.Graph
	type plan struct {
		view    []int64
		remove  map[int][]int64
		reshape *onnxio.Node
	}
	plans := map[string]*plan{}
	var order []string
	for _, e := range edits {
		p, ok := plans[e.tensor]
		if !ok {
			p = &plan{view: e.view, remove: map[int][]int64{}, reshape: e.reshape}
			plans[e.tensor] = p
			order = append(order, e.tensor)
		} else if !slices.Equal(p.view, e.view) {
			return fmt.Errorf("compress: filter removal: initializer %q is edited as %v and as %v: %w", e.tensor, p.view, e.view, onnxio.ErrUnsupported)
		}
		p.remove[e.axis] = append(p.remove[e.axis], e.remove...)
	}
	for _, name := range order {
		p := plans[name]
		t := g.Initializer(name)
		keep := make([][]int64, len(p.view))
		newDims := slices.Clone(p.view)
		for ax, rm := range p.remove {
			slices.Sort(rm)
			rm = slices.Compact(rm)
			k := make([]int64, 0, p.view[ax]-int64(len(rm)))
			for i := range p.view[ax] {
				if _, found := slices.BinarySearch(rm, i); !found {
					k = append(k, i)
				}
			}
			keep[ax] = k
			newDims[ax] = int64(len(k))
		}
		t.Float32 = sliceTensor(t.Float32, p.view, keep)
		if p.reshape != nil {
			t.Dims = newDims
			if err := setTarget(g, p.reshape, newDims); err != nil {
				return err
			}
		} else {
			t.Dims = newDims
		}
	}
	for _, te := range targets {
		old := g.Initializer(te.node.Inputs[1]).Int64
		if err := setTarget(g, te.node, []int64{old[0], te.features}); err != nil {
			return err
		}
	}
	return nil
}

// setTarget gives Reshape node n the target dims, in place when its target initializer is read
// by n alone, else as a new initializer.
func setTarget(g *onnxio.Graph, n *onnxio.Node, dims []int64) error {
	name := n.Inputs[1]
	t := g.Initializer(name)
	if t == nil || t.DType != onnxio.Int64 {
		return unsupported(n, "target %q is not an int64 initializer", name)
	}
	if len(g.Consumers(name)) == 1 {
		t.Int64 = slices.Clone(dims)
		t.Dims = []int64{int64(len(dims))}
		return nil
	}
	fresh := name + "_pruned"
	for i := 2; g.Initializer(fresh) != nil || g.Producer(fresh) != nil; i++ {
		fresh = fmt.Sprintf("%s_pruned%d", name, i)
	}
	g.Initializers = append(g.Initializers, onnxio.NewInt64(fresh, []int64{int64(len(dims))}, slices.Clone(dims)))
	n.Inputs[1] = fresh
	return nil
}

// sliceTensor keeps, along each axis, the indices in keep[axis] (nil: all) of data with shape
// dims, row-major.
func sliceTensor(data []float32, dims []int64, keep [][]int64) []float32 {
	rank := len(dims)
	idx := make([][]int64, rank)
	size := int64(1)
	for ax := range rank {
		if keep[ax] != nil {
			idx[ax] = keep[ax]
		} else {
			idx[ax] = make([]int64, dims[ax])
			for i := range idx[ax] {
				idx[ax][i] = int64(i)
			}
		}
		size *= int64(len(idx[ax]))
	}
	stride := make([]int64, rank)
	s := int64(1)
	for ax := rank - 1; ax >= 0; ax-- {
		stride[ax] = s
		s *= dims[ax]
	}
	out := make([]float32, 0, size)
	if size == 0 {
		return out
	}
	pos := make([]int, rank)
	for {
		var off int64
		for ax := range rank {
			off += idx[ax][pos[ax]] * stride[ax]
		}
		out = append(out, data[off])
		ax := rank - 1
		for ; ax >= 0; ax-- {
			pos[ax]++
			if pos[ax] < len(idx[ax]) {
				break
			}
			pos[ax] = 0
		}
		if ax < 0 {
			return out
		}
	}
}

// refreshShapes re-infers the shapes of the edited model and makes the declared shapes agree:
// graph inputs that are initializers (IR < 4 exporters list them) and value_info entries.
func refreshShapes(m *onnxio.Model) error {
	shapes, err := inferShapes(m)
	if err != nil {
		return fmt.Errorf("compress: filter removal produced a model whose shapes do not check: %w", err)
	}
	free := onnxio.FreeBatch(m)
	data := map[string]bool{}
	for _, v := range m.Graph.DataInputs() {
		data[v.Name] = true
	}
	fix := func(vs []*onnxio.ValueInfo) {
		for _, v := range vs {
			s, ok := shapes[v.Name]
			if !ok || !v.ShapeKnown || len(v.Shape) != len(s) || data[v.Name] {
				continue
			}
			for i := range v.Shape {
				if i == 0 && free {
					continue
				}
				if v.Shape[i].Value >= 0 {
					v.Shape[i].Value = s[i]
				}
			}
		}
	}
	for _, v := range m.Graph.Inputs {
		if t := m.Graph.Initializer(v.Name); t != nil && v.ShapeKnown {
			v.Shape = make([]onnxio.Dim, len(t.Dims))
			for i, d := range t.Dims {
				v.Shape[i] = onnxio.Dim{Value: d}
			}
		}
	}
	fix(m.Graph.ValueInfo)
	fix(m.Graph.Outputs)
	return nil
}

// FilterConfig drives Filters.
type FilterConfig struct {
	Criterion Criterion
	// Remove is the fraction of filters removed per conv, keyed by conv node or weight name;
	// the key "" applies to every conv without its own entry.
	Remove map[string]float64
	// Layers are the convs measured and pruned; nil means every Conv.
	Layers []string
}

// Filters scores the convs' filters on the calibration inputs, selects the lowest-ranked
// fraction of each, and removes them structurally. It returns the smaller model, the removed
// filter indices per conv and the scores.
func Filters(ctx context.Context, m *onnxio.Model, run Runner, x []float32, n int, cfg FilterConfig) (*onnxio.Model, map[string][]int64, []FilterScores, error) {
	scores, err := ScoreFilters(ctx, m, run, x, n, cfg.Layers)
	if err != nil {
		return nil, nil, nil, err
	}
	rm, err := SelectFilters(scores, cfg.Criterion, cfg.Remove)
	if err != nil {
		return nil, nil, nil, err
	}
	out, err := RemoveFilters(m, rm)
	if err != nil {
		return nil, nil, nil, err
	}
	return out, rm, scores, nil
}
