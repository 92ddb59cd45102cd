package onnxio

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/uqnn/uqnn/internal/onnxpb"
	"github.com/uqnn/uqnn/internal/testmodels"
)

// hostileDeadline is how long Load may take on any hostile file: the refusals need a stat and at
// most one small read. A Load still running by then is stuck (a FIFO open) or reading without
// end (/dev/zero); it cannot be stopped, so the deadline ends the test binary rather than let it
// hang or eat the machine's memory.
const hostileDeadline = 10 * time.Second

// maxHostileAlloc bounds what refusing a hostile file may allocate: messages and one stat, not
// the file's claimed size.
const maxHostileAlloc = 1 << 20

// loadWithin runs Load(path) and returns its error and the bytes it allocated; it panics (ending
// the test binary) when Load does not return within hostileDeadline.
func loadWithin(t *testing.T, path string) (error, uint64) {
	t.Helper()
	type result struct {
		err   error
		alloc uint64
	}
	done := make(chan result, 1)
	go func() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Load(path)
		runtime.ReadMemStats(&after)
		done <- result{err, after.TotalAlloc - before.TotalAlloc}
	}()
	select {
	case r := <-done:
		return r.err, r.alloc
	case <-time.After(hostileDeadline):
		panic(fmt.Sprintf("Load(%s) did not return within %v: it hangs or reads without bound", path, hostileDeadline))
	}
}

// mkfifo makes a FIFO at path, or skips where the platform has none.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
}

// sparse makes a file of size bytes without writing them (a hole), so it costs no disk.
func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("cannot make a %d-byte sparse file here: %v", size, err)
	}
}

// TestLoadHostileModelFiles: special files, huge sparse files and garbage given as the model are
// refused at once, with one error naming the file and what is wanted, without reading them.
func TestLoadHostileModelFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.onnx")
	mkfifo(t, fifo)
	if err := os.Symlink(fifo, filepath.Join(dir, "link-to-fifo.onnx")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	sparse(t, filepath.Join(dir, "giant.onnx"), 2_500_000_000)
	sparse(t, filepath.Join(dir, "zeros.onnx"), 1_500_000_000)
	// A valid first field (ir_version), then a graph field that claims more bytes than the file has.
	lying := append(mustMarshal(t, tinyModel())[:0:0], 0x08, 0x07, 0x3a, 0xff, 0xff, 0xff, 0x3f)
	if err := os.WriteFile(filepath.Join(dir, "lying.onnx"), lying, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string
	}{
		{"/dev/zero", "/dev/zero: is a character device; want a regular .onnx file"},
		{"/dev/null", "/dev/null: is a character device; want a regular .onnx file"},
		{fifo, "fifo.onnx: is a FIFO; want a regular .onnx file"},
		{filepath.Join(dir, "link-to-fifo.onnx"), "link-to-fifo.onnx: is a FIFO; want a regular .onnx file"},
		{filepath.Join(dir, "folder.onnx"), "folder.onnx: is a folder; want a regular .onnx file"},
		{filepath.Join(dir, "giant.onnx"), "giant.onnx: is 2.5 GB; protobuf models are at most 2 GiB"},
		{filepath.Join(dir, "zeros.onnx"), "zeros.onnx: not an ONNX model (1500000000 bytes): byte 0: bad field tag"},
		{filepath.Join(dir, "lying.onnx"), "lying.onnx: not an ONNX model (7 bytes): byte 2: field 7 claims 134217727 bytes; the file has 7"},
		{filepath.Join(dir, "absent.onnx"), "absent.onnx: cannot open: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			if _, err := os.Lstat(tc.path); err != nil && !strings.Contains(tc.path, "absent") {
				t.Skipf("%s: %v", tc.path, err)
			}
			err, alloc := loadWithin(t, tc.path)
			if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load(%s) = %v; want ErrInvalidModel containing %q", tc.path, err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if alloc > maxHostileAlloc {
				t.Errorf("refusing %s allocated %d bytes; want at most %d", tc.path, alloc, maxHostileAlloc)
			}
		})
	}
}

