package onnxio

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/uqnn/uqnn/internal/onnxpb"
)

func TestLoadSharedModels(t *testing.T) {
	dir := modelsDir(t)
	tests := []struct {
		file     string
		ir       int64
		opsets   []Opset
		producer string
		params   int
		input    string
		dims     []int64
	}{
		{"cntk-zoo-mnist-op7.onnx", 3, []Opset{{"", 7}}, "CNTK", 6, "Input3", []int64{1, 1, 28, 28}},
		{"keras2onnx-nhwc-op10.onnx", 5, []Opset{{"", 10}}, "keras2onnx", 8, "conv2d_3_input", []int64{-1, 28, 28, 1}},
		{"keras2onnx-nhwc-small-op10.onnx", 5, []Opset{{"", 10}}, "keras2onnx", 8, "conv2d_5_input", []int64{-1, 28, 28, 1}},
		{"pytorch-cnn-op11.onnx", 6, []Opset{{"", 11}}, "pytorch", 8, "input", []int64{-1, 1, 28, 28}},
		{"pytorch-lenet5-op9-batch10.onnx", 4, []Opset{{"", 9}}, "pytorch", 10, "input_0", []int64{10, 1, 28, 28}},
		{"tf2onnx-mlp-op13.onnx", 7, []Opset{{"", 13}, {"ai.onnx.ml", 2}}, "tf2onnx", 6, "input_layer", []int64{-1, 784}},
		{"pytorch-op20-external/mnist.onnx", 10, []Opset{{"", 20}}, "pytorch", 4, "input", []int64{-1, 1, 28, 28}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m, err := Load(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.IRVersion != tc.ir || !slices.Equal(m.Opsets, tc.opsets) || m.Producer != tc.producer {
				t.Errorf("got IR %d opsets %v producer %q; want %d %v %q", m.IRVersion, m.Opsets, m.Producer, tc.ir, tc.opsets, tc.producer)
			}
			if got := len(m.Params()); got != tc.params {
				t.Errorf("got %d float initializers; want %d", got, tc.params)
			}
			in := m.Graph.DataInputs()
			if len(in) != 1 || in[0].Name != tc.input || !slices.Equal(in[0].Dims(), tc.dims) {
				t.Errorf("data inputs: got %+v; want one %q with dims %v", in, tc.input, tc.dims)
			}
			if _, err := m.Graph.TopoOrder(); err != nil {
				t.Error(err)
			}
		})
	}
}

// pythonInitializers dumps every initializer of a model through Debian's onnx package: dims,
// dtype and the SHA-256 of its little-endian bytes, an independent decoder to compare with.
const pythonInitializers = `
import hashlib, json, sys
import onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
out = {}
for t in m.graph.initializer:
    a = numpy_helper.to_array(t)
    out[t.name] = {"dims": list(t.dims), "dtype": t.data_type,
                   "sha256": hashlib.sha256(a.astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()}
print(json.dumps(out))
`

const debianPython = "/usr/bin/python3"

func havePythonONNX(t testing.TB) {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import onnx").Run(); err != nil {
		t.Skipf("%s with the onnx package is not available (apt-get install python3-onnx): %v", debianPython, err)
	}
}

func TestInitializersMatchPythonONNX(t *testing.T) {
	dir := modelsDir(t)
	havePythonONNX(t)
	for _, file := range sharedModels {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(dir, file)
			out, err := exec.Command(debianPython, "-c", pythonInitializers, path).Output()
			if err != nil {
				t.Fatalf("python: %v", err)
			}
			var want map[string]struct {
				Dims   []int64
				DType  int32
				SHA256 string
			}
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatal(err)
			}
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Graph.Initializers) != len(want) {
				t.Fatalf("got %d initializers; python sees %d", len(m.Graph.Initializers), len(want))
			}
			for _, ten := range m.Graph.Initializers {
				w, ok := want[ten.Name]
				if !ok {
					t.Errorf("initializer %q unknown to python", ten.Name)
					continue
				}
				sum := sha256.Sum256(ten.rawBytes())
				if got := hex.EncodeToString(sum[:]); got != w.SHA256 || !slices.Equal(ten.Dims, w.Dims) || int32(ten.DType) != w.DType {
					t.Errorf("initializer %q: got dims %v dtype %d sha %s; python: %v %d %s", ten.Name, ten.Dims, ten.DType, got, w.Dims, w.DType, w.SHA256)
				}
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	dir := modelsDir(t)
	for _, file := range sharedModels {
		t.Run(file, func(t *testing.T) {
			m, err := Load(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			b1, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := Decode(b1, "")
			if err != nil {
				t.Fatal(err)
			}
			b2, err := m2.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b1, b2) {
				t.Errorf("encode(decode(encode(m))) differs from encode(m): %d vs %d bytes", len(b2), len(b1))
			}
			for _, p := range m.Params() {
				q := m2.Initializer(p.Name)
				if q == nil || !slices.EqualFunc(p.Float32, q.Float32, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
					t.Errorf("initializer %q changed in the round trip", p.Name)
				}
			}
			if len(m2.Graph.Nodes) != len(m.Graph.Nodes) || len(m2.Graph.Inputs) != len(m.Graph.Inputs) {
				t.Errorf("graph changed: %d nodes, %d inputs; want %d, %d", len(m2.Graph.Nodes), len(m2.Graph.Inputs), len(m.Graph.Nodes), len(m.Graph.Inputs))
			}
		})
	}
}

