package ort_test

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/onnxio"
)

// TestCheckModelFile: a FIFO is refused at once (onnxruntime would wait on it for a writer), a
// built model passes.
func TestCheckModelFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "zoo.onnx")
	if err := fixtures.Zoo(rand.New(rand.NewPCG(15, 5))).Save(good, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ort.CheckModelFile(good); err != nil {
		t.Fatalf("CheckModelFile(%s) = %v; want nil", good, err)
	}
	fifo := filepath.Join(dir, "fifo.onnx")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- ort.CheckModelFile(fifo) }()
	select {
	case err := <-done:
		if !errors.Is(err, onnxio.ErrInvalidModel) || !strings.Contains(err.Error(), "fifo.onnx: is a FIFO") {
			t.Fatalf("CheckModelFile(FIFO) = %v; want ErrInvalidModel saying it is a FIFO", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CheckModelFile blocked on a FIFO")
	}
}
