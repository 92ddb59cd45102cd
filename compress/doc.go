// Package compress holds uqnn's compression passes over the ONNX IR: magnitude pruning, structural
// filter removal, sensitivity-driven regularisation (SDR) and the threshold that follows it, with
// the accounting (Ledger) and provenance (Annotate) every pass shares.
//
// # API
//
//	ls, err := compress.Layers(m)                      // prunable weights: op, shape, fan-in, MACs
//	p, masks, err := compress.Magnitude(m, compress.MagnitudeConfig{Keep: compress.HanLeNet5Keep})
//	stages, err := compress.Stages(compress.HanLeNet5Keep, 3) // prune → retrain schedule
//	scores, err := compress.ScoreFilters(ctx, m, ort.RunModel, x, n, nil)
//	rm, err := compress.SelectFilters(scores, compress.APoZ, map[string]float64{"": 0.3})
//	small, err := compress.RemoveFilters(m, rm)       // or compress.Filters(...) for all three
//	hook, err := compress.SDR(weights, compress.SDRConfig{Lambda: 1e-5}) // a train.Hook
//	p, masks, res, err := compress.Threshold(ctx, m, evalLoss, compress.ThresholdConfig{Tolerance: 0.01})
//	led, err := compress.NewLedger(m, p)               // led.AccuracyBefore/After: the caller's
//	err = compress.Annotate(p, compress.Record{Method: "magnitude", Params: cfg, SourceSHA256: h})
//
//	meth, err := compress.NewMethod("magnitude")     // a registered Method with its defaults
//	res, err := compress.Chain(ctx, m, []compress.Method{meth}, env, sha) // what uqnn compress runs
//
// # Methods and where they run
//
// Magnitude (Han et al. 2015) and Threshold need no gradients: they read the weights, return a
// pruned copy and its Masks. Retraining after pruning is the training loop's job (train.Fit with
// the masks, which keeps masked entries at zero); Stages gives the per-stage targets of Han's
// iterative prune → retrain schedule. SDR (Tartaglione et al. 2018) is a train.Hook that shrinks
// insensitive weights after each optimizer step (sdr.go documents the update and its
// hyperparameters); Threshold then cuts the weights it drove towards zero. Filter pruning (Hu et
// al. 2016 APoZ; mean activation after Molchanov et al. 2017) measures feature maps with a
// Runner (internal/ort.RunModel runs the model in onnxruntime with the features added as graph
// outputs; compress itself never imports onnxruntime) and removes filters from the graph.
// Sparse variational dropout plugs in the same way as SDR: a train.Hook (its KL term) and a pass
// that turns its learned log α into Masks; Ledger, Annotate and the report figure take its
// result unchanged.
//
// # Methods as the CLI runs them
//
// A Method (method.go) is one named pass with its hyperparameters as Options (pointers to its
// fields, which the CLI turns into flags) and Apply(ctx, model, *Env): Env carries the data
// (training split for retraining and calibration, validation split for thresholds, never the
// test set), a Runner, the seed, the retraining settings (Tune; Env.Retrain is train.Job with
// FineTune and the masks) and the masks of earlier methods (Prior), which a method keeps pruned.
// Register(name, constructor) in an init makes a method available to `uqnn compress --method`
// and to chains; magnitude_method.go, filter_method.go and sdr_method.go are the examples.
// Chain applies methods in order and appends one Record per method.
//
// # Data model
//
// Masks maps an initializer name to one bool per element (true: kept), the form train.Fit takes.
// Layer describes one prunable weight: the W of a Conv or the weight operand of a Gemm or MatMul
// held in a float initializer (directly, or through a Reshape as CNTK exports it); biases and
// BatchNorm tensors are not layers. Ledger is a value with JSON tags: per layer the source
// parameters, the non-zeros after, the kept fraction and the multiply-adds per image before and
// after (Conv: weights × output positions; after: non-zero weights × output positions), plus
// totals; the accuracy fields are the caller's to fill. Record is one entry of the JSON array
// stored in the model's metadata_props under MetaKey ("uqnn.compression"): method,
// hyperparameters, the source model's SHA-256 and the kept fraction; each pass of a chain
// appends one.
//
// Filter removal follows each pruned Conv's channels: the Conv's weights and bias, channelwise
// operations before the activation (bias Add/Sub/Mul/Div by a constant, BatchNormalization, a
// PRelu slope), pooling, Identity, Dropout and Transpose, to the consumers: the next Conv's
// input channels, or across a Flatten/Reshape to [N, features] the matching rows of a MatMul or
// Gemm weight (columns under transB, seen through a weight Reshape where there is one), with the
// Reshape target rewritten. The feature of a chain is the output of the first activation after
// the Conv, or without one the value reaching the first Transpose, Flatten, Reshape or consumer.
// Past it only zero-preserving operations are allowed (pooling, Mul by a constant, ReLU-like
// activations), so removing a filter computes exactly what zeroing its feature map computes.
// Residual Adds, Concat, grouped Convs, graph outputs, fan-out before the feature and any other
// op are refused with an error wrapping onnxio.ErrUnsupported that names the node.
//
// # The archive
//
// Archive writes a quantized model as a .uqz archive and Unarchive restores it byte for byte
// (archive.go documents format version 2 field by field). Both return an ArchiveLedger: Deep
// Compression's columns per coded tensor and the entropy floor (floor.go) — per tensor, the
// least empirical entropy of the zero/non-zero mask under an i.i.d., a gap and a 16-context
// model plus the zero-order entropy of the codebook indices; for the archive, those plus the
// codebooks, the model section and the byte-plane records at their stored size.
//
// # Invariants
//
//   - Passes never modify their input Model; they return a new one (onnxio Model.Clone).
//   - A pruned weight is exactly 0 (never a small number), so masks can be recovered from a
//     saved model with NonZero, and a masked weight stays 0 through SDR's shrinkage.
//   - Deterministic: ties in magnitude or filter score are broken by position, so the same model
//     and configuration give the same masks, bytes for bytes.
//   - Filter removal leaves a model that onnxruntime runs, with declared shapes updated
//     (initializers listed as graph inputs, value_info, outputs) and shapes re-inferred.
package compress
