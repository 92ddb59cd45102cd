package compress

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/uqnn/uqnn/onnxio"
)

// MetaKey is the metadata_props key under which compressions are recorded. Its value is a JSON
// array of Record, oldest first: each pass applied to a model appends one element, so a chain
// (magnitude pruning, then quantization, ...) reads in order.
const MetaKey = "uqnn.compression"

// Record describes one compression applied to a model.
type Record struct {
	// Method names the pass: "magnitude", "filter", "sdr", ...
	Method string `json:"method"`
	// Params holds the pass's hyperparameters as the caller states them (a Config struct, a
	// map); it must marshal to JSON.
	Params any `json:"params,omitempty"`
	// SourceSHA256 is the hex SHA-256 of the model the pass started from: of its file bytes
	// when it was read from a file (what `sha256sum` prints), else of ModelSHA256.
	SourceSHA256 string `json:"source_sha256"`
	// Kept is the fraction of layer weights left non-zero, when the pass knows it.
	Kept float64 `json:"kept,omitempty"`
}

// SHA256 is the hex SHA-256 of data.
func SHA256(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// ModelSHA256 is the hex SHA-256 of m's encoding (all tensors inline).
func ModelSHA256(m *onnxio.Model) (string, error) {
	b, err := m.Encode()
	if err != nil {
		return "", fmt.Errorf("compress: hashing the source model: %w", err)
	}
	return SHA256(b), nil
}

// Annotate appends rec to m's MetaKey record (creating it when absent). A present value that
// is not a JSON array of records is an error naming the key, and m is left unchanged.
func Annotate(m *onnxio.Model, rec Record) error {
	if rec.Method == "" {
		return fmt.Errorf("compress: annotate: empty method name")
	}
	if len(rec.SourceSHA256) != 64 {
		return fmt.Errorf("compress: annotate: source SHA-256 %q; want 64 hex digits", rec.SourceSHA256)
	}
	if _, err := hex.DecodeString(rec.SourceSHA256); err != nil {
		return fmt.Errorf("compress: annotate: source SHA-256 %q; want 64 hex digits", rec.SourceSHA256)
	}
	if _, err := Records(m); err != nil {
		return err
	}
	// Earlier records are kept byte for byte (fields this version does not know included).
	var raw []json.RawMessage
	if v, ok := m.Meta(MetaKey); ok {
		if err := json.Unmarshal([]byte(v), &raw); err != nil {
			return fmt.Errorf("compress: metadata %q: %v", MetaKey, err)
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("compress: annotate %s: parameters do not marshal to JSON: %w", rec.Method, err)
	}
	raw = append(raw, b)
	out, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("compress: annotate: %w", err)
	}
	m.SetMeta(MetaKey, string(out))
	return nil
}

// Records returns the compressions recorded in m, oldest first (nil when none). Params come
// back as generic JSON values (maps, slices, float64).
func Records(m *onnxio.Model) ([]Record, error) {
	v, ok := m.Meta(MetaKey)
	if !ok {
		return nil, nil
	}
	var recs []Record
	if err := json.Unmarshal([]byte(v), &recs); err != nil {
		return nil, fmt.Errorf("compress: metadata %q is not a JSON array of compression records: %v: %w", MetaKey, err, onnxio.ErrInvalidModel)
	}
	return recs, nil
}
