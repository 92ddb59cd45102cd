package compress

// # The .uqz archive, version 2
//
// Archive writes, and Unarchive reads, a pruned and weight-shared model as Deep Compression
// stores it (Han et al. ICLR 2016, §2 and §4): per coded tensor, the positions of its non-zeros
// as relative indices and its codebook indices, each stream Huffman-coded with its own
// canonical code; the other float32 initializers (biases) by byte planes; everything else of
// the model lossless in a deflated ONNX protobuf. (Version 1 named each coded tensor, wrote its
// codebook raw and its code tables two bytes a symbol, and kept biases in the model section.)
//
// All integers are little-endian; "uvarint" is the unsigned LEB128 varint of Go's
// encoding/binary (at most 10 bytes). The file is:
//
//	offset size  field
//	0      8     magic 0x89 'U' 'Q' 'Z' 0x0D 0x0A 0x1A 0x0A
//	8      2     version: 2
//	10     2     header size: 48
//	12     4     CRC-32C (Castagnoli) of the whole file, computed with these 4 bytes zero
//	16     8     file size in bytes (the whole file, header included)
//	24     4     T: number of records
//	28     4     reserved: 0
//	32     8     S: size of the model section in bytes
//	40     8     U: size of the model section once inflated (≤ 1032·S + 64, ≤ 2 GiB)
//	48     S     model section: raw DEFLATE (RFC 1951) of the ONNX ModelProto in which every
//	             initializer a record restores keeps its name, type and other fields but has
//	             dims [0] and no data (a placeholder)
//	48+S   …     T records, back to back, then end of file (nothing may follow)
//
// A record is:
//
//	1 byte    kind: 1 coded tensor, 2 byte planes
//	uvarint   the initializer's index in the model section's initializer list; it must be a
//	          placeholder, restored by one record only; its data type is the tensor's
//	uvarint   rank R (≤ 8), then R uvarints: the dims; N, their product, ≤ 2^31
//
// then for a coded tensor (data type float32, uint8, int8, uint16 or int16):
//
//	uvarint   K, the codebook size, 1 ≤ K ≤ 256
//	K uvarints the codebook: the tensor's distinct non-zero values (by bit pattern; −0.0 is
//	          non-zero) in increasing order of bit pattern, the first as its pattern, each next
//	          as its pattern minus the previous one minus 1; all patterns below 2^(8·size)
//	1 byte    p, the relative-index width in bits, 1 ≤ p ≤ 12
//	uvarint   E, the number of entries (≤ 8 × the bytes left in the file)
//	table     the run code over the alphabet 0…2^p − 1
//	uvarint   size of the run stream in bytes, then the stream
//	table     the value code over the alphabet 0…K
//	uvarint   size of the value stream in bytes, then the stream
//
// and for byte planes (data type float32):
//
//	table     the code of the top bytes (bits 24–31 of each element: sign and 7 exponent bits),
//	          alphabet 0…255
//	uvarint   size of the top-byte stream in bytes, then the stream: the N top bytes
//	3·N bytes each element's low three bytes (bits 0–7, 8–15, 16–23), element after element
//
// A table is: uvarint n, the number of used symbols (1 ≤ n ≤ the alphabet); uvarint B; B bytes
// of bits, most significant first, holding per used symbol in increasing order two order-0
// Exp-Golomb codes (v ≥ 0 as ⌊log2(v+1)⌋ zero bits, then v+1 in binary): the symbol minus the
// previous used symbol minus 1 (the first: the symbol), then its code length minus the previous
// one (the first: minus 0), zigzag-mapped (0, −1, 1, −2 … → 0, 1, 2, 3 …); each length is 1…24;
// B is exactly the bytes those bits need, the last padded with zero bits.
//
// The tensor, read in row-major order, is a sequence of E entries. Entry i is a run r_i
// (0 ≤ r_i < 2^p) and a value symbol v_i (0 ≤ v_i ≤ K): r_i zeros, then the element
// codebook[v_i − 1], or one more zero when v_i is 0. A gap of more than 2^p − 1 zeros before a
// non-zero is bridged by filler entries (r = 2^p − 1, v = 0), each covering 2^p zeros, and the
// zeros after the last non-zero are covered the same way, the last entry (r = remaining − 1,
// v = 0) — so Σ (r_i + 1) = N exactly. The run stream holds the E runs, the value stream the E
// value symbols, each coded with its table's canonical Huffman code (DEFLATE's assignment,
// RFC 1951 §3.2.2: shorter codes first, within a length by symbol), bits packed most
// significant first, the last byte padded with zero bits. A table with one symbol gives it
// the code "0"; otherwise the code lengths must fill the code space exactly (Kraft sum 1).
//
// Unarchive checks, before allocating anything the file's own bytes do not bound: the magic,
// version, header size, file size (a truncated or extended file), checksum, every declared
// size against the bytes left, the inflated model size, each table and every code, and that
// the runs cover exactly N elements; any failure is an error wrapping onnxio.ErrInvalidModel.
// Writing is deterministic: the same model gives the same bytes. The ledger of an archive,
// written or read, carries its entropy floor (floor.go).

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"slices"
	"sort"

	"github.com/uqnn/uqnn/onnxio"
)

