package nn

import (
	"errors"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/onnxio"
)

// scalar adds a rank-0 float initializer.
func (b *irModel) scalar(name string, v float32) string {
	b.m.Graph.Initializers = append(b.m.Graph.Initializers, onnxio.NewFloat32(name, nil, []float32{v}))
	return name
}

// extOpModels cover the ops exporters write beyond the basic set (issue 8): Pad, Clip, Elu,
// Softplus, Sum, Mean, data-path Squeeze/Unsqueeze/Concat, grouped and depthwise Conv,
// ceil_mode pooling and BatchNormalization that no Conv precedes. Each op sits after a
// parameter, so the gradient tests check the gradient through it too. opModels includes them,
// so TestOpModelsMatchORT and TestGradientsPerOp run them.
func extOpModels() []opModel {
	var ms []opModel

	// Pad with attributes (opset < 11), asymmetric, a non-zero value; AveragePool with
	// ceil_mode whose last column of windows hangs one past the padded input.
	b := newIR(10, 2, 2, 6, 6)
	y := b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3), b.w("B", -1, 1, 3)}, "conv", isa("pads", []int64{1, 1, 1, 1}))
	y = b.node("Pad", []string{y}, "pad", isa("pads", []int64{0, 0, 1, 0, 0, 0, 0, 2}), fa("value", 0.5))
	y = b.node("AveragePool", []string{y}, "ap", isa("kernel_shape", []int64{3, 3}), isa("strides", []int64{2, 2}), ia("ceil_mode", 1))
	y = b.node("Flatten", []string{y}, "flat") // [2, 3·3·4]
	y = b.node("Gemm", []string{y, b.w("G", -0.5, 0.5, 36, 4), b.w("C", -1, 1, 4)}, "gemm")
	ms = append(ms, opModel{"Pad-attr/AveragePool-ceil", b.output(y)})

	// AveragePool with ceil_mode and count_include_pad: the explicit pads count in the
	// divisor, the ceil overhang does not.
	b = newIR(10, 2, 2, 6, 6)
	y = b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3), b.w("B", -1, 1, 3)}, "conv", isa("pads", []int64{1, 1, 1, 1}))
	y = b.node("AveragePool", []string{y}, "ap", isa("kernel_shape", []int64{2, 2}), isa("strides", []int64{2, 2}),
		isa("pads", []int64{1, 1, 0, 0}), ia("count_include_pad", 1), ia("ceil_mode", 1))
	y = b.node("Flatten", []string{y}, "flat") // [2, 3·4·4]
	y = b.node("Gemm", []string{y, b.w("G", -0.5, 0.5, 48, 4), b.w("C", -1, 1, 4)}, "gemm")
	ms = append(ms, opModel{"AveragePool-ceil-count-include-pad", b.output(y)})

	// Pad as inputs (opset ≥ 11) on the channel and spatial axes; Relu then MaxPool with
	// ceil_mode (built pool-first) whose last column of windows hangs over the edge.
	b = newIR(13, 2, 2, 5, 5)
	y = b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 2, 2), b.w("B", -1, 1, 3)}, "conv")
	y = b.node("Pad", []string{y, b.ints("pads", 0, 1, 2, 0, 0, 0, 1, 1), b.scalar("cv", -0.25)}, "pad") // [2,4,7,5]
	y = b.node("Relu", []string{y}, "relu")
	y = b.node("MaxPool", []string{y}, "mp", isa("kernel_shape", []int64{2, 2}), isa("strides", []int64{2, 2}),
		isa("pads", []int64{1, 0, 0, 0}), ia("ceil_mode", 1)) // [2,4,4,3]
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -0.5, 0.5, 48, 3), b.w("C", -1, 1, 3)}, "gemm")
	ms = append(ms, opModel{"Pad-inputs/Relu/MaxPool-ceil", b.output(y)})

	// Pad with an axes input (opset 18), negative axes.
	b = newIR(18, 2, 2, 4, 4)
	y = b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3), b.w("B", -1, 1, 3)}, "conv")   // [2,3,2,2]
	y = b.node("Pad", []string{y, b.ints("pads", 2, 0, 1, 3), "", b.ints("axes", -1, 2)}, "pad") // [2,3,5,5]
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -0.5, 0.5, 75, 3), b.w("C", -1, 1, 3)}, "gemm")
	ms = append(ms, opModel{"Pad-axes", b.output(y)})

	// Clip with attributes (opset < 11) and Elu.
	b = newIR(10, 2, 2, 5, 5)
	y = b.node("Conv", []string{"x", b.w("W", -0.4, 0.4, 3, 2, 3, 3), b.w("B", -0.5, 0.5, 3)}, "conv") // [2,3,3,3]
	y = b.node("Elu", []string{y}, "elu", fa("alpha", 0.7))
	y = b.node("Clip", []string{y}, "clip", fa("min", -0.3), fa("max", 0.6))
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -1, 1, 27, 4), b.w("C", -1, 1, 4)}, "gemm")
	ms = append(ms, opModel{"Elu/Clip-attr", b.output(y)})

	// Clip with optional inputs (opset ≥ 11: only min, then only max) and Softplus.
	b = newIR(13, 2, 2, 5, 5)
	y = b.node("Conv", []string{"x", b.w("W", -0.5, 0.5, 3, 2, 3, 3), b.w("B", -0.5, 0.5, 3)}, "conv")
	y = b.node("Clip", []string{y, b.scalar("lo", -0.4)}, "clipmin")
	y = b.node("Softplus", []string{y}, "softplus")
	y = b.node("Clip", []string{y, "", b.scalar("hi", 1.1)}, "clipmax")
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -1, 1, 27, 4), b.w("C", -1, 1, 4)}, "gemm")
	ms = append(ms, opModel{"Clip-inputs/Softplus", b.output(y)})

	// Sum and Mean over two branches and broadcast weights; a one-input Sum.
	b = newIR(13, 2, 2, 4, 4)
	a := b.node("Conv", []string{"x", b.w("WA", -1, 1, 3, 2, 3, 3), b.w("BA", -1, 1, 3)}, "conva", isa("pads", []int64{1, 1, 1, 1}))
	c := b.node("Conv", []string{"x", b.w("WB", -1, 1, 3, 2, 1, 1)}, "convb")
	y = b.node("Sum", []string{a, c, b.w("P", -1, 1, 3, 1, 1)}, "sum")
	y = b.node("Mean", []string{y, a, b.w("Q", -1, 1, 4), b.scalar("k", 0.3)}, "mean")
	y = b.node("Sum", []string{y}, "sum1")
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -0.5, 0.5, 48, 4), b.w("C", -1, 1, 4)}, "gemm")
	ms = append(ms, opModel{"Sum/Mean-broadcast", b.output(y)})

	// Unsqueeze and Squeeze with axes attributes (opset < 13, negative axes), Concat on the
	// channel axis given as negative.
	b = newIR(11, 2, 2, 4, 4)
	a = b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3), b.w("B", -1, 1, 3)}, "conv") // [2,3,2,2]
	y = b.node("Unsqueeze", []string{a}, "unsq", isa("axes", []int64{2, -1}))                  // [2,3,1,2,2,1]
	y = b.node("Squeeze", []string{y}, "sq", isa("axes", []int64{-1, 2}))                      // [2,3,2,2]
	c = b.node("Tanh", []string{a}, "tanh")
	y = b.node("Concat", []string{y, c}, "cat", ia("axis", -3)) // [2,6,2,2]
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -1, 1, 24, 4), b.w("C", -1, 1, 4)}, "gemm")
	ms = append(ms, opModel{"Unsqueeze/Squeeze-attr/Concat-channels", b.output(y)})

	// Unsqueeze with an axes input (opset 13), Squeeze without axes (keeps the batch axis),
	// Concat of three inputs on the last axis.
	b = newIR(13, 2, 12)
	a = b.node("Gemm", []string{"x", b.w("G1", -1, 1, 12, 6), b.w("C1", -1, 1, 6)}, "gemm1") // [2,6]
	y = b.node("Unsqueeze", []string{a, b.ints("ax", 1, -1)}, "unsq")                        // [2,1,6,1]
	y = b.node("Squeeze", []string{y}, "sq")                                                 // [2,6]
	c = b.node("Gemm", []string{"x", b.w("G2", -1, 1, 12, 5)}, "gemm2")                      // [2,5]
	y = b.node("Concat", []string{y, c, a}, "cat", ia("axis", -1))                           // [2,17]
	y = b.node("Gemm", []string{y, b.w("G3", -1, 1, 17, 4), b.w("C3", -1, 1, 4)}, "gemm3")
	ms = append(ms, opModel{"Unsqueeze-input/Squeeze-all/Concat-last", b.output(y)})

	// Squeeze, Unsqueeze and Concat of weights (no batch axis: axis 0 is theirs).
	b = newIR(13, 2, 12)
	w := b.node("Concat", []string{b.w("WA", -1, 1, 5, 6), b.w("WB", -1, 1, 7, 6)}, "wcat", ia("axis", 0)) // [12,6]
	w = b.node("Unsqueeze", []string{w, b.ints("a0", 0)}, "wunsq")                                         // [1,12,6]
	w = b.node("Squeeze", []string{w, b.ints("a1", 0)}, "wsq")                                             // [12,6]
	y = b.node("MatMul", []string{"x", w}, "mm")
	y = b.node("Gemm", []string{y, b.w("G", -1, 1, 6, 4), b.w("C", -1, 1, 4)}, "gemm")
	ms = append(ms, opModel{"Concat/Unsqueeze/Squeeze-weights", b.output(y)})

	// Grouped convolutions: 2 groups with asymmetric pads and strides, depthwise (group ==
	// channels) with dilations, and groups of one output channel.
	b = newIR(11, 2, 4, 6, 6)
	y = b.node("Conv", []string{"x", b.w("W1", -1, 1, 6, 2, 3, 3), b.w("B1", -1, 1, 6)}, "gconv", ia("group", 2),
		isa("pads", []int64{1, 0, 0, 1}), isa("strides", []int64{2, 1})) // [2,6,3,5]
	y = b.node("Relu", []string{y}, "relu")
	y = b.node("Conv", []string{y, b.w("W2", -1, 1, 6, 1, 3, 3), b.w("B2", -1, 1, 6)}, "dwconv", ia("group", 6),
		isa("pads", []int64{1, 1, 1, 1}), isa("dilations", []int64{1, 2})) // [2,6,3,3]
	y = b.node("Conv", []string{y, b.w("W3", -1, 1, 3, 2, 1, 1)}, "pwconv", ia("group", 3)) // [2,3,3,3]
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -0.5, 0.5, 27, 4), b.w("C", -1, 1, 4)}, "gemm")
	ms = append(ms, opModel{"Conv-group/depthwise", b.output(y)})

	// BatchNormalization that cannot fold into a Conv: on the input, after a Relu and after
	// a Gemm (rank 2).
	b = newIR(9, 2, 3, 5, 5)
	bn := func(y, name string, c int64) string {
		return b.node("BatchNormalization", []string{y, b.w(name+"s", 0.5, 1.5, c), b.w(name+"b", -1, 1, c),
			b.w(name+"m", -0.5, 0.5, c), b.w(name+"v", 0.5, 2, c)}, name, fa("epsilon", 1e-3))
	}
	y = bn("x", "bn0", 3)
	y = b.node("Conv", []string{y, b.w("W", -1, 1, 4, 3, 3, 3)}, "conv") // [2,4,3,3]
	y = b.node("Relu", []string{y}, "relu")
	y = bn(y, "bn1", 4)
	y = b.node("Flatten", []string{y}, "flat")
	y = b.node("Gemm", []string{y, b.w("G", -0.5, 0.5, 36, 6), b.w("GC", -1, 1, 6)}, "gemm")
	y = bn(y, "bn2", 6)
	y = b.node("Gemm", []string{y, b.w("H", -1, 1, 6, 4), b.w("C", -1, 1, 4)}, "gemm2")
	ms = append(ms, opModel{"BatchNormalization-unfoldable", b.output(y)})
	return ms
}

