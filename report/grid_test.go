package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// TestAttackGridPixels decodes the PNG and finds every image pixel, scaled ×3, where the
// layout puts it: originals in the top row, adversarials below, for non-square images too.
func TestAttackGridPixels(t *testing.T) {
	for _, g := range []struct{ rows, cols, n int }{{28, 28, 2}, {5, 7, 3}, {4, 4, 0}} {
		ex := make([]GridExample, g.n)
		for i := range ex {
			ex[i] = GridExample{Index: i * 11, Label: i, Pred: i + 1, Success: i%2 == 0,
				Original: make([]uint8, g.rows*g.cols), Adversarial: make([]uint8, g.rows*g.cols)}
			for j := range ex[i].Original {
				ex[i].Original[j] = uint8(j*7 + i)
				ex[i].Adversarial[j] = uint8(255 - j*3 - i)
			}
		}
		b, err := AttackGrid(ex, g.rows, g.cols)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		cw, ch := g.cols*3, g.rows*3
		wantW := max(6+max(g.n, 1)*(cw+6), 330)
		wantH := 18 + 2*(ch+16+6)
		if img.Bounds() != image.Rect(0, 0, wantW, wantH) {
			t.Fatalf("%d×%d, %d examples: bounds %v; want %d×%d", g.rows, g.cols, g.n, img.Bounds(), wantW, wantH)
		}
		for i, e := range ex {
			x0 := 6 + i*(cw+6)
			for _, p := range []int{0, g.cols + 1, g.rows*g.cols - 1} {
				x, y := x0+(p%g.cols)*3+1, 18+(p/g.cols)*3+2
				if got := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y; got != e.Original[p] {
					t.Errorf("example %d original pixel %d at (%d,%d) = %d; want %d", i, p, x, y, got, e.Original[p])
				}
				y += ch + 16 + 6
				if got := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y; got != e.Adversarial[p] {
					t.Errorf("example %d adversarial pixel %d at (%d,%d) = %d; want %d", i, p, x, y, got, e.Adversarial[p])
				}
			}
		}
		again, _ := AttackGrid(ex, g.rows, g.cols)
		if !bytes.Equal(b, again) {
			t.Error("same input gave different bytes")
		}
	}
	if _, err := AttackGrid([]GridExample{{Original: make([]uint8, 3), Adversarial: make([]uint8, 4)}}, 2, 2); err == nil {
		t.Error("an original of 3 pixels was accepted for 2×2 images")
	}
	if _, err := AttackGrid(nil, 0, 28); err == nil {
		t.Error("0 rows accepted")
	}
}