// ArchiveVersion is the version of the .uqz format Archive writes and Unarchive reads.
const ArchiveVersion = 2

// ArchiveMagic starts every .uqz file.
const ArchiveMagic = "\x89UQZ\r\n\x1a\n"

const (
	archiveHeader   = 48
	maxCodebook     = 256
	maxRunBits      = 12
	maxRank         = 8
	maxCodedElems   = 1 << 31
	maxModelSection = 2 << 30
	// minCodedElements is the smallest initializer Archive codes; smaller ones (biases,
	// scales) cost less as they are, inside the deflated model.
	minCodedElements = 64
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// IsArchive reports whether data starts with the .uqz magic.
func IsArchive(data []byte) bool { return bytes.HasPrefix(data, []byte(ArchiveMagic)) }

// elemSize is the raw size of the data types the archive codes, 0 for others.
func elemSize(d onnxio.DataType) int {
	switch d {
	case onnxio.Float:
		return 4
	case onnxio.Uint8, onnxio.Int8:
		return 1
	case onnxio.Uint16, onnxio.Int16:
		return 2
	}
	return 0
}

// tensorWords returns t's elements as bit patterns (nil for a type the archive does not code).
func tensorWords(t *onnxio.Tensor) []uint32 {
	sz := elemSize(t.DType)
	if sz == 0 {
		return nil
	}
	if t.DType == onnxio.Float {
		w := make([]uint32, len(t.Float32))
		for i, v := range t.Float32 {
			w[i] = math.Float32bits(v)
		}
		return w
	}
	if int64(len(t.Raw)) != t.NumElements()*int64(sz) {
		return nil
	}
	w := make([]uint32, len(t.Raw)/sz)
	for i := range w {
		if sz == 1 {
			w[i] = uint32(t.Raw[i])
		} else {
			w[i] = uint32(binary.LittleEndian.Uint16(t.Raw[2*i:]))
		}
	}
	return w
}

// codedTensor is one tensor chosen for coding.
type codedTensor struct {
	t     *onnxio.Tensor
	book  []uint32 // distinct non-zero bit patterns, sorted
	syms  []int    // per element: 0 for zero, else 1 + codebook index
	nzero int64
}

func chooseTensor(t *onnxio.Tensor) *codedTensor {
	if t.NumElements() < minCodedElements || t.NumElements() > maxCodedElems {
		return nil
	}
	w := tensorWords(t)
	if w == nil {
		return nil
	}
	set := map[uint32]bool{}
	for _, v := range w {
		if v != 0 {
			set[v] = true
			if len(set) > maxCodebook {
				return nil
			}
		}
	}
	if len(set) == 0 {
		return nil
	}
	c := &codedTensor{t: t, syms: make([]int, len(w))}
	for v := range set {
		c.book = append(c.book, v)
	}
	slices.Sort(c.book)
	for i, v := range w {
		if v != 0 {
			c.syms[i] = 1 + sort.Search(len(c.book), func(j int) bool { return c.book[j] >= v })
			c.nzero++
		}
	}
	return c
}

// relativeIndex turns per-element symbols (0 zero, else a value symbol) into entries with
// runs of at most 2^p − 1 zeros, inserting filler zeros (Deep Compression §2).
func relativeIndex(syms []int, p int) (runs, vals []int) {
	maxRun := 1<<p - 1
	run := 0
	for _, s := range syms {
		if s == 0 {
			run++
			if run == maxRun+1 {
				runs, vals = append(runs, maxRun), append(vals, 0)
				run = 0
			}
			continue
		}
		runs, vals = append(runs, run), append(vals, s)
		run = 0
	}
	if run > 0 {
		runs, vals = append(runs, run-1), append(vals, 0)
	}
	return runs, vals
}

// codedStream is one Huffman-coded stream with its table.
type codedStream struct {
	lengths []uint8
	table   []byte // the table as written
	data    []byte
	bits    int64
}

func codeStream(syms []int, alphabet int) codedStream {
	freq := make([]int64, alphabet)
	for _, s := range syms {
		freq[s]++
	}
	ls := huffmanLengths(freq, maxCodeLen)
	data, n := huffEncode(syms, ls)
	return codedStream{lengths: ls, table: appendTable(nil, ls), data: data, bits: n}
}

// appendTable writes a code table: the number of used symbols, the size of the bit-packed
// part, then per used symbol in increasing order the Exp-Golomb codes of its distance from
// the previous one and of its length's change from the previous length.
func appendTable(b []byte, ls []uint8) []byte {
	n := 0
	w := &bitWriter{}
	prev, prevLen := -1, 0
	for s, l := range ls {
		if l > 0 {
			n++
			w.writeExpGolomb(uint32(s - prev - 1))
			w.writeExpGolomb(zigzag(int(l) - prevLen))
			prev, prevLen = s, int(l)
		}
	}
	packed := w.bytes()
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(len(packed)))
	return append(b, packed...)
}

