package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/uqnn/uqnn/onnxio"
)

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

// nonEmpty is the paths given, without empty ones (an optional input not given).
func nonEmpty(paths ...string) []string {
	var out []string
	for _, p := range paths {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
