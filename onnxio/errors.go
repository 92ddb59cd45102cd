package onnxio

import "errors"

// Sentinels shared by every package that reads a model. The CLI maps both to exit code 3.
var (
	// ErrInvalidModel marks a file that is not a valid ONNX model: truncated, malformed,
	// missing external data, inconsistent tensor sizes, or not a classifier where one is needed.
	ErrInvalidModel = errors.New("invalid model")
	// ErrUnsupported marks a valid model that uses something uqnn does not handle
	// (an op, an attribute value, a dtype).
	ErrUnsupported = errors.New("unsupported model")
)
