package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/uqnn/uqnn/fixtures"
	"github.com/uqnn/uqnn/internal/ort"
	"github.com/uqnn/uqnn/internal/pixel"
	"github.com/uqnn/uqnn/internal/train"
	"github.com/uqnn/uqnn/onnxio"
	"github.com/uqnn/uqnn/report"
)

// calibDefault is how many validation-split images `--preprocess auto` scores each preset on.
const calibDefault = 500

// writeJSON prints one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// loadMNIST reads --data (or the default) with an error that names the flag.
func loadMNIST(dir string) (*fixtures.MNIST, error) {
	m, err := fixtures.LoadMNIST(dir)
	if err != nil {
		if dir != "" {
			return nil, usagef("--data %s: %v", dir, err)
		}
		return nil, err
	}
	return m, nil
}

// openClassifier validates the model with onnxio (external data confined to the model's folder,
// tensor sizes checked) and opens an onnxruntime session on it.
// It returns the decoded model too.
// The data's image geometry (Rows×Cols of data) goes into opt.
func openClassifier(g *globals, path string, data *fixtures.Set, opt ort.Options) (*ort.Classifier, *onnxio.Model, error) {
	m, err := onnxio.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if err := ort.Setup(g.ortLib); err != nil {
		return nil, nil, err
	}
	opt.Height, opt.Width, opt.Checked = data.Rows, data.Cols, true // onnxio.Load above read it
	c, err := ort.Open(path, pixel.UnitRange, opt)
	if err != nil {
		return nil, nil, err
	}
	if c.Classes() != fixtures.Classes {
		c.Close()
		return nil, nil, fmt.Errorf("%s: %w: output %q gives %d scores per image; want %d (one per MNIST class)",
			path, onnxio.ErrInvalidModel, c.OutputName(), c.Classes(), fixtures.Classes)
	}
	return c, m, nil
}

// checkModelFile makes a missing model file or a folder a bad-model error (exit 3) before any
// work starts.
func checkModelFile(path string) error {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w: cannot read the model file: %w", path, onnxio.ErrInvalidModel, errors.Unwrap(err))
	case st.IsDir():
		return fmt.Errorf("%s: %w: is a folder; want an .onnx file", path, onnxio.ErrInvalidModel)
	}
	return nil
}

// resolvePreprocess resolves --preprocess for a model: the flag, else (auto) the model's
// metadata, else calibration on calibN validation images through c.
func resolvePreprocess(ctx context.Context, flag string, c *ort.Classifier, model *onnxio.Model, m *fixtures.MNIST, calibN int) (pixel.Resolved, error) {
	r, err := pixel.Resolve(ctx, flag, model, nil, calibrator(c, m, calibN))
	if err != nil {
		if _, _, perr := pixel.Parse(flag); perr != nil {
			return pixel.Resolved{}, usagef("%v", err)
		}
	}
	return r, err
}

// calibrator scores the presets through c on the first calibN validation images.
func calibrator(c *ort.Classifier, m *fixtures.MNIST, calibN int) pixel.Calibrator {
	return func(ctx context.Context) (pixel.Preprocess, []pixel.Calibration, int, error) {
		v := m.Validation()
		n := min(max(calibN, 1), v.N)
		best, all, err := ort.Calibrate(ctx, c, v.Float(0, n), v.Labels[:n], n)
		return best, all, n, err
	}
}

// rate is images per second, 0 for an empty interval.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// checkOutputs validates output files before any work starts (exit 2): each one's folder
// exists, is a folder and can be written in, and the path itself is not a folder or a special
// file.
func checkOutputs(paths ...string) error {
	for _, p := range paths {
		dir := filepath.Dir(p)
		st, err := os.Stat(dir)
		switch {
		case err != nil:
			return usagef("output %s: folder %s does not exist; create it first", p, dir)
		case !st.IsDir():
			return usagef("output %s: %s is not a folder", p, dir)
		}
		if st, err := os.Lstat(p); err == nil && !st.Mode().IsRegular() && st.Mode()&os.ModeSymlink == 0 {
			return usagef("output %s exists and is not a regular file (%s); want a file path", p, st.Mode().Type())
		}
		f, err := os.CreateTemp(dir, ".uqnn-write-check-*")
		if err != nil {
			return usagef("output %s: cannot write in folder %s: %v", p, dir, errors.Unwrap(err))
		}
		f.Close()
		os.Remove(f.Name())
	}
	return nil
}

