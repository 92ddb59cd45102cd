// Package gops provides fast Gorgonia ops for training small convolutional classifiers on
// the CPU, backed by internal/kernels (OpenBLAS GEMM, im2col convolution, pooling).
//
// Builders (each returns the new node, or an error naming the node, shape or parameter at
// fault; nothing panics on bad shapes):
//
//	Conv2D(x, w, b *gorgonia.Node, p ConvParams) (*gorgonia.Node, error)   // NCHW, group 1, b may be nil
//	GroupConv2D(x, w, b *gorgonia.Node, p ConvParams, groups int) (*gorgonia.Node, error) // grouped, depthwise
//	MaxPool2D(x *gorgonia.Node, kernel [2]int, pads [4]int, strides [2]int) (*gorgonia.Node, error)
//	AvgPool2D(x *gorgonia.Node, kernel [2]int, pads [4]int, strides [2]int) (*gorgonia.Node, error)
//	ReLU(x *gorgonia.Node) (*gorgonia.Node, error)
//	Dense(x, w, b *gorgonia.Node, transW bool) (*gorgonia.Node, error)     // x·W (+b); W [K,M] or [M,K]
//	SoftmaxCrossEntropy(z, t *gorgonia.Node) (*gorgonia.Node, error)      // scalar mean loss
//
// Conventions: pads are ONNX-ordered [top, left, bottom, right]; strides and dilations are
// [h, w] and zero means 1. Pool output sizes round down (ONNX ceil_mode 0) and average pooling
// excludes padding from its divisor (count_include_pad 0). Every op works in float32 and
// float64 (all inputs of one op share the dtype).
//
// Differentiation: the ops implement gorgonia.SDOp, so gorgonia.Grad builds their backward
// nodes and a TapeMachine runs forward and backward in one program. They do not implement
// ADOp (the LispMachine's mode). Set ConvParams.NoInputGrad on a convolution whose input is
// the data batch: gorgonia executes every node in the graph, so an unneeded input gradient
// would otherwise cost a GEMM and a col2im per step.
//
// State and invariants: each op node owns its output tensor and workspace and returns the same
// tensor on every run (a training step allocates nothing large). A value read from a node
// after RunAll is therefore overwritten by the next run: copy it to keep it. Max pooling and
// softmax cross-entropy keep forward state (argmax, softmax) that their gradient nodes read in
// the same run; running only the gradient part of a program is not supported. Several
// machines may share a graph (a forward-only machine next to a training one) as long as they
// run one at a time; an op node must not run in two machines concurrently.
//
// Threads: the kernels split large GEMMs and batch loops across kernels.Threads() goroutines
// (2 by default) with OpenBLAS itself single-threaded; see internal/kernels.
//
// Speed: BenchmarkTrainStep (LeNet-5 and the ONNX-zoo net, batch 64, float32, forward +
// backward + SGD in a TapeMachine) reports images/s, ms/step and cpu-ms/step;
// BenchmarkTrainStepOneThread does the same with one thread and BenchmarkTrainStepStock runs
// LeNet-5 on gorgonia's own ops. Compare with shared/peers/torch_bench.py run back to back on the
// same machine; on a shared machine report medians of several alternating runs and the CPU
// time, which varies far less than wall time.
package gops