// TestBuildErrorsExtOps checks that what the new ops still refuse gives an error naming the
// node, op and attribute, wrapping the right sentinel.
func TestBuildErrorsExtOps(t *testing.T) {
	img := func(b *irModel) string { return b.node("Reshape", []string{"x", b.ints("s", 0, 4, 2, 2)}, "rs") }
	cases := []struct {
		name     string
		build    func(b *irModel) string
		sentinel error
		mentions []string
	}{
		{"pad reflect", func(b *irModel) string {
			return b.node("Pad", []string{img(b), b.ints("p", 0, 0, 1, 1, 0, 0, 1, 1)}, "padr", sa("mode", "reflect"))
		}, onnxio.ErrUnsupported, []string{`"padr"`, "Pad", `mode "reflect"`}},
		{"pad batch", func(b *irModel) string {
			return b.node("Pad", []string{img(b), b.ints("p", 1, 0, 0, 0, 0, 0, 0, 0)}, "padb")
		}, onnxio.ErrUnsupported, []string{`"padb"`, "Pad", "batch"}},
		{"pad crop", func(b *irModel) string {
			return b.node("Pad", []string{img(b), b.ints("p", 0, 0, -1, 0, 0, 0, 0, 0)}, "padc")
		}, onnxio.ErrUnsupported, []string{`"padc"`, "Pad", "negative"}},
		{"pad count", func(b *irModel) string {
			return b.node("Pad", []string{img(b), b.ints("p", 0, 1)}, "padn")
		}, onnxio.ErrInvalidModel, []string{`"padn"`, "Pad", "pads"}},
		{"concat batch", func(b *irModel) string {
			return b.node("Concat", []string{"x", "x"}, "cat0", ia("axis", 0))
		}, onnxio.ErrUnsupported, []string{`"cat0"`, "Concat", "batch"}},
		{"concat shapes", func(b *irModel) string {
			return b.node("Concat", []string{img(b), "x"}, "catx", ia("axis", 1))
		}, onnxio.ErrInvalidModel, []string{`"catx"`, "Concat", "shape"}},
		{"unsqueeze batch", func(b *irModel) string {
			return b.node("Unsqueeze", []string{"x", b.ints("a", 0)}, "unsq0")
		}, onnxio.ErrUnsupported, []string{`"unsq0"`, "Unsqueeze", "batch"}},
		{"squeeze non-unit", func(b *irModel) string {
			return b.node("Squeeze", []string{img(b), b.ints("a", -1)}, "sq")
		}, onnxio.ErrInvalidModel, []string{`"sq"`, "Squeeze", "[-1]"}},
		{"group not dividing", func(b *irModel) string {
			return b.node("Conv", []string{img(b), b.w("W", -1, 1, 4, 2, 1, 1)}, "gconv", ia("group", 3))
		}, onnxio.ErrInvalidModel, []string{`"gconv"`, "Conv", "group 3"}},
		{"ceil_mode 2", func(b *irModel) string {
			return b.node("MaxPool", []string{img(b)}, "mp", isa("kernel_shape", []int64{2, 2}), ia("ceil_mode", 2))
		}, onnxio.ErrInvalidModel, []string{`"mp"`, "MaxPool", "ceil_mode 2"}},
		{"ceil_mode with auto_pad", func(b *irModel) string {
			return b.node("AveragePool", []string{img(b)}, "ap", isa("kernel_shape", []int64{2, 2}), ia("ceil_mode", 1), sa("auto_pad", "SAME_UPPER"))
		}, onnxio.ErrUnsupported, []string{`"ap"`, "AveragePool", "ceil_mode", "auto_pad"}},
		{"clip bound not scalar", func(b *irModel) string {
			return b.node("Clip", []string{"x", b.w("lo", -1, 0, 2)}, "clip")
		}, onnxio.ErrInvalidModel, []string{`"clip"`, "Clip", `"lo"`}},
		{"bn training mode", func(b *irModel) string {
			return b.node("BatchNormalization", []string{"x", b.w("s", 1, 2, 16), b.w("b", 0, 1, 16), b.w("m", 0, 1, 16), b.w("v", 1, 2, 16)},
				"bnt", ia("training_mode", 1))
		}, onnxio.ErrUnsupported, []string{`"bnt"`, "BatchNormalization", "training_mode"}},
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