// checkCheckpoint refuses --resume without a checkpoint, and a fresh run that would silently
// discard one (exit 2).
func checkCheckpoint(ckpt string, resume bool, run string) error {
	_, err := os.Stat(ckpt)
	switch {
	case resume && err != nil:
		return usagef("--resume: no checkpoint %s (it is written when a run with %s is interrupted)", ckpt, run)
	case !resume && err == nil:
		return usagef("checkpoint %s exists from an interrupted run; continue it with --resume, or delete it to start afresh", ckpt)
	}
	return nil
}

// resumeError explains an interrupted run (checkpoint and how to resume) and turns a resume with
// other settings into a usage error naming the flag.
func resumeError(g *globals, err error, ckpt string) error {
	var se *train.SettingError
	switch {
	case errors.As(err, &se):
		return usagef("--resume: %s was written with other settings: %s (use the same flags, or delete it to start afresh)",
			ckpt, flagNames(se.Diffs))
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		if _, serr := os.Stat(ckpt); serr == nil {
			fmt.Fprintf(g.stderr, "uqnn: interrupted; checkpoint %s. Continue with the same command plus --resume.\n", ckpt)
		}
	}
	return err
}

// flagNames spells the loop's own settings (seed, batch, epochs) as the flags that set them.
func flagNames(diffs []string) string {
	out := make([]string, len(diffs))
	for i, d := range diffs {
		out[i] = d
		for _, n := range []string{"seed", "batch", "epochs"} {
			if strings.HasPrefix(d, n+" ") {
				out[i] = "--" + d
			}
		}
	}
	return strings.Join(out, "; ")
}

// curvesPNG draws the learning curves of a training run.
func curvesPNG(curves []train.Point, title string) ([]byte, error) {
	pts := make([]report.CurvePoint, len(curves))
	for i, c := range curves {
		pts[i] = report.CurvePoint{Epoch: c.Epoch, BatchLoss: c.BatchLoss, Evaluated: c.Evaluated, TrainAcc: c.TrainAcc, ValLoss: c.ValLoss, ValAcc: c.ValAcc}
	}
	return report.LearningCurves(pts, title)
}

// fileKey identifies a file for aliasing checks: its device and inode when it exists (so hard
// links and symlinks match), else its absolute path with the folder's symlinks resolved.
func fileKey(path string) string {
	if st, err := os.Stat(path); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			return fmt.Sprintf("inode %d:%d", sys.Dev, sys.Ino)
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "path " + path
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(dir, filepath.Base(abs))
	}
	return "path " + abs
}

// refuseAliases is a usage error when any output would write over any input, however it is
// reached (the same path, "..", a symlink, a hard link).
func refuseAliases(inputs, outputs []string) error {
	in := map[string]string{}
	for _, p := range inputs {
		in[fileKey(p)] = p
	}
	for _, o := range outputs {
		if src, ok := in[fileKey(o)]; ok {
			return usagef("output %s is the input file %s and would overwrite it; inputs are never written: choose another output", o, src)
		}
	}
	return nil
}

// checkOutputDir validates an output folder before any work (exit 2), the same way for every
// verb: an existing folder must be a folder and writable; a new one is made by the verb, but
// its parent must already exist (a mistyped path is an error, not a tree of new folders).
func checkOutputDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		return checkOutputs(dir)
	case err != nil:
		return usagef("output folder %s: %v", dir, errors.Unwrap(err))
	case !st.IsDir():
		return usagef("output folder %s exists and is not a folder", dir)
	}
	return checkOutputs(filepath.Join(dir, ".probe"))
}