// appendStream writes a stream's table, then its size and bytes.
func appendStream(b []byte, s codedStream) []byte {
	b = append(b, s.table...)
	b = binary.AppendUvarint(b, uint64(len(s.data)))
	return append(b, s.data...)
}

func (s codedStream) size() int {
	return len(s.table) + len(binary.AppendUvarint(nil, uint64(len(s.data)))) + len(s.data)
}

// Record kinds.
const (
	recordCoded  = 1 // relative indices and codebook indices, Huffman-coded
	recordPlanes = 2 // a float32 tensor by byte planes
)

// appendRecordHead writes a record's kind, initializer index and dims.
func appendRecordHead(b []byte, kind byte, index int, dims []int64) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(index))
	b = binary.AppendUvarint(b, uint64(len(dims)))
	for _, d := range dims {
		b = binary.AppendUvarint(b, uint64(d))
	}
	return b
}

// appendCodebook writes the sorted distinct bit patterns: K, the first, then each next minus
// the previous minus 1.
func appendCodebook(b []byte, book []uint32) []byte {
	b = binary.AppendUvarint(b, uint64(len(book)))
	prev := int64(-1)
	for _, v := range book {
		b = binary.AppendUvarint(b, uint64(int64(v)-prev-1))
		prev = int64(v)
	}
	return b
}

// encodeTensor writes c's record as initializer index, choosing p (1…12) for the smallest
// record.
func encodeTensor(index int, c *codedTensor) ([]byte, ArchiveTensor) {
	best := -1
	var bestRuns, bestVals codedStream
	var bestE, bestFill int64
	for p := 1; p <= maxRunBits; p++ {
		runs, vals := relativeIndex(c.syms, p)
		rs, vs := codeStream(runs, 1<<p), codeStream(vals, len(c.book)+1)
		if best < 0 || rs.size()+vs.size() < bestRuns.size()+bestVals.size() {
			best, bestRuns, bestVals = p, rs, vs
			bestE = int64(len(runs))
			bestFill = bestE - c.nzero
		}
	}
	t := c.t
	b := appendRecordHead(nil, recordCoded, index, t.Dims)
	bookStart := len(b)
	b = appendCodebook(b, c.book)
	bookBytes := int64(len(b) - bookStart)
	b = append(b, byte(best))
	b = binary.AppendUvarint(b, uint64(bestE))
	b = appendStream(b, bestRuns)
	b = appendStream(b, bestVals)
	row := tensorRow(t.Name, t.DType, t.Dims, len(c.book), best, bestE, bestFill, c.nzero, 8*int64(len(bestRuns.data)), 8*int64(len(bestVals.data)), int64(len(b)))
	row.CodebookBytes = bookBytes
	row.Floor = floorOf(c.syms, len(c.book), rowLen(t.Dims))
	row.FloorBytes = row.Floor.Bits()/8 + float64(bookBytes)
	return b, row
}

