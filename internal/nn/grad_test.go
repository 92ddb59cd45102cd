package nn

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/onnxio"
)

// Finite-difference check settings (float64 graphs).
const (
	// fdStep is the central-difference step: truncation error O(h²)≈1e-10 and rounding error
	// O(ε/h)≈1e-11 are both far below gradTol.
	fdStep = 1e-5
	// gradTol is the relative gradient tolerance the issue asks for.
	gradTol = 1e-4
	// gradFloor is an absolute floor for entries whose gradient is ~0 (e.g. behind a ReLU),
	// where a relative error is meaningless; it is far below any real gradient entry here.
	gradFloor = 1e-9
)

// irModel builds a one-input, one-output model for tests.
type irModel struct {
	m   *onnxio.Model
	rng *rand.Rand
}

func newIR(opset int64, inDims ...int64) *irModel {
	dims := make([]onnxio.Dim, len(inDims))
	for i, d := range inDims {
		dims[i] = onnxio.Dim{Value: d}
	}
	g := &onnxio.Graph{
		Name:   "test",
		Inputs: []*onnxio.ValueInfo{{Name: "x", Tensor: true, DType: onnxio.Float, Shape: dims, ShapeKnown: true}},
	}
	return &irModel{
		m:   &onnxio.Model{IRVersion: 8, Opsets: []onnxio.Opset{{Domain: "", Version: opset}}, Graph: g},
		rng: rand.New(rand.NewPCG(1, uint64(opset))),
	}
}

// w adds a random float initializer (values in [lo, hi)).
func (b *irModel) w(name string, lo, hi float64, dims ...int64) string {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(lo + (hi-lo)*b.rng.Float64())
	}
	b.m.Graph.Initializers = append(b.m.Graph.Initializers, onnxio.NewFloat32(name, dims, data))
	return name
}

func (b *irModel) ints(name string, v ...int64) string {
	b.m.Graph.Initializers = append(b.m.Graph.Initializers, onnxio.NewInt64(name, []int64{int64(len(v))}, v))
	return name
}

func (b *irModel) node(op string, in []string, out string, attrs ...*onnxio.Attribute) string {
	b.m.Graph.Nodes = append(b.m.Graph.Nodes, &onnxio.Node{Name: out, Op: op, Inputs: in, Outputs: []string{out}, Attrs: attrs})
	return out
}

func (b *irModel) output(name string) *onnxio.Model {
	b.m.Graph.Outputs = []*onnxio.ValueInfo{{Name: name, Tensor: true, DType: onnxio.Float}}
	return b.m
}

var (
	ia  = onnxio.IntAttr
	isa = onnxio.IntsAttr
	fa  = onnxio.FloatAttr
	sa  = onnxio.StringAttr
)

// opModels are small synthetic models that together use every supported op and attribute.
type opModel struct {
	name string
	m    *onnxio.Model
}

