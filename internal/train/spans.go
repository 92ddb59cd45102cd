package train

import (
	"runtime"
	"sync"

	"github.com/uqnn/uqnn/internal/kernels"
)

// SpanSize is the number of elements per Span: large enough that a goroutine's start is
// noise, small enough that LeNet-5's parameters give every core several spans.
const SpanSize = 1 << 15

// Span is elements [Lo, Hi) of parameter K; Index is its position in the fixed order Spans
// returns (a per-span random stream can be seeded by it).
type Span struct{ K, Lo, Hi, Index int }

// Spans cuts the parameters into spans of at most SpanSize elements, parameter by parameter
// in order.
func Spans(params []Param) []Span {
	var out []Span
	for k, p := range params {
		for lo := 0; lo < len(p.Value); lo += SpanSize {
			out = append(out, Span{K: k, Lo: lo, Hi: min(lo+SpanSize, len(p.Value)), Index: len(out)})
		}
	}
	return out
}

// EachSpan runs f on every span, on up to kernels.Threads() goroutines (at most GOMAXPROCS).
// f must write only its span's elements (and state indexed the same way), so the result does
// not depend on which goroutine takes which span.
func EachSpan(spans []Span, f func(s Span)) {
	workers := min(kernels.Threads(), runtime.GOMAXPROCS(0), len(spans))
	if workers <= 1 {
		for _, s := range spans {
			f(s)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan Span, len(spans))
	for _, s := range spans {
		next <- s
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range next {
				f(s)
			}
		}()
	}
	wg.Wait()
}