// rowLen is the elements per index of the first dimension.
func rowLen(dims []int64) int {
	if len(dims) == 0 || dims[0] <= 0 {
		return 1
	}
	n := int64(1)
	for _, d := range dims[1:] {
		n *= d
	}
	return int(max(n, 1))
}

// encodePlanes writes a float32 tensor's record by byte planes: the top bytes (sign and seven
// exponent bits) Huffman-coded, the low three bytes as they are.
func encodePlanes(index int, t *onnxio.Tensor) []byte {
	top := make([]int, len(t.Float32))
	low := make([]byte, 0, 3*len(t.Float32))
	for i, v := range t.Float32 {
		u := math.Float32bits(v)
		top[i] = int(u >> 24)
		low = append(low, byte(u), byte(u>>8), byte(u>>16))
	}
	b := appendRecordHead(nil, recordPlanes, index, t.Dims)
	b = appendStream(b, codeStream(top, 256))
	return append(b, low...)
}

func tensorRow(name string, dt onnxio.DataType, dims []int64, k, p int, e, fill, nz, runBits, valBits, size int64) ArchiveTensor {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	r := ArchiveTensor{Name: name, DType: dt.String(), Shape: slices.Clone(dims), Params: n, NonZero: nz, Codebook: k,
		RunBits: p, Entries: e, Fillers: fill, Bytes: size,
		WeightBitsPQ: float64(bits.Len(uint(k))), // ⌈log2(K+1)⌉
	}
	if n > 0 {
		r.Kept = float64(nz) / float64(n)
	}
	if nz > 0 {
		r.WeightBitsPQH = float64(valBits) / float64(nz)
		r.IndexBitsPQ = float64(int64(p)*e) / float64(nz)
		r.IndexBitsPQH = float64(runBits) / float64(nz)
	}
	if size > 0 {
		r.Ratio = float64(n*int64(elemSize(dt))) / float64(size)
	}
	return r
}

// emptyTensor turns t into a placeholder: dims [0], no data, every other field kept.
func emptyTensor(t *onnxio.Tensor) {
	t.Dims = []int64{0}
	t.Float32, t.Raw = nil, nil
	if t.DType == onnxio.Float {
		t.Float32 = []float32{}
	} else {
		t.Raw = []byte{}
	}
}

// Archive writes m as a .uqz archive (the format above): every initializer of at least 64
// elements of type float32, uint8, int8, uint16 or int16 holding between 1 and 256 distinct
// non-zero values — the layers after Quantize, the int8 weights of Int8, the indices of Compact —
// is coded with relative indices and Huffman codes when that is smaller than its raw bytes;
// every other float32 initializer (biases) by byte planes when that is smaller; the rest of
// the model is kept losslessly in the deflated model section.
// Unarchive gives back a model whose Encode is byte-identical to m's. m is unchanged.
func Archive(m *onnxio.Model) ([]byte, *ArchiveLedger, error) {
	skel := m.Clone()
	onnxBytes, err := m.Encode()
	if err != nil {
		return nil, nil, fmt.Errorf("compress: archive: %w", err)
	}
	led := &ArchiveLedger{Version: ArchiveVersion, ONNXBytes: int64(len(onnxBytes))}
	var records [][]byte
	candidates := 0
	for i, t := range skel.Graph.Initializers {
		raw := t.NumElements() * int64(elemSize(t.DType))
		if c := chooseTensor(t); c != nil {
			candidates++
			if rec, row := encodeTensor(i, c); int64(len(rec)) < raw {
				records = append(records, rec)
				led.Tensors = append(led.Tensors, row)
				led.Params += row.Params
				led.NonZero += row.NonZero
				emptyTensor(t)
				continue
			} // else no smaller coded (a codebook, say)
		}
		if t.DType == onnxio.Float && t.NumElements() > 0 && t.NumElements() <= maxCodedElems && int64(len(t.Float32)) == t.NumElements() {
			if rec := encodePlanes(i, t); int64(len(rec)) < raw {
				records = append(records, rec)
				led.PlaneTensors++
				led.PlaneBytes += int64(len(rec))
				emptyTensor(t)
			}
		}
	}
	if candidates == 0 {
		return nil, nil, fmt.Errorf("compress: archive: no initializer of ≥ %d elements has 1 to %d distinct non-zero values; quantize the model first (k-means or int8): %w", minCodedElements, maxCodebook, onnxio.ErrUnsupported)
	}
	pb, err := skel.Encode()
	if err != nil {
		return nil, nil, fmt.Errorf("compress: archive: %w", err)
	}
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	fw.Write(pb)
	fw.Close()
	out := make([]byte, archiveHeader, archiveHeader+z.Len())
	out = append(out, z.Bytes()...)
	for _, r := range records {
		out = append(out, r...)
	}
	copy(out, ArchiveMagic)
	le := binary.LittleEndian
	le.PutUint16(out[8:], ArchiveVersion)
	le.PutUint16(out[10:], archiveHeader)
	le.PutUint64(out[16:], uint64(len(out)))
	le.PutUint32(out[24:], uint32(len(records)))
	le.PutUint64(out[32:], uint64(z.Len()))
	le.PutUint64(out[40:], uint64(len(pb)))
	le.PutUint32(out[12:], crc32.Checksum(out, crcTable))
	led.ModelBytes = int64(z.Len())
	led.ArchiveBytes = int64(len(out))
	led.Ratio = float64(led.ONNXBytes) / float64(led.ArchiveBytes)
	led.sumFloor()
	return out, led, nil
}

