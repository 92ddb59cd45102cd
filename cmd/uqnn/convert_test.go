package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
	"github.com/uqnn/uqnn/onnxio"
)

// convertImages is how many MNIST test images each model sees (issue 3: 1,000); a multiple of
// every fixed batch (1, 10).
const convertImages = 1000

// checkWithPythonONNX runs Debian's onnx.checker on path. onnx 1.12 refuses IR versions above
// 8 outright, so for newer files it checks a copy whose ir_version field is lowered to 8: the
// structure is still checked, the version-specific rules are not.
func checkWithPythonONNX(t *testing.T, path string) {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import onnx").Run(); err != nil {
		t.Logf("skipping onnx.checker: %s with onnx is not available (apt-get install python3-onnx)", py)
		return
	}
	script := "import onnx, sys\nm = onnx.load(sys.argv[1])\nm.ir_version = min(m.ir_version, 8)\nonnx.checker.check_model(m)\n"
	if out, err := exec.Command(py, "-c", script, path).CombinedOutput(); err != nil {
		t.Errorf("onnx.checker rejects %s: %v\n%s", path, err, out)
	}
}

// runORT feeds data (convertImages images, batch by batch) to the model and returns each
// output's values concatenated over batches.
func runORT(t *testing.T, path string, m *onnxio.Model, data []float32) map[string][]float32 {
	t.Helper()
	in := m.Graph.DataInputs()
	if len(in) != 1 {
		t.Fatalf("%s: %d data inputs; want 1", path, len(in))
	}
	dims := in[0].Dims()
	batch := int64(convertImages)
	if dims[0] > 0 {
		batch = dims[0]
	}
	per := int64(1)
	for _, d := range dims[1:] {
		per *= d
	}
	var outNames []string
	for _, o := range m.Graph.Outputs {
		outNames = append(outNames, o.Name)
	}
	opts, err := ortgo.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	s, err := ortgo.NewDynamicAdvancedSession(path, []string{in[0].Name}, outNames, opts)
	if err != nil {
		t.Fatalf("onnxruntime cannot open %s: %v", path, err)
	}
	defer s.Destroy()
	res := map[string][]float32{}
	shape := append(ortgo.Shape{batch}, dims[1:]...)
	for off := int64(0); off < convertImages; off += batch {
		x, err := ortgo.NewTensor(shape, data[off*per:(off+batch)*per])
		if err != nil {
			t.Fatal(err)
		}
		outs := make([]ortgo.Value, len(outNames))
		if err := s.Run([]ortgo.Value{x}, outs); err != nil {
			t.Fatalf("%s: run: %v", path, err)
		}
		x.Destroy()
		for i, o := range outs {
			ten, ok := o.(*ortgo.Tensor[float32])
			if !ok {
				t.Fatalf("%s: output %q is %T; want float32 tensor", path, outNames[i], o)
			}
			res[outNames[i]] = append(res[outNames[i]], ten.GetData()...)
			o.Destroy()
		}
	}
	return res
}

// referencePreprocess is the pixel mapping ../shared/models/README.md gives for file.
func referencePreprocess(t *testing.T, file string) pixel.Preprocess {
	t.Helper()
	for _, sm := range testmodels.Good {
		if sm.File == file {
			pp, _, err := pixel.Parse(sm.Preprocess)
			if err != nil {
				t.Fatal(err)
			}
			return pp
		}
	}
	t.Fatalf("%s is not among testmodels.Good", file)
	return pixel.Preprocess{}
}

func TestConvertSharedModels(t *testing.T) {
	dir := testmodels.Dir(t)
	testenv.ORT(t)
	for _, file := range testmodels.Files() {
		for _, variant := range []struct {
			name           string
			external, fold bool
		}{{"inline", false, false}, {"external-data", true, false}, {"fold", false, true}} {
			external := variant.external
			t.Run(file+"/"+variant.name, func(t *testing.T) {
				in := filepath.Join(dir, file)
				out := filepath.Join(t.TempDir(), "converted.onnx")
				var stderr bytes.Buffer
				if err := runConvert(context.Background(), convertOptions{In: in, Out: out, ExternalData: external, Fold: variant.fold, Stderr: &stderr}); err != nil {
					t.Fatal(err)
				}
				_, err := os.Stat(out + ".data")
				if external != (err == nil) {
					t.Errorf("external data %v, but stat %s.data: %v", external, out, err)
				}
				checkWithPythonONNX(t, out)
				orig, err := onnxio.Load(in)
				if err != nil {
					t.Fatal(err)
				}
				dims := orig.Graph.DataInputs()[0].Dims()
				per := 1
				for _, d := range dims[1:] {
					per *= int(d)
				}
				if per != fixtures.Pixels {
					t.Fatalf("%s: %d values per image; want %d", file, per, fixtures.Pixels)
				}
				pp := referencePreprocess(t, file)
				data := testenv.MNIST(t).Test.Float(0, convertImages)
				for i, x := range data {
					data[i] = x*pp.Scale + pp.Offset
				}
				want := runORT(t, in, orig, data)
				got := runORT(t, out, orig, data)
				for name, w := range want {
					g := got[name]
					if len(g) != len(w) {
						t.Fatalf("output %q: %d values; want %d", name, len(g), len(w))
					}
					for i := range w {
						if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
							t.Fatalf("output %q[%d] = %v after convert; original gives %v (want bit-identical)", name, i, g[i], w[i])
						}
					}
				}
			})
		}
	}
}

func TestConvertErrors(t *testing.T) {
	dir := testmodels.Dir(t)
	tmp := t.TempDir()
	good := filepath.Join(dir, "cntk-zoo-mnist-op7.onnx")
	tests := []struct {
		name string
		opts convertOptions
		code int
		want string
	}{
		{"no output", convertOptions{In: good}, exitUsage, "--output/-o is required"},
		{"overwrite input", convertOptions{In: good, Out: good}, exitUsage, "is the input"},
		{"threshold without external", convertOptions{In: good, Out: filepath.Join(tmp, "a.onnx"), Threshold: 10}, exitUsage, "--threshold needs --external-data"},
		{"missing external data", convertOptions{In: filepath.Join(dir, "bad-missing-external-data", "mnist.onnx"), Out: filepath.Join(tmp, "b.onnx")}, exitBadModel, "mnist.onnx.data"},
		{"missing input", convertOptions{In: filepath.Join(tmp, "nope.onnx"), Out: filepath.Join(tmp, "c.onnx")}, exitBadModel, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := runConvert(context.Background(), tc.opts)
			if code := exitCode(err); code != tc.code || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v (exit %d); want exit %d and %q", err, code, tc.code, tc.want)
			}
			if tc.opts.Out != "" && tc.opts.Out != good {
				if _, err := os.Stat(tc.opts.Out); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("output %s written despite the error", tc.opts.Out)
				}
			}
		})
	}
}
