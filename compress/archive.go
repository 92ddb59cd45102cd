package compress

// # The .uqz archive, version 1
//
// Archive writes, and Unarchive reads, a pruned and weight-shared model as Deep Compression
// stores it (Han et al. ICLR 2016, §2 and §4): per coded tensor, the positions of its non-zeros
// as relative indices and its codebook indices, each stream Huffman-coded with its own
// canonical code; everything else of the model lossless in a deflated ONNX protobuf.
//
// All integers are little-endian; "uvarint" is the unsigned LEB128 varint of Go's
// encoding/binary (at most 10 bytes). The file is:
//
//	offset size  field
//	0      8     magic 0x89 'U' 'Q' 'Z' 0x0D 0x0A 0x1A 0x0A
//	8      2     version: 1
//	10     2     header size: 48
//	12     4     CRC-32C (Castagnoli) of the whole file, computed with these 4 bytes zero
//	16     8     file size in bytes (the whole file, header included)
//	24     4     T: number of coded tensors
//	28     4     reserved: 0
//	32     8     S: size of the model section in bytes
//	40     8     U: size of the model section once inflated (≤ 1032·S + 64, ≤ 2 GiB)
//	48     S     model section: raw DEFLATE (RFC 1951) of the ONNX ModelProto in which every
//	             coded initializer keeps its name, type and other fields but has dims [0] and
//	             no data
//	48+S   …     T coded tensors, back to back, then end of file (nothing may follow)
//
// A coded tensor is:
//
//	uvarint   name length L (≥ 1), then L bytes: the initializer's name, which the model
//	          section must hold with dims [0] and this data type, once
//	1 byte    data type, ONNX's numbering: 1 float32, 2 uint8, 3 int8, 4 uint16, 5 int16
//	uvarint   rank R (≤ 8), then R uvarints: the dims; N, their product, ≤ 2^31
//	uvarint   K, the codebook size, 1 ≤ K ≤ 256
//	K values  the codebook: the tensor's distinct non-zero values (by bit pattern; −0.0 is
//	          non-zero) in increasing order of bit pattern, each in the type's little-endian
//	          raw layout (4, 1, 1, 2 or 2 bytes)
//	1 byte    p, the relative-index width in bits, 1 ≤ p ≤ 12
//	uvarint   E, the number of entries (≤ 8 × the bytes left in the file)
//	table     the run code: uvarint n (≤ 2^p), then n pairs (uvarint gap, 1 byte length): the
//	          used symbols in increasing order, each the previous plus 1 plus gap (the first:
//	          gap), with its code length 1…24
//	table     the value code, the same way over the alphabet 0…K
//	uvarint   size of the run stream in bytes, then the stream
//	uvarint   size of the value stream in bytes, then the stream
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
// Writing is deterministic: the same model gives the same bytes.

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
const ArchiveVersion = 1

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

// ArchiveTensor is one row of an ArchiveLedger: a coded tensor with Deep Compression's
// accounting (Han et al. 2016, Table 1: P pruning, Q quantization, H Huffman coding). Bits are
// per non-zero weight.
type ArchiveTensor struct {
	Name    string  `json:"name"`
	DType   string  `json:"dtype"`
	Shape   []int64 `json:"shape"`
	Params  int64   `json:"params"`
	NonZero int64   `json:"nonzero"`
	Kept    float64 `json:"kept"`
	// Codebook is K, the number of distinct non-zero values.
	Codebook int `json:"codebook"`
	// RunBits is p, the relative-index width; Entries counts the entries, Fillers those
	// that stand for a zero (gap bridges and the trailing zeros).
	RunBits int   `json:"run_bits"`
	Entries int64 `json:"entries"`
	Fillers int64 `json:"fillers"`
	// WeightBitsPQ is the fixed width of a codebook index, ⌈log2(K+1)⌉ (K values and the
	// filler zero); WeightBitsPQH the value stream's bits per non-zero after Huffman coding.
	// IndexBitsPQ is p·Entries/NonZero (fixed-width relative indices, fillers included);
	// IndexBitsPQH the run stream's bits per non-zero.
	WeightBitsPQ  float64 `json:"weight_bits_pq"`
	WeightBitsPQH float64 `json:"weight_bits_pqh"`
	IndexBitsPQ   float64 `json:"index_bits_pq"`
	IndexBitsPQH  float64 `json:"index_bits_pqh"`
	// Bytes is the size of the tensor's record in the archive; Ratio is the raw tensor's
	// size (N × element size) over Bytes.
	Bytes int64   `json:"bytes"`
	Ratio float64 `json:"ratio"`
}