func opModels() []opModel {
	var ms []opModel

	b := newIR(11, 2, 2, 5, 5)
	y := b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3), b.w("B", -1, 1, 3)}, "conv",
		isa("pads", []int64{0, 1, 1, 0}), isa("strides", []int64{1, 1}), isa("dilations", []int64{2, 1}))
	y = b.node("Relu", []string{y}, "relu")
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -0.5, 0.5, 4, 24), b.w("C", -1, 1, 4)}, "gemm",
		ia("transB", 1), fa("alpha", 0.7), fa("beta", 1.3))
	ms = append(ms, opModel{"Conv-pads-dilations/Relu/Flatten/Gemm", b.output(y)})

	b = newIR(11, 2, 2, 7, 7)
	y = b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3)}, "conv",
		sa("auto_pad", "SAME_LOWER"), isa("strides", []int64{2, 2}))
	y = b.node("Tanh", []string{y}, "tanh")
	y = b.node("GlobalAveragePool", []string{y}, "gap")
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("MatMul", []string{y, b.w("M", -1, 1, 3, 4)}, "mm")
	y = b.node("Add", []string{y, b.w("A", -1, 1, 4)}, "add")
	ms = append(ms, opModel{"Conv-same-lower/Tanh/GlobalAveragePool/MatMul/Add", b.output(y)})

	b = newIR(10, 2, 1, 8, 8)
	y = b.node("Conv", []string{"x", b.w("W", -1, 1, 2, 1, 3, 3), b.w("B", -1, 1, 2)}, "conv",
		sa("auto_pad", "SAME_UPPER"))
	y = b.node("LeakyRelu", []string{y}, "lrelu", fa("alpha", 0.1))
	y = b.node("MaxPool", []string{y}, "mp", isa("kernel_shape", []int64{2, 2}), isa("strides", []int64{2, 2}),
		isa("pads", []int64{0, 0, 1, 1}))
	y = b.node("AveragePool", []string{y}, "ap", isa("kernel_shape", []int64{2, 2}), isa("strides", []int64{1, 1}))
	y = b.node("Dropout", []string{y}, "drop", fa("ratio", 0.5))
	y = b.node("Reshape", []string{y, b.ints("shape", -1, 18)}, "rs")
	y = b.node("Gemm", []string{y, b.w("G", -1, 1, 18, 3), b.w("C", -1, 1, 3)}, "gemm")
	ms = append(ms, opModel{"Conv-same-upper/LeakyRelu/MaxPool/AveragePool/Dropout/Reshape", b.output(y)})

	b = newIR(13, 2, 2, 9, 9)
	y = b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3), b.w("B", -0.5, 0.5, 3)}, "conv")
	y = b.node("Relu", []string{y}, "relu") // built after the MaxPool (they commute)
	y = b.node("MaxPool", []string{y}, "mp", isa("kernel_shape", []int64{3, 3}), isa("strides", []int64{2, 2}),
		isa("pads", []int64{1, 0, 2, 1}))
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -1, 1, 5, 36), b.w("C", -1, 1, 5)}, "gemm", ia("transB", 1))
	ms = append(ms, opModel{"Conv/Relu/MaxPool-padded", b.output(y)})

	b = newIR(13, 2, 3, 4, 4)
	y = b.node("Mul", []string{"x", b.w("S", 0.5, 1.5, 3, 1, 1)}, "mul")
	y = b.node("Sub", []string{y, b.w("D", -1, 1, 4)}, "sub")
	y = b.node("Div", []string{y, b.w("V", 1, 2, 1, 4, 1)}, "div")
	y = b.node("Sigmoid", []string{y}, "sig")
	y = b.node("Transpose", []string{y}, "tr", isa("perm", []int64{0, 2, 3, 1}))
	y = b.node("Identity", []string{y}, "id")
	y = b.node("Reshape", []string{y, b.ints("shape", 0, -1)}, "rs")
	y = b.node("Gemm", []string{y, b.w("G", -1, 1, 48, 5), b.w("C", -1, 1, 1, 5)}, "gemm")
	y = b.node("Softmax", []string{y}, "prob", ia("axis", -1))
	ms = append(ms, opModel{"Mul/Sub/Div-broadcast/Sigmoid/Transpose/Identity/final-Softmax", b.output(y)})

	b = newIR(9, 2, 2, 4, 4)
	y = b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3)}, "conv")
	y = b.node("BatchNormalization", []string{y, b.w("scale", 0.5, 1.5, 3), b.w("bias", -1, 1, 3),
		b.w("mean", -0.5, 0.5, 3), b.w("var", 0.5, 2, 3)}, "bn", fa("epsilon", 1e-3))
	y = b.node("Relu", []string{y}, "relu")
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -1, 1, 12, 6), b.w("C", -1, 1, 6)}, "gemm")
	y = b.node("Softmax", []string{y}, "sm", ia("axis", 1))
	y = b.node("Mul", []string{y, b.w("K", 1, 3, 6)}, "scaled")
	y = b.node("Gemm", []string{y, b.w("H", -1, 1, 6, 4), b.w("C2", -1, 1, 4)}, "gemm2")
	y = b.node("LogSoftmax", []string{y}, "logp", ia("axis", 1))
	ms = append(ms, opModel{"BatchNormalization/mid-Softmax/LogSoftmax", b.output(y)})
	return append(ms, extOpModels()...)
}