// TestLoadHostileExternalData: external data that is not a regular file in the model's folder
// is refused by name before it is opened for reading (a FIFO would block the open forever).
func TestLoadHostileExternalData(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "model")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, filepath.Join(dir, "fifo.bin"))
	if err := os.Symlink("fifo.bin", filepath.Join(dir, "link-to-fifo.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "link-to-zero.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "short.bin"), make([]byte, 20), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, loc, want string
	}{
		{"fifo", "fifo.bin", "fifo.bin\" is a FIFO; want a regular file in the model's folder"},
		{"symlink to fifo", "link-to-fifo.bin", "link-to-fifo.bin\" is a FIFO; want a regular file"},
		{"symlink to dev-zero", "link-to-zero.bin", "links to \"/dev/zero\", outside the model's folder"},
		{"folder", "folder.bin", "folder.bin\" is a folder; want a regular file"},
		{"short", "short.bin", "has 20 bytes; want 48 at offset 0"},
		{"dotdot", "../fifo.bin", "outside the model's folder"},
		{"absolute", "/dev/zero", "outside the model's folder"},
		{"missing", "absent.bin", "is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".onnx")
			if err := os.WriteFile(path, externalModel(tc.loc, 0, -1), 0o644); err != nil {
				t.Fatal(err)
			}
			err, _ := loadWithin(t, path)
			if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `tensor "W"`) {
				t.Fatalf("Load = %v; want ErrInvalidModel naming tensor \"W\" and containing %q", err, tc.want)
			}
		})
	}
}

// TestOpenRegularClosesRace: the descriptor check catches a FIFO that replaced a regular file
// after the stat (simulated by calling the open step directly): the non-blocking open returns at
// once, and the descriptor's mode shows what was really opened.
func TestOpenRegularClosesRace(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "swapped.onnx")
	mkfifo(t, fifo)
	done := make(chan error, 1)
	go func() {
		f, err := openNonblock(fifo, false)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err == nil && st.Mode()&fs.ModeNamedPipe == 0 {
			err = fmt.Errorf("descriptor mode %v; want a named pipe", st.Mode())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(hostileDeadline):
		t.Fatalf("opening a FIFO without a writer blocked for %v", hostileDeadline)
	}
	// A symlink is refused by the no-follow open, even if it points to a regular file.
	dir := t.TempDir()
	target := filepath.Join(dir, "w.bin")
	if err := os.WriteFile(target, []byte{1}, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.bin")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if f, err := openNonblock(link, false); err == nil {
		f.Close()
		t.Errorf("openNonblock(%s, follow=false) opened a symlink; want an error", link)
	}
	if _, _, err := openRegular(link, false); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("openRegular(%s, follow=false) = %v; want 'is a symbolic link'", link, err)
	}
}

// TestCheckFramingAcceptsModels: the framing check never refuses what proto.Unmarshal accepts:
// every shared model, the tiny model, a model ending in a group, and a model with more
// top-level fields than the check looks at.
func TestCheckFramingAcceptsModels(t *testing.T) {
	var inputs [][]byte
	if d := filepath.Join(testmodels.RepoRoot(t), "..", "shared", "models"); dirExists(d) {
		for _, name := range sharedModels {
			b, err := os.ReadFile(filepath.Join(d, name))
			if err != nil {
				t.Fatal(err)
			}
			inputs = append(inputs, b)
		}
	}
	tiny := mustMarshal(t, tinyModel())
	inputs = append(inputs, tiny)
	// Unknown field 100 as a group holding a varint: legal protobuf, never written by ONNX.
	inputs = append(inputs, append(append([]byte(nil), tiny...), 0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06))
	p := tinyModel()
	for i := range 2 * framingFields {
		p.MetadataProps = append(p.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(fmt.Sprint(i)), Value: proto.String("v")})
	}
	inputs = append(inputs, mustMarshal(t, p))
	for i, b := range inputs {
		if err := proto.Unmarshal(b, new(onnxpb.ModelProto)); err != nil {
			t.Fatalf("input %d does not unmarshal: %v", i, err)
		}
		if err := checkFraming(bytes.NewReader(b), int64(len(b))); err != nil {
			t.Errorf("input %d (%d bytes): checkFraming = %v; want nil", i, len(b), err)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{2_500_000_000, "2.5 GB"}, {1 << 31, "2.1 GB"}, {812_345_678, "812 MB"}, {4096, "4096 bytes"}} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q; want %q", tc.n, got, tc.want)
		}
	}
}

func dirExists(d string) bool {
	st, err := os.Stat(d)
	return err == nil && st.IsDir()
}