// TestUnknownFieldsSurvive puts fields that onnx.proto 1.12 does not know (as IR 9/10 writers
// do: NodeProto.overload = 8, TensorProto.metadata_props = 16, ModelProto field 26, GraphProto
// field 16, ValueInfoProto field 4, AttributeProto field 30) on every kind of message and checks
// that decode → encode keeps them.
func TestUnknownFieldsSurvive(t *testing.T) {
	extra := func(num protowire.Number, s string) []byte {
		b := protowire.AppendTag(nil, num, protowire.BytesType)
		return protowire.AppendString(b, s)
	}
	p := tinyModel()
	p.Graph.Node[0].Attribute = []*onnxpb.AttributeProto{{Name: proto.String("alpha"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(0.5)}}
	marks := map[string][]byte{
		"model":  extra(26, "model-extra"),
		"graph":  extra(16, "graph-extra"),
		"node":   extra(8, "overload-x"),
		"tensor": extra(16, "tensor-meta"),
		"vinfo":  extra(4, "vinfo-extra"),
		"attr":   extra(30, "attr-extra"),
	}
	p.ProtoReflect().SetUnknown(marks["model"])
	p.Graph.ProtoReflect().SetUnknown(marks["graph"])
	p.Graph.Node[0].ProtoReflect().SetUnknown(marks["node"])
	p.Graph.Initializer[0].ProtoReflect().SetUnknown(marks["tensor"])
	p.Graph.Input[0].ProtoReflect().SetUnknown(marks["vinfo"])
	p.Graph.Node[0].Attribute[0].ProtoReflect().SetUnknown(marks["attr"])
	m, err := Decode(mustMarshal(t, p), "")
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Initializer("W").Float32[0] = 42 // a modelled change must not disturb the rest
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, q); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{
		"model":  q.ProtoReflect().GetUnknown(),
		"graph":  q.Graph.ProtoReflect().GetUnknown(),
		"node":   q.Graph.Node[0].ProtoReflect().GetUnknown(),
		"tensor": q.Graph.Initializer[0].ProtoReflect().GetUnknown(),
		"vinfo":  q.Graph.Input[0].ProtoReflect().GetUnknown(),
		"attr":   q.Graph.Node[0].Attribute[0].ProtoReflect().GetUnknown(),
	}
	for k, want := range marks {
		if !slices.Equal(got[k], want) {
			t.Errorf("%s: unknown fields %q; want %q", k, got[k], want)
		}
	}
	if q.Graph.Initializer[0].RawData == nil || math.Float32frombits(uint32(q.Graph.Initializer[0].RawData[0])|uint32(q.Graph.Initializer[0].RawData[1])<<8|uint32(q.Graph.Initializer[0].RawData[2])<<16|uint32(q.Graph.Initializer[0].RawData[3])<<24) != 42 {
		t.Errorf("changed initializer not written back")
	}
}