// ArchiveLedger accounts for an archive: one row per coded tensor, the model section, and the
// whole file against the ONNX encoding of the model it holds.
type ArchiveLedger struct {
	Version      int             `json:"version"`
	Tensors      []ArchiveTensor `json:"tensors"`
	Params       int64           `json:"params"`
	NonZero      int64           `json:"nonzero"`
	ModelBytes   int64           `json:"model_bytes"`   // the deflated model section
	ArchiveBytes int64           `json:"archive_bytes"` // the whole file
	ONNXBytes    int64           `json:"onnx_bytes"`    // the model's ONNX encoding (Unarchive: to within each coded tensor's few length bytes)
	Ratio        float64         `json:"ratio"`         // ONNXBytes / ArchiveBytes
	// SourceBytes is the caller's: the size of the model compression started from (the
	// float32 ONNX file), shown with its ratio when set.
	SourceBytes int64 `json:"source_bytes,omitempty"`
}

// WriteTable writes the ledger as an aligned text table.
func (l *ArchiveLedger) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-24s %16s %8s %6s %4s %6s %6s %6s %6s %8s %7s\n", "TENSOR", "SHAPE", "PARAMS", "KEPT", "K",
		"W P+Q", "P+Q+H", "I P+Q", "P+Q+H", "BYTES", "RATIO")
	for _, t := range l.Tensors {
		fmt.Fprintf(&b, "%-24s %16s %8d %5.1f%% %4d %6.2f %6.2f %6.2f %6.2f %8d %6.1f×\n", t.Name, fmt.Sprint(t.Shape), t.Params,
			100*t.Kept, t.Codebook, t.WeightBitsPQ, t.WeightBitsPQH, t.IndexBitsPQ, t.IndexBitsPQH, t.Bytes, t.Ratio)
	}
	kept := 0.0
	if l.Params > 0 {
		kept = float64(l.NonZero) / float64(l.Params)
	}
	fmt.Fprintf(&b, "coded tensors: %d params, %.1f%% kept; model section %d bytes (deflated)\n", l.Params, 100*kept, l.ModelBytes)
	fmt.Fprintf(&b, "archive %d bytes (format version %d); ONNX encoding %d bytes: %.1f× smaller\n", l.ArchiveBytes, l.Version, l.ONNXBytes, l.Ratio)
	if l.SourceBytes > 0 {
		fmt.Fprintf(&b, "source model %d bytes: %.1f× smaller\n", l.SourceBytes, float64(l.SourceBytes)/float64(max(l.ArchiveBytes, 1)))
	}
	_, err := w.Write(b.Bytes())
	return err
}

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
	return codedStream{lengths: ls, data: data, bits: n}
}

