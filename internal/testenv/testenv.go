// Package testenv starts what tests need from outside the repository (the onnxruntime library,
// MNIST) and skips with a clear message where it is absent. The shared third-party models and
// their list live in internal/testmodels, which imports nothing of the project.
package testenv

import (
	"sync"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
)

var ortOnce sync.Once
var ortErr error

// ORT initialises onnxruntime from $UQNN_ORT_LIB or the cache; the test is skipped when the
// library is absent (`make test` installs it).
func ORT(t testing.TB) {
	t.Helper()
	lib, err := ort.Locate("")
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ortOnce.Do(func() { ortErr = ort.Init(lib) })
	if ortErr != nil {
		t.Fatalf("onnxruntime: %v", ortErr)
	}
}

var mnistOnce sync.Once
var mnist *fixtures.MNIST
var mnistErr error

// MNIST loads the default MNIST once per test binary.
func MNIST(t testing.TB) *fixtures.MNIST {
	t.Helper()
	mnistOnce.Do(func() { mnist, mnistErr = fixtures.LoadMNIST("") })
	if mnistErr != nil {
		t.Fatalf("MNIST: %v", mnistErr)
	}
	return mnist
}
