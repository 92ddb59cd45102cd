package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/onnxio"
)

// reluShapes returns the output shapes of the graph's ReLU nodes (not their gradients).
func reluShapes(net *Net) []string {
	var s []string
	for _, n := range net.g.AllNodes() {
		if n.Op() != nil && n.Op().String() == "ReLU" {
			s = append(s, fmt.Sprint(n.Shape()))
		}
	}
	return s
}

// TestReluMaxPoolCommute checks that a Relu read only by a MaxPool, built as max-pool then
// ReLU, gives bit-identical logits, loss and gradients to the Relu built where the model puts
// it (an Identity between the two keeps that order). Inputs are rounded to a coarse grid so
// that windows hold ties, zeros and all-negative values, where the first-maximum rule and
// the ReLU's zero gradient at 0 must agree.
func TestReluMaxPoolCommute(t *testing.T) {
	lenet := func(identity bool) *onnxio.Model {
		m, err := fixtures.Build("lenet5", rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		if identity {
			insertIdentityAfter(m, "Relu")
		}
		return m
	}
	// convReluPool is Conv 3×3 → Relu → MaxPool(pool) → Flatten → Gemm over a 2×9×9 input.
	convReluPool := func(flat int64, pool ...*onnxio.Attribute) func(bool) *onnxio.Model {
		return func(identity bool) *onnxio.Model {
			b := newIR(13, 2, 2, 9, 9)
			y := b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3), b.w("B", -0.5, 0.5, 3)}, "conv")
			y = b.node("Relu", []string{y}, "relu")
			if identity {
				y = b.node("Identity", []string{y}, "id")
			}
			y = b.node("MaxPool", []string{y}, "mp", pool...)
			y = b.node("Flatten", []string{y}, "flat")
			y = b.node("Gemm", []string{y, b.w("G", -1, 1, 5, flat), b.w("C", -1, 1, 5)}, "gemm", ia("transB", 1))
			return b.output(y)
		}
	}
	k2, k3, s2 := isa("kernel_shape", []int64{2, 2}), isa("kernel_shape", []int64{3, 3}), isa("strides", []int64{2, 2})
	cases := []struct {
		name  string
		model func(identity bool) *onnxio.Model
		batch int
		moved []string // ReLU output shapes when the Relu is read by the MaxPool only
	}{
		{"lenet5", lenet, 8, []string{"(8, 20, 12, 12)", "(8, 50, 4, 4)", "(8, 500)"}},
		{"padded", convReluPool(36, k3, s2, isa("pads", []int64{1, 0, 2, 1})), 2, []string{"(2, 3, 4, 3)"}},
		{"auto_pad SAME_UPPER", convReluPool(48, k2, s2, sa("auto_pad", "SAME_UPPER")), 2, []string{"(2, 3, 4, 4)"}},
	}
	for _, c := range cases {
		for _, f64 := range []bool{false, true} {
			name := c.name + "/float32"
			if f64 {
				name = c.name + "/float64"
			}
			t.Run(name, func(t *testing.T) {
				cfg := Config{Batch: c.batch, Float64: f64}
				moved, err := Build(c.model(false), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer moved.Close()
				kept, err := Build(c.model(true), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer kept.Close()
				if got := strings.Join(reluShapes(moved), " "); got != strings.Join(c.moved, " ") {
					t.Fatalf("ReLU shapes %s; want %s (after the pooling)", got, strings.Join(c.moved, " "))
				}
				if got := strings.Join(reluShapes(kept), " "); got == strings.Join(c.moved, " ") {
					t.Fatalf("ReLU shapes %s behind an Identity; want them before the pooling", got)
				}
				rng := rand.New(rand.NewPCG(9, 9))
				x := randInput(rng, moved.inData.Shape().TotalSize())
				for i := range x {
					x[i] = float32(math.Round(float64(x[i])*4)/4 - 0.25) // {-0.25, 0, 0.25, 0.5, 0.75}
				}
				labels := make([]int, c.batch)
				for i := range labels {
					labels[i] = rng.IntN(moved.Classes())
				}
				lm, err := moved.LossGrad(x, labels)
				if err != nil {
					t.Fatal(err)
				}
				lk, err := kept.LossGrad(x, labels)
				if err != nil {
					t.Fatal(err)
				}
				if lm != lk {
					t.Errorf("loss %v with the ReLU moved, %v in model order; want equal", lm, lk)
				}
				zm, _ := moved.LastLogits()
				zk, _ := kept.LastLogits()
				for i := range zm {
					if zm[i] != zk[i] {
						t.Fatalf("logit %d: %v moved, %v in model order; want equal", i, zm[i], zk[i])
					}
				}
				for _, p := range moved.Params() {
					gm, gk := p.Grad32(), kept.Param(p.Name).Grad32()
					if f64 {
						gm, gk = to32(p.Grad64()), to32(kept.Param(p.Name).Grad64())
					}
					nonzero := 0
					for i := range gm {
						if gm[i] != gk[i] {
							t.Fatalf("param %q gradient %d: %v moved, %v in model order; want equal", p.Name, i, gm[i], gk[i])
						}
						if gm[i] != 0 {
							nonzero++
						}
					}
					if nonzero == 0 {
						t.Errorf("param %q: gradient all zero; the comparison tests nothing", p.Name)
					}
				}
			})
		}
	}
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// insertIdentityAfter puts an Identity after every node of the op, so nothing reads it directly.
func insertIdentityAfter(m *onnxio.Model, op string) {
	var nodes []*onnxio.Node
	for _, n := range m.Graph.Nodes {
		nodes = append(nodes, n)
		if n.Op != op {
			continue
		}
		out := n.Outputs[0]
		n.Outputs[0] = out + ":pre"
		nodes = append(nodes, &onnxio.Node{Name: n.Name + ":id", Op: "Identity", Inputs: []string{out + ":pre"}, Outputs: []string{out}})
	}
	m.Graph.Nodes = nodes
}

// Bounds on what one training step (LossGrad) and one Forward of LeNet-5 at batch 64 may
// allocate once warm. Every large buffer (activations, gradients, workspaces: 20 KiB to 3 MiB
// each) is owned by its op and reused; what is left is Gorgonia's per-instruction
// bookkeeping (about 300 small objects, under 16 KiB at the time of writing). The bounds
// leave room for that bookkeeping to vary but fail if any tensor is allocated per step.
const (
	maxStepAllocs = 600
	maxStepBytes  = 64 << 10 // below the smallest per-step tensor of LeNet-5 at batch 64 (64×500 floats, 125 KiB)
)

// TestLossGradIsLean keeps the training step free of per-step tensor allocations.
func TestLossGradIsLean(t *testing.T) {
	if testing.Short() {
		t.Skip("builds LeNet-5 at batch 64 and runs 20 steps")
	}
	m, err := fixtures.Build("lenet5", rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	const batch = 64
	net, err := Build(m, Config{Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	x := randInput(rng, batch*784)
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	steps := []struct {
		name string
		run  func()
	}{
		{"LossGrad", func() {
			if _, err := net.LossGrad(x, labels); err != nil {
				t.Fatal(err)
			}
		}},
		{"Forward", func() {
			if _, err := net.Forward(x); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, s := range steps {
		s.run() // warm: ops size their buffers on the first run
		const runs = 10
		allocs := testing.AllocsPerRun(runs, s.run)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			s.run()
		}
		runtime.ReadMemStats(&after)
		bytes := float64(after.TotalAlloc-before.TotalAlloc) / runs
		t.Logf("%s: %.0f allocations, %.0f bytes per call", s.name, allocs, bytes)
		if allocs > maxStepAllocs {
			t.Errorf("%s allocates %.0f objects per call; want ≤ %d", s.name, allocs, maxStepAllocs)
		}
		if bytes > maxStepBytes {
			t.Errorf("%s allocates %.0f bytes per call; want ≤ %d (a tensor is allocated per step)", s.name, bytes, maxStepBytes)
		}
	}
}

// TestTrainingSkipsInputGradients checks that the training program leaves out gradients that
// no parameter needs: LeNet-300-100's first layer reads the data batch, whose gradient (a
// 64×300·300×784 GEMM) Grad builds but nothing reads.
func TestTrainingSkipsInputGradients(t *testing.T) {
	for _, arch := range []string{"mlp", "lenet5"} {
		t.Run(arch, func(t *testing.T) {
			m, err := fixtures.Build(arch, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			net, err := Build(m, Config{Batch: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			data := map[string]bool{fmt.Sprint(net.input.Shape()): true, "(4, 784)": true}
			for _, n := range net.trainG.AllNodes() {
				if n.Op() != nil && strings.Contains(n.Op().String(), "Grad") && data[fmt.Sprint(n.Shape())] {
					t.Errorf("training program runs %v of shape %v: the gradient of the data batch", n.Op(), n.Shape())
				}
			}
			for _, p := range net.Params() {
				if !net.trainG.Has(p.grad.ID()) {
					t.Errorf("training program lacks the gradient of %q", p.Name)
				}
			}
		})
	}
}

// biasSumTol bounds the relative difference of a fused bias's gradient: the fused op sums
// the output gradient over batch and positions in another order than the broadcasting Add's
// gradient, so float32 sums of a few dozen terms differ by a few ulps (ε = 6e-8).
const biasSumTol = 1e-6

// TestBiasAddFused checks that an Add of a per-channel (Conv) or per-column (MatMul) bias
// constant is built into the Conv or Dense op before it: no broadcasting node is left, and
// the loss, logits and gradients are bit-identical to the model with the Add kept (an
// Identity between the two keeps it), but for the biases' own gradients (biasSumTol).
func TestBiasAddFused(t *testing.T) {
	model := func(convBias []int64, biasFirst bool, denseBias []int64) func(bool) *onnxio.Model {
		return func(identity bool) *onnxio.Model {
			b := newIR(13, 2, 2, 6, 6)
			y := b.node("Conv", []string{"x", b.w("W", -1, 1, 3, 2, 3, 3)}, "conv")
			if identity {
				y = b.node("Identity", []string{y}, "id")
			}
			in := []string{y, b.w("B", -1, 1, convBias...)}
			if biasFirst {
				in[0], in[1] = in[1], in[0]
			}
			y = b.node("Add", in, "biased")
			y = b.node("Relu", []string{y}, "relu")
			y = b.node("Reshape", []string{y, b.ints("shape", 0, -1)}, "flat")
			y = b.node("MatMul", []string{y, b.w("M", -1, 1, 48, 4)}, "mm")
			if identity {
				y = b.node("Identity", []string{y}, "id2")
			}
			y = b.node("Add", []string{y, b.w("C", -1, 1, denseBias...)}, "logits")
			return b.output(y)
		}
	}
	cases := []struct {
		name  string
		model func(bool) *onnxio.Model
	}{
		{"[M,1,1] and [M]", model([]int64{3, 1, 1}, false, []int64{4})},
		{"[1,M,1,1] first and [1,M]", model([]int64{1, 3, 1, 1}, true, []int64{1, 4})},
	}
	for _, c := range cases {
		for _, f64 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/float64=%v", c.name, f64), func(t *testing.T) {
				cfg := Config{Batch: 2, Float64: f64}
				fused, err := Build(c.model(false), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer fused.Close()
				kept, err := Build(c.model(true), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer kept.Close()
				countBcast := func(net *Net) int {
					k := 0
					for _, n := range net.trainG.AllNodes() {
						if n.Op() != nil && strings.HasPrefix(n.Op().String(), "bcast") {
							k++
						}
					}
					return k
				}
				if k := countBcast(fused); k != 0 {
					t.Errorf("%d broadcasting nodes left; want the biases fused", k)
				}
				if k := countBcast(kept); k == 0 {
					t.Fatal("no broadcasting nodes behind an Identity; the comparison tests nothing")
				}
				rng := rand.New(rand.NewPCG(11, 11))
				x := randInput(rng, fused.inData.Shape().TotalSize())
				for i := range x {
					x[i] -= 0.5
				}
				labels := []int{1, 3}
				lf, err := fused.LossGrad(x, labels)
				if err != nil {
					t.Fatal(err)
				}
				lk, err := kept.LossGrad(x, labels)
				if err != nil {
					t.Fatal(err)
				}
				if lf != lk {
					t.Errorf("loss %v fused, %v kept; want equal", lf, lk)
				}
				for _, p := range fused.Params() {
					gf, gk := p.Grad32(), kept.Param(p.Name).Grad32()
					if f64 {
						gf, gk = to32(p.Grad64()), to32(kept.Param(p.Name).Grad64())
					}
					if len(gf) != p.value.Shape().TotalSize() {
						t.Fatalf("param %q: %d gradient values; want %d", p.Name, len(gf), p.value.Shape().TotalSize())
					}
					tol := 0.0 // bit-identical, but for the fused biases
					if p.Name == "B" || p.Name == "C" {
						tol = biasSumTol
					}
					for i := range gf {
						if d := math.Abs(float64(gf[i] - gk[i])); d > tol*max(1, math.Abs(float64(gk[i]))) {
							t.Fatalf("param %q gradient %d: %v fused, %v kept; want |Δ| ≤ %g", p.Name, i, gf[i], gk[i], tol)
						}
					}
				}
				zf, _ := fused.Forward(x)
				zk, _ := kept.Forward(x)
				for i := range zf {
					if zf[i] != zk[i] {
						t.Fatalf("logit %d: %v fused, %v kept; want equal", i, zf[i], zk[i])
					}
				}
			})
		}
	}
}
