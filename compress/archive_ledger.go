package compress

import (
	"bytes"
	"fmt"
	"io"
)

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
	// CodebookBytes is the stored codebook's size; Floor the entropy floor of the two streams
	// (see floor.go), and FloorBytes the record's floor: Floor.Bits()/8 plus CodebookBytes.
	CodebookBytes int64       `json:"codebook_bytes"`
	Floor         TensorFloor `json:"floor"`
	FloorBytes    float64     `json:"floor_bytes"`
}

// ArchiveLedger accounts for an archive: one row per coded tensor, the model section, and the
// whole file against the ONNX encoding of the model it holds.
type ArchiveLedger struct {
	Version    int             `json:"version"`
	Tensors    []ArchiveTensor `json:"tensors"`
	Params     int64           `json:"params"`
	NonZero    int64           `json:"nonzero"`
	ModelBytes int64           `json:"model_bytes"` // the deflated model section
	// PlaneTensors counts the float32 initializers stored by byte planes (biases and other
	// uncoded float tensors), PlaneBytes their records' bytes.
	PlaneTensors int     `json:"plane_tensors"`
	PlaneBytes   int64   `json:"plane_bytes"`
	ArchiveBytes int64   `json:"archive_bytes"` // the whole file
	ONNXBytes    int64   `json:"onnx_bytes"`    // the model's ONNX encoding (Unarchive: to within each coded tensor's few length bytes)
	Ratio        float64 `json:"ratio"`         // ONNXBytes / ArchiveBytes
	// SourceBytes is the caller's: the size of the model compression started from (the
	// float32 ONNX file), shown with its ratio when set.
	SourceBytes int64 `json:"source_bytes,omitempty"`
	// FloorBytes is the archive's entropy floor: the coded tensors' FloorBytes plus what the
	// archive stores unmodelled (the model section and the byte-plane records) at its stored
	// size. No coder of these streams under the floor's models does better; ArchiveBytes
	// over FloorBytes is how far the archive is from it.
	FloorBytes float64 `json:"floor_bytes"`
}

// sumFloor fills FloorBytes from the rows and the stored sections.
func (l *ArchiveLedger) sumFloor() {
	l.FloorBytes = float64(l.ModelBytes + l.PlaneBytes)
	for _, t := range l.Tensors {
		l.FloorBytes += t.FloorBytes
	}
}

// WriteTable writes the ledger as an aligned text table.
func (l *ArchiveLedger) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-24s %16s %8s %6s %4s %6s %6s %6s %6s %8s %7s %8s\n", "TENSOR", "SHAPE", "PARAMS", "KEPT", "K",
		"W P+Q", "P+Q+H", "I P+Q", "P+Q+H", "BYTES", "RATIO", "FLOOR")
	for _, t := range l.Tensors {
		fmt.Fprintf(&b, "%-24s %16s %8d %5.1f%% %4d %6.2f %6.2f %6.2f %6.2f %8d %6.1f× %8.0f\n", t.Name, fmt.Sprint(t.Shape), t.Params,
			100*t.Kept, t.Codebook, t.WeightBitsPQ, t.WeightBitsPQH, t.IndexBitsPQ, t.IndexBitsPQH, t.Bytes, t.Ratio, t.FloorBytes)
	}
	kept := 0.0
	if l.Params > 0 {
		kept = float64(l.NonZero) / float64(l.Params)
	}
	fmt.Fprintf(&b, "coded tensors: %d params, %.1f%% kept; model section %d bytes (deflated); %d float tensors by byte planes, %d bytes\n",
		l.Params, 100*kept, l.ModelBytes, l.PlaneTensors, l.PlaneBytes)
	fmt.Fprintf(&b, "archive %d bytes (format version %d); ONNX encoding %d bytes: %.1f× smaller\n", l.ArchiveBytes, l.Version, l.ONNXBytes, l.Ratio)
	if l.FloorBytes > 0 {
		var mask, idx, book float64
		for _, t := range l.Tensors {
			mask += t.Floor.MaskBits / 8
			idx += t.Floor.IndexBits / 8
			book += float64(t.CodebookBytes)
		}
		fmt.Fprintf(&b, "entropy floor %.0f bytes (positions %.0f, codebook indices %.0f, codebooks %.0f, model section and byte planes %d as stored): archive %.2f× the floor\n",
			l.FloorBytes, mask, idx, book, l.ModelBytes+l.PlaneBytes, float64(l.ArchiveBytes)/l.FloorBytes)
	}
	if l.SourceBytes > 0 {
		fmt.Fprintf(&b, "source model %d bytes: %.1f× smaller\n", l.SourceBytes, float64(l.SourceBytes)/float64(max(l.ArchiveBytes, 1)))
	}
	_, err := w.Write(b.Bytes())
	return err
}