// checkGrads compares LossGrad's gradients with central differences of the loss for up to
// perParam entries of every parameter.
func checkGrads(t *testing.T, net *Net, x []float32, labels []int, perParam int, rng *rand.Rand) {
	t.Helper()
	if _, err := net.LossGrad(x, labels); err != nil {
		t.Fatal(err)
	}
	analytic := map[string][]float64{}
	for _, p := range net.Params() {
		g := p.Grad64()
		if g == nil {
			t.Fatalf("param %q has no float64 gradient", p.Name)
		}
		analytic[p.Name] = append([]float64(nil), g...)
	}
	loss := func() float64 {
		l, err := net.LossGrad(x, labels)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, p := range net.Params() {
		v := p.Value64()
		idx := rng.Perm(len(v))
		if len(idx) > perParam {
			idx = idx[:perParam]
		}
		for _, i := range idx {
			orig := v[i]
			v[i] = orig + fdStep
			up := loss()
			v[i] = orig - fdStep
			down := loss()
			v[i] = orig
			fd := (up - down) / (2 * fdStep)
			a := analytic[p.Name][i]
			if d := math.Abs(a - fd); d > gradTol*max(math.Abs(a), math.Abs(fd))+gradFloor {
				t.Errorf("param %q entry %d: analytic %.8g, finite difference %.8g (rel err %.3g); want ≤ %g",
					p.Name, i, a, fd, d/max(math.Abs(a), math.Abs(fd)), gradTol)
			}
		}
	}
}

func randInput(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	return x
}

func TestGradientsPerOp(t *testing.T) {
	for _, om := range opModels() {
		t.Run(om.name, func(t *testing.T) {
			net, err := Build(om.m, Config{Batch: 2, Float64: true})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			rng := rand.New(rand.NewPCG(7, 7))
			size := 1
			for _, d := range net.InputShape() {
				size *= d
			}
			labels := []int{1, net.Classes() - 1}
			checkGrads(t, net, randInput(rng, size), labels, 1000, rng)
		})
	}
}

// TestGradientsSharedModels checks real exported models (Gemm with transB and a final
// Softmax; a Reshape of a weight and a [C,1,1] bias; NHWC Transposes; a folded Shape/Concat
// target) on two random images in 0..1, on a sample of entries of every parameter.
func TestGradientsSharedModels(t *testing.T) {
	dir := sharedModels(t)
	for _, file := range []string{
		"pytorch-lenet5-op9-batch10.onnx",
		"cntk-zoo-mnist-op7.onnx",
		"keras2onnx-nhwc-small-op10.onnx",
		"pytorch-op20-external/mnist.onnx",
	} {
		t.Run(file, func(t *testing.T) {
			m, err := onnxio.Load(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			net, err := Build(m, Config{Batch: 2, Float64: true})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			rng := rand.New(rand.NewPCG(3, 4))
			checkGrads(t, net, randInput(rng, 2*784), []int{3, 8}, 4, rng)
		})
	}
}

// TestBuildErrors checks that ops and attributes outside the supported set, and malformed
// nodes, give errors naming the node, op and opset, wrapping the right sentinel.
func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name     string
		build    func(b *irModel) string
		sentinel error
		mentions []string
	}{
		{"unsupported op", func(b *irModel) string {
			y := b.node("Gemm", []string{"x", b.w("G", -1, 1, 16, 3)}, "gemm")
			return b.node("Erf", []string{y}, "weird")
		}, onnxio.ErrUnsupported, []string{`"weird"`, "Erf", "opset 13"}},
		{"softmax over the batch axis", func(b *irModel) string {
			return b.node("Softmax", []string{"x"}, "sm0", ia("axis", 0))
		}, onnxio.ErrUnsupported, []string{`"sm0"`, "Softmax", "axis 0"}},
		{"bad perm", func(b *irModel) string {
			return b.node("Transpose", []string{"x"}, "tp", isa("perm", []int64{0, 0}))
		}, onnxio.ErrInvalidModel, []string{`"tp"`, "Transpose", "perm"}},
		{"weight size mismatch", func(b *irModel) string {
			b.m.Graph.Initializers = append(b.m.Graph.Initializers, onnxio.NewFloat32("G", []int64{16, 3}, make([]float32, 5)))
			return b.node("MatMul", []string{"x", "G"}, "mm")
		}, onnxio.ErrInvalidModel, []string{`"mm"`, "MatMul", `"G"`}},
		{"reshape across the batch", func(b *irModel) string {
			return b.node("Reshape", []string{"x", b.ints("s", -1)}, "flatall")
		}, onnxio.ErrUnsupported, []string{`"flatall"`, "Reshape"}},
		{"other domain", func(b *irModel) string {
			y := b.node("Relu", []string{"x"}, "r")
			b.m.Graph.Nodes[len(b.m.Graph.Nodes)-1].Domain = "com.microsoft"
			return y
		}, onnxio.ErrUnsupported, []string{`"r"`, "com.microsoft"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newIR(13, 2, 16)
			out := c.build(b)
			_, err := Build(b.output(out), Config{Batch: 2})
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("Build: error %v; want one wrapping %v", err, c.sentinel)
			}
			for _, want := range c.mentions {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
		})
	}
}
