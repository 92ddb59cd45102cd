package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
	"github.com/uqnn/uqnn/onnxio"
)

func TestCompressUsageErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.onnx")
	model := filepath.Join(testmodels.Dir(t), "cntk-zoo-mnist-op7.onnx")
	tests := []struct {
		name     string
		args     []string
		mentions string
	}{
		{"no output", []string{"compress", model}, "-o"},
		{"unknown method", []string{"compress", model, "--method", "magnitude,prune", "-o", out}, "--method"},
		{"two targets", []string{"compress", model, "--quality", "1", "--keep-all", "0.1", "-o", out}, "--keep-all"},
		{"keep-all above 1", []string{"compress", model, "--keep-all", "1.5", "-o", out}, "--keep-all"},
		{"bad keep", []string{"compress", model, "--keep", "conv1", "-o", out}, "--keep"},
		{"flag of another method", []string{"compress", model, "--method", "magnitude", "--remove", "0.3", "-o", out}, "--remove"},
		{"remove 1", []string{"compress", model, "--method", "filter", "--remove", "1", "-o", out}, "--remove"},
		{"bad criterion", []string{"compress", model, "--method", "filter", "--criterion", "l1", "-o", out}, "--criterion"},
		{"sdr lambda", []string{"compress", model, "--method", "sdr", "--sdr-lambda", "0", "-o", out}, "--sdr-lambda"},
		{"sdr-keep with tolerance", []string{"compress", model, "--method", "sdr", "--sdr-keep", "0.1", "--tolerance", "0.2", "-o", out}, "--tolerance"},
		{"sdr-keep above 1", []string{"compress", model, "--method", "sdr", "--sdr-keep", "1.5", "-o", out}, "--sdr-keep"},
		{"svd-keep negative", []string{"compress", model, "--method", "svd", "--svd-keep", "-0.1", "-o", out}, "--svd-keep"},
		{"svd-keep with threshold", []string{"compress", model, "--method", "svd", "--svd-keep", "0.1", "--svd-threshold", "2", "-o", out}, "--svd-threshold"},
		{"bad optimizer", []string{"compress", model, "--optimizer", "rmsprop", "-o", out}, "--optimizer"},
		{"overwrite input", []string{"compress", model, "-o", model}, "overwrite"},
		{"missing folder", []string{"compress", model, "-o", filepath.Join(dir, "no", "o.onnx")}, "does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertCleanFailure(t, uqnn(t, tc.args...), exitUsage, tc.mentions)
		})
	}
}

func TestCompressUnsupportedModel(t *testing.T) {
	testenv.ORT(t)
	dir := t.TempDir()
	// The MLP has no Conv: filter pruning has nothing to remove.
	mlp := filepath.Join(testmodels.Dir(t), "tf2onnx-mlp-op13.onnx")
	assertCleanFailure(t, uqnn(t, "compress", mlp, "--method", "filter", "-o", filepath.Join(dir, "o.onnx")), exitBadModel, "Conv")
	assertCleanFailure(t, uqnn(t, "compress", filepath.Join(dir, "absent.onnx"), "-o", filepath.Join(dir, "o.onnx")), exitBadModel, "absent.onnx")
}

// compress runs the verb in-process on few images (300 training, 100 validation, 300 test) and
// returns the --json report.
func runSmallCompress(t *testing.T, args ...string) compressReport {
	t.Helper()
	var stdout, stderr bytes.Buffer
	g := &globals{stdout: &stdout, stderr: &stderr}
	c := compressCmd(g, &compressOptions{trainN: 300, valN: 100, testN: 300})
	c.SetArgs(append(args, "--json"))
	c.SetOut(&stderr)
	c.SetErr(&stderr)
	if err := c.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("compress %v: %v\n%s", args, err, stderr.String())
	}
	var rep compressReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout.String())
	}
	return rep
}

