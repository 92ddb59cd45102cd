package kernels

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
char* openblas_get_corename(void);
char* openblas_get_config(void);
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// DefaultThreads is the number of threads GEMMs and batch loops use unless SetThreads says
// otherwise: the machines this toolkit targets have two cores to share.
const DefaultThreads = 2

// gemmThreads is the number of goroutines one large GEMM is split across.
var gemmThreads atomic.Int32

func init() {
	// OpenBLAS runs single-threaded inside each call; Gemm splits large products across
	// goroutines itself. OpenBLAS' own pool busy-waits between calls, which on a shared,
	// oversubscribed machine made training steps 2-3x slower than this split.
	C.openblas_set_num_threads(1)
	gemmThreads.Store(DefaultThreads)
}

// SetThreads sets how many goroutines a large Gemm is split across (each runs a
// single-threaded OpenBLAS call). Values below 1 are treated as 1. It is process-wide.
func SetThreads(n int) { gemmThreads.Store(int32(max(n, 1))) }

// Threads returns the Gemm thread count set by SetThreads.
func Threads() int { return int(gemmThreads.Load()) }

// SetOpenBLASThreads sets OpenBLAS' own thread count for every later call in the process
// (1 at init). Raising it while Gemm also splits work oversubscribes the cores.
func SetOpenBLASThreads(n int) { C.openblas_set_num_threads(C.int(max(n, 1))) }

// BLASInfo describes the BLAS the kernels call, as the library reports it at run time.
type BLASInfo struct {
	// Config is the build description (OpenBLAS' openblas_get_config: version, DYNAMIC_ARCH,
	// the core type in use).
	Config string
	// Core is the kernel set chosen for this processor (openblas_get_corename), which
	// OPENBLAS_CORETYPE overrides when it is set in the process environment.
	Core string
}

// BLAS returns the linked BLAS's configuration and the core type its kernels run.
func BLAS() BLASInfo {
	return BLASInfo{Config: C.GoString(C.openblas_get_config()), Core: C.GoString(C.openblas_get_corename())}
}

// Float is the element type of the kernels: float32 for training, float64 for gradient checks.
type Float interface{ float32 | float64 }

func trans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}

// checkGemm panics when a slice is too short for the requested row-major GEMM: a programmer
// error that would otherwise corrupt memory inside OpenBLAS.
func checkGemm(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	switch {
	case m < 0 || n < 0 || k < 0:
		panic(fmt.Sprintf("kernels: gemm sizes m=%d n=%d k=%d; want non-negative", m, n, k))
	case lda < max(ac, 1) || ldb < max(bc, 1) || ldc < max(n, 1):
		panic(fmt.Sprintf("kernels: gemm leading dims lda=%d ldb=%d ldc=%d too small for A %dx%d, B %dx%d, C %dx%d", lda, ldb, ldc, ar, ac, br, bc, m, n))
	case ar > 0 && la < (ar-1)*lda+ac:
		panic(fmt.Sprintf("kernels: gemm A has %d elements; want at least %d", la, (ar-1)*lda+ac))
	case br > 0 && lb < (br-1)*ldb+bc:
		panic(fmt.Sprintf("kernels: gemm B has %d elements; want at least %d", lb, (br-1)*ldb+bc))
	case m > 0 && lc < (m-1)*ldc+n:
		panic(fmt.Sprintf("kernels: gemm C has %d elements; want at least %d", lc, (m-1)*ldc+n))
	}
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major float32 matrices, where op(A) is
// m×k, op(B) is k×n and C is m×n.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		Scale(beta, c[:(m-1)*ldc+n])
		return
	}
	C.cblas_sgemm(C.CblasRowMajor, trans(transA), trans(transB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

// Dgemm is Sgemm for float64.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		Scale(beta, c[:(m-1)*ldc+n])
		return
	}
	C.cblas_dgemm(C.CblasRowMajor, trans(transA), trans(transB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.double(alpha), (*C.double)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.double)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

// minSplitGemm is the m·n·k below which a Gemm runs in one call: smaller products finish in
// tens of microseconds, the cost of starting and joining a goroutine.
const minSplitGemm = 1 << 18

// Gemm computes C = alpha·op(A)·op(B) + beta·C (row-major) by element type, splitting C's
// longer dimension across Threads() goroutines (at most GOMAXPROCS) when the product is large.
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	parts := min(Threads(), runtime.GOMAXPROCS(0))
	if parts <= 1 || m*n*k < minSplitGemm {
		gemm1(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if max(m, n) < 2*16 {
		gemmSplitK(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parts)
		return
	}
	long := max(m, n)
	// chunk: a multiple of 16 so each part keeps whole SIMD panels.
	chunk := ((long+parts-1)/parts + 15) / 16 * 16
	var wg sync.WaitGroup
	for lo := chunk; lo < long; lo += chunk {
		hi := min(lo+chunk, long)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			gemmPart(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, lo, hi)
		}(lo, hi)
	}
	gemmPart(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 0, min(chunk, long))
	wg.Wait()
}

// gemmSplitK computes a product with a small C and a long inner dimension (a convolution's
// weight gradient over a whole batch) as partial products over k ranges, summed into C.
func gemmSplitK[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int, parts int) {
	chunk := (k + parts - 1) / parts
	tmp := make([]T, (parts-1)*m*n)
	var wg sync.WaitGroup
	for p := 1; p*chunk < k; p++ {
		lo, hi := p*chunk, min((p+1)*chunk, k)
		ao, bo := lo, lo*ldb
		if transA {
			ao = lo * lda
		}
		if transB {
			bo = lo
		}
		wg.Add(1)
		go func(t []T) {
			defer wg.Done()
			gemm1(transA, transB, m, n, hi-lo, alpha, a[ao:], lda, b[bo:], ldb, 0, t, n)
		}(tmp[(p-1)*m*n : p*m*n])
	}
	gemm1(transA, transB, m, n, min(chunk, k), alpha, a, lda, b, ldb, beta, c, ldc)
	wg.Wait()
	for p := 1; p*chunk < k; p++ {
		t := tmp[(p-1)*m*n : p*m*n]
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j, v := range t[i*n : (i+1)*n] {
				row[j] += v
			}
		}
	}
}

// gemmPart computes rows [lo, hi) of C when m >= n, else columns [lo, hi).
func gemmPart[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int, lo, hi int) {
	if m >= n {
		ao := lo * lda
		if transA {
			ao = lo
		}
		gemm1(transA, transB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
		return
	}
	bo := lo
	if transB {
		bo = lo * ldb
	}
	gemm1(transA, transB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
}

func gemm1[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch a := any(a).(type) {
	case []float32:
		Sgemm(transA, transB, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		Dgemm(transA, transB, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// Scale multiplies x by alpha in place; alpha 0 zeroes x (clearing NaNs too).
func Scale[T Float](alpha T, x []T) {
	if alpha == 0 {
		clear(x)
		return
	}
	for i := range x {
		x[i] *= alpha
	}
}
