package kernels

import (
	"runtime"
	"sync"
)

// minParallelWork is the number of element operations below which splitting a loop across
// goroutines costs more (goroutine start, cache traffic) than it saves.
const minParallelWork = 1 << 15

// parallelFor runs fn over [0, n) split into at most Threads() contiguous chunks, or in
// the calling goroutine when work (a rough count of element operations) is small.
func parallelFor(n, work int, fn func(lo, hi int)) {
	workers := min(Threads(), runtime.GOMAXPROCS(0), n)
	if workers <= 1 || work < minParallelWork {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	fn(0, min(chunk, n))
	wg.Wait()
}
