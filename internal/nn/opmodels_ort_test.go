package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"
)

// opModelTol bounds |Gorgonia − onnxruntime| on the synthetic op models: float32 outputs of
// magnitude ≲ 10 computed in different summation orders agree to ~1e-6.
const opModelTol = 1e-5

// TestOpModelsMatchORT checks the forward pass of every synthetic op model (every op and
// padding mode of the gradient tests) against onnxruntime running the same IR.
func TestOpModelsMatchORT(t *testing.T) {
	initORT(t)
	for _, om := range opModels() {
		t.Run(om.name, func(t *testing.T) {
			net, err := Build(om.m, Config{Batch: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			shape := net.InputShape()
			size := 1
			dims := make([]int64, len(shape))
			for i, d := range shape {
				size *= d
				dims[i] = int64(d)
			}
			x := randInput(rand.New(rand.NewPCG(11, 12)), size)
			got, err := net.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			if net.OutputIsProb() {
				softmaxRows(got, got, net.Classes(), false)
			}
			data, err := om.m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			in, err := ortgo.NewTensor(ortgo.NewShape(dims...), x)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Destroy()
			out, err := ortgo.NewEmptyTensor[float32](ortgo.NewShape(2, int64(net.Classes())))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Destroy()
			sess, err := ortgo.NewAdvancedSessionWithONNXData(data, []string{"x"}, []string{om.m.Graph.Outputs[0].Name},
				[]ortgo.Value{in}, []ortgo.Value{out}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Destroy()
			if err := sess.Run(); err != nil {
				t.Fatal(err)
			}
			want := out.GetData()
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > opModelTol {
					t.Fatalf("output %d: gorgonia %v, onnxruntime %v; want |Δ| ≤ %g\nall got  %v\nall want %v", i, got[i], want[i], opModelTol, got, want)
				}
			}
		})
	}
}