func TestMissingExternalData(t *testing.T) {
	dir := modelsDir(t)
	path := filepath.Join(dir, "bad-missing-external-data", "mnist.onnx")
	_, err := Load(path)
	if !errors.Is(err, ErrInvalidModel) {
		t.Fatalf("got %v; want an error wrapping ErrInvalidModel", err)
	}
	for _, want := range []string{`tensor "features.0.weight"`, "mnist.onnx.data", "missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// externalModel is tinyModel with W stored externally at loc.
func externalModel(loc string, offset, length int64) []byte {
	p := tinyModel()
	w := p.Graph.Initializer[0]
	w.FloatData = nil
	w.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(loc)}}
	if offset >= 0 {
		w.ExternalData = append(w.ExternalData, &onnxpb.StringStringEntryProto{Key: proto.String("offset"), Value: proto.String(itoa(offset))})
	}
	if length >= 0 {
		w.ExternalData = append(w.ExternalData, &onnxpb.StringStringEntryProto{Key: proto.String("length"), Value: proto.String(itoa(length))})
	}
	b, _ := proto.Marshal(p)
	return b
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestExternalDataLocations(t *testing.T) {
	root := t.TempDir()
	modelDir := filepath.Join(root, "model")
	if err := os.Mkdir(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8+48) // 8 bytes of padding, then 12 float32
	for i := range 12 {
		v := math.Float32bits(float32(i + 1))
		data[8+4*i], data[9+4*i], data[10+4*i], data[11+4*i] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	for _, f := range []string{filepath.Join(modelDir, "w.bin"), filepath.Join(root, "outside.bin")} {
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(modelDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(modelDir, "sub", "w.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "outside.bin"), filepath.Join(modelDir, "link-out.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("w.bin", filepath.Join(modelDir, "link-in.bin")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		loc     string
		off     int64
		length  int64
		wantErr string // "" for success
	}{
		{"plain", "w.bin", 8, 48, ""},
		{"no length", "w.bin", 8, -1, ""},
		{"subfolder", "sub/w.bin", 8, 48, ""},
		{"symlink inside", "link-in.bin", 8, 48, ""},
		{"dotdot", "../outside.bin", 8, 48, "outside the model's folder"},
		{"absolute", filepath.Join(root, "outside.bin"), 8, 48, "outside the model's folder"},
		{"symlink out", "link-out.bin", 8, 48, "outside the model's folder"},
		{"missing", "nope.bin", 0, 48, "missing"},
		{"short file", "w.bin", 16, -1, "has 56 bytes; want 48 at offset 16"},
		{"wrong length", "w.bin", 8, 40, "length 40; want 48"},
		{"offset past end", "w.bin", 1 << 40, 48, "want 48 at offset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := externalModel(tc.loc, tc.off, tc.length)
			path := filepath.Join(modelDir, "m.onnx")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Load(path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := m.Initializer("W").Float32; !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) {
					t.Errorf("W = %v", got)
				}
				return
			}
			if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `"W"`) {
				t.Errorf("got %v; want ErrInvalidModel naming tensor \"W\" and containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("decode without folder", func(t *testing.T) {
		_, err := Decode(externalModel("w.bin", 8, 48), "")
		if !errors.Is(err, ErrInvalidModel) {
			t.Errorf("got %v; want ErrInvalidModel", err)
		}
	})
}

func TestHostileTensors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(w *onnxpb.TensorProto)
		wantErr string
	}{
		{"dims overflow", func(w *onnxpb.TensorProto) { w.Dims = []int64{1 << 32, 1 << 32, 1 << 32} }, "more than"},
		{"huge dims", func(w *onnxpb.TensorProto) { w.Dims = []int64{1 << 20, 1 << 19} }, "need 549755813888 values; have 12"},
		{"negative dim", func(w *onnxpb.TensorProto) { w.Dims = []int64{-4, 3} }, "negative dimension"},
		{"short raw", func(w *onnxpb.TensorProto) {
			w.FloatData = nil
			w.RawData = make([]byte, 40)
		}, "need 48 bytes of data; have 40"},
		{"raw and typed", func(w *onnxpb.TensorProto) { w.RawData = make([]byte, 48) }, "both raw_data and typed"},
		{"unknown dtype", func(w *onnxpb.TensorProto) { w.DataType = proto.Int32(99) }, "data type 99"},
		{"huge external", func(w *onnxpb.TensorProto) {
			w.FloatData = nil
			w.Dims = []int64{1 << 38}
			w.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
			w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("x.bin")}}
		}, "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tinyModel()
			tc.edit(p.Graph.Initializer[0])
			_, err := Decode(mustMarshal(t, p), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `"W"`) {
				t.Fatalf("got %v; want an error naming tensor \"W\" and containing %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalidModel) && !errors.Is(err, ErrUnsupported) {
				t.Errorf("error %v wraps neither ErrInvalidModel nor ErrUnsupported", err)
			}
		})
	}
}

func TestDecodeGarbage(t *testing.T) {
	good := mustMarshal(t, tinyModel())
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)/2]},
		{"text", []byte("this is not an onnx model at all")},
		{"zeros", make([]byte, 100)},
		{"bad varint", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data, "")
			if !errors.Is(err, ErrInvalidModel) {
				t.Errorf("got %v; want ErrInvalidModel", err)
			}
		})
	}
}

