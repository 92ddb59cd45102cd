package compress

import (
	"container/heap"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// maxCodeLen is the longest Huffman code the archive writes or accepts, in bits.
const maxCodeLen = 24

// huffmanLengths returns canonical Huffman code lengths for symbol frequencies freq (0 for an
// unused symbol, which gets length 0). A single used symbol gets length 1. Lengths never exceed
// limit: while the optimal code is longer, every frequency is halved (rounding up, so used
// symbols stay used) and the code rebuilt — a slight loss of optimality in exchange for a
// bounded decoder. Ties are broken by symbol, so equal frequencies give the same code.
func huffmanLengths(freq []int64, limit int) []uint8 {
	f := slices.Clone(freq)
	for {
		ls, longest := huffmanOnce(f)
		if longest <= limit {
			return ls
		}
		for i, v := range f {
			if v > 0 {
				f[i] = (v + 1) / 2
			}
		}
	}
}

type hnode struct {
	w     int64
	min   int // smallest symbol under the node: the tie-break
	left  int // child indices into the node slice; -1 for a leaf
	right int
	sym   int
}

type hheap struct {
	idx   []int
	nodes []hnode
}

func (h *hheap) Len() int { return len(h.idx) }
func (h *hheap) Less(i, j int) bool {
	a, b := h.nodes[h.idx[i]], h.nodes[h.idx[j]]
	if a.w != b.w {
		return a.w < b.w
	}
	return a.min < b.min
}
func (h *hheap) Swap(i, j int) { h.idx[i], h.idx[j] = h.idx[j], h.idx[i] }
func (h *hheap) Push(x any)    { h.idx = append(h.idx, x.(int)) }
func (h *hheap) Pop() any {
	n := len(h.idx)
	v := h.idx[n-1]
	h.idx = h.idx[:n-1]
	return v
}

func huffmanOnce(freq []int64) ([]uint8, int) {
	ls := make([]uint8, len(freq))
	h := &hheap{}
	for s, w := range freq {
		if w > 0 {
			h.nodes = append(h.nodes, hnode{w: w, min: s, left: -1, right: -1, sym: s})
			h.idx = append(h.idx, len(h.nodes)-1)
		}
	}
	switch len(h.idx) {
	case 0:
		return ls, 0
	case 1:
		ls[h.nodes[0].sym] = 1
		return ls, 1
	}
	heap.Init(h)
	for h.Len() > 1 {
		a := heap.Pop(h).(int)
		b := heap.Pop(h).(int)
		na, nb := h.nodes[a], h.nodes[b]
		h.nodes = append(h.nodes, hnode{w: na.w + nb.w, min: min(na.min, nb.min), left: a, right: b, sym: -1})
		heap.Push(h, len(h.nodes)-1)
	}
	// Depths by an explicit stack from the root.
	type item struct{ n, d int }
	stack := []item{{h.idx[0], 0}}
	longest := 0
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nd := h.nodes[it.n]
		if nd.left < 0 {
			ls[nd.sym] = uint8(min(it.d, 255))
			longest = max(longest, it.d)
			continue
		}
		stack = append(stack, item{nd.left, it.d + 1}, item{nd.right, it.d + 1})
	}
	return ls, longest
}

