package ort

import "github.com/uqnn/uqnn/onnxio"

// CheckModelFile validates the model file at path, and every external data file it names, with
// uqnn's own reader before onnxruntime is given the path: onnxruntime would open a FIFO and wait
// for a writer, read a device without end, or follow external data out of the model's folder.
// onnxio.Load opens only regular files without blocking, bounds every read by the stat'ed size
// and checks declared tensor sizes, so what reaches onnxruntime has been read once, safely.
// Errors wrap onnxio.ErrInvalidModel or onnxio.ErrUnsupported and name the file.
func CheckModelFile(path string) error {
	_, err := onnxio.Load(path)
	return err
}