// checkCompressed checks what every run must give: the PNG, the metadata record and pixel
// convention, the ledger against the written file's weights, and the accuracy `uqnn eval`
// measures on the written file in onnxruntime.
func checkCompressed(t *testing.T, rep compressReport, src string, methods ...string) *onnxio.Model {
	t.Helper()
	f, err := os.Open(rep.PNG)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("%s: %v", rep.PNG, err)
	}
	if b := img.Bounds(); b.Dx() < 200 || b.Dy() < 200 {
		t.Errorf("figure is %v; want a real picture", b)
	}
	m, err := onnxio.Load(rep.Output)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := compress.Records(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(methods) {
		t.Fatalf("metadata has %d records; want %d (%v)", len(recs), len(methods), methods)
	}
	for i, r := range recs {
		if r.Method != methods[i] || r.Params == nil {
			t.Errorf("record %d: method %q params %v; want %q with its hyperparameters", i, r.Method, r.Params, methods[i])
		}
	}
	if recs[0].SourceSHA256 != compress.SHA256(raw) {
		t.Errorf("record source sha256 %s; want the input file's %s", recs[0].SourceSHA256, compress.SHA256(raw))
	}
	if v, ok := m.Meta(pixel.MetaKey); !ok || v != rep.Preprocess.Preprocess.String() {
		t.Errorf("metadata %s = %q; want %q", pixel.MetaKey, v, rep.Preprocess.Preprocess.String())
	}
	var nz int64
	for _, l := range rep.Ledger.Layers {
		for _, v := range m.Initializer(l.Weight).Float32 {
			if v != 0 {
				nz++
			}
		}
	}
	if nz != rep.Ledger.NonZero {
		t.Errorf("the written file has %d non-zero layer weights; the ledger says %d", nz, rep.Ledger.NonZero)
	}
	checkWithPythonONNX(t, rep.Output)
	// onnxruntime through `uqnn eval`, the path a user checks with.
	ev := uqnnJSON[evalReport](t, "eval", rep.Output, "--n", strconv.Itoa(rep.TestImages), "--json")
	if ev.Scores.Accuracy != rep.Ledger.AccuracyAfter {
		t.Errorf("uqnn eval gives accuracy %.4f on %d images; compress reported %.4f", ev.Scores.Accuracy, rep.TestImages, rep.Ledger.AccuracyAfter)
	}
	return m
}

func TestCompressMagnitudeEndToEnd(t *testing.T) {
	testenv.ORT(t)
	dir := t.TempDir()
	src := filepath.Join(testmodels.Dir(t), "cntk-zoo-mnist-op7.onnx")
	out := filepath.Join(dir, "mag.onnx")
	rep := runSmallCompress(t, src, "--method", "magnitude", "--keep-all", "0.3", "--stages", "2", "--finetune-epochs", "1", "-o", out)
	m := checkCompressed(t, rep, src, "magnitude")
	// round(0.3·5960) weights survive the last stage, and retraining under the mask kept the
	// pruned ones at exactly zero (a weight that moved would raise the count).
	if want := int64(math.Round(0.3 * float64(rep.Ledger.Params))); rep.Ledger.NonZero > want || rep.Ledger.NonZero < want-5 {
		t.Errorf("%d of %d weights kept; want %d (a few may be exact zeros)", rep.Ledger.NonZero, rep.Ledger.Params, want)
	}
	if rep.Ledger.AccuracyBefore < 0.95 || rep.Ledger.AccuracyAfter < 0.5 {
		t.Errorf("accuracy %.3f → %.3f; want a working model before and after", rep.Ledger.AccuracyBefore, rep.Ledger.AccuracyAfter)
	}
	if rep.PNG != filepath.Join(dir, "mag.prune.png") || m.Graph == nil {
		t.Errorf("figure at %s; want beside the output", rep.PNG)
	}

	// Compressing the compressed model again keeps its zeros at zero through retraining; with
	// --no-mask they are free to regrow (the 90% target then keeps zeros that retraining moves).
	again := runSmallCompress(t, out, "--method", "magnitude", "--keep-all", "0.9", "--stages", "1", "--finetune-epochs", "1", "-o", filepath.Join(dir, "again.onnx"))
	if again.Ledger.NonZero > rep.Ledger.NonZero {
		t.Errorf("recompressing a model with %d non-zero weights left %d; its zeros must stay zero", rep.Ledger.NonZero, again.Ledger.NonZero)
	}
	free := runSmallCompress(t, out, "--method", "magnitude", "--keep-all", "0.9", "--stages", "1", "--finetune-epochs", "1", "--no-mask", "-o", filepath.Join(dir, "free.onnx"))
	if free.Ledger.NonZero <= rep.Ledger.NonZero {
		t.Errorf("with --no-mask, %d non-zero weights after retraining at 90%%; want more than the source's %d", free.Ledger.NonZero, rep.Ledger.NonZero)
	}
}