// canonicalCodes assigns canonical codes to lengths (DEFLATE's rule, RFC 1951 §3.2.2): shorter
// codes first, and within a length in symbol order, each code the previous plus one.
func canonicalCodes(lengths []uint8) []uint32 {
	var count [maxCodeLen + 2]uint32
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	var next [maxCodeLen + 2]uint32
	code := uint32(0)
	for l := 1; l <= maxCodeLen+1; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	codes := make([]uint32, len(lengths))
	for s, l := range lengths {
		if l > 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
	return codes
}

// huffDecoder decodes a canonical code bit by bit (the counting method of zlib's puff.c).
type huffDecoder struct {
	count   [maxCodeLen + 1]int // codes of each length
	symbols []int               // symbols in canonical order
}

var errBadCode = errors.New("bit pattern that is no code of the table")

// newHuffDecoder checks lengths (each ≤ maxCodeLen; the Kraft sum at most 1, and exactly 1
// unless a single symbol is used) and builds the decoder.
func newHuffDecoder(lengths []uint8) (*huffDecoder, error) {
	d := &huffDecoder{}
	used := 0
	for _, l := range lengths {
		if int(l) > maxCodeLen {
			return nil, fmt.Errorf("code length %d; want at most %d", l, maxCodeLen)
		}
		if l > 0 {
			d.count[l]++
			used++
		}
	}
	left := 1 // codes left at the current length
	for l := 1; l <= maxCodeLen; l++ {
		left <<= 1
		left -= d.count[l]
		if left < 0 {
			return nil, fmt.Errorf("code lengths oversubscribe the code space at length %d", l)
		}
	}
	if left > 0 && used > 1 {
		return nil, fmt.Errorf("code lengths leave part of the code space unused")
	}
	d.symbols = make([]int, 0, used)
	for l := 1; l <= maxCodeLen; l++ {
		for s, sl := range lengths {
			if int(sl) == l {
				d.symbols = append(d.symbols, s)
			}
		}
	}
	return d, nil
}

// decode reads one symbol.
func (d *huffDecoder) decode(r *bitReader) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l <= maxCodeLen; l++ {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		code |= int(b)
		c := d.count[l]
		if code-c < first {
			return d.symbols[index+code-first], nil
		}
		index += c
		first += c
		first <<= 1
		code <<= 1
	}
	return 0, errBadCode
}

// bitWriter packs bits most significant first into bytes; the last byte is padded with zeros.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
	bits int64
}

func (w *bitWriter) write(code uint32, n uint8) {
	w.acc = w.acc<<n | uint64(code)
	w.nacc += uint(n)
	w.bits += int64(n)
	for w.nacc >= 8 {
		w.nacc -= 8
		w.buf = append(w.buf, byte(w.acc>>w.nacc))
	}
}

func (w *bitWriter) bytes() []byte {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc<<(8-w.nacc)))
		w.nacc = 0
	}
	return w.buf
}

// bitReader reads bits most significant first.
type bitReader struct {
	buf []byte
	pos int64 // bit position
}

var errShortStream = errors.New("stream ends inside a code")

func (r *bitReader) bit() (uint8, error) {
	if r.pos >= int64(len(r.buf))*8 {
		return 0, errShortStream
	}
	b := r.buf[r.pos>>3] >> (7 - r.pos&7) & 1
	r.pos++
	return b, nil
}

// huffEncode codes syms (each < len(lengths), with a non-zero length) and returns the bytes
// and the number of bits written.
func huffEncode(syms []int, lengths []uint8) ([]byte, int64) {
	codes := canonicalCodes(lengths)
	w := &bitWriter{}
	for _, s := range syms {
		w.write(codes[s], lengths[s])
	}
	return w.bytes(), w.bits
}

// writeExpGolomb writes v ≥ 0 (v < 2^31) in the order-0 Exp-Golomb code: for v+1 of n
// significant bits, n−1 zero bits, then v+1 in n bits.
func (w *bitWriter) writeExpGolomb(v uint32) {
	n := uint8(bits.Len32(v + 1))
	w.write(0, n-1)
	w.write(v+1, n)
}

// zigzag maps a signed integer to an unsigned one: 0, −1, 1, −2, 2 … → 0, 1, 2, 3, 4 …
func zigzag(v int) uint32 {
	if v < 0 {
		return uint32(-2*v - 1)
	}
	return uint32(2 * v)
}

func unzigzag(u uint32) int {
	if u&1 == 1 {
		return -int(u>>1) - 1
	}
	return int(u >> 1)
}

// maxExpGolombZeros bounds the leading zeros of an Exp-Golomb code the reader accepts (codes
// of values below 2^31).
const maxExpGolombZeros = 30

// readBits reads n ≤ 32 bits, most significant first.
func (r *bitReader) readBits(n int) (uint32, error) {
	var v uint32
	for range n {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		v = v<<1 | uint32(b)
	}
	return v, nil
}

var errLongExpGolomb = errors.New("Exp-Golomb code with more than 30 leading zeros")

// readExpGolomb reads one order-0 Exp-Golomb code (see writeExpGolomb).
func (r *bitReader) readExpGolomb() (uint32, error) {
	zeros := 0
	for {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		if b == 1 {
			break
		}
		if zeros++; zeros > maxExpGolombZeros {
			return 0, errLongExpGolomb
		}
	}
	rest, err := r.readBits(zeros)
	if err != nil {
		return 0, err
	}
	return (1<<zeros | rest) - 1, nil
}
