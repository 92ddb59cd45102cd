package compress

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The textbook case (Cormen et al., Introduction to Algorithms, §16.3): frequencies a:45 b:13
// c:12 d:16 e:9 f:5 give lengths 1,3,3,3,4,4; canonical codes 0, 100, 101, 110, 1110, 1111.
func TestHuffmanCanonicalHandCase(t *testing.T) {
	freq := []int64{45, 13, 12, 16, 9, 5}
	ls := huffmanLengths(freq, maxCodeLen)
	if want := []uint8{1, 3, 3, 3, 4, 4}; !slices.Equal(ls, want) {
		t.Fatalf("lengths %v; want %v", ls, want)
	}
	codes := canonicalCodes(ls)
	var got []string
	for s, c := range codes {
		got = append(got, fmt.Sprintf("%0*b", ls[s], c))
	}
	if want := []string{"0", "100", "101", "110", "1110", "1111"}; !slices.Equal(got, want) {
		t.Fatalf("codes %v; want %v", got, want)
	}
	// "abf" = 0 100 1111 → 01001111.
	b, n := huffEncode([]int{0, 1, 5}, ls)
	if n != 8 || !slices.Equal(b, []byte{0b01001111}) {
		t.Fatalf("encode abf: %08b (%d bits); want 01001111 (8 bits)", b, n)
	}
}

func TestHuffmanLengthLimit(t *testing.T) {
	// Fibonacci frequencies make the deepest possible tree: 30 symbols want 29-bit codes.
	freq := make([]int64, 30)
	a, b := int64(1), int64(1)
	for i := range freq {
		freq[i] = a
		a, b = b, a+b
	}
	if _, longest := huffmanOnce(freq); longest != 29 {
		t.Fatalf("unlimited longest code %d; want 29", longest)
	}
	ls := huffmanLengths(freq, 12)
	if m := slices.Max(ls); m > 12 {
		t.Fatalf("limited to 12 bits, longest code %d", m)
	}
	if _, err := newHuffDecoder(ls); err != nil {
		t.Fatalf("limited code is not complete: %v", err)
	}
}

func TestHuffmanRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name     string
		alphabet int
		n        int
		skew     float64
	}{
		{"single symbol", 1, 100, 0},
		{"two symbols", 2, 1000, 0.9},
		{"257 skewed", 257, 20000, 0.97},
		{"4096 uniform", 4096, 50000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			syms := make([]int, tc.n)
			freq := make([]int64, tc.alphabet)
			for i := range syms {
				s := rng.IntN(tc.alphabet)
				if rng.Float64() < tc.skew {
					s = rng.IntN(1 + tc.alphabet/16)
				}
				syms[i] = s
				freq[s]++
			}
			ls := huffmanLengths(freq, maxCodeLen)
			b, bits := huffEncode(syms, ls)
			d, err := newHuffDecoder(ls)
			if err != nil {
				t.Fatal(err)
			}
			r := &bitReader{buf: b}
			for i, want := range syms {
				got, err := d.decode(r)
				if err != nil || got != want {
					t.Fatalf("symbol %d: got %d, %v; want %d", i, got, err, want)
				}
			}
			if r.pos != bits {
				t.Fatalf("decoder read %d bits; encoder wrote %d", r.pos, bits)
			}
		})
	}
}

func TestHuffmanDecoderRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		ls   []uint8
	}{
		{"oversubscribed", []uint8{1, 1, 1}},
		{"incomplete", []uint8{1, 2}},
		{"too long", []uint8{1, maxCodeLen + 1}},
	} {
		if _, err := newHuffDecoder(tc.ls); err == nil {
			t.Errorf("%s %v: no error", tc.name, tc.ls)
		}
	}
	// A lone symbol's code is "0"; a stream of ones is no code.
	d, err := newHuffDecoder([]uint8{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.decode(&bitReader{buf: []byte{0xff, 0xff, 0xff, 0xff}}); err == nil {
		t.Fatal("decoding ones with a one-symbol code: no error")
	}
	if _, err := d.decode(&bitReader{}); err == nil {
		t.Fatal("decoding an empty stream: no error")
	}
}