func TestCompressFilterAndSDREndToEnd(t *testing.T) {
	testenv.ORT(t)
	dir := t.TempDir()
	src := filepath.Join(testmodels.Dir(t), "cntk-zoo-mnist-op7.onnx")
	out := filepath.Join(dir, "fs.onnx")
	rep := runSmallCompress(t, src, "--method", "filter,sdr", "--remove", "0.5", "--filter-images", "50",
		"--sdr-epochs", "1", "--sdr-lambda", "0.01", "--finetune-epochs", "1", "-o", out)
	m := checkCompressed(t, rep, src, "filter", "sdr")
	// CNTK's zoo net: convs of 8 and 16 filters lose half each, in the file and the ledger.
	orig, err := onnxio.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rep.Ledger.Layers {
		if l.Op != "Conv" {
			continue
		}
		got, was := m.Initializer(l.Weight).Dims, orig.Initializer(l.Weight).Dims
		if got[0]*2 != was[0] || l.Shape[0] != got[0] {
			t.Errorf("conv %s: %v filters in the source, %v in the file, %v in the ledger; want half", l.Name, was, got, l.Shape)
		}
	}
	if rep.ConvMACsAfter*10 > rep.ConvMACs*3+1 {
		t.Errorf("conv multiply-adds %d → %d; removing half the filters of both convs leaves about a quarter", rep.ConvMACs, rep.ConvMACsAfter)
	}
}

// TestCompressKeepEndToEnd asks sdr and svd for a kept fraction through the CLI (--sdr-keep,
// --svd-keep): the written file keeps that share of the layer weights.
func TestCompressKeepEndToEnd(t *testing.T) {
	testenv.ORT(t)
	dir := t.TempDir()
	src := filepath.Join(testmodels.Dir(t), "cntk-zoo-mnist-op7.onnx")
	for _, tc := range []struct {
		method string
		args   []string
	}{
		{"sdr", []string{"--sdr-keep", "0.1", "--sdr-epochs", "1", "--finetune-epochs", "1"}},
		{"svd", []string{"--svd-keep", "0.1", "--svd-epochs", "1"}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			out := filepath.Join(dir, tc.method+".onnx")
			rep := runSmallCompress(t, append([]string{src, "--method", tc.method, "-o", out}, tc.args...)...)
			checkCompressed(t, rep, src, tc.method)
			// round(0.1·5960) = 596 kept; one fewer if fine-tuning left a kept weight at exactly 0.
			if want := int64(math.Round(0.1 * float64(rep.Ledger.Params))); rep.Ledger.NonZero > want || rep.Ledger.NonZero < want-1 {
				t.Errorf("%d of %d weights kept; want %d", rep.Ledger.NonZero, rep.Ledger.Params, want)
			}
		})
	}
}

