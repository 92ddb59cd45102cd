// Package nn builds a trainable Gorgonia graph from an onnxio model.
//
// Build walks the IR in topological order and turns each supported node into Gorgonia nodes:
// Conv (any group: grouped and depthwise), Gemm, MatMul, Add/Sub/Mul/Div and variadic
// Sum/Mean (numpy broadcasting), Relu, LeakyRelu, Elu, Softplus, Tanh, Sigmoid, Clip (bounds
// as attributes before opset 11, optional constant inputs after), MaxPool and AveragePool
// (ceil_mode 0 or 1), GlobalAveragePool, Pad (constant mode; pads and value as attributes
// before opset 11, as constant inputs after, axes from opset 18), Flatten, Reshape, Transpose,
// Squeeze, Unsqueeze and Concat (axes as attributes before opset 13, as an input after),
// Identity, Dropout (inference: identity), BatchNormalization (inference form, wherever it
// stands: running statistics constant, scale and bias trainable), Softmax and LogSoftmax.
// Integer shape sub-graphs (Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Constant) are
// evaluated at build time, since every shape is static once the batch size is fixed; the
// same Squeeze, Unsqueeze and Concat on float values are built as graph ops. Any other op or
// attribute value is an error wrapping onnxio.ErrUnsupported that names the node, op, opset
// and attribute (a Pad in another mode, negative pads, an axis or pad on the batch axis,
// ceil_mode with auto_pad, a pooling dilation, BatchNormalization in training mode). Build first runs
// onnxio.FoldConstants on a copy of the model (it folds the same sub-graphs and more, and keeps
// float initializers and their names), and computes shapes itself from the Gorgonia nodes.
//
// Data model. Float initializers read as weights (Conv, Gemm and MatMul operands, BatchNorm
// scale and bias, elementwise operands with more than one element) become Params: learnable
// input nodes whose values are tensors owned by the Net; an optimizer writes into
// Param.Value32/Value64 in place. BatchNorm running statistics, Reshape targets and scalar
// operands are constants. The graph ends at logits: a final Softmax (possibly followed by
// Identity) is left out and OutputIsProb reports it, so training uses the stable mean
// softmax cross-entropy computed by LossGrad. Conv, MaxPool, AveragePool, Relu and the
// Gemm/MatMul products run on internal/nn/gops (im2col + OpenBLAS); a Conv whose input
// depends on no parameter skips its input gradient, and the training program runs only the
// nodes the loss and the parameter gradients need (no gradient of the data batch). A Relu read
// only by a MaxPool is built after the pooling (the two commute exactly, gradients included),
// so it runs on the pooled values; an Add of a per-channel or per-column bias constant that
// alone reads a Conv or MatMul (CNTK and Keras exports) becomes that op's fused bias.
//
// Invariants. The batch size is fixed at Build and replaces the model's own batch dimension;
// a Reshape keeps the batch axis (a target whose first entry is the model's fixed batch, -1 or
// 0 is resolved per image), and no Pad, Squeeze, Unsqueeze, Concat or Transpose touches it
// (a Squeeze without axes drops the size-1 axes after the batch axis only). The graph is built once, with two tape machines reused for every
// call: one over the logits sub-graph (Forward) and one over the whole graph with the
// gradients (LossGrad). For another batch size, WithBatch builds a Net sharing the parameter
// tensors; for a final partial batch one may also pad to Batch and drop the extra rows, as
// every supported op treats images independently. WriteBack copies the parameters into the
// model's initializers so onnxio's Save exports what was trained.
package nn
