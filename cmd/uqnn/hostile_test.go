package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/onnxpb"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/onnxio"
)

const (
	// hostileTimeout bounds one run on a hostile file: refusals take milliseconds, and a valid
	// but broken model fails at onnxruntime's first (probe) run, after MNIST is loaded.
	hostileTimeout = 60 * time.Second
	// hostileMaxRSS bounds a run's peak memory (bytes): uqnn with onnxruntime and MNIST loaded
	// peaks near 150 MB on the hostile files; a 2.5 GB file read whole would show as 2.5 GB.
	hostileMaxRSS = 500 << 20
)

// hostileFile is one entry of the corpus: a path and what the verbs must say about it.
type hostileFile struct {
	name, path string
	// mentions must appear in the error line of every refusal; runMentions also in those of
	// eval and attack, the verbs that run the model.
	mentions, runMentions []string
	// valid files are ONNX models, so inspect and convert may accept them.
	valid bool
	// control files are not hostile: every verb must succeed on them.
	control bool
	// train: whether `uqnn train --init` is run on it (not on models that would train).
	train bool
}

// gnuTime is GNU time (Debian package time, installed by scripts/apt-deps.sh).
const gnuTime = "/usr/bin/time"

// hostileRun runs the uqnn binary with a deadline and returns its result and peak memory.
func hostileRun(t *testing.T, env []string, args ...string) (result, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hostileTimeout)
	defer cancel()
	// Peak memory comes from GNU time, which measures the program itself: the child's own
	// rusage would report the test binary's size (Go starts children with vfork, sharing the
	// parent's pages until exec).
	peak := filepath.Join(t.TempDir(), "peak")
	cmd := exec.CommandContext(ctx, gnuTime, append([]string{"-f", "%M", "-o", peak, uqnnBin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("uqnn %s: no answer within %v (it hangs or reads without end)\nstderr: %s", strings.Join(args, " "), hostileTimeout, e.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running uqnn %v: %v", args, err)
	}
	var rss int64
	if b, err := os.ReadFile(peak); err == nil {
		// "Command exited with non-zero status N" may come first; the figure is the last line.
		lines := strings.Fields(string(b))
		if len(lines) > 0 {
			kb, _ := strconv.ParseInt(lines[len(lines)-1], 10, 64)
			rss = kb << 10
		}
	}
	return result{o.String(), e.String(), cmd.ProcessState.ExitCode()}, rss
}

// buildHostileCorpus writes every hostile file under dir.
func buildHostileCorpus(t *testing.T, dir string) []hostileFile {
	t.Helper()
	base := fixtures.Zoo(rand.New(rand.NewPCG(15, 1)))
	good, err := base.Encode()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	save := func(name string, m *onnxio.Model) string {
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return write(name, b)
	}
	var files []hostileFile
	add := func(f hostileFile) { files = append(files, f) }

	// Special and giant files as the model.
	for _, dev := range []string{"/dev/zero", "/dev/null"} {
		if st, err := os.Stat(dev); err == nil && st.Mode()&fs.ModeCharDevice != 0 {
			add(hostileFile{name: filepath.Base(dev), path: dev, mentions: []string{dev, "is a character device; want a regular .onnx file"}, train: true})
		}
	}
	fifo := filepath.Join(dir, "fifo.onnx")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	add(hostileFile{name: "fifo", path: fifo, mentions: []string{"fifo.onnx", "is a FIFO; want a regular .onnx file"}, train: true})
	giant := filepath.Join(dir, "giant.onnx")
	if f, err := os.Create(giant); err != nil {
		t.Fatal(err)
	} else {
		err := f.Truncate(2_500_000_000) // a hole: no disk, no writes
		f.Close()
		if err != nil {
			t.Fatalf("sparse file: %v", err)
		}
	}
	add(hostileFile{name: "sparse-2.5GB", path: giant, mentions: []string{"giant.onnx", "is 2.5 GB; protobuf models are at most 2 GiB"}, train: true})
	add(hostileFile{name: "truncated", path: write("truncated.onnx", good[:len(good)/2]), mentions: []string{"truncated.onnx", "not an ONNX model"}, train: true})
	junk := make([]byte, 4096)
	r := rand.New(rand.NewPCG(15, 2))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	add(hostileFile{name: "random-bytes", path: write("random.onnx", junk), mentions: []string{"random.onnx", "not an ONNX model"}, train: true})

	// External data that is not a regular file in the model's folder. Each model has its own
	// folder; its first float initializer is moved out to loc.
	p := new(onnxpb.ModelProto)
	if err := proto.Unmarshal(good, p); err != nil {
		t.Fatal(err)
	}
	w := p.Graph.Initializer[0]
	wName := w.GetName()
	wBytes := w.GetRawData()
	if len(wBytes) == 0 {
		t.Fatalf("initializer %q has no raw_data to move out", wName)
	}
	outside := write("outside/w.bin", wBytes)
	external := func(name, loc string, setup func(folder string)) string {
		q := proto.Clone(p).(*onnxpb.ModelProto)
		e := q.Graph.Initializer[0]
		e.RawData = nil
		e.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		e.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(loc)}}
		b, err := proto.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		path := write(filepath.Join("ext-"+name, "model.onnx"), b)
		if setup != nil {
			setup(filepath.Dir(path))
		}
		return path
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tensor := fmt.Sprintf("tensor %q", wName)
	add(hostileFile{name: "ext-valid-control", path: external("valid", "w.bin", func(d string) {
		must(os.WriteFile(filepath.Join(d, "w.bin"), wBytes, 0o644))
	}), control: true})
	add(hostileFile{name: "ext-symlink-out", path: external("symlink", "w.bin", func(d string) {
		must(os.Symlink(outside, filepath.Join(d, "w.bin")))
	}), mentions: []string{tensor, "outside the model's folder"}, train: true})
	add(hostileFile{name: "ext-dotdot", path: external("dotdot", "../outside/w.bin", nil), mentions: []string{tensor, "outside the model's folder"}, train: true})
	add(hostileFile{name: "ext-absolute", path: external("absolute", outside, nil), mentions: []string{tensor, "outside the model's folder"}, train: true})
	add(hostileFile{name: "ext-fifo", path: external("fifo", "w.bin", func(d string) {
		must(syscall.Mkfifo(filepath.Join(d, "w.bin"), 0o644))
	}), mentions: []string{tensor, "w.bin\" is a FIFO; want a regular file"}, train: true})
	add(hostileFile{name: "ext-folder", path: external("folder", "w.bin", func(d string) {
		must(os.Mkdir(filepath.Join(d, "w.bin"), 0o755))
	}), mentions: []string{tensor, "w.bin\" is a folder; want a regular file"}, train: true})
	add(hostileFile{name: "ext-missing", path: external("missing", "w.bin", nil), mentions: []string{tensor, "w.bin\" is missing"}, train: true})
	add(hostileFile{name: "ext-short", path: external("short", "w.bin", func(d string) {
		must(os.WriteFile(filepath.Join(d, "w.bin"), wBytes[:len(wBytes)/2], 0o644))
	}), mentions: []string{tensor, fmt.Sprintf("has %d bytes; want %d", len(wBytes)/2, len(wBytes))}, train: true})

	// Valid files whose computation is broken: they load, but cannot classify.
	nan := base.Clone()
	nan.Graph.Initializers[0].Float32[0] = float32(math.NaN())
	add(hostileFile{name: "nan-weight", path: save("nan.onnx", nan), mentions: []string{"nan.onnx"}, runMentions: []string{"NaN"}, valid: true})
	inf := base.Clone()
	inf.Graph.Initializers[0].Float32[0] = float32(math.Inf(1))
	add(hostileFile{name: "inf-weight", path: save("inf.onnx", inf), mentions: []string{"inf.onnx"}, runMentions: []string{"NaN"}, valid: true})
	add(hostileFile{name: "allocation-bomb", path: save("bomb.onnx", bombClassifier(t, base.Clone())),
		mentions: []string{`"bomb" (ConstantOfShape`}, runMentions: []string{"bomb.onnx", "Failed to allocate memory"}, valid: true, train: true})
	zero := base.Clone()
	zero.Graph.Inputs[0].Shape[0] = onnxio.Dim{Value: 0}
	zero.Graph.Outputs[0].Shape[0] = onnxio.Dim{Value: 0}
	add(hostileFile{name: "fixed-batch-0", path: save("batch0.onnx", zero), mentions: []string{"batch0.onnx"}, runMentions: []string{"Expected: 0"}, valid: true})
	return files
}

// bombClassifier adds to m's logits 0·sum(zeros(dims)) with dims = 0·shape(input) + [2²⁰, 2²⁰,
// 1, 1]: known only at run time, so onnxruntime asks for 2⁴⁰ float32 (4 TiB) at the first run.
func bombClassifier(t *testing.T, m *onnxio.Model) *onnxio.Model {
	t.Helper()
	g := m.Graph
	out := g.Outputs[0].Name
	for _, n := range g.Nodes {
		for i, o := range n.Outputs {
			if o == out {
				n.Outputs[i] = out + "_pre"
			}
		}
	}
	g.Initializers = append(g.Initializers,
		onnxio.NewInt64("bomb_zero", []int64{4}, []int64{0, 0, 0, 0}),
		onnxio.NewInt64("bomb_size", []int64{4}, []int64{1 << 20, 1 << 20, 1, 1}),
		onnxio.NewFloat32("bomb_nought", nil, []float32{0}))
	g.Nodes = append(g.Nodes,
		&onnxio.Node{Name: "bomb_shape", Op: "Shape", Inputs: []string{g.Inputs[0].Name}, Outputs: []string{"bomb_s"}},
		&onnxio.Node{Name: "bomb_mul", Op: "Mul", Inputs: []string{"bomb_s", "bomb_zero"}, Outputs: []string{"bomb_s0"}},
		&onnxio.Node{Name: "bomb_add", Op: "Add", Inputs: []string{"bomb_s0", "bomb_size"}, Outputs: []string{"bomb_dims"}},
		&onnxio.Node{Name: "bomb", Op: "ConstantOfShape", Inputs: []string{"bomb_dims"}, Outputs: []string{"bomb_big"}},
		&onnxio.Node{Name: "bomb_sum", Op: "ReduceSum", Inputs: []string{"bomb_big"}, Outputs: []string{"bomb_total"},
			Attrs: []*onnxio.Attribute{{Name: "keepdims", Type: onnxio.AttrInt, I: 0}}},
		&onnxio.Node{Name: "bomb_scale", Op: "Mul", Inputs: []string{"bomb_total", "bomb_nought"}, Outputs: []string{"bomb_nil"}},
		&onnxio.Node{Name: "bomb_out", Op: "Add", Inputs: []string{out + "_pre", "bomb_nil"}, Outputs: []string{out}})
	order, err := g.TopoOrder()
	if err != nil {
		t.Fatal(err)
	}
	g.Nodes = order
	return m
}

// TestHostileFiles (about 2 minutes; inspect and eval only under -short) runs every verb that reads a model on every file of the hostile corpus: each
// run ends within hostileTimeout and hostileMaxRSS, never panics, and every refusal is exit 2 or
// 3 with one `uqnn:` line naming the file and what is wrong. Files that are not valid models are
// refused by every verb; valid but broken models are refused by the verbs that run them.
func TestHostileFiles(t *testing.T) {
	lib, err := ort.Locate("")
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	mnist, err := fixtures.DefaultMNISTDir()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	dir := t.TempDir()
	out := t.TempDir()
	env := []string{ort.EnvLib + "=" + lib, "OPENBLAS_CORETYPE=Haswell"}
	for _, f := range buildHostileCorpus(t, dir) {
		for _, v := range []struct {
			verb string
			args []string
		}{
			{"inspect", []string{"inspect", f.path}},
			{"convert", []string{"convert", f.path, "-o", filepath.Join(out, f.name+".onnx")}},
			{"eval", []string{"eval", f.path, "--n", "20", "--data", mnist}},
			{"attack", []string{"attack", f.path, "--n", "1", "--budget", "50", "--data", mnist, "-o", filepath.Join(out, f.name+"-attack"), "-q"}},
			{"train", []string{"train", "--init", f.path, "--epochs", "1", "--data", mnist, "-o", filepath.Join(out, f.name+"-trained.onnx"), "-q"}},
		} {
			if v.verb == "train" && !f.train {
				continue
			}
			// Under -short, inspect and eval cover both ways in: onnxio.Load and an onnxruntime run.
			if testing.Short() && v.verb != "inspect" && v.verb != "eval" {
				continue
			}
			runs := v.verb == "eval" || v.verb == "attack"
			t.Run(f.name+"/"+v.verb, func(t *testing.T) {
				r, rss := hostileRun(t, env, v.args...)
				if rss > hostileMaxRSS {
					t.Errorf("peak memory %d MB; want at most %d MB", rss>>20, hostileMaxRSS>>20)
				}
				if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
					t.Fatalf("panic:\n%s", r.stderr)
				}
				if strings.Contains(r.stderr, "\x1b[") || strings.Contains(r.stderr, ":onnxruntime:") {
					t.Errorf("onnxruntime's own log reached stderr:\n%s", r.stderr)
				}
				switch {
				case f.control:
					if r.code != 0 {
						t.Fatalf("the control model fails: exit %d\n%s", r.code, r.stderr)
					}
					return
				case f.valid && !runs && r.code == 0:
					return // inspect and convert may accept a valid model
				}
				if r.code != 2 && r.code != 3 {
					t.Fatalf("exit %d; want 2 or 3\nstderr: %s", r.code, r.stderr)
				}
				lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
				if len(lines) != 1 || !strings.HasPrefix(lines[0], "uqnn: ") {
					t.Fatalf("stderr is not one uqnn: line:\n%s", r.stderr)
				}
				t.Logf("exit %d: %s", r.code, lines[0])
				want := f.mentions
				if runs {
					want = append(want[:len(want):len(want)], f.runMentions...)
				}
				for _, m := range want {
					if !strings.Contains(lines[0], m) {
						t.Errorf("error line %q does not mention %q", lines[0], m)
					}
				}
			})
		}
	}
}

