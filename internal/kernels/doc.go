// Package kernels holds the dense compute kernels behind uqnn's training ops: GEMM on
// OpenBLAS (cgo), 2-D convolution forward and backward by im2col + GEMM or, for float32
// stride-1 convolutions with small pads on processors with AVX2 and FMA, by direct kernels in
// C on the extended-width layout (direct.go), max and average pooling forward and backward,
// the Langevin samplers' per-weight updates (langevin.go; AVX2, bit-identical to their Go
// loops), sparse variational dropout's KL step, pruning and elementwise ops (svd.go; AVX2 with
// polynomial exp and log from mathf.go, bit-identical to their Go loops), a variational
// layer's mean and variance products together (varconv.go, vardense.go), and small elementwise
// helpers.
//
// Data model: tensors are plain row-major slices ([]float32 or []float64) in NCHW order;
// shapes travel in geometry structs (ConvGeom, PoolGeom) built once per layer by NewConvGeom
// and NewPoolGeom, which validate user-visible parameters and return errors. The kernels
// themselves trust a validated geometry and panic only on programmer errors (a slice shorter
// than the geometry says), as gonum's BLAS does.
//
// Invariants:
//   - Pads follow ONNX order [top, left, bottom, right]; strides and dilations are [h, w].
//   - Pooling output sizes use floor division (ONNX ceil_mode 0); average pooling excludes
//     padded cells from the divisor (ONNX count_include_pad 0).
//   - Workspaces (Conv, the col buffers) are reused across calls; a Conv value is not safe for
//     concurrent use, but distinct values are. The im2col buffer is bounded (colLimit): larger
//     batches are processed in chunks of images.
//   - Threads: the package sets OpenBLAS to one thread at init and instead splits each large
//     GEMM, and the batch loops, across Threads() goroutines (DefaultThreads = 2). OpenBLAS'
//     own pool busy-waits and made steps 2-3x slower on a shared, oversubscribed machine.
//     SetThreads and SetOpenBLASThreads are process-wide.
//
// Nothing here imports Gorgonia; internal/nn/gops wraps these kernels as Gorgonia ops.
package kernels