// TestCompressChainPyTorch runs all three methods in one chain on the PyTorch exporter's CNN
// (Gemm with transB, opset 11): each keeps what the previous pruned.
func TestCompressChainPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping under -short: TestCompressFilterAndSDREndToEnd covers the same path on a smaller model")
	}
	testenv.ORT(t)
	dir := t.TempDir()
	src := filepath.Join(testmodels.Dir(t), "pytorch-cnn-op11.onnx")
	rep := runSmallCompress(t, src, "--method", "magnitude,filter,sdr", "--keep-all", "0.2", "--stages", "1",
		"--remove", "0.25", "--filter-images", "64", "--sdr-epochs", "1", "--finetune-epochs", "1", "-o", filepath.Join(dir, "pt.onnx"))
	checkCompressed(t, rep, src, "magnitude", "filter", "sdr")
	if rep.Ledger.Kept > 0.2 {
		t.Errorf("%.3f of the weights kept after magnitude 0.2, filter and sdr; want ≤ 0.2", rep.Ledger.Kept)
	}
}

// Pruning, k-means sharing with centroid fine-tuning and the Huffman archive in one command:
// the written model is what onnxruntime scores, and `uqnn decompress` gives it back byte for
// byte from the archive. int8 writes a QDQ model onnxruntime runs at the reported accuracy.
func TestCompressQuantizeAndArchive(t *testing.T) {
	testenv.ORT(t)
	dir := t.TempDir()
	src := filepath.Join(testmodels.Dir(t), "cntk-zoo-mnist-op7.onnx")
	out, arch := filepath.Join(dir, "q.onnx"), filepath.Join(dir, "q.uqz")
	rep := runSmallCompress(t, src, "--method", "magnitude", "--keep-all", "0.3", "--stages", "1", "--finetune-epochs", "1",
		"--quantize", "conv=8,fc=5", "--archive", arch, "-o", out)
	checkCompressed(t, rep, src, "magnitude")
	if rep.ArchiveLedger == nil || rep.Quantize != "conv=8,fc=5" {
		t.Fatalf("report has no archive ledger or quantize spec: %+v", rep)
	}
	m, err := onnxio.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rep.Ledger.Layers {
		distinct := map[float32]bool{}
		for _, v := range m.Initializer(l.Weight).Float32 {
			if v != 0 {
				distinct[v] = true
			}
		}
		if len(distinct) > 255 {
			t.Errorf("%s has %d distinct non-zero values after 8-bit sharing; want ≤ 255", l.Weight, len(distinct))
		}
	}
	back := filepath.Join(dir, "back.onnx")
	if r := uqnn(t, "decompress", arch, "-o", back); r.code != 0 {
		t.Fatalf("decompress: exit %d\n%s", r.code, r.stderr)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(back)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("decompressed archive (%d bytes) differs from the written model (%d bytes)", len(b), len(a))
	}
	st, _ := os.Stat(arch)
	if st.Size()*3 > int64(len(a)) {
		t.Errorf("archive %d bytes for a %d-byte model; want at least 3× smaller", st.Size(), len(a))
	}

	i8 := filepath.Join(dir, "i8.onnx")
	rep = runSmallCompress(t, src, "--method", "magnitude", "--keep-all", "0.5", "--stages", "1", "--finetune-epochs", "1", "--quantize", "int8", "-o", i8)
	r := uqnn(t, "eval", i8, "--n", strconv.Itoa(rep.TestImages), "--json")
	var ev evalReport
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ev) != nil || ev.Scores.Accuracy != rep.Ledger.AccuracyAfter || ev.Scores.Accuracy < 0.5 {
		t.Fatalf("int8 model: eval exit %d, accuracy %.4f; compress reported %.4f\n%s", r.code, ev.Scores.Accuracy, rep.Ledger.AccuracyAfter, r.stderr)
	}
	assertCleanFailure(t, uqnn(t, "compress", src, "--compact", "-o", filepath.Join(dir, "c.onnx")), exitUsage, "--quantize")
}
