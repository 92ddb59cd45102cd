# uqnn — see README.md. Every target installs what it needs by itself.
SHELL := /bin/bash
GO ?= go
ORT_VERSION := 1.30.0
UQNN_CACHE ?= $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/uqnn
ORT_DIR := $(UQNN_CACHE)/onnxruntime-$(ORT_VERSION)
ORT_LIB := $(ORT_DIR)/libonnxruntime.so.1
MODEL ?= ../shared/models/cntk-zoo-mnist-op7.onnx
export UQNN_ORT_LIB ?= $(ORT_LIB)

.PHONY: all build deps ort test test-short run bench bench-layer fuzz clean
all: build

bin/.apt-stamp: scripts/apt-deps.sh
	@scripts/apt-deps.sh
	@mkdir -p bin && touch $@
deps: bin/.apt-stamp ort
	@$(GO) mod download

ort: $(ORT_LIB)
$(ORT_LIB): scripts/fetch-ort.sh
	@scripts/fetch-ort.sh $(ORT_DIR) >/dev/null

build: deps
	$(GO) build -o bin/uqnn ./cmd/uqnn

# All tests: unit tests, end-to-end CLI tests, onnxruntime cross-checks. Progress as it goes:
# each package's result, every test over 5 s, failures with their output, a closing count.
# The per-package timeout leaves room under CI's 20 minutes: on a slow day cmd/uqnn alone took
# 803 s of the whole run's 15 min (its full default training, TestTrainDefaultsReachAccuracy,
# 582 s of it), against 329 s for the whole run on a usual day.
test: deps
	$(GO) vet ./...
	set -o pipefail; $(GO) test -json -count=1 -timeout 18m ./... | $(GO) run ./scripts/testprogress

test-short: deps
	$(GO) test -short -count=1 ./...

# The quick study on the embedded MNIST: needs nothing from ../shared. RUN_DIR keeps the
# stages, so a second `make run` only rewrites the report.
RUN_DIR ?= bin/study-quick
run: build
	@bin/uqnn study --quick -o $(RUN_DIR); rc=$$?; \
	  echo "make run: the report is $(RUN_DIR)/report.html (also report.md, results.csv, results.json)"; exit $$rc

# ROUNDS interleaved uqnn/PyTorch rounds (default 5), in the environment as it is and with
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset; report in bin/bench/report.txt.
bench: deps
	@scripts/apt-deps.sh python3-torch
	scripts/bench.sh

# One layer's passes at batch 64 (forward, input and weight gradients; med-s/op, cpu-s/op,
# GFLOP/s), then the large-SGEMM rate they compare with. LAYER is arch/node as fixtures names
# them: make bench-layer LAYER=zoo/conv2; LAYER=lenet5 runs every layer of LeNet-5.
LAYER ?= lenet5/conv2
bench-layer: deps
	GOMAXPROCS=2 $(GO) test -run '^$$' -bench 'Layers/$(LAYER)/' -benchtime $${BENCHTIME:-50x} ./internal/benchmark
	GOMAXPROCS=2 $(GO) test -run '^$$' -bench 'PeakSGEMM' -benchtime 10x ./internal/benchmark

fuzz: deps
	$(GO) test ./onnxio -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-60s} -fuzzminimizetime 5s
	$(GO) test ./compress -run '^$$' -fuzz FuzzArchive -fuzztime $${FUZZTIME:-60s} -fuzzminimizetime 5s

clean:
	rm -rf bin