func appendTable(b []byte, ls []uint8) []byte {
	n := 0
	for _, l := range ls {
		if l > 0 {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	prev := -1
	for s, l := range ls {
		if l > 0 {
			b = binary.AppendUvarint(b, uint64(s-prev-1))
			b = append(b, l)
			prev = s
		}
	}
	return b
}

func (s codedStream) size() int {
	return len(appendTable(nil, s.lengths)) + len(binary.AppendUvarint(nil, uint64(len(s.data)))) + len(s.data)
}

// encodeTensor writes c's record, choosing p (1…12) for the smallest record.
func encodeTensor(c *codedTensor) ([]byte, ArchiveTensor) {
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
	sz := elemSize(t.DType)
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(t.Name)))
	b = append(b, t.Name...)
	b = append(b, byte(t.DType))
	b = binary.AppendUvarint(b, uint64(len(t.Dims)))
	for _, d := range t.Dims {
		b = binary.AppendUvarint(b, uint64(d))
	}
	b = binary.AppendUvarint(b, uint64(len(c.book)))
	for _, v := range c.book {
		switch sz {
		case 4:
			b = binary.LittleEndian.AppendUint32(b, v)
		case 2:
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		default:
			b = append(b, byte(v))
		}
	}
	b = append(b, byte(best))
	b = binary.AppendUvarint(b, uint64(bestE))
	b = appendTable(b, bestRuns.lengths)
	b = appendTable(b, bestVals.lengths)
	b = binary.AppendUvarint(b, uint64(len(bestRuns.data)))
	b = append(b, bestRuns.data...)
	b = binary.AppendUvarint(b, uint64(len(bestVals.data)))
	b = append(b, bestVals.data...)
	row := tensorRow(t.Name, t.DType, t.Dims, len(c.book), best, bestE, bestFill, c.nzero, 8*int64(len(bestRuns.data)), 8*int64(len(bestVals.data)), int64(len(b)))
	return b, row
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

// Archive writes m as a .uqz archive (the format above): every initializer of at least 64
// elements of type float32, uint8, int8, uint16 or int16 holding between 1 and 256 distinct
// non-zero values — the layers after Quantize, the int8 weights of Int8, the indices of Compact —
// is coded with relative indices and Huffman codes when that is smaller than its raw bytes; the
// rest of the model is kept losslessly.
// Unarchive gives back a model whose Encode is byte-identical to m's. m is unchanged.
func Archive(m *onnxio.Model) ([]byte, *ArchiveLedger, error) {
	skel := m.Clone()
	var coded []*codedTensor
	for _, t := range skel.Graph.Initializers {
		if c := chooseTensor(t); c != nil {
			coded = append(coded, c)
		}
	}
	if len(coded) == 0 {
		return nil, nil, fmt.Errorf("compress: archive: no initializer of ≥ %d elements has 1 to %d distinct non-zero values; quantize the model first (k-means or int8): %w", minCodedElements, maxCodebook, onnxio.ErrUnsupported)
	}
	onnxBytes, err := m.Encode()
	if err != nil {
		return nil, nil, fmt.Errorf("compress: archive: %w", err)
	}
	led := &ArchiveLedger{Version: ArchiveVersion, ONNXBytes: int64(len(onnxBytes))}
	var records [][]byte
	for _, c := range coded {
		rec, row := encodeTensor(c)
		if int64(len(rec)) >= c.t.NumElements()*int64(elemSize(c.t.DType)) {
			continue // no smaller coded (a codebook, say): it stays in the model section
		}
		records = append(records, rec)
		led.Tensors = append(led.Tensors, row)
		led.Params += row.Params
		led.NonZero += row.NonZero
		// Empty the initializer in the skeleton: dims [0], no data, every other field kept.
		c.t.Dims = []int64{0}
		c.t.Float32, c.t.Raw = nil, nil
		if c.t.DType == onnxio.Float {
			c.t.Float32 = []float32{}
		} else {
			c.t.Raw = []byte{}
		}
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
	if r.err != nil {
		return nil
	}
	if n == 0 || n > uint64(alphabet) {
		r.fail("%s table lists %d symbols; want 1 to %d", what, n, alphabet)
		return nil
	}
	ls := make([]uint8, alphabet)
	sym := -1
	for i := uint64(0); i < n; i++ {
		gap := r.uvarint(what + " table symbol")
		l := r.byte(what + " table length")
		if r.err != nil {
			return nil
		}
		if gap >= uint64(alphabet-sym-1) {
			r.fail("%s table: symbol beyond the alphabet of %d", what, alphabet)
			return nil
		}
		sym += int(gap) + 1
		if l == 0 {
			r.fail("%s table: symbol %d has code length 0", what, sym)
			return nil
		}
		ls[sym] = l
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
	done := map[string]bool{}
	for i := uint32(0); i < nt; i++ {
		start := r.off
		row, err := decodeTensor(r, m, done)
		if err != nil {
			return nil, nil, fmt.Errorf("compress: archive: coded tensor %d of %d: %w", i+1, nt, err)
		}
		row.Bytes = int64(r.off - start)
		if row.Bytes > 0 {
			row.Ratio = float64(row.Params*int64(elemSize(dtypeOf(row.DType)))) / float64(row.Bytes)
		}
		led.Tensors = append(led.Tensors, row)
		led.Params += row.Params
		led.NonZero += row.NonZero
	}
	if r.left() != 0 {
		return nil, nil, archiveError("%d bytes follow the last coded tensor", r.left())
	}
	// The restored encoding is the skeleton plus the coded tensors' raw bytes (give or take the
	// few bytes of their length fields); Encode is not worth its time here.
	led.ONNXBytes = int64(u)
	for _, t := range led.Tensors {
		led.ONNXBytes += t.Params * int64(elemSize(dtypeOf(t.DType)))
	}
	led.Ratio = float64(led.ONNXBytes) / float64(max(led.ArchiveBytes, 1))
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

// decodeTensor reads one coded tensor record into its placeholder initializer of m.
func decodeTensor(r *reader, m *onnxio.Model, done map[string]bool) (ArchiveTensor, error) {
	fail := func(format string, a ...any) (ArchiveTensor, error) {
		return ArchiveTensor{}, archiveError("at byte %d: %s", r.off, fmt.Sprintf(format, a...))
	}
	nameLen := r.uvarint("name length")
	name := string(r.bytes(nameLen, "the name"))
	dt := onnxio.DataType(r.byte("data type"))
	rank := r.uvarint("rank")
	if r.err != nil {
		return ArchiveTensor{}, r.err
	}
	if nameLen == 0 {
		return fail("empty tensor name")
	}
	sz := elemSize(dt)
	if sz == 0 {
		return fail("tensor %q: data type %d; want 1 (float32), 2 (uint8), 3 (int8), 4 (uint16) or 5 (int16)", name, dt)
	}
	if rank > maxRank {
		return fail("tensor %q: rank %d; want at most %d", name, rank, maxRank)
	}
	dims := make([]int64, rank)
	n := uint64(1)
	for i := range dims {
		d := r.uvarint("dimension")
		if r.err != nil {
			return ArchiveTensor{}, r.err
		}
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > maxCodedElems {
			return fail("tensor %q: dims exceed %d elements", name, maxCodedElems)
		}
		n, dims[i] = lo, int64(d)
	}
	t := m.Initializer(name)
	switch {
	case t == nil:
		return fail("tensor %q: the model section has no such initializer", name)
	case done[name]:
		return fail("tensor %q is coded twice", name)
	case t.DType != dt || len(t.Dims) != 1 || t.Dims[0] != 0:
		return fail("tensor %q: the model section holds it as %v %v; want an empty %v placeholder", name, t.DType, t.Dims, dt)
	}
	k := r.uvarint("codebook size")
	if r.err != nil {
		return ArchiveTensor{}, r.err
	}
	if k < 1 || k > maxCodebook {
		return fail("tensor %q: codebook of %d values; want 1 to %d", name, k, maxCodebook)
	}
	bookRaw := r.bytes(k*uint64(sz), "the codebook")
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
	vd := r.table(int(k)+1, "value")
	rs := r.bytes(r.uvarint("run stream size"), "the run stream")
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
	// Restore.
	var nz, fill int64
	book := bookRaw
	if t.DType == onnxio.Float {
		w := make([]float32, n)
		pos := 0
		for i, rn := range runs {
			pos += rn
			if v := vals[i]; v > 0 {
				w[pos] = math.Float32frombits(binary.LittleEndian.Uint32(book[4*(v-1):]))
				nz++
			} else {
				fill++
			}
			pos++
		}
		t.Float32 = w
	} else {
		raw := make([]byte, n*uint64(sz))
		pos := 0
		for i, rn := range runs {
			pos += rn
			if v := vals[i]; v > 0 {
				copy(raw[pos*sz:(pos+1)*sz], book[(v-1)*sz:v*sz])
				nz++
			} else {
				fill++
			}
			pos++
		}
		t.Raw = raw
	}
	t.Dims = dims
	done[name] = true
	return tensorRow(name, dt, dims, int(k), p, int64(e), fill, nz, int64(8*len(rs)), int64(8*len(vs)), 0), nil
}
