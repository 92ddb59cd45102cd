// Package onnxio reads and writes ONNX models and holds the graph IR every other uqnn package
// works on. It knows ONNX and nothing about training or onnxruntime.
//
// # API
//
//	m, err := onnxio.Load("model.onnx")           // or onnxio.Decode(data, baseDir)
//	m.Graph.Nodes, m.Graph.Inputs, m.Graph.Outputs // IR: nodes in topological order
//	order, err := m.Graph.TopoOrder()             // re-sort after editing the graph
//	m.Graph.DataInputs()                          // inputs that are not initializers
//	w := m.Initializer("conv1.weight")            // *Tensor: Dims, Float32 / Int64 / Raw
//	m.Params()                                    // float initializers: the learnable weights
//	m.SetFloat32("conv1.weight", trained)         // write trained values back
//	n.Int("group", 1), n.Ints("pads", nil), n.Float("alpha", 1), n.String("auto_pad", "NOTSET"), n.Tensor("value")
//	c := m.Clone()                                // deep copy
//	b, err := m.Encode()                          // all tensors inline
//	err = m.Save("out.onnx", onnxio.SaveOptions{ExternalData: true}) // atomic; big tensors in out.onnx.data
//	m.ExternalFiles()                             // data files Load read (for sizes, never overwrite)
//	onnxio.FreeBatch(m)                           // inputs have a free leading dimension
//	shapes, err := onnxio.InferShapes(m, batch)   // static shape of every value (batch <= 0: fixed)
//	err = onnxio.FoldConstants(m)                 // Constant nodes and int64 shape subgraphs become
//	                                              // initializers; dynamic Reshape targets become static
//
// # Data model and invariants
//
// A Model holds the parts of an ONNX file uqnn reads or changes as plain Go fields (Graph, Node,
// Attribute, Tensor, ValueInfo). Each keeps the protobuf message it came from, stripped of the
// modelled fields, so Encode writes back everything the IR does not model — training info,
// functions, quantization annotations, fields of IR versions newer than the compiled onnx.proto
// (kept as protobuf unknown fields) — unchanged.
//
// Tensor data is decoded once: Float32 for FLOAT, Int64 for INT64, Raw (ONNX raw_data layout)
// for other fixed-size types. External data is read at load time, so a Model never refers to
// files; Save decides afresh what goes to an external file. Encode always writes raw_data.
//
// Decode trusts nothing: declared tensor sizes are checked against the bytes present before any
// allocation; external data must lie in the model's folder (no "..", absolute paths or
// symlinks leading out). Load opens only regular files, checked without blocking (stat, then a
// non-blocking open whose descriptor is stat'ed again), so a FIFO, a device or a folder is refused
// by name; a model file over protobuf's 2 GiB limit, or whose top-level framing is broken, is
// refused before its content is read, and every read is bounded by the stat'ed size. Malformed input gives an error wrapping ErrInvalidModel; a valid model
// outside what uqnn handles (IR version outside MinIRVersion..MaxIRVersion, default-domain opset
// outside MinOpset..MaxOpset, unknown dtypes) wraps ErrUnsupported. Errors name the file, node,
// op and tensor at fault.
package onnxio
