package ort_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/onnxio"
)

// TestLocateExplicitPlaces: a --ort-lib or $UQNN_ORT_LIB that names no library is an error
// naming it, even when the cache holds a library that Locate would otherwise return; special
// files never count as the library (dlopen of a FIFO would block).
func TestLocateExplicitPlaces(t *testing.T) {
	cacheHome := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	cached := ort.CachePath()
	if !strings.HasPrefix(cached, cacheHome) {
		t.Skipf("cache path %s ignores XDG_CACHE_HOME on this platform", cached)
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, []byte("stand-in library"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.so")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	real := filepath.Join(dir, "libonnxruntime.so.1")
	if err := os.WriteFile(real, []byte("stand-in"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.so")
	for _, tc := range []struct {
		name, flag, env string
		want            string // the path found, or "" for an error
		mentions        []string
	}{
		{"cache", "", "", cached, nil},
		{"env", "", real, real, nil},
		{"flag over env", real, missing, real, nil},
		{"env missing", "", missing, "", []string{"$UQNN_ORT_LIB " + missing + " does not exist", "unset it", "make ort"}},
		{"env folder", "", dir, "", []string{"$UQNN_ORT_LIB " + dir + " is a folder"}},
		{"env fifo", "", fifo, "", []string{fifo + " is not a regular file"}},
		{"flag missing", missing, "", "", []string{"--ort-lib " + missing + " does not exist", "make ort"}},
		{"flag fifo", fifo, real, "", []string{"--ort-lib " + fifo + " is not a regular file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(ort.EnvLib, tc.env)
			got, err := ort.Locate(tc.flag)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("Locate(%q) with $%s=%q = %q, %v; want %q", tc.flag, ort.EnvLib, tc.env, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ort.ErrNoLibrary) {
				t.Fatalf("Locate(%q) with $%s=%q = %q, %v; want ErrNoLibrary", tc.flag, ort.EnvLib, tc.env, got, err)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
	t.Run("cache missing", func(t *testing.T) {
		t.Setenv(ort.EnvLib, "")
		t.Setenv("XDG_CACHE_HOME", t.TempDir())
		_, err := ort.Locate("")
		if !errors.Is(err, ort.ErrNoLibrary) || !strings.Contains(err.Error(), "make ort") || !strings.Contains(err.Error(), ort.CachePath()) {
			t.Fatalf("err = %v; want ErrNoLibrary naming the cache and `make ort`", err)
		}
	})
}

// TestRunErrorMessages: onnxruntime messages as the binding returns them (taken from runs of the
// hostile models) become one line naming the model, the node and the reason.
func TestRunErrorMessages(t *testing.T) {
	orig := errors.New("") // wrapped, adds nothing to the text
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"kernel failure",
			"Error running network: Non-zero status code returned while running ConstantOfShape node. Name:'bomb' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:360 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*) Failed to allocate memory for requested buffer of size 4398046511104",
			`m.onnx: invalid model: onnxruntime cannot run it: node "bomb" (ConstantOfShape): Failed to allocate memory for requested buffer of size 4398046511104`},
		{"input dims",
			"Error running network: Got invalid dimensions for input: input for the following indices\n index: 0 Got: 4 Expected: 0\n Please fix either the inputs/outputs or the model.",
			"m.onnx: invalid model: onnxruntime cannot run it: Got invalid dimensions for input: input for the following indices; index: 0 Got: 4 Expected: 0; Please fix either the inputs/outputs or the model."},
		{"coloured log line",
			"\x1b[1;31m2026-12-01 22:37:26.476309839 [E:onnxruntime:, sequential_executor.cc:671 ExecuteKernel] Non-zero status code returned while running Expand node. Name:'e' Status Message: bad shape\n\x1b[m",
			`m.onnx: invalid model: onnxruntime cannot run it: node "e" (Expand): bad shape`},
		{"empty", "", "m.onnx: invalid model: onnxruntime cannot run it: no message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ort.RunError("m.onnx", fmt.Errorf("%s%w", tc.msg, orig))
			if !errors.Is(err, onnxio.ErrInvalidModel) || !errors.Is(err, orig) {
				t.Errorf("RunError does not wrap both ErrInvalidModel and the original: %v", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("RunError =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	if ort.RunError("m.onnx", nil) != nil {
		t.Error("RunError(nil) != nil")
	}
	long := ort.RunError("m.onnx", errors.New(strings.Repeat("é", 1000)))
	if n := len([]rune(long.Error())); n > 400 {
		t.Errorf("a 1000-character message gives a %d-character error; want it cut", n)
	}
}

// helperEnv marks the child process of TestInitQuietAndPrivate.
const helperEnv = "UQNN_ORT_TEST_HELPER"

// TestInitQuietAndPrivate runs onnxruntime in a child process whose home and cache folders are
// empty temporary folders: initialising it and running a model whose run fails (it asks for a
// 4 TiB tensor) must leave both folders empty (no telemetry device id or event queue), print
// nothing on stderr (no onnxruntime log), and give one RunError line.
func TestInitQuietAndPrivate(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		initAndRunBomb()
		return
	}
	lib, err := ort.Locate("")
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	home, cache := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitQuietAndPrivate$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "HOME="+home, "XDG_CACHE_HOME="+cache, ort.EnvLib+"="+lib,
		"ORT_DISABLE_TELEMETRY=0") // Init must win over a user's setting too
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("helper process did not finish in 2 minutes")
	}
	if err != nil {
		t.Fatalf("helper: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("onnxruntime wrote to stderr:\n%s", stderr.String())
	}
	out := stdout.String()
	want := `bomb.onnx: invalid model: onnxruntime cannot run it: node "bomb" (ConstantOfShape): Failed to allocate memory`
	if !strings.Contains(out, want) {
		t.Errorf("helper output lacks %q:\n%s", want, out)
	}
	for _, d := range []string{home, cache} {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if p != d {
				t.Errorf("onnxruntime created %s", p)
			}
			return err
		})
	}
}

// initAndRunBomb is the child of TestInitQuietAndPrivate: it prints RunError of a failing run.
func initAndRunBomb() {
	fail := func(err error) {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	lib, err := ort.Locate("")
	if err != nil {
		fail(err)
	}
	if err := ort.Init(lib); err != nil {
		fail(err)
	}
	data, err := bombModel().Encode()
	if err != nil {
		fail(err)
	}
	sess, err := ortgo.NewDynamicAdvancedSessionWithONNXData(data, []string{"x"}, []string{"y"}, nil)
	if err != nil {
		fail(err)
	}
	defer sess.Destroy()
	in, err := ortgo.NewTensor(ortgo.NewShape(1, 4), []float32{1, 2, 3, 4})
	if err != nil {
		fail(err)
	}
	defer in.Destroy()
	outs := []ortgo.Value{nil}
	err = sess.Run([]ortgo.Value{in}, outs)
	if err == nil {
		fail(errors.New("the bomb model ran; want an allocation failure"))
	}
	fmt.Println(ort.RunError("bomb.onnx", err))
}

// bombModel computes y = x + 0·sum(zeros(dims)), where dims = 0·shape(x) + [2²⁰, 2²⁰] is only
// known at run time (so onnxruntime cannot fold it away): the run asks for 2⁴⁰ float32 (4 TiB).
func bombModel() *onnxio.Model {
	batch := onnxio.Dim{Value: -1, Param: "N"}
	vi := func(name string) *onnxio.ValueInfo {
		return &onnxio.ValueInfo{Name: name, Tensor: true, DType: onnxio.Float, ShapeKnown: true, Shape: []onnxio.Dim{batch, {Value: 4}}}
	}
	return &onnxio.Model{
		IRVersion: 7,
		Opsets:    []onnxio.Opset{{Domain: "", Version: 13}},
		Graph: &onnxio.Graph{
			Name:   "bomb",
			Inputs: []*onnxio.ValueInfo{vi("x")}, Outputs: []*onnxio.ValueInfo{vi("y")},
			Initializers: []*onnxio.Tensor{
				onnxio.NewInt64("zero", []int64{2}, []int64{0, 0}),
				onnxio.NewInt64("size", []int64{2}, []int64{1 << 20, 1 << 20}),
				onnxio.NewFloat32("nought", nil, []float32{0}),
			},
			Nodes: []*onnxio.Node{
				{Name: "shape", Op: "Shape", Inputs: []string{"x"}, Outputs: []string{"s"}},
				{Name: "mul", Op: "Mul", Inputs: []string{"s", "zero"}, Outputs: []string{"s0"}},
				{Name: "add", Op: "Add", Inputs: []string{"s0", "size"}, Outputs: []string{"dims"}},
				{Name: "bomb", Op: "ConstantOfShape", Inputs: []string{"dims"}, Outputs: []string{"big"}},
				{Name: "sum", Op: "ReduceSum", Inputs: []string{"big"}, Outputs: []string{"total"},
					Attrs: []*onnxio.Attribute{{Name: "keepdims", Type: onnxio.AttrInt, I: 0}}},
				{Name: "scale", Op: "Mul", Inputs: []string{"total", "nought"}, Outputs: []string{"z"}},
				{Name: "out", Op: "Add", Inputs: []string{"x", "z"}, Outputs: []string{"y"}},
			},
		},
	}
}
