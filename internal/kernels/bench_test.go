package kernels

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkLeNetConv2 times the pieces of LeNet-5's second convolution at batch 64.
func BenchmarkLeNetConv2(b *testing.B) {
	g, err := NewConvGeom([4]int{64, 20, 12, 12}, [4]int{50, 20, 5, 5}, [4]int{}, [2]int{1, 1}, [2]int{1, 1})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x, w, bias := randSlice[float32](r, g.XSize()), randSlice[float32](r, g.WSize()), randSlice[float32](r, g.M)
	y, dx, dw := make([]float32, g.YSize()), make([]float32, g.XSize()), make([]float32, g.WSize())
	c := NewConv[float32](g)
	c.Forward(x, w, bias, y)
	col := make([]float32, g.k()*g.N*g.p())
	b.Run("im2col", func(b *testing.B) {
		for b.Loop() {
			im2col(g, x, col)
		}
	})
	b.Run("col2im", func(b *testing.B) {
		for b.Loop() {
			col2im(g, col, dx)
		}
	})
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			c.Forward(x, w, bias, y)
		}
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			c.BackwardData(w, y, dx)
			c.BackwardFilterReuse(x, y, dw, nil)
		}
	})
}

// BenchmarkMaxPool times LeNet-5's first pooling and the zoo net's second at batch 64.
func BenchmarkMaxPool(b *testing.B) {
	b.Run("lenet1", func(b *testing.B) { benchMaxPool(b, [4]int{64, 20, 24, 24}, 2) })
	b.Run("zoo2", func(b *testing.B) { benchMaxPool(b, [4]int{64, 16, 14, 14}, 3) })
}

func benchMaxPool(b *testing.B, shape [4]int, k int) {
	g, err := NewPoolGeom(shape, [2]int{k, k}, [4]int{}, [2]int{k, k})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x, y, dx := randSlice[float32](r, g.XSize()), make([]float32, g.YSize()), make([]float32, g.XSize())
	am := make([]int32, g.YSize())
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			MaxPoolForward(g, x, y, am)
		}
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			MaxPoolBackward(g, y, am, dx)
		}
	})
}

// BenchmarkNetConv times each pass of the zoo net's and LeNet-5's convolutions at batch 64.
func BenchmarkNetConv(b *testing.B) {
	for _, tc := range []struct {
		name string
		x, w [4]int
		pad  int
	}{
		{"zoo1", [4]int{64, 1, 28, 28}, [4]int{8, 1, 5, 5}, 2},
		{"zoo2", [4]int{64, 8, 14, 14}, [4]int{16, 8, 5, 5}, 2},
		{"lenet1", [4]int{64, 1, 28, 28}, [4]int{20, 1, 5, 5}, 0},
		{"lenet2", [4]int{64, 20, 12, 12}, [4]int{50, 20, 5, 5}, 0},
	} {
		p := tc.pad
		g, err := NewConvGeom(tc.x, tc.w, [4]int{p, p, p, p}, [2]int{1, 1}, [2]int{1, 1})
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		x, w, bias := randSlice[float32](r, g.XSize()), randSlice[float32](r, g.WSize()), randSlice[float32](r, g.M)
		y, dx, dw := make([]float32, g.YSize()), make([]float32, g.XSize()), make([]float32, g.WSize())
		c := NewConv[float32](g)
		c.Forward(x, w, bias, y)
		b.Run(tc.name+"/forward", func(b *testing.B) {
			for b.Loop() {
				c.Forward(x, w, bias, y)
			}
		})
		b.Run(tc.name+"/data", func(b *testing.B) {
			for b.Loop() {
				c.BackwardData(w, y, dx)
			}
		})
		b.Run(tc.name+"/filter", func(b *testing.B) {
			for b.Loop() {
				c.BackwardFilterReuse(x, y, dw, nil)
			}
		})
	}
}
