package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/internal/testmodels"
	"github.com/uqnn/uqnn/onnxio"
)

// Deep Compression §2, Figure 2's rule with 3-bit runs (at most 7 zeros per entry): a gap of 13
// zeros becomes a filler (7 zeros + the filler's own zero) and an entry with 5 zeros; the
// trailing zero is one more filler.
func TestRelativeIndexFillerHandCase(t *testing.T) {
	syms := []int{0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0} // non-zeros at 1 and 15
	runs, vals := relativeIndex(syms, 3)
	if wantR, wantV := []int{1, 7, 5, 0}, []int{4, 0, 9, 0}; !slices.Equal(runs, wantR) || !slices.Equal(vals, wantV) {
		t.Fatalf("runs %v values %v; want %v %v", runs, vals, wantR, wantV)
	}
	// Exactly 2^p zeros before a non-zero: one filler, then a run of 0.
	runs, vals = relativeIndex([]int{0, 0, 0, 0, 5}, 2)
	if wantR, wantV := []int{3, 0}, []int{0, 5}; !slices.Equal(runs, wantR) || !slices.Equal(vals, wantV) {
		t.Fatalf("runs %v values %v; want %v %v", runs, vals, wantR, wantV)
	}
}

// tinyQuantized is y = x·W + b with W [32,16], pruned to about a third and shared to 7 values,
// and a float bias b [16] (a byte-plane record): a small archive for the corruption tests and
// the fuzzer's seeds.
func tinyQuantized() *onnxio.Model {
	rng := rand.New(rand.NewPCG(9, 9))
	w := make([]float32, 32*16)
	for i := range w {
		if rng.IntN(3) == 0 {
			w[i] = float32(rng.IntN(7)-3) * 0.25
		}
	}
	b := make([]float32, 16)
	for i := range b {
		b[i] = 0.3 + 0.05*rng.Float32() // one binade: the top bytes code to a bit each
	}
	vi := func(name string, n int64) *onnxio.ValueInfo {
		return &onnxio.ValueInfo{Name: name, Tensor: true, DType: onnxio.Float, ShapeKnown: true,
			Shape: []onnxio.Dim{{Value: 1}, {Value: n}}}
	}
	return &onnxio.Model{
		IRVersion: 8, Opsets: []onnxio.Opset{{Version: 13}},
		Graph: &onnxio.Graph{
			Name: "tiny",
			Nodes: []*onnxio.Node{{Name: "mm", Op: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"xw"}},
				{Name: "add", Op: "Add", Inputs: []string{"xw", "b"}, Outputs: []string{"y"}}},
			Inputs:       []*onnxio.ValueInfo{vi("x", 32)},
			Outputs:      []*onnxio.ValueInfo{vi("y", 16)},
			Initializers: []*onnxio.Tensor{onnxio.NewFloat32("W", []int64{32, 16}, w), onnxio.NewFloat32("b", []int64{16}, b)},
		},
	}
}

// roundTrip archives m and checks that Unarchive gives back m's encoding byte for byte.
func roundTrip(t *testing.T, m *onnxio.Model) ([]byte, *ArchiveLedger) {
	t.Helper()
	want, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a, led, err := Archive(m)
	if err != nil {
		t.Fatal(err)
	}
	a2, _, _ := Archive(m)
	if !bytes.Equal(a, a2) {
		t.Fatal("two archives of the same model differ")
	}
	back, led2, err := Unarchive(a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := back.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("restored model encodes to %d bytes, differing from the original's %d", len(got), len(want))
	}
	if len(led.Tensors) != len(led2.Tensors) || led.NonZero != led2.NonZero || led.ArchiveBytes != led2.ArchiveBytes ||
		led.FloorBytes != led2.FloorBytes || led.PlaneBytes != led2.PlaneBytes {
		t.Fatalf("ledger written %+v; read back %+v", led, led2)
	}
	for i := range led.Tensors {
		if w, g := led.Tensors[i], led2.Tensors[i]; w.Bytes != g.Bytes || w.Entries != g.Entries || w.WeightBitsPQH != g.WeightBitsPQH || w.Floor != g.Floor {
			t.Fatalf("ledger row %d written %+v; read back %+v", i, w, g)
		}
	}
	return a, led
}

func TestArchiveRoundTripLeNet5(t *testing.T) {
	p, _, err := Magnitude(lenet5(4), MagnitudeConfig{Keep: HanLeNet5Keep})
	if err != nil {
		t.Fatal(err)
	}
	q, cbs, err := Quantize(p, QuantizeConfig{Bits: DeepCompressionBits})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compact(q, cbs)
	if err != nil {
		t.Fatal(err)
	}
	i8, err := Int8(p)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInputs(8, 8, 28*28, 0, 1)
	for _, tc := range []struct {
		name  string
		m     *onnxio.Model
		coded int
		ratio int // at least, at Han's 8% kept
	}{{"k-means", q, 4, 10}, {"compact", c, 3, 8}, {"int8", i8, 3, 5}} { // conv1's 500 uint8 or int8 bytes cost less raw {
		t.Run(tc.name, func(t *testing.T) {
			a, led := roundTrip(t, tc.m)
			if len(led.Tensors) != tc.coded {
				t.Fatalf("%d coded tensors; want %d\n%v", len(led.Tensors), tc.coded, led.Tensors)
			}
			if led.FloorBytes <= 0 || led.FloorBytes > float64(led.ArchiveBytes) {
				t.Errorf("entropy floor %.0f bytes; want between 0 and the archive's %d", led.FloorBytes, led.ArchiveBytes)
			}
			enc, _ := tc.m.Encode()
			if len(a)*tc.ratio > len(enc) {
				t.Errorf("archive %d bytes, ONNX %d: want at least %d× smaller at 8%% kept", len(a), len(enc), tc.ratio)
			}
			back, _, _ := Unarchive(a)
			want, got := runORT(t, tc.m, x, 8), runORT(t, back, x, 8)
			for i := range want {
				for j := range want[i] {
					if math.Float32bits(want[i][j]) != math.Float32bits(got[i][j]) {
						t.Fatalf("output %d[%d]: restored %g, original %g", i, j, got[i][j], want[i][j])
					}
				}
			}
		})
	}
}

