package ort

import (
	"context"
	"fmt"
	"math"

	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/prob"
	"github.com/uqnn/uqnn/onnxio"
	ortgo "github.com/yalue/onnxruntime_go"
)

// Layout is how a model wants a batch of H×W grey images.
type Layout int

// Layouts; for one channel all three share the same memory order, only the shape differs.
const (
	NCHW Layout = iota // [N,1,H,W]
	NHWC               // [N,H,W,1]
	Flat               // [N,H·W]
	NHW                // [N,H,W]
)

func (l Layout) String() string {
	return [...]string{"NCHW", "NHWC", "flat", "NHW"}[l]
}

// probSumTol is how far from 1 a row of outputs may sum and still count as probabilities:
// float32 softmax rows sum to 1 within a few ulps; logits practically never do.
const probSumTol = 1e-3

// defaultChunk bounds the images sent to a free-batch model in one run.
const defaultChunk = 256

// Options tune a Classifier. Height and Width are required; the rest has working zero values.
type Options struct {
	// Height and Width are the geometry of the caller's images (one grey channel): the model's
	// input must hold exactly one such image per row, in one of the four layouts.
	Height, Width int
	// Threads is onnxruntime's intra-op thread count; 0 lets onnxruntime choose (all cores).
	Threads int
	// Chunk is the largest batch sent to a free-batch model in one run; 0 means 256.
	Chunk int
	// Checked says the caller has already read path with onnxio.Load (as the CLI's
	// openClassifier does, to get the decoded model), so Open does not decode it a second time.
	Checked bool
}

// Classifier is an onnxruntime session over an image classifier. Safe for concurrent use.
type Classifier struct {
	path      string
	sess      *ortgo.DynamicAdvancedSession
	in, out   string
	layout    Layout
	batch     int // fixed batch size, or 0 when the batch dimension is free
	chunk     int
	classes   int
	isProb    bool
	pp        pixel.Preprocess
	h, w      int // image geometry
	ownsSess  bool
	inputDims ortgo.Shape
	free      chan *inputBuf // reusable full-batch input tensors, shared with WithPreprocess copies
}

// inputBuf is a full-batch input tensor whose backing slice is rewritten for each run.
type inputBuf struct {
	data []float32
	t    *ortgo.Tensor[float32]
}

// freeBufs bounds the idle input tensors kept per session (one per concurrent caller is enough).
const freeBufs = 4

func badModel(path, format string, a ...any) error {
	return fmt.Errorf("%s: %w: %s", path, onnxio.ErrInvalidModel, fmt.Sprintf(format, a...))
}

// Open starts a session on the model at path. The library must be initialised (Init or Setup).
func Open(path string, pp pixel.Preprocess, opt Options) (*Classifier, error) {
	if opt.Height <= 0 || opt.Width <= 0 {
		return nil, fmt.Errorf("ort: image geometry %d×%d; want the data's height and width (Options.Height, Options.Width)", opt.Height, opt.Width)
	}
	// onnxruntime opens the path itself: uqnn's reader checks it first (regular file, bounded
	// reads, external data confined and sized), so a FIFO or device never reaches onnxruntime.
	if !opt.Checked {
		if err := CheckModelFile(path); err != nil {
			return nil, err
		}
	}
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	defer so.Destroy()
	if opt.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opt.Threads); err != nil {
			return nil, fmt.Errorf("ort: threads: %w", err)
		}
		if err := so.SetInterOpNumThreads(1); err != nil {
			return nil, fmt.Errorf("ort: threads: %w", err)
		}
	}
	ins, outs, err := ortgo.GetInputOutputInfoWithOptions(path, so)
	if err != nil {
		return nil, badModel(path, "onnxruntime cannot load it: %v", err)
	}
	c := &Classifier{path: path, pp: pp, h: opt.Height, w: opt.Width, chunk: opt.Chunk, ownsSess: true, free: make(chan *inputBuf, freeBufs)}
	if c.chunk <= 0 {
		c.chunk = defaultChunk
	}
	if err := c.checkSignature(ins, outs); err != nil {
		return nil, err
	}
	c.sess, err = ortgo.NewDynamicAdvancedSession(path, []string{c.in}, []string{c.out}, so)
	if err != nil {
		return nil, badModel(path, "onnxruntime cannot start a session: %v", err)
	}
	if err := c.probe(); err != nil {
		c.sess.Destroy()
		return nil, err
	}
	return c, nil
}

