package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// GridExample is one column of an attack grid: an original image above its adversarial
// version, both Rows×Cols grey uint8 pixels, row-major.
type GridExample struct {
	Index       int // the example's index in its data set, shown in the caption
	Label       int // true class
	Pred        int // the model's class for Adversarial
	Success     bool
	Original    []uint8
	Adversarial []uint8
}

// Grid geometry: each image drawn gridScale times larger, a caption band below it.
const (
	gridScale    = 3
	gridCaption  = 16
	gridGap      = 6
	gridTitle    = 18
	gridMinWidth = 330 // room for the title line
)

// AttackGrid draws a PNG of originals (top row, captioned "#index: true class") above their
// adversarial images (captioned with the model's class: "-> c" in green when the attack
// succeeded, "c (kept)" in red when not). Every image must have rows·cols pixels.
func AttackGrid(ex []GridExample, rows, cols int) ([]byte, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("report: attack grid: %d×%d images; want positive rows and cols", rows, cols)
	}
	for _, e := range ex {
		if len(e.Original) != rows*cols || len(e.Adversarial) != rows*cols {
			return nil, fmt.Errorf("report: attack grid: example %d has %d and %d pixels; want %d×%d = %d",
				e.Index, len(e.Original), len(e.Adversarial), rows, cols, rows*cols)
		}
	}
	cellW, cellH := cols*gridScale, rows*gridScale
	n := max(len(ex), 1)
	w := gridGap + n*(cellW+gridGap)
	h := gridTitle + 2*(cellH+gridCaption+gridGap)
	img := image.NewRGBA(image.Rect(0, 0, max(w, gridMinWidth), h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text := func(x, y int, c color.Color, s string) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	text(gridGap, 13, color.Black, "top: original (true class)  bottom: adversarial (predicted)")
	put := func(x0, y0 int, pix []uint8) {
		for y := range rows {
			for x := range cols {
				g := color.Gray{Y: pix[y*cols+x]}
				draw.Draw(img, image.Rect(x0+x*gridScale, y0+y*gridScale, x0+(x+1)*gridScale, y0+(y+1)*gridScale),
					image.NewUniform(g), image.Point{}, draw.Src)
			}
		}
	}
	green, red := color.RGBA{0, 128, 0, 255}, color.RGBA{200, 0, 0, 255}
	for i, e := range ex {
		x0 := gridGap + i*(cellW+gridGap)
		y0 := gridTitle
		put(x0, y0, e.Original)
		text(x0, y0+cellH+13, color.Black, fmt.Sprintf("#%d: %d", e.Index, e.Label))
		y1 := y0 + cellH + gridCaption + gridGap
		put(x0, y1, e.Adversarial)
		c, s := red, fmt.Sprintf("%d (kept)", e.Pred)
		if e.Success {
			c, s = green, fmt.Sprintf("-> %d", e.Pred)
		}
		text(x0, y1+cellH+13, c, s)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
