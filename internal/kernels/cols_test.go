package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestColsCMatchesGo checks the C im2col and col2im (float32, stride 1) against the Go loops
// element for element: equal copies, and sums formed in the same order, so bit-identical.
func TestColsCMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct {
		x, w [4]int
		pads [4]int
	}{
		{[4]int{1, 20, 12, 12}, [4]int{50, 20, 5, 5}, [4]int{}},
		{[4]int{1, 8, 14, 14}, [4]int{16, 8, 5, 5}, [4]int{2, 2, 2, 2}},
		{[4]int{1, 3, 7, 9}, [4]int{4, 3, 3, 4}, [4]int{2, 0, 1, 3}},
		{[4]int{1, 1, 4, 5}, [4]int{2, 1, 2, 2}, [4]int{2, 2, 2, 2}}, // pads as large as the kernel
		{[4]int{1, 2, 5, 4}, [4]int{2, 2, 1, 1}, [4]int{}},
		{[4]int{1, 2, 3, 3}, [4]int{1, 2, 3, 3}, [4]int{3, 1, 0, 4}}, // rows wholly in the padding
	} {
		g, err := NewConvGeom(tc.x, tc.w, tc.pads, [2]int{1, 1}, [2]int{1, 1})
		if err != nil {
			t.Fatal(err)
		}
		x := randSlice[float32](r, g.XSize())
		wantCol, gotCol := make([]float32, g.k()*g.p()), randSlice[float32](r, g.k()*g.p())
		im2colRows(g, x, wantCol, 0, g.k())
		im2colImage(g, x, gotCol)
		for i := range wantCol {
			if gotCol[i] != wantCol[i] {
				t.Fatalf("%+v: im2col element %d = %v; Go gives %v", tc, i, gotCol[i], wantCol[i])
			}
		}
		col := randSlice[float32](r, g.k()*g.p())
		wantDx, gotDx := make([]float32, g.XSize()), randSlice[float32](r, g.XSize())
		col2imRows(g, col, wantDx, 0, g.k(), 0, 1)
		col2imImage(g, col, gotDx)
		for i := range wantDx {
			if gotDx[i] != wantDx[i] {
				t.Fatalf("%+v: col2im element %d = %v; Go gives %v", tc, i, gotDx[i], wantDx[i])
			}
		}
	}
}
