#!/usr/bin/env bash
# make bench: uqnn's speed as ratios against peers measured in the same run on this machine.
#   training step and inference  vs  ../shared/peers/torch_bench.py (PyTorch, 2 threads)
#   eval and the attack oracle   vs  a bare onnxruntime session loop
# Both sides share the machine's cores, and other work on it moves either side's times by tens
# of percent from one run to the next. So the two sides alternate in ROUNDS interleaved rounds
# (the first side changes each round) and the report gives the median of the per-round ratios
# with their range. Everything runs twice: with the environment as it is, and with
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (OpenBLAS then picks its kernels for this
# processor). Each side prints the BLAS and core type it actually used.
# Each round runs both sides with 2 threads and with 1: on a busy machine a 2-thread side waits
# at every fork-join for a core, and PyTorch's OpenMP workers spin there, so its 2-thread times
# grow far faster with load than ours. Under heavy load even one-thread wall times swing, so the
# report also compares CPU time per step at one thread (scripts/benchreport/torchcpu.py for
# PyTorch, cpu-s/op for uqnn), which counts the work and not the waits for a core.
# Knobs: ROUNDS (5), THREADS ("2 1"), BENCHTIME (20x, per Go benchmark per round), BENCHTIME_ORT (3s),
# BENCH_OUT (bin/bench), BENCH_ENVS ("asis unset"), BENCH_ORT (1; 0 leaves onnxruntime out),
# BENCH_BAYES (1; 0 leaves the samplers out), BENCHTIME_BAYES (60x), BENCH_COMPRESS (1; 0 leaves
# the compress epochs out), BENCHTIME_COMPRESS (5x: iterations of the plain/masked/svd triple).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-bin/bench}
rounds=${ROUNDS:-5}
envs=${BENCH_ENVS:-asis unset}
peer=../shared/peers/torch_bench.py
python=/usr/bin/python3
mkdir -p "$out"
rm -f "$out"/*.txt "$out"/*.jsonl "$out"/*.json
export GOMAXPROCS=2

go test -c -o "$out/benchmark.test" ./internal/benchmark
have_peer=1
if [ ! -f "$peer" ] || ! "$python" -c 'import torch' 2>/dev/null; then
  echo "bench: $peer or python3-torch missing; PyTorch ratios are left out" >&2
  have_peer=0
fi
echo "cores $(nproc)" > "$out/machine.txt"

# load TAG: the load averages and the runnable-task count (/proc/loadavg) between two sides.
load() { echo "$1 $(cat /proc/loadavg)" >> "$out/$env-load.txt"; }
go_side() {
  # One thread is always measured: its CPU times compare with torchcpu.py's.
  for t in $(echo ${THREADS:-2 1} 1 | tr ' ' '\n' | sort -ru); do
    GOMAXPROCS=$t "${run[@]}" "$out/benchmark.test" -test.run '^$' -test.bench 'TrainStep|Infer|Update|PeakSGEMM' \
      -test.benchtime "${BENCHTIME:-20x}" > "$out/$env-go-t$t-$r.txt"
  done
}
torch_side() {
  [ "$have_peer" = 1 ] || return 0
  for t in ${THREADS:-2 1}; do
    "${run[@]}" "$python" "$peer" --threads "$t" > "$out/$env-torch-t$t-$r.jsonl"
  done
  "${run[@]}" "$python" scripts/benchreport/torchcpu.py "$peer" > "$out/$env-torchcpu-$r.jsonl"
}

for env in $envs; do
  case $env in
    asis)  run=(env) ;;
    unset) run=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE) ;;
    *) echo "bench: BENCH_ENVS has $env; want asis and/or unset" >&2; exit 2 ;;
  esac
  {
    echo "OPENBLAS_CORETYPE=$("${run[@]}" printenv OPENBLAS_CORETYPE || echo '<unset>')"
    echo "OPENBLAS_L2_SIZE=$("${run[@]}" printenv OPENBLAS_L2_SIZE || echo '<unset>')"
  } > "$out/$env-env.txt"
  "${run[@]}" "$out/benchmark.test" -test.run '^TestBLASInfo$' -test.v | grep 'blas:' > "$out/$env-blas.txt"
  [ "$have_peer" = 0 ] || "${run[@]}" "$python" scripts/benchreport/torchinfo.py > "$out/$env-torchinfo.json"
  echo "== $env: $(paste -sd' ' "$out/$env-env.txt"); $(sed 's/.*blas: //' "$out/$env-blas.txt")" >&2
  for r in $(seq 1 "$rounds"); do
    echo "   round $r/$rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    load "$r"
    if [ $((r % 2)) = 1 ]; then go_side; torch_side; else torch_side; go_side; fi
  done
  load end
  GOMAXPROCS=2 "${run[@]}" "$out/benchmark.test" -test.run '^$' -test.bench 'Layers|PeakSGEMM' \
    -test.benchtime "${BENCHTIME:-20x}" > "$out/$env-layers.txt"
done

if [ "${BENCH_ORT:-1}" = 1 ]; then
  echo "== uqnn vs bare onnxruntime" >&2
  go test -run '^$' -bench 'VsBare' -benchtime "${BENCHTIME_ORT:-3s}" -count 1 ./internal/ort ./adversarial > "$out/ort.txt"
fi
if [ "${BENCH_BAYES:-1}" = 1 ]; then
  # Issue 11's ratios: a sampling step against an Adam training step on the same LeNet-5
  # (interleaved inside the benchmark), and ensemble.onnx against its members' own sessions.
  echo "== bayes: sampling step vs training step; ensemble graph vs member sessions" >&2
  go test -run '^$' -bench 'SamplingStep|EnsembleVsSessions' -benchtime "${BENCHTIME_BAYES:-60x}" -count 1 ./bayes > "$out/bayes.txt"
fi
if [ "${BENCH_COMPRESS:-1}" = 1 ]; then
  # Issue 9's ratios: a masked and an svd epoch against a plain one (steady-state steps,
  # interleaved inside the benchmark), and onnxruntime on the filter-pruned LeNet-5.
  echo "== compress: masked and svd epochs vs a plain one; filter-pruned inference" >&2
  "$out/benchmark.test" -test.run '^$' -test.bench 'SVDEpoch|FilterPrunedORT/interleaved' \
    -test.benchtime "${BENCHTIME_COMPRESS:-5x}" > "$out/compress.txt"
fi
go run ./scripts/benchreport "$out" | tee "$out/report.txt"
