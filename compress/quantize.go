package compress

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/uqnn/uqnn/onnxio"
)

// QuantizeConfig chooses how Quantize shares weights. The zero value quantizes nothing; set
// Bits (ParseQuantize reads the CLI's form) or Int8.
type QuantizeConfig struct {
	// Bits is the index width per layer for k-means weight sharing, keyed by layer name,
	// weight initializer name, op class ("conv" for Conv, "fc" for Gemm and MatMul) or "*"
	// (every layer), most specific first. A layer gets 2^bits centroids, or 2^bits − 1 when
	// it holds pruned zeros (index 0 then stands for the zero, so every index still fits in
	// bits bits). Deep Compression's default is conv=8, fc=5. Layers with no entry stay
	// float. Bits run from 1 to 8.
	Bits map[string]int `json:"bits,omitempty"`
	// Iterations bounds Lloyd's iterations; 0 means DefaultKMeansIterations.
	Iterations int `json:"iterations,omitempty"`
	// Int8 selects linear quantization instead: per-channel symmetric int8 weights (Int8).
	Int8 bool `json:"int8,omitempty"`
}

// DeepCompressionBits is Han et al.'s (2016) index width: 8 bits for Conv layers, 5 for fully
// connected ones.
var DeepCompressionBits = map[string]int{"conv": 8, "fc": 5}

// ParseQuantize reads the --quantize flag: "int8"; one number of bits for every layer ("5");
// or comma-separated key=bits pairs, keys as in QuantizeConfig.Bits ("conv=8,fc=5").
func ParseQuantize(s string) (QuantizeConfig, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "int8") {
		return QuantizeConfig{Int8: true}, nil
	}
	bits := map[string]int{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			key, val = "*", part
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		b, err := strconv.Atoi(val)
		if err != nil || b < 1 || b > 8 || key == "" {
			return QuantizeConfig{}, fmt.Errorf("compress: quantize %q: part %q; want int8, a number of bits from 1 to 8, or key=bits pairs such as conv=8,fc=5", s, part)
		}
		if _, dup := bits[key]; dup {
			return QuantizeConfig{}, fmt.Errorf("compress: quantize %q: %q given twice", s, key)
		}
		bits[key] = b
	}
	return QuantizeConfig{Bits: bits}, nil
}

// String is the flag form ParseQuantize reads back.
func (c QuantizeConfig) String() string {
	if c.Int8 {
		return "int8"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.Bits)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c.Bits[k]))
	}
	return strings.Join(parts, ",")
}

// Codebook is one weight-shared layer: its centroids (sorted) and, per weight, the index of its
// centroid, or -1 where the weight is a pruned zero (pruned weights stay exactly zero and are
// outside the codebook).
type Codebook struct {
	Weight    string    `json:"weight"`
	Bits      int       `json:"bits"`
	Centroids []float32 `json:"centroids"`
	Index     []int32   `json:"-"`
}

// Codebooks maps a weight initializer name to its codebook.
type Codebooks map[string]*Codebook

// Values returns the weights the codebook stands for.
func (cb *Codebook) Values() []float32 {
	w := make([]float32, len(cb.Index))
	for i, a := range cb.Index {
		if a >= 0 {
			w[i] = cb.Centroids[a]
		}
	}
	return w
}

// Clone returns a deep copy.
func (cbs Codebooks) Clone() Codebooks {
	c := make(Codebooks, len(cbs))
	for k, cb := range cbs {
		cc := *cb
		cc.Centroids = slices.Clone(cb.Centroids)
		cc.Index = slices.Clone(cb.Index)
		c[k] = &cc
	}
	return c
}

func opClass(op string) string {
	if op == "Conv" {
		return "conv"
	}
	return "fc"
}

func (c QuantizeConfig) bitsFor(l Layer) int {
	for _, k := range []string{l.Name, l.Weight, opClass(l.Op), "*"} {
		if b, ok := c.Bits[k]; ok {
			return b
		}
	}
	return 0
}

// Quantize shares the weights of m's layers by k-means as cfg.Bits says (Deep Compression,
// Han et al. ICLR 2016, §3): per layer, the non-zero weights are clustered (KMeans, linear
// initialisation) and each replaced by its centroid; zeros (pruned weights) stay exactly zero.
// It returns a copy of m holding the shared values — a model onnxruntime runs as it is — and
// the codebooks, which fine-tuning (Shared) and Compact take. With cfg.Int8 it returns Int8(m)
// and no codebooks. m is unchanged. A key of cfg.Bits that names no layer, op class or "*" is
// an error.
func Quantize(m *onnxio.Model, cfg QuantizeConfig) (*onnxio.Model, Codebooks, error) {
	if cfg.Int8 {
		q, err := Int8(m)
		return q, nil, err
	}
	if len(cfg.Bits) == 0 {
		return nil, nil, fmt.Errorf("compress: quantize: no bits given; want int8 or bits such as conv=8,fc=5")
	}
	ls, err := Layers(m)
	if err != nil {
		return nil, nil, err
	}
	if len(ls) == 0 {
		return nil, nil, fmt.Errorf("compress: quantize: the model has no Conv, Gemm or MatMul weights: %w", onnxio.ErrUnsupported)
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Bits)) {
		if b := cfg.Bits[k]; b < 1 || b > 8 {
			return nil, nil, fmt.Errorf("compress: quantize: %s=%d bits; want 1 to 8", k, b)
		}
		if k == "*" || k == "conv" || k == "fc" {
			continue
		}
		if _, ok := findLayer(ls, k); !ok {
			return nil, nil, fmt.Errorf("compress: quantize: no layer or weight named %q; the layers are %s", k, layerNames(ls))
		}
	}
	q := m.Clone()
	cbs := Codebooks{}
	for _, l := range ls {
		bits := cfg.bitsFor(l)
		if bits == 0 {
			continue
		}
		t := q.Initializer(l.Weight)
		var nz []float32
		for _, v := range t.Float32 {
			if v != 0 {
				nz = append(nz, v)
			}
		}
		k := 1 << bits
		if len(nz) < len(t.Float32) {
			k-- // index 0 is the pruned zero
		}
		cents, assign := KMeans(nz, k, cfg.Iterations)
		cb := &Codebook{Weight: l.Weight, Bits: bits, Centroids: cents, Index: make([]int32, len(t.Float32))}
		j := 0
		for i, v := range t.Float32 {
			if v == 0 {
				cb.Index[i] = -1
				continue
			}
			cb.Index[i] = assign[j]
			j++
		}
		t.Float32 = cb.Values()
		cbs[l.Weight] = cb
	}
	return q, cbs, nil
}