// Every shared third-party model, shared by k-means (no pruning) and linearly to int8, comes
// back from its archive byte for byte.
func TestArchiveRoundTripSharedModels(t *testing.T) {
	if testing.Short() {
		t.Skip("k-means on seven models; TestArchiveRoundTripLeNet5 covers the path")
	}
	for _, f := range testmodels.Files() {
		t.Run(f, func(t *testing.T) {
			m := loadShared(t, f)
			q, _, err := Quantize(m, QuantizeConfig{Bits: DeepCompressionBits})
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, q)
			i8, err := Int8(m)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, i8)
		})
	}
}

// fixChecksum rewrites the file size and CRC of a (mutated) archive so that its body is what
// gets checked.
func fixChecksum(a []byte) []byte {
	if len(a) < archiveHeader {
		return a
	}
	b := slices.Clone(a)
	binary.LittleEndian.PutUint64(b[16:], uint64(len(b)))
	clear(b[12:16])
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(b, crcTable))
	return b
}

func TestArchiveCorrupted(t *testing.T) {
	a, led, err := Archive(tinyQuantized())
	if err != nil {
		t.Fatal(err)
	}
	if len(led.Tensors) != 1 || led.PlaneTensors != 1 {
		t.Fatalf("tiny model: %d coded tensors and %d byte-plane records; want 1 and 1", len(led.Tensors), led.PlaneTensors)
	}
	if _, _, err := Unarchive(a); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, what string, b []byte, wantMsg string) {
		t.Helper()
		_, _, err := Unarchive(b)
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		if !errors.Is(err, onnxio.ErrInvalidModel) && !errors.Is(err, onnxio.ErrUnsupported) {
			t.Fatalf("%s: %v does not wrap ErrInvalidModel", what, err)
		}
		if wantMsg != "" && !strings.Contains(err.Error(), wantMsg) {
			t.Fatalf("%s: %v; want a message containing %q", what, err, wantMsg)
		}
	}
	t.Run("truncated at every length", func(t *testing.T) {
		for n := range len(a) {
			check(t, "truncated", a[:n], "")
		}
	})
	t.Run("every byte flipped", func(t *testing.T) {
		for i := range a {
			b := slices.Clone(a)
			b[i] ^= 0x5a
			check(t, "flipped", b, "")
			// With the checksum repaired, the body's own checks must hold without panicking.
			Unarchive(fixChecksum(b))
		}
	})
	set64 := func(off int, v uint64) []byte {
		b := slices.Clone(a)
		binary.LittleEndian.PutUint64(b[off:], v)
		return fixChecksum(b)
	}
	t.Run("declared sizes beyond the data", func(t *testing.T) {
		check(t, "model section", set64(32, 1<<40), "declares")
		check(t, "inflated size", set64(40, 1<<40), "inflated")
		b := slices.Clone(a)
		binary.LittleEndian.PutUint64(b[16:], 1<<40)
		check(t, "file size", b, "truncated")
		check(t, "extended", append(slices.Clone(a), 0), "")
		check(t, "extended and checksummed", fixChecksum(append(slices.Clone(a), 0)), "follow")
		b = slices.Clone(a)
		binary.LittleEndian.PutUint32(b[24:], 1<<31)
		check(t, "tensor count", fixChecksum(b), "")
		b = slices.Clone(a)
		binary.LittleEndian.PutUint16(b[8:], 3)
		check(t, "version", fixChecksum(b), "version 3")
	})
	check(t, "not an archive", []byte("hello"), "not a .uqz")
}

// FuzzArchive feeds arbitrary bytes to Unarchive, directly and with the size and checksum
// repaired so that mutations reach the body's decoder: it must return a model or an error,
// never panic or allocate what the file cannot hold.
func FuzzArchive(f *testing.F) {
	a, _, err := Archive(tinyQuantized())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a)
	i8, err := Int8(tinyQuantized())
	if err != nil {
		f.Fatal(err)
	}
	b, _, err := Archive(i8)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range [][]byte{data, fixChecksum(data)} {
			m, _, err := Unarchive(d)
			if err == nil {
				if _, err := m.Encode(); err != nil {
					t.Fatalf("decoded model does not encode: %v", err)
				}
			} else if !errors.Is(err, onnxio.ErrInvalidModel) && !errors.Is(err, onnxio.ErrUnsupported) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
		}
	})
}
