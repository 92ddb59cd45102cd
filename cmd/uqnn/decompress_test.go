package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/compress"
	"github.com/uqnn/uqnn/fixtures"
)

func TestDecompressRoundTripAndBadArchives(t *testing.T) {
	dir := t.TempDir()
	p, _, err := compress.Magnitude(fixtures.LeNet5(rand.New(rand.NewPCG(1, 1))), compress.MagnitudeConfig{Keep: compress.HanLeNet5Keep})
	if err != nil {
		t.Fatal(err)
	}
	q, _, err := compress.Quantize(p, compress.QuantizeConfig{Bits: compress.DeepCompressionBits})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := compress.Archive(q)
	if err != nil {
		t.Fatal(err)
	}
	uqz := filepath.Join(dir, "m.uqz")
	if err := os.WriteFile(uqz, a, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	back := filepath.Join(dir, "back.onnx")
	if err := runDecompress(context.Background(), &decompressOptions{archive: uqz, out: back, stdout: &out}); err != nil {
		t.Fatal(err)
	}
	want, _ := q.Encode()
	got, err := os.ReadFile(back)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("decompressed file (%d bytes, %v) differs from the compressed model's encoding (%d bytes)", len(got), err, len(want))
	}
	if !strings.Contains(out.String(), "conv2.weight") || !strings.Contains(out.String(), "wrote "+back) {
		t.Fatalf("output lacks the ledger or the written file:\n%s", out.String())
	}

	// inspect prints the ledger and writes nothing.
	out.Reset()
	before, _ := os.ReadDir(dir)
	if err := runInspect(context.Background(), inspectOptions{Model: uqz, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadDir(dir)
	if !strings.Contains(out.String(), "fc1.weight") || len(after) != len(before) {
		t.Fatalf("inspect of an archive: %q, files %d → %d", out.String(), len(before), len(after))
	}

	for name, bad := range map[string][]byte{
		"truncated": a[:len(a)/2],
		"corrupted": append(append([]byte{}, a[:100]...), append([]byte{a[100] ^ 1}, a[101:]...)...),
	} {
		path := filepath.Join(dir, name+".uqz")
		os.WriteFile(path, bad, 0o644)
		err := runDecompress(context.Background(), &decompressOptions{archive: path, out: filepath.Join(dir, name+".onnx"), stdout: &out})
		if err == nil || exitCode(err) != 3 {
			t.Errorf("%s archive: error %v, exit code %d; want exit 3", name, err, exitCode(err))
		}
		if _, err := os.Stat(filepath.Join(dir, name+".onnx")); err == nil {
			t.Errorf("%s archive: an output was written", name)
		}
	}
	if err := runDecompress(context.Background(), &decompressOptions{archive: uqz, stdout: &out}); exitCode(err) != 2 {
		t.Errorf("no -o: %v (exit %d); want exit 2", err, exitCode(err))
	}
}
