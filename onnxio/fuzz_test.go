package onnxio

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/uqnn/uqnn/internal/onnxpb"
	"github.com/uqnn/uqnn/internal/testmodels"
)

// FuzzDecode feeds arbitrary bytes to Decode. Whatever decodes must also encode, decode again,
// and survive shape inference and constant folding, all without panics or large allocations.
// The external data folder is the op20 model's (read-only), so external references resolve too.
func FuzzDecode(f *testing.F) {
	dir := ""
	d := filepath.Join(testmodels.RepoRoot(f), "..", "shared", "models")
	if _, err := os.Stat(d); err == nil {
		for _, name := range sharedModels {
			if b, err := os.ReadFile(filepath.Join(d, name)); err == nil {
				f.Add(b)
			}
		}
		if b, err := os.ReadFile(filepath.Join(d, "bad-missing-external-data", "mnist.onnx")); err == nil {
			f.Add(b)
		}
		dir = filepath.Join(d, "pytorch-op20-external")
	}
	f.Add(mustMarshal(f, tinyModel()))
	f.Add(externalModel("mnist.onnx.data", 0, 48))
	f.Add(externalModel("../mnist.onnx.data", 0, 48))
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x07, 0x3a, 0xff, 0xff, 0xff, 0x3f}) // a graph longer than the file
	f.Fuzz(func(t *testing.T, data []byte) {
		// Load's framing check refuses a file before reading it: it must never refuse bytes that
		// protobuf would parse.
		framingErr := checkFraming(bytes.NewReader(data), int64(len(data)))
		if framingErr != nil {
			if err := proto.Unmarshal(data, new(onnxpb.ModelProto)); err == nil {
				t.Fatalf("checkFraming refuses bytes protobuf parses: %v", framingErr)
			}
		}
		m, err := Decode(data, dir)
		if err != nil {
			return
		}
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded model does not encode: %v", err)
		}
		m2, err := Decode(b, "")
		if err != nil {
			t.Fatalf("encoded model does not decode: %v", err)
		}
		_ = m2.Clone()
		if _, err := InferShapes(m2, 2); err == nil {
			_ = FoldConstants(m2)
		}
	})
}
