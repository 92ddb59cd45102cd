#!/usr/bin/env bash
# make bench: uqnn's speed as ratios against peers measured in the same run on this machine.
#   training step and inference  vs  ../shared/peers/torch_bench.py (PyTorch, 2 threads)
#   eval and the attack oracle   vs  a bare onnxruntime session loop
# Run it on a quiet machine: both sides share the same 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-bin/bench}
mkdir -p "$out"
peer=../shared/peers/torch_bench.py
: > "$out/torch.jsonl"
if [ -f "$peer" ]; then
  echo "== PyTorch peer: $peer --threads 2" >&2
  /usr/bin/python3 "$peer" --threads 2 | tee "$out/torch.jsonl"
else
  echo "bench: $peer not found; PyTorch ratios are left out" >&2
fi
echo "== uqnn benchmarks" >&2
export GOMAXPROCS=2
{
  go test -run '^$' -bench 'BenchmarkTrainStep|BenchmarkInfer' -benchtime "${BENCHTIME:-30x}" -count 1 ./internal/benchmark
  go test -run '^$' -bench 'VsBare' -benchtime "${BENCHTIME_ORT:-3s}" -count 1 ./internal/ort ./adversarial
} | tee "$out/go.txt"
go run ./scripts/benchreport "$out/torch.jsonl" "$out/go.txt" | tee "$out/report.txt"