// archiveError is the error of a malformed archive.
func archiveError(format string, a ...any) error {
	return fmt.Errorf("compress: archive: %s: %w", fmt.Sprintf(format, a...), onnxio.ErrInvalidModel)
}

// reader walks the bytes of an archive, every read bounded by what is left.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = archiveError("at byte %d: %s", r.off, fmt.Sprintf(format, a...))
	}
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("%s: bad or truncated varint", what)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.left() < 1 {
		r.fail("%s: file ends", what)
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *reader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(r.left()) {
		r.fail("%s declares %d bytes; only %d are left", what, n, r.left())
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) table(alphabet int, what string) *huffDecoder {
	n := r.uvarint(what + " table size")
	packed := r.bytes(r.uvarint(what+" table bytes"), "the "+what+" table")
	if r.err != nil {
		return nil
	}
	// Each used symbol takes at least two bits.
	if n == 0 || n > uint64(alphabet) || n > 4*uint64(len(packed)) {
		r.fail("%s table lists %d symbols in %d bytes; want 1 to %d, at least 2 bits each", what, n, len(packed), alphabet)
		return nil
	}
	ls := make([]uint8, alphabet)
	br := &bitReader{buf: packed}
	sym, l := -1, 0
	for i := uint64(0); i < n; i++ {
		gap, err := br.readExpGolomb()
		if err != nil {
			r.fail("%s table, symbol %d of %d: %v", what, i+1, n, err)
			return nil
		}
		dl, err := br.readExpGolomb()
		if err != nil {
			r.fail("%s table, symbol %d of %d: %v", what, i+1, n, err)
			return nil
		}
		if uint64(gap) >= uint64(alphabet-sym-1) {
			r.fail("%s table: symbol beyond the alphabet of %d", what, alphabet)
			return nil
		}
		sym += int(gap) + 1
		l += unzigzag(dl)
		if l < 1 || l > maxCodeLen {
			r.fail("%s table: symbol %d has code length %d; want 1 to %d", what, sym, l, maxCodeLen)
			return nil
		}
		ls[sym] = uint8(l)
	}
	if (br.pos+7)/8 != int64(len(packed)) {
		r.fail("%s table: %d bytes hold %d bits of codes; want %d bytes", what, len(packed), br.pos, (br.pos+7)/8)
		return nil
	}
	d, err := newHuffDecoder(ls)
	if err != nil {
		r.fail("%s table: %v", what, err)
		return nil
	}
	return d
}

// decodeStream reads e symbols from a stream of data.
func decodeStream(d *huffDecoder, data []byte, e int) ([]int, error) {
	out := make([]int, e)
	br := &bitReader{buf: data}
	for i := range out {
		s, err := d.decode(br)
		if err != nil {
			return nil, fmt.Errorf("entry %d of %d: %v", i, e, err)
		}
		out[i] = s
	}
	return out, nil
}

// Unarchive reads a .uqz archive and returns the model it holds, with the archive's ledger. A malformed archive — truncated, corrupted,
// declaring sizes its bytes do not hold — is an error wrapping onnxio.ErrInvalidModel; a newer
// version wraps onnxio.ErrUnsupported.
func Unarchive(data []byte) (*onnxio.Model, *ArchiveLedger, error) {
	if len(data) < archiveHeader || !IsArchive(data) {
		if !IsArchive(data) {
			return nil, nil, archiveError("not a .uqz archive (no magic %q)", ArchiveMagic)
		}
		return nil, nil, archiveError("%d bytes; the header alone is %d: truncated", len(data), archiveHeader)
	}
	le := binary.LittleEndian
	if v := le.Uint16(data[8:]); v != ArchiveVersion {
		return nil, nil, fmt.Errorf("compress: archive: format version %d; this uqnn reads version %d: %w", v, ArchiveVersion, onnxio.ErrUnsupported)
	}
	if h := le.Uint16(data[10:]); h != archiveHeader {
		return nil, nil, archiveError("header size %d; want %d", h, archiveHeader)
	}
	if n := le.Uint64(data[16:]); n != uint64(len(data)) {
		return nil, nil, archiveError("header declares %d bytes; the file has %d (truncated or extended)", n, len(data))
	}
	want := le.Uint32(data[12:])
	c := crc32.Update(0, crcTable, data[:12])
	c = crc32.Update(c, crcTable, []byte{0, 0, 0, 0})
	c = crc32.Update(c, crcTable, data[16:])
	if c != want {
		return nil, nil, archiveError("checksum %08x; the header says %08x: the file is corrupted", c, want)
	}
	return decodeBody(data)
}

// decodeBody decodes a checksummed archive (separate so that the fuzzer reaches it).
func decodeBody(data []byte) (*onnxio.Model, *ArchiveLedger, error) {
	le := binary.LittleEndian
	nt := le.Uint32(data[24:])
	s, u := le.Uint64(data[32:]), le.Uint64(data[40:])
	if le.Uint32(data[28:]) != 0 {
		return nil, nil, archiveError("reserved header bytes 28–31 are not zero")
	}
	r := &reader{b: data, off: archiveHeader}
	z := r.bytes(s, "the model section")
	if r.err != nil {
		return nil, nil, r.err
	}
	if u > maxModelSection || u > 1032*s+64 {
		return nil, nil, archiveError("model section of %d bytes declares %d bytes inflated; want at most min(1032×%d+64, 2 GiB)", s, u, s)
	}
	pb := make([]byte, u)
	fr := flate.NewReader(bytes.NewReader(z))
	if _, err := io.ReadFull(fr, pb); err != nil {
		return nil, nil, archiveError("model section: inflating: %v (want %d bytes)", err, u)
	}
	if n, err := fr.Read(make([]byte, 1)); n != 0 || (err != io.EOF) {
		return nil, nil, archiveError("model section inflates to more than the declared %d bytes, or is malformed", u)
	}
	m, err := onnxio.Decode(pb, "")
	if err != nil {
		return nil, nil, fmt.Errorf("compress: archive: model section: %w", err)
	}
	led := &ArchiveLedger{Version: ArchiveVersion, ModelBytes: int64(s), ArchiveBytes: int64(len(data))}
	// The restored encoding is the skeleton plus the records' raw bytes (give or take the few
	// bytes of their length fields); Encode is not worth its time here.
	led.ONNXBytes = int64(u)
	done := map[uint64]bool{}
	for i := uint32(0); i < nt; i++ {
		start := r.off
		row, planes, err := decodeRecord(r, m, done)
		if err != nil {
			return nil, nil, fmt.Errorf("compress: archive: record %d of %d: %w", i+1, nt, err)
		}
		size := int64(r.off - start)
		led.ONNXBytes += row.Params * int64(elemSize(dtypeOf(row.DType)))
		if planes {
			led.PlaneTensors++
			led.PlaneBytes += size
			continue
		}
		row.Bytes = size
		row.Ratio = float64(row.Params*int64(elemSize(dtypeOf(row.DType)))) / float64(row.Bytes)
		led.Tensors = append(led.Tensors, row)
		led.Params += row.Params
		led.NonZero += row.NonZero
	}
	if r.left() != 0 {
		return nil, nil, archiveError("%d bytes follow the last record", r.left())
	}
	led.Ratio = float64(led.ONNXBytes) / float64(max(led.ArchiveBytes, 1))
	led.sumFloor()
	return m, led, nil
}

func dtypeOf(name string) onnxio.DataType {
	for _, d := range []onnxio.DataType{onnxio.Float, onnxio.Uint8, onnxio.Int8, onnxio.Uint16, onnxio.Int16} {
		if d.String() == name {
			return d
		}
	}
	return onnxio.Undefined
}

// decodeRecord reads one record into its placeholder initializer of m; planes reports a
// byte-plane record (whose row has only the name, type, shape and params).
func decodeRecord(r *reader, m *onnxio.Model, done map[uint64]bool) (row ArchiveTensor, planes bool, err error) {
	fail := func(format string, a ...any) (ArchiveTensor, bool, error) {
		return ArchiveTensor{}, false, archiveError("at byte %d: %s", r.off, fmt.Sprintf(format, a...))
	}
	kind := r.byte("record kind")
	index := r.uvarint("initializer index")
	rank := r.uvarint("rank")
	if r.err != nil {
		return ArchiveTensor{}, false, r.err
	}
	if kind != recordCoded && kind != recordPlanes {
		return fail("record kind %d; want %d (coded) or %d (byte planes)", kind, recordCoded, recordPlanes)
	}
	inits := m.Graph.Initializers
	if index >= uint64(len(inits)) {
		return fail("initializer index %d; the model section has %d initializers", index, len(inits))
	}
	t := inits[index]
	name := t.Name
	sz := elemSize(t.DType)
	switch {
	case done[index]:
		return fail("initializer %d (%q) is restored twice", index, name)
	case len(t.Dims) != 1 || t.Dims[0] != 0:
		return fail("initializer %d (%q): the model section holds it as %v %v; want an empty placeholder, dims [0]", index, name, t.DType, t.Dims)
	case sz == 0:
		return fail("initializer %d (%q): data type %v; want float32, uint8, int8, uint16 or int16", index, name, t.DType)
	case kind == recordPlanes && t.DType != onnxio.Float:
		return fail("initializer %d (%q): byte planes of a %v tensor; want float32", index, name, t.DType)
	}
	if rank > maxRank {
		return fail("tensor %q: rank %d; want at most %d", name, rank, maxRank)
	}
	dims := make([]int64, rank)
	n := uint64(1)
	for i := range dims {
		d := r.uvarint("dimension")
		if r.err != nil {
			return ArchiveTensor{}, false, r.err
		}
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > maxCodedElems {
			return fail("tensor %q: dims exceed %d elements", name, maxCodedElems)
		}
		n, dims[i] = lo, int64(d)
	}
	if kind == recordPlanes {
		if err := decodePlanes(r, t, n); err != nil {
			return ArchiveTensor{}, false, err
		}
		t.Dims = dims
		done[index] = true
		return ArchiveTensor{Name: name, DType: t.DType.String(), Shape: dims, Params: int64(n)}, true, nil
	}
	row, err = decodeTensor(r, t, dims, n)
	if err != nil {
		return ArchiveTensor{}, false, err
	}
	done[index] = true
	return row, false, nil
}

// decodePlanes reads the byte planes of n float32 elements into t.
func decodePlanes(r *reader, t *onnxio.Tensor, n uint64) error {
	d := r.table(256, "top byte")
	stream := r.bytes(r.uvarint("top byte stream size"), "the top byte stream")
	if r.err == nil && (n > 8*uint64(len(stream)) || 3*n > uint64(r.left())) {
		r.fail("tensor %q: %d elements need more than the %d-byte top byte stream or the %d bytes left", t.Name, n, len(stream), r.left())
	}
	low := r.bytes(3*n, "the low bytes")
	if r.err != nil {
		return r.err
	}
	top, err := decodeStream(d, stream, int(n))
	if err != nil {
		return archiveError("at byte %d: tensor %q: top byte stream: %v", r.off, t.Name, err)
	}
	w := make([]float32, n)
	for i := range w {
		w[i] = math.Float32frombits(uint32(top[i])<<24 | uint32(low[3*i+2])<<16 | uint32(low[3*i+1])<<8 | uint32(low[3*i]))
	}
	t.Float32 = w
	return nil
}

// decodeTensor reads the rest of a coded record (codebook on) into its placeholder t.
func decodeTensor(r *reader, t *onnxio.Tensor, dims []int64, n uint64) (ArchiveTensor, error) {
	name := t.Name
	fail := func(format string, a ...any) (ArchiveTensor, error) {
		return ArchiveTensor{}, archiveError("at byte %d: %s", r.off, fmt.Sprintf(format, a...))
	}
	sz := elemSize(t.DType)
	bookStart := r.off
	k := r.uvarint("codebook size")
	if r.err != nil {
		return ArchiveTensor{}, r.err
	}
	if k < 1 || k > maxCodebook {
		return fail("tensor %q: codebook of %d values; want 1 to %d", name, k, maxCodebook)
	}
	book := make([]uint32, k)
	v, limit := int64(-1), int64(1)<<(8*sz)
	for i := range book {
		d := r.uvarint("codebook value")
		if r.err != nil {
			return ArchiveTensor{}, r.err
		}
		if d >= uint64(limit) || v+1+int64(d) >= limit {
			return fail("tensor %q: codebook value %d lies beyond the %d-byte type", name, i+1, sz)
		}
		v += 1 + int64(d)
		book[i] = uint32(v)
	}
	if book[0] == 0 {
		return fail("tensor %q: codebook holds the zero bit pattern", name)
	}
	bookBytes := int64(r.off - bookStart)
	p := int(r.byte("relative-index width"))
	e := r.uvarint("entry count")
	if r.err != nil {
		return ArchiveTensor{}, r.err
	}
	if p < 1 || p > maxRunBits {
		return fail("tensor %q: relative-index width %d bits; want 1 to %d", name, p, maxRunBits)
	}
	// Each entry takes at least one bit in each stream, and covers at most 2^p elements.
	if e > 8*uint64(r.left()) || e > n || e*(1<<p) < n {
		return fail("tensor %q: %d entries for %d elements with %d-bit runs and %d bytes left; impossible", name, e, n, p, r.left())
	}
	rd := r.table(1<<p, "run")
	rs := r.bytes(r.uvarint("run stream size"), "the run stream")
	vd := r.table(int(k)+1, "value")
	vs := r.bytes(r.uvarint("value stream size"), "the value stream")
	if r.err != nil {
		return ArchiveTensor{}, r.err
	}
	if e > 8*uint64(len(rs)) || e > 8*uint64(len(vs)) {
		return fail("tensor %q: %d entries need more bits than the streams' %d and %d bytes", name, e, len(rs), len(vs))
	}
	runs, err := decodeStream(rd, rs, int(e))
	if err != nil {
		return fail("tensor %q: run stream: %v", name, err)
	}
	vals, err := decodeStream(vd, vs, int(e))
	if err != nil {
		return fail("tensor %q: value stream: %v", name, err)
	}
	var total uint64
	for _, rn := range runs {
		total += uint64(rn) + 1
	}
	if total != n {
		return fail("tensor %q: the entries cover %d elements; the dims %v hold %d", name, total, dims, n)
	}
	// Restore, keeping each element's symbol for the floor.
	var nz, fill int64
	syms := make([]uint16, n)
	pos := 0
	for i, rn := range runs {
		pos += rn
		if v := vals[i]; v > 0 {
			syms[pos] = uint16(v)
			nz++
		} else {
			fill++
		}
		pos++
	}
	if t.DType == onnxio.Float {
		w := make([]float32, n)
		for i, s := range syms {
			if s > 0 {
				w[i] = math.Float32frombits(book[s-1])
			}
		}
		t.Float32 = w
	} else {
		raw := make([]byte, n*uint64(sz))
		for i, s := range syms {
			if s > 0 {
				if sz == 1 {
					raw[i] = byte(book[s-1])
				} else {
					binary.LittleEndian.PutUint16(raw[2*i:], uint16(book[s-1]))
				}
			}
		}
		t.Raw = raw
	}
	t.Dims = dims
	row := tensorRow(name, t.DType, dims, int(k), p, int64(e), fill, nz, int64(8*len(rs)), int64(8*len(vs)), 0)
	row.CodebookBytes = bookBytes
	row.Floor = floorOf(syms, int(k), rowLen(dims))
	row.FloorBytes = row.Floor.Bits()/8 + float64(bookBytes)
	return row, nil
}
