package onnxio

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSaveExternalData(t *testing.T) {
	m, err := Load(filepath.Join(modelsDir(t), "pytorch-cnn-op11.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		opt      SaveOptions
		wantData bool
	}{
		{"inline", SaveOptions{}, false},
		{"default threshold", SaveOptions{ExternalData: true}, true},
		{"small threshold", SaveOptions{ExternalData: true, Threshold: 4}, true},
		{"threshold above every tensor", SaveOptions{ExternalData: true, Threshold: 1 << 40}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.onnx")
			if err := m.Save(path, tc.opt); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			want := []string{"out.onnx"}
			if tc.wantData {
				want = []string{"out.onnx", "out.onnx.data"}
			}
			if !slices.Equal(names, want) {
				t.Fatalf("folder holds %v; want %v (no temporary files left)", names, want)
			}
			m2, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(m2.ExternalFiles()); got != len(want)-1 {
				t.Errorf("reloaded model reads %d external files; want %d", got, len(want)-1)
			}
			for _, p := range m.Params() {
				q := m2.Initializer(p.Name)
				if q == nil || !slices.Equal(q.Dims, p.Dims) || !slices.EqualFunc(q.Float32, p.Float32, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
					t.Errorf("initializer %q differs after Save/Load", p.Name)
				}
			}
			// A self-contained file decodes without its folder; one with external data does not.
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(raw, ""); (err == nil) == tc.wantData {
				t.Errorf("Decode without folder: %v; external data written: %v", err, tc.wantData)
			}
		})
	}
}

func TestSaveNeverLeavesPartialFile(t *testing.T) {
	m, err := Decode(mustMarshal(t, tinyModel()), "")
	if err != nil {
		t.Fatal(err)
	}
	// A model that cannot be encoded (a tensor whose data does not match its dims) must not
	// replace an existing file.
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Initializer("W").Float32 = m.Initializer("W").Float32[:5]
	if err := m.Save(path, SaveOptions{}); err == nil {
		t.Fatal("Save accepted a tensor with 5 values for dims [4 3]")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("existing file changed to %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries; want only the old file", len(entries))
	}
}
