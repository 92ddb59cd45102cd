// Package ort is uqnn's one door to onnxruntime: it finds and loads the shared library and wraps an
// ONNX image classifier as a Classifier that takes raw 0..255 pixels and returns class probabilities.
//
// Data model: a Classifier holds one onnxruntime session (safe for concurrent Run), the model's
// single float input (layout NCHW [N,1,H,W], NHWC [N,H,W,1], [N,H,W] or flat [N,H·W], with H×W the
// caller's image geometry given in Options; batch dimension free or fixed), its single output
// [N,C], whether that output already holds probabilities (detected at Open by a probe run) and the
// pixel.Preprocess (input = raw·Scale + Offset). Besides sessions, the package keeps only the
// calibration run that scores each pixel preset; parsing, metadata and the choice between flag,
// metadata and calibration live in internal/pixel.
//
// Invariants: Probs returns n·C probabilities whose rows sum to 1; fixed-batch models are fed padded
// batches and the padding rows are dropped; a model that is not a single-input, single-output image
// classifier, or whose input does not hold the caller's H×W images, is refused at Open with an error
// wrapping onnxio.ErrInvalidModel that names both shapes.
//
// The library is found only where the user or `make ort` put it (Locate: --ort-lib, then
// $UQNN_ORT_LIB, then the cache; a named place that holds no library is an error) and started
// with onnxruntime's telemetry off and its own logging limited to fatal messages (Init); a run
// that fails becomes one error line wrapping onnxio.ErrInvalidModel (RunError).
package ort