func TestVersionLimits(t *testing.T) {
	tests := []struct {
		name     string
		ir       int64
		opset    int64
		sentinel error
		wantErr  string
	}{
		{"ok low", 3, 7, nil, ""},
		{"ok high", 10, 21, nil, ""},
		{"ir too old", 2, 7, ErrUnsupported, "IR version 2; want 3 to 10"},
		{"ir too new", 11, 21, ErrUnsupported, "IR version 11; want 3 to 10"},
		{"opset too old", 8, 6, ErrUnsupported, "default-domain opset 6; want 7 to 21"},
		{"opset too new", 10, 22, ErrUnsupported, "default-domain opset 22; want 7 to 21"},
		{"no default opset", 8, 0, ErrInvalidModel, "no opset import for the default ONNX domain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tinyModel()
			p.IrVersion = proto.Int64(tc.ir)
			p.OpsetImport = []*onnxpb.OperatorSetIdProto{{Domain: proto.String("ai.onnx.ml"), Version: proto.Int64(2)}}
			if tc.opset > 0 {
				p.OpsetImport = append(p.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("ai.onnx"), Version: proto.Int64(tc.opset)})
			}
			_, err := Decode(mustMarshal(t, p), "")
			if tc.sentinel == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.sentinel) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v; want %v containing %q", err, tc.sentinel, tc.wantErr)
			}
		})
	}
}

