package nn

import (
	"testing"

	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/testenv"
	"github.com/uqnn/uqnn/internal/testmodels"
)

// sharedModels returns ../shared/models beside the checkout, or skips.
func sharedModels(t testing.TB) string { return testmodels.Dir(t) }

// initORT loads onnxruntime, or skips.
func initORT(t testing.TB) { testenv.ORT(t) }

// goodModel is one shared model with the preprocessing its README gives.
type goodModel struct {
	file string
	pp   pixel.Preprocess
}

func goodModels(t testing.TB) []goodModel {
	var ms []goodModel
	for _, m := range testmodels.Good {
		pp, _, err := pixel.Parse(m.Preprocess)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, goodModel{m.File, pp})
	}
	return ms
}