func (c *Classifier) checkSignature(ins, outs []ortgo.InputOutputInfo) error {
	if len(ins) != 1 {
		names := make([]string, len(ins))
		for i, v := range ins {
			names[i] = v.Name
		}
		return badModel(c.path, "model has %d inputs %v; want one image input", len(ins), names)
	}
	if len(outs) < 1 {
		return badModel(c.path, "model has no outputs; want one [N, classes] output")
	}
	in, out := ins[0], outs[0]
	c.in, c.out = in.Name, out.Name
	if in.OrtValueType != ortgo.ONNXTypeTensor || in.DataType != ortgo.TensorElementDataTypeFloat {
		return badModel(c.path, "input %q has type %v/%v; want a float32 tensor", in.Name, in.OrtValueType, in.DataType)
	}
	if out.OrtValueType != ortgo.ONNXTypeTensor || out.DataType != ortgo.TensorElementDataTypeFloat {
		return badModel(c.path, "output %q has type %v/%v; want a float32 tensor", out.Name, out.OrtValueType, out.DataType)
	}
	d := in.Dimensions
	H, W := int64(c.h), int64(c.w)
	is := func(i int, v int64) bool { return d[i] == v || d[i] <= 0 }
	switch {
	case len(d) == 4 && d[1] == 1 && is(2, H) && is(3, W):
		c.layout = NCHW
	case len(d) == 4 && is(1, H) && is(2, W) && d[3] == 1:
		c.layout = NHWC
	case len(d) == 2 && is(1, H*W):
		c.layout = Flat
	case len(d) == 3 && is(1, H) && is(2, W):
		c.layout = NHW
	default:
		return badModel(c.path, "input %q has shape %v, which does not hold the data's %d×%d grey images; want [N,1,%d,%d], [N,%d,%d,1], [N,%d,%d] or [N,%d]",
			in.Name, d, H, W, H, W, H, W, H, W, H*W)
	}
	c.inputDims = d
	if d[0] > 0 {
		c.batch = int(d[0])
	}
	od := out.Dimensions
	if len(od) != 2 || (od[1] > 0 && od[1] < 2) || (od[0] > 0 && c.batch > 0 && int(od[0]) != c.batch) {
		return badModel(c.path, "output %q has shape %v; want [N, classes] class scores", out.Name, od)
	}
	if od[1] > 0 {
		c.classes = int(od[1])
	}
	return nil
}

// probe runs a fixed synthetic batch to learn the class count (when the shape does not say) and
// whether the output is already a probability vector.
func (c *Classifier) probe() error {
	const n = 4
	px, width := c.Pixels(), c.w
	raw := make([]float32, n*px)
	for i := range px {
		raw[px+i] = 255                                                 // white
		raw[2*px+i] = float32(i%width) * 255 / float32(max(width-1, 1)) // horizontal ramp
		if (i/width/4+i%width/4)%2 == 0 {
			raw[3*px+i] = 255 // checkerboard
		}
	}
	out, classes, err := c.run(context.Background(), raw, n)
	if err != nil {
		return fmt.Errorf("%w (uqnn's probe images: black, white, a ramp, a checkerboard)", err)
	}
	if c.classes == 0 {
		c.classes = classes
	} else if classes != c.classes {
		return badModel(c.path, "output %q gives %d scores per image; its shape says %d", c.out, classes, c.classes)
	}
	if c.classes < 2 {
		return badModel(c.path, "output %q gives %d score per image; want class scores", c.out, c.classes)
	}
	c.isProb = true
	for i := range n {
		var s float64
		for _, v := range out[i*c.classes : (i+1)*c.classes] {
			if v < 0 || math.IsNaN(float64(v)) {
				c.isProb = false
			}
			s += float64(v)
		}
		if math.Abs(s-1) > probSumTol {
			c.isProb = false
		}
	}
	return nil
}

// Path is the model file. Layout, Batch (0 = free), Classes describe its signature;
// OutputIsProb tells whether it emits probabilities (else logits, softmaxed by Probs).
func (c *Classifier) Path() string                 { return c.path }
func (c *Classifier) Layout() Layout               { return c.layout }
func (c *Classifier) Batch() int                   { return c.batch }
func (c *Classifier) Classes() int                 { return c.classes }
func (c *Classifier) OutputIsProb() bool           { return c.isProb }
func (c *Classifier) InputName() string            { return c.in }
func (c *Classifier) OutputName() string           { return c.out }
func (c *Classifier) InputShape() []int64          { return append([]int64(nil), c.inputDims...) }
func (c *Classifier) Preprocess() pixel.Preprocess { return c.pp }

// Pixels is the number of values per image (Height·Width).
func (c *Classifier) Pixels() int { return c.h * c.w }

// MaxBatch is the number of images one onnxruntime run takes.
func (c *Classifier) MaxBatch() int {
	if c.batch > 0 {
		return c.batch
	}
	return c.chunk
}

// WithPreprocess returns a Classifier sharing this one's session with another pixel mapping.
// Closing it does not close the shared session.
func (c *Classifier) WithPreprocess(pp pixel.Preprocess) *Classifier {
	d := *c
	d.pp = pp
	d.ownsSess = false
	return &d
}

