package compress

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/uqnn/uqnn/onnxio"
)

// Defaults of the filter method, measured on LeNet-5's validation split: half the filters of
// each conv (conv FLOPs to 29%), 4 epochs at 3× the fine-tuning rate (99.28% validation
// accuracy against 99.40% unpruned; 3 epochs at 1×: 99.22%).
const (
	DefaultFilterRemove = 0.5
	DefaultFilterCalibN = 1000
	DefaultFilterEpochs = 4
)

// FilterMethod is activation-based structural filter pruning as a Method: score every Conv's
// filters on CalibN images of the training split (never validation or test) by Criterion
// ("mean": mean |activation|, smallest removed; "apoz": average percentage of zeros, largest
// removed), remove the Remove fraction of each Conv's filters from the graph (RemoveFilters: the
// model gets smaller and faster), then fine-tune Epochs epochs.
type FilterMethod struct {
	Criterion string  `json:"criterion"`
	Remove    float64 `json:"remove"`
	CalibN    int     `json:"calib_n"`
	Epochs    int     `json:"epochs"`
}

func init() {
	Register("filter", func() Method {
		return &FilterMethod{Criterion: "mean", Remove: DefaultFilterRemove, CalibN: DefaultFilterCalibN, Epochs: DefaultFilterEpochs}
	})
}

func (*FilterMethod) Name() string { return "filter" }

// SetFineTuneEpochs sets the fine-tuning epochs after removal.
func (p *FilterMethod) SetFineTuneEpochs(e int) { p.Epochs = e }

func (p *FilterMethod) Options() []Option {
	return []Option{
		{"criterion", "filter: rank filters by mean (mean |activation|, Molchanov et al.) or apoz (share of zeros, Hu et al.)", &p.Criterion},
		{"remove", "filter: fraction of each Conv's filters removed", &p.Remove},
		{"filter-images", "filter: training-split images the filters are scored on", &p.CalibN},
	}
}

func (p *FilterMethod) criterion() (Criterion, error) {
	switch p.Criterion {
	case "mean":
		return MeanActivation, nil
	case "apoz":
		return APoZ, nil
	}
	return 0, fmt.Errorf("--criterion %q: want mean or apoz", p.Criterion)
}

// Check validates the hyperparameters, naming the flag at fault.
func (p *FilterMethod) Check() error {
	if _, err := p.criterion(); err != nil {
		return err
	}
	switch {
	case !(p.Remove > 0 && p.Remove < 1):
		return fmt.Errorf("--remove %g: want a fraction in (0, 1)", p.Remove)
	case p.CalibN < 1:
		return fmt.Errorf("--filter-images %d: want at least 1", p.CalibN)
	case p.Epochs < 0:
		return fmt.Errorf("--finetune-epochs %d: want ≥ 0", p.Epochs)
	}
	return nil
}

func (p *FilterMethod) Apply(ctx context.Context, m *onnxio.Model, env *Env) (*Step, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	crit, _ := p.criterion()
	tr := &env.Data.Train
	n := fixedBatchCount(m, min(p.CalibN, tr.N))
	if n > tr.N {
		return nil, fmt.Errorf("--filter-images: the model's fixed batch needs %d images; the training split has %d", n, tr.N)
	}
	x := env.inputs(tr, 0, n)
	out, rm, _, err := Filters(ctx, m, env.Run, x, n, FilterConfig{Criterion: crit, Remove: map[string]float64{"": p.Remove}})
	if err != nil {
		return nil, err
	}
	var notes []string
	for _, name := range slices.Sorted(maps.Keys(rm)) {
		notes = append(notes, fmt.Sprintf("filter: conv %s: removed %d filters %v", name, len(rm[name]), rm[name]))
	}
	env.logf("  removed filters from %d convs, scored on %d training images", len(rm), n)
	masks := remapPrior(env.Prior, out)
	if out, err = env.Retrain(ctx, out, masks, p.Epochs, RetrainLRScale, 200); err != nil {
		return nil, err
	}
	if err := checkOps(out); err != nil {
		return nil, err
	}
	return &Step{Model: out, Masks: masks, Params: *p, Notes: notes}, nil
}

// Supports checks that every Conv's channels can be followed to their consumers (see the
// chain rule in doc.go).
func (p *FilterMethod) Supports(m *onnxio.Model) error {
	f, err := foldedClone(m)
	if err != nil {
		return err
	}
	convs, err := convNodes(f, nil)
	if err != nil {
		return err
	}
	shapes, err := inferShapes(f)
	if err != nil {
		return err
	}
	for _, cv := range convs {
		if _, err := planChain(f.Graph, shapes, cv, nil); err != nil {
			return err
		}
	}
	return nil
}

// checkOps is a last check that the structural edit left a model whose shapes infer.
func checkOps(m *onnxio.Model) error {
	if _, err := inferShapes(m); err != nil {
		return fmt.Errorf("compress: filter removal left a model whose shapes do not infer: %w", err)
	}
	return nil
}
