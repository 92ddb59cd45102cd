package bayes

import (
	"encoding/binary"
	"fmt"
	"math"
)

// stateWriter serialises a sampler's state, little-endian, for train checkpoints.
type stateWriter struct{ b []byte }

func (w *stateWriter) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }

func (w *stateWriter) f64(v float64) { w.u64(math.Float64bits(v)) }

func (w *stateWriter) slices(s [][]float32) {
	for _, v := range s {
		for _, x := range v {
			w.b = binary.LittleEndian.AppendUint32(w.b, math.Float32bits(x))
		}
	}
}

// stateReader reads what stateWriter wrote; the first shortfall is kept and reported by done.
type stateReader struct {
	name string
	b    []byte
	err  error
}

func (r *stateReader) need(n int) bool {
	if r.err == nil && len(r.b) < n {
		r.err = fmt.Errorf("bayes: %s state: truncated (%d bytes left, want %d more); is the checkpoint from another sampler or network?", r.name, len(r.b), n)
	}
	return r.err == nil
}

func (r *stateReader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *stateReader) f64() float64 { return math.Float64frombits(r.u64()) }

// slices fills s in place; on a shortfall s is left partly filled and done reports it, so
// callers read into scratch copies when they must not change on error.
func (r *stateReader) slices(s [][]float32) {
	n := 0
	for _, v := range s {
		n += 4 * len(v)
	}
	if !r.need(n) {
		return
	}
	for _, v := range s {
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.b))
			r.b = r.b[4:]
		}
	}
}

func (r *stateReader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("bayes: %s state: %d bytes left over; is the checkpoint from another sampler or network?", r.name, len(r.b))
	}
	return r.err
}