// Close ends the session.
func (c *Classifier) Close() error {
	if c.sess == nil || !c.ownsSess {
		return nil
	}
	for len(c.free) > 0 {
		(<-c.free).t.Destroy()
	}
	err := c.sess.Destroy()
	c.sess = nil
	return err
}

// Probs classifies n images of raw 0..255 pixels (n·Pixels() values, row-major) and returns n·Classes()
// probabilities.
func (c *Classifier) Probs(ctx context.Context, raw []float32, n int) ([]float32, error) {
	out, _, err := c.run(ctx, raw, n)
	if err != nil {
		return nil, err
	}
	if !c.isProb {
		prob.Softmax(out, c.classes)
	}
	return out, nil
}

// Scores is Probs without the softmax: the model's own outputs (logits or probabilities).
func (c *Classifier) Scores(ctx context.Context, raw []float32, n int) ([]float32, error) {
	out, _, err := c.run(ctx, raw, n)
	return out, err
}

func (c *Classifier) run(ctx context.Context, raw []float32, n int) ([]float32, int, error) {
	px := c.Pixels()
	if n < 0 || len(raw) != n*px {
		return nil, 0, fmt.Errorf("ort: %d values for %d images; want %d (n·%d)", len(raw), n, n*px, px)
	}
	step := c.MaxBatch()
	var out []float32
	classes := c.classes
	for lo := 0; lo < n; lo += step {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		hi := min(lo+step, n)
		b := hi - lo
		rows := b
		if c.batch > 0 {
			rows = c.batch // fixed-batch models get padded batches
		}
		buf, err := c.getBuf(rows)
		if err != nil {
			return nil, 0, err
		}
		in := buf.data
		for i, x := range raw[lo*px : hi*px] {
			in[i] = x*c.pp.Scale + c.pp.Offset
		}
		for i := b * px; i < len(in); i++ {
			in[i] = c.pp.Offset // padding rows are black images
		}
		scores, k, err := c.runBatch(buf.t, rows)
		c.putBuf(buf, rows)
		if err != nil {
			return nil, 0, err
		}
		if classes == 0 {
			classes = k
		}
		for i, v := range scores[:b*k] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, 0, badModel(c.path, "model outputs %v for image %d (class %d); want finite scores", v, lo+i/k, i%k)
			}
		}
		if out == nil {
			out = make([]float32, 0, n*k)
		}
		out = append(out, scores[:b*k]...)
	}
	return out, classes, nil
}

// getBuf returns an input tensor of rows images: a reused one for full batches, else a new one.
func (c *Classifier) getBuf(rows int) (*inputBuf, error) {
	if rows == c.MaxBatch() {
		select {
		case b := <-c.free:
			return b, nil
		default:
		}
	}
	data := make([]float32, rows*c.Pixels())
	t, err := ortgo.NewTensor(c.shape(rows), data)
	if err != nil {
		return nil, fmt.Errorf("ort: input tensor of %d images: %w", rows, err)
	}
	return &inputBuf{data: data, t: t}, nil
}

// putBuf keeps a full-batch tensor for the next run, or frees it.
func (c *Classifier) putBuf(b *inputBuf, rows int) {
	if rows == c.MaxBatch() && c.sess != nil {
		select {
		case c.free <- b:
			return
		default:
		}
	}
	b.t.Destroy()
}

func (c *Classifier) shape(rows int) ortgo.Shape {
	switch c.layout {
	case NCHW:
		return ortgo.NewShape(int64(rows), 1, int64(c.h), int64(c.w))
	case NHWC:
		return ortgo.NewShape(int64(rows), int64(c.h), int64(c.w), 1)
	case NHW:
		return ortgo.NewShape(int64(rows), int64(c.h), int64(c.w))
	default:
		return ortgo.NewShape(int64(rows), int64(c.Pixels()))
	}
}

func (c *Classifier) runBatch(t *ortgo.Tensor[float32], rows int) ([]float32, int, error) {
	outs := []ortgo.Value{nil}
	if err := c.sess.Run([]ortgo.Value{t}, outs); err != nil {
		return nil, 0, RunError(c.path, err)
	}
	defer outs[0].Destroy()
	ot, ok := outs[0].(*ortgo.Tensor[float32])
	if !ok {
		return nil, 0, badModel(c.path, "output %q is not a float32 tensor", c.out)
	}
	s := ot.GetShape()
	if len(s) != 2 || int(s[0]) != rows || s[1] < 1 {
		return nil, 0, badModel(c.path, "output %q has shape %v for a batch of %d; want [%d, classes]", c.out, s, rows, rows)
	}
	return append([]float32(nil), ot.GetData()...), int(s[1]), nil
}
