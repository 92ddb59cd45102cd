// Package onnxgo checks uqnn's ONNX files against a second, independent runtime: owulveryck's
// onnx-go with its Gorgonia backend (backend/x/gorgonnx). It is its own module so that onnx-go
// and its old dependencies stay out of uqnn's go.mod; it holds only tests. Run them with
// `cd bayes/onnxgo && go test ./...`.
package onnxgo
