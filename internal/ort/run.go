package ort

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/uqnn/uqnn/onnxio"
	ortgo "github.com/yalue/onnxruntime_go"
)

// RunModel runs an in-memory model on n inputs x — its one data input, flat and row-major, in the
// model's own layout — and returns every graph output, flat, in graph output order. A model
// with a fixed batch size b is run b inputs at a time (n must be a multiple of b); a free batch
// dimension takes all n at once. It serves passes that need intermediate values (compress adds
// them as graph outputs). The library must be initialised (Init or Setup).
func RunModel(ctx context.Context, m *onnxio.Model, x []float32, n int) ([][]float32, error) {
	ins := m.Graph.DataInputs()
	if len(ins) != 1 || !ins[0].ShapeKnown || len(ins[0].Shape) == 0 {
		return nil, fmt.Errorf("ort: run: model has %d data inputs; want one of known shape: %w", len(ins), onnxio.ErrUnsupported)
	}
	dims := ins[0].Dims()
	data, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("ort: run: %w", err)
	}
	names := make([]string, len(m.Graph.Outputs))
	for i, o := range m.Graph.Outputs {
		names[i] = o.Name
	}
	return RunEncoded(ctx, data, ins[0].Name, dims, names, x, n)
}

// RunEncoded is RunModel on a model already encoded (Model.Encode), with its data input's name
// and dimensions (batch first; a positive batch is fixed) and the outputs to return. It keeps
// no reference to data once onnxruntime has read it, and, for a model of 64 MiB or more,
// returns the freed memory to the system before the first run: a caller that drops its own
// references to the model and the bytes (a large ensemble.onnx) then holds only onnxruntime's
// copy while it runs.
func RunEncoded(ctx context.Context, data []byte, input string, dims []int64, outputs []string, x []float32, n int) ([][]float32, error) {
	if len(dims) == 0 {
		return nil, fmt.Errorf("ort: run: input %q has no dimensions: %w", input, onnxio.ErrUnsupported)
	}
	per := int64(1)
	for _, d := range dims[1:] {
		if d < 0 {
			return nil, fmt.Errorf("ort: run: input %q has shape %v; want static dimensions after the batch: %w", input, dims, onnxio.ErrUnsupported)
		}
		per *= d
	}
	if n < 1 || int64(len(x)) != int64(n)*per {
		return nil, fmt.Errorf("ort: run: %d values for %d inputs of %d; want n ≥ 1 and n·%d values", len(x), n, per, per)
	}
	chunk := n
	if dims[0] > 0 {
		chunk = int(dims[0])
		if n%chunk != 0 {
			return nil, fmt.Errorf("ort: run: the model has a fixed batch of %d; %d inputs is not a multiple", chunk, n)
		}
	}
	names := outputs
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("ort: threads: %w", err)
	}
	sess, err := ortgo.NewDynamicAdvancedSessionWithONNXData(data, []string{input}, names, so)
	if err != nil {
		return nil, fmt.Errorf("ort: run: onnxruntime cannot start a session: %v: %w", err, onnxio.ErrInvalidModel)
	}
	defer sess.Destroy()
	if len(data) >= 64<<20 {
		debug.FreeOSMemory() // data is dead here (its last use was above)
	}
	outs := make([][]float32, len(names))
	for start := 0; start < n; start += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		shape := ortgo.NewShape(append([]int64{int64(chunk)}, dims[1:]...)...)
		in, err := ortgo.NewTensor(shape, x[int64(start)*per:int64(start+chunk)*per])
		if err != nil {
			return nil, fmt.Errorf("ort: run: input tensor: %w", err)
		}
		vals := make([]ortgo.Value, len(names))
		err = sess.Run([]ortgo.Value{in}, vals)
		in.Destroy()
		if err != nil {
			return nil, fmt.Errorf("ort: run on %d inputs: %w", chunk, err)
		}
		for i, v := range vals {
			t, ok := v.(*ortgo.Tensor[float32])
			if !ok {
				for _, v := range vals {
					v.Destroy()
				}
				return nil, fmt.Errorf("ort: run: output %q is not a float32 tensor", names[i])
			}
			outs[i] = append(outs[i], t.GetData()...)
		}
		for _, v := range vals {
			v.Destroy()
		}
	}
	return outs, nil
}