// TestNoTelemetry: `uqnn eval` with an empty home and cache folder leaves both empty —
// onnxruntime's telemetry (a persistent device id and an event queue under
// $XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime) stays off.
func TestNoTelemetry(t *testing.T) {
	lib, err := ort.Locate("")
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	mnist, err := fixtures.DefaultMNISTDir()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	model := filepath.Join(t.TempDir(), "zoo.onnx")
	if err := fixtures.Zoo(rand.New(rand.NewPCG(15, 3))).Save(model, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	home, cache := t.TempDir(), t.TempDir()
	env := []string{"HOME=" + home, "XDG_CACHE_HOME=" + cache, ort.EnvLib + "=" + lib, "OPENBLAS_CORETYPE=Haswell"}
	r, _ := hostileRun(t, env, "eval", model, "--n", "20", "--data", mnist, "--preprocess", "0..1")
	if r.code != 0 {
		t.Fatalf("eval: exit %d\n%s", r.code, r.stderr)
	}
	for _, d := range []string{home, cache} {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if p != d {
				t.Errorf("uqnn eval created %s", p)
			}
			return err
		})
	}
}

// TestORTLibEnvNowhere: $UQNN_ORT_LIB naming no file is an error, like --ort-lib, even when the
// cache holds the library.
func TestORTLibEnvNowhere(t *testing.T) {
	if _, err := ort.Locate(""); err != nil {
		t.Skipf("skipping: %v", err)
	}
	model := filepath.Join(t.TempDir(), "zoo.onnx")
	if err := fixtures.Zoo(rand.New(rand.NewPCG(15, 4))).Save(model, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	nowhere := filepath.Join(t.TempDir(), "nolib.so")
	r, _ := hostileRun(t, []string{ort.EnvLib + "=" + nowhere}, "eval", model, "--n", "20", "--preprocess", "0..1")
	assertCleanFailure(t, r, 1, "$UQNN_ORT_LIB "+nowhere+" does not exist", "make ort")
}
