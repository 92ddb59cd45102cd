package compress

import (
	"math"
	"testing"
)

// floorTolerance absorbs float64 rounding in sums of a few logarithms.
const floorTolerance = 1e-9

// A 2×4 tensor by hand, symbols (0 zero, else 1 + codebook index):
//
//	1 0 0 2
//	0 0 1 0
//
// i.i.d.: 3 non-zeros of 8, 3·log2(8/3) + 5·log2(8/5) = 7.635472 bits.
// Gaps 0, 2, 2 and the trailing 1: 1·log2(4) + 2·log2(4/2) + 1·log2(4) = 6 bits.
// Context (left, left 2, up, up 2): elements 0, 3, 5, 6 see context 0 (bits 1, 1, 0, 1:
// 3·log2(4/3) + log2(4) = 3.245112 bits); elements 1, 2, 4, 7 each see a context of their own
// (0 bits). The mask floor is the least, 3.245112.
// Indices 1, 2, 1 (codebook entries 0, 1, 0): 2·log2(3/2) + log2(3) = 2.754888 bits.
func TestFloorHandCase(t *testing.T) {
	f := floorOf([]int{1, 0, 0, 2, 0, 0, 1, 0}, 2, 4)
	ctx := 3*math.Log2(4.0/3) + 2
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"i.i.d. mask", f.MaskIIDBits, 3*math.Log2(8.0/3) + 5*math.Log2(8.0/5)},
		{"gap mask", f.MaskGapBits, 6},
		{"context mask", f.MaskContextBits, ctx},
		{"mask floor", f.MaskBits, ctx},
		{"index floor", f.IndexBits, 2*math.Log2(1.5) + math.Log2(3)},
		{"both", f.Bits(), ctx + 2*math.Log2(1.5) + math.Log2(3)},
	} {
		if math.Abs(c.got-c.want) > floorTolerance {
			t.Errorf("%s: %.9f bits; want %.9f", c.what, c.got, c.want)
		}
	}
	if got := floorOf([]int(nil), 1, 1); got != (TensorFloor{}) {
		t.Errorf("empty tensor: %+v; want zeros", got)
	}
}

func TestExpGolomb(t *testing.T) {
	w := &bitWriter{}
	w.writeExpGolomb(0) // 1
	w.writeExpGolomb(3) // 00100
	if got := w.bytes(); len(got) != 1 || got[0] != 0b10010000 {
		t.Fatalf("EG(0) EG(3) = %08b; want 10010000", got)
	}
	vals := []uint32{0, 1, 2, 7, 8, 1000, 1<<31 - 2}
	w = &bitWriter{}
	for _, v := range vals {
		w.writeExpGolomb(v)
		w.writeExpGolomb(zigzag(-int(v % 100)))
	}
	r := &bitReader{buf: w.bytes()}
	for _, v := range vals {
		got, err := r.readExpGolomb()
		z, err2 := r.readExpGolomb()
		if err != nil || err2 != nil || got != v || unzigzag(z) != -int(v%100) {
			t.Fatalf("read %d, %d (%v %v); want %d, %d", got, unzigzag(z), err, err2, v, -int(v%100))
		}
	}
	if _, err := (&bitReader{buf: make([]byte, 8)}).readExpGolomb(); err != errLongExpGolomb {
		t.Fatalf("64 zero bits: %v; want %v", err, errLongExpGolomb)
	}
}
