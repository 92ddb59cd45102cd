// Package benchmark holds the end-to-end speed benchmarks that `make bench` compares with the
// PyTorch peer (../shared/peers/torch_bench.py): one training step and inference per image of the
// reference networks, through exactly the path `uqnn train` uses (fixtures builder → onnxio IR →
// nn.Net on Gorgonia → train Stepper). It has no non-test code.
package benchmark