func TestGraphChecks(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(g *onnxpb.GraphProto)
		wantErr string
	}{
		{"undefined input", func(g *onnxpb.GraphProto) { g.Node[1].Input[1] = "nope" }, `node "add" (Add): input "nope"`},
		{"cycle", func(g *onnxpb.GraphProto) { g.Node[0].Input[0] = "r" }, "cycle"},
		{"undefined output", func(g *onnxpb.GraphProto) { g.Output[0].Name = proto.String("nope") }, `graph output "nope"`},
		{"duplicate initializer", func(g *onnxpb.GraphProto) { g.Initializer[1].Name = proto.String("W") }, `initializer "W" appears twice`},
		{"no op", func(g *onnxpb.GraphProto) { g.Node[2].OpType = nil }, "has no op_type"},
		{"two producers", func(g *onnxpb.GraphProto) { g.Node[2].Output[0] = "xw" }, `node "relu" (Relu): output "xw" is already defined`},
		{"output shadows initializer", func(g *onnxpb.GraphProto) { g.Node[0].Output[0] = "b" }, `output "b" is already defined`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tinyModel()
			tc.edit(p.Graph)
			_, err := Decode(mustMarshal(t, p), "")
			if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v; want ErrInvalidModel containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestTopoOrderUnsorted(t *testing.T) {
	p := tinyModel()
	n := p.Graph.Node
	p.Graph.Node = []*onnxpb.NodeProto{n[3], n[1], n[0], n[2]}
	m, err := Decode(mustMarshal(t, p), "")
	if err != nil {
		t.Fatal(err)
	}
	order, err := m.Graph.TopoOrder()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range order {
		got = append(got, n.Name)
	}
	if want := []string{"mm", "add", "relu", "reshape"}; !slices.Equal(got, want) {
		t.Errorf("order %v; want %v", got, want)
	}
	if m.Graph.Nodes[0].Name != "mm" || m.Graph.Nodes[3].Name != "reshape" {
		t.Errorf("Decode did not sort the nodes: first %q, last %q", m.Graph.Nodes[0].Name, m.Graph.Nodes[3].Name)
	}
}

func TestAttributesAndTensorsOfCNTK(t *testing.T) {
	m, err := Load(filepath.Join(modelsDir(t), "cntk-zoo-mnist-op7.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var conv, pool *Node
	for _, n := range m.Graph.Nodes {
		switch {
		case n.Op == "Conv" && conv == nil:
			conv = n
		case n.Op == "MaxPool" && pool == nil:
			pool = n
		}
	}
	if conv == nil || pool == nil {
		t.Fatal("no Conv or MaxPool")
	}
	if got := conv.String("auto_pad", "NOTSET"); got != "SAME_UPPER" {
		t.Errorf("Conv auto_pad = %q; want SAME_UPPER", got)
	}
	if got := conv.Ints("kernel_shape", nil); !slices.Equal(got, []int64{5, 5}) {
		t.Errorf("Conv kernel_shape = %v; want [5 5]", got)
	}
	if got := conv.Int("group", 1); got != 1 {
		t.Errorf("Conv group = %d; want 1", got)
	}
	if got := pool.Ints("strides", nil); !slices.Equal(got, []int64{2, 2}) {
		t.Errorf("MaxPool strides = %v; want [2 2]", got)
	}
	if got := conv.Float("missing", 2.5); got != 2.5 {
		t.Errorf("default float = %v", got)
	}
	// CNTK lists initializers as graph inputs too; DataInputs leaves them out.
	if len(m.Graph.Inputs) != 9 || len(m.Graph.DataInputs()) != 1 {
		t.Errorf("inputs %d, data inputs %d; want 9 and 1", len(m.Graph.Inputs), len(m.Graph.DataInputs()))
	}
}

func TestConstantAttributeTensor(t *testing.T) {
	m, err := Load(filepath.Join(modelsDir(t), "pytorch-cnn-op11.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Graph.Nodes {
		if n.Op == "Constant" {
			v := n.Tensor("value")
			if v == nil || v.DType != Int64 || len(v.Int64) != 2 || v.Int64[1] <= 0 {
				t.Fatalf("Constant value = %+v; want an int64 shape [?, >0]", v)
			}
			return
		}
	}
	t.Fatal("no Constant node")
}

func TestSetFloat32AndClone(t *testing.T) {
	m, err := Decode(mustMarshal(t, tinyModel()), "")
	if err != nil {
		t.Fatal(err)
	}
	c := m.Clone()
	if err := c.SetFloat32("b", []float32{7, 8, 9}); err != nil {
		t.Fatal(err)
	}
	if got := m.Initializer("b").Float32; !slices.Equal(got, []float32{1, 0, -2}) {
		t.Errorf("original b changed to %v (raw_data decode or clone broken)", got)
	}
	c.Graph.Nodes[0].Inputs[0] = "changed"
	if m.Graph.Nodes[0].Inputs[0] != "x" {
		t.Error("clone shares node inputs")
	}
	c.Graph.Nodes[0].Inputs[0] = "x"
	for _, tc := range []struct {
		name string
		data []float32
		want string
	}{
		{"b", []float32{1}, "3 values"},
		{"shape", []float32{1, 2}, "want float32"},
		{"nope", nil, "no initializer"},
	} {
		if err := c.SetFloat32(tc.name, tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetFloat32(%q) = %v; want error containing %q", tc.name, err, tc.want)
		}
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Decode(b, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.Initializer("b").Float32; !slices.Equal(got, []float32{7, 8, 9}) {
		t.Errorf("after SetFloat32 and encode, b = %v", got)
	}
}

// TestSparseInitializerKept checks that a sparse initializer (not modelled) defines its value
// for the graph checks and survives the round trip.
func TestSparseInitializerKept(t *testing.T) {
	p := tinyModel()
	p.Graph.Initializer = slices.DeleteFunc(p.Graph.Initializer, func(t *onnxpb.TensorProto) bool { return t.GetName() == "b" })
	p.Graph.SparseInitializer = []*onnxpb.SparseTensorProto{{
		Dims:    []int64{3},
		Values:  &onnxpb.TensorProto{Name: proto.String("b"), DataType: proto.Int32(int32(Float)), Dims: []int64{1}, FloatData: []float32{5}},
		Indices: &onnxpb.TensorProto{DataType: proto.Int32(int32(Int64)), Dims: []int64{1}, Int64Data: []int64{2}},
	}}
	m, err := Decode(mustMarshal(t, p), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, q); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(q.Graph.SparseInitializer[0], p.Graph.SparseInitializer[0]) {
		t.Errorf("sparse initializer changed: %v", q.Graph.SparseInitializer)
	}
}
