// Package onnxpb holds the Go protobuf messages of the ONNX file format.
//
// Provenance: onnx.proto is Debian's python3-onnx 1.12.0 copy
// (/usr/lib/python3/dist-packages/onnx/onnx.proto, proto2, IR version 8) with two edits: the
// protobuf package is "uqnn.onnx" instead of "onnx" (so these descriptors never clash with another
// Go copy in the global registry; the wire format does not carry package names) and a go_package
// option. Fields added by later IR versions (9, 10) are kept as unknown fields, so a decode then
// encode round trip preserves them byte for byte.
//
// Regenerate with protoc 3.21 and protoc-gen-go v1.36.12:
//
//	apt-get install -y protobuf-compiler
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go generate ./internal/onnxpb
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
