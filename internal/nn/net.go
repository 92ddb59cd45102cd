package nn

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/uqnn/uqnn/onnxio"
)

// Config sets how a Net is built. The zero value is not usable: Batch must be positive.
type Config struct {
	// Batch is the number of images every Forward and LossGrad call takes. It replaces the
	// model's own batch dimension, fixed or free.
	Batch int
	// Float64 builds the graph in float64 (for gradient checks); the default is float32.
	Float64 bool
	// Variational builds sparse variational dropout's training graph (svd.go): every Conv,
	// Gemm and MatMul weight gets a log σ² parameter and Gaussian output noise.
	Variational bool
}

// Param is one learnable tensor of a Net: a float initializer of the model, by name.
type Param struct {
	Name  string
	Node  *G.Node
	Shape []int

	value *tensor.Dense // the node's value; shared by every Net built WithBatch from this one
	grad  *G.Node       // gradient node in the training graph

	logSigma2 bool // a variational log σ² (not an initializer of the model)
}

// Value32 returns the parameter's values (float32 nets; nil otherwise). The slice is the
// graph's own tensor: writing into it changes what the next Forward or LossGrad uses.
func (p *Param) Value32() []float32 { s, _ := p.value.Data().([]float32); return s }

// Value64 returns the parameter's values (float64 nets; nil otherwise), as Value32.
func (p *Param) Value64() []float64 { s, _ := p.value.Data().([]float64); return s }

// Grad32 returns the gradient of the loss of the last LossGrad call (float32 nets; nil
// otherwise). The slice is the graph's own and is overwritten by the next LossGrad.
func (p *Param) Grad32() []float32 { s, _ := gradData(p).([]float32); return s }

// Grad64 returns the gradient of the last LossGrad call (float64 nets; nil otherwise).
func (p *Param) Grad64() []float64 { s, _ := gradData(p).([]float64); return s }

func gradData(p *Param) any {
	if p.grad == nil || p.grad.Value() == nil {
		return nil
	}
	d, err := valueData(p.grad.Value())
	if err != nil {
		return nil
	}
	return d
}

// Net is a trainable Gorgonia graph built from an ONNX model: input → logits, plus the mean
// softmax cross-entropy and its gradients. A Net is not safe for concurrent use.
type Net struct {
	model   *onnxio.Model // the folded IR the graph was built from
	cfg     Config
	dt      tensor.Dtype
	g       *G.ExprGraph
	input   *G.Node
	inData  *tensor.Dense
	inShape []int
	logits  *G.Node
	loss    *G.Node
	labels  []int
	params  []*Param
	byName  map[string]*Param
	fwdVM   G.VM
	trainVM G.VM
	trainG  *G.ExprGraph // the nodes trainVM runs
	isProb  bool
	classes int
	svd     []*VarLayer // Config.Variational's layers
	noise   *noiseCtl   // the variational layers' noise (nil without them)
	// noiseBufs are float64 nets' float32 scratch for DrawNoise.
	noiseBufs [][]float32
}

// Params returns the learnable parameters in the model's initializer order.
func (n *Net) Params() []*Param { return n.params }

// Param returns the parameter called name, or nil.
func (n *Net) Param(name string) *Param { return n.byName[name] }

// Batch is the number of images per call.
func (n *Net) Batch() int { return n.cfg.Batch }

// Classes is the number of logits per image.
func (n *Net) Classes() int { return n.classes }

// InputShape is the shape of one call's input, batch first, in the model's own layout.
func (n *Net) InputShape() []int { return append([]int(nil), n.inShape...) }

// OutputIsProb reports that the ONNX model ends in Softmax: the Net's logits are that
// Softmax's input, and the model itself outputs probabilities.
func (n *Net) OutputIsProb() bool { return n.isProb }

// Close releases the machines.
func (n *Net) Close() error {
	return errors.Join(n.fwdVM.Close(), n.trainVM.Close())
}

func (n *Net) setInput(x []float32) error {
	if want := n.inData.Shape().TotalSize(); len(x) != want {
		return fmt.Errorf("nn: input has %d values; want %d (shape %v)", len(x), want, n.inShape)
	}
	switch d := n.inData.Data().(type) {
	case []float32:
		copy(d, x)
	case []float64:
		for i, v := range x {
			d[i] = float64(v)
		}
	}
	return nil
}

// Forward returns the logits, Batch·Classes values, for x (Batch images in the model's input
// layout, already preprocessed).
func (n *Net) Forward(x []float32) ([]float32, error) {
	if err := n.setInput(x); err != nil {
		return nil, err
	}
	defer n.fwdVM.Reset()
	if err := n.fwdVM.RunAll(); err != nil {
		return nil, fmt.Errorf("nn: forward: %w", err)
	}
	return n.logitsCopy()
}

func (n *Net) logitsCopy() ([]float32, error) {
	d, err := valueData(n.logits.Value())
	if err != nil {
		return nil, err
	}
	switch d := d.(type) {
	case []float32:
		return append([]float32(nil), d...), nil
	case []float64:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("nn: logits of type %T", d)
}

// LossGrad runs forward and backward on x with labels (one class index per image) and
// returns the mean softmax cross-entropy; the gradients are then readable from Params.
func (n *Net) LossGrad(x []float32, labels []int) (float64, error) {
	if len(labels) != n.cfg.Batch {
		return 0, fmt.Errorf("nn: %d labels; want %d (the batch size)", len(labels), n.cfg.Batch)
	}
	for i, l := range labels {
		if l < 0 || l >= n.classes {
			return 0, fmt.Errorf("nn: label %d of image %d; want 0..%d", l, i, n.classes-1)
		}
	}
	if err := n.setInput(x); err != nil {
		return 0, err
	}
	copy(n.labels, labels)
	defer n.trainVM.Reset()
	if err := n.trainVM.RunAll(); err != nil {
		return 0, fmt.Errorf("nn: forward/backward: %w", err)
	}
	switch v := n.loss.Value().(type) {
	case *G.F32:
		return float64(*v), nil
	case *G.F64:
		return float64(*v), nil
	}
	return 0, fmt.Errorf("nn: loss value of type %T", n.loss.Value())
}

// LastLogits returns a copy of the logits computed by the last LossGrad.
func (n *Net) LastLogits() ([]float32, error) { return n.logitsCopy() }

// WithBatch builds a Net for batch images per call that shares this Net's parameter tensors:
// an update through either is seen by both. Use it for a final partial batch, or pad that
// batch to Batch and drop the extra rows (every supported op treats images independently).
func (n *Net) WithBatch(batch int) (*Net, error) {
	if batch == n.cfg.Batch {
		return n, nil
	}
	cfg := n.cfg
	cfg.Batch = batch
	shared := make(map[string]*tensor.Dense, len(n.params))
	for _, p := range n.params {
		shared[p.Name] = p.value
	}
	return build(n.model, cfg, shared)
}

// WriteBack copies the trained parameters into m's initializers of the same names (float32),
// so that m.Save exports what was trained. Variational log σ² parameters are not written.
func (n *Net) WriteBack(m *onnxio.Model) error {
	for _, p := range n.params {
		if p.logSigma2 {
			continue
		}
		var data []float32
		switch v := p.value.Data().(type) {
		case []float32:
			data = v
		case []float64:
			data = make([]float32, len(v))
			for i, x := range v {
				data[i] = float32(x)
			}
		}
		if err := m.SetFloat32(p.Name, data); err != nil {
			return fmt.Errorf("nn: write back %q: %w", p.Name, err)
		}
	}
	return nil
}
