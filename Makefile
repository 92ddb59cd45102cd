# uqnn — see README.md. Every target installs what it needs by itself.
SHELL := /bin/bash
GO ?= go
ORT_VERSION := 1.30.0
UQNN_CACHE ?= $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/uqnn
ORT_DIR := $(UQNN_CACHE)/onnxruntime-$(ORT_VERSION)
ORT_LIB := $(ORT_DIR)/libonnxruntime.so.1
MODEL ?= ../shared/models/cntk-zoo-mnist-op7.onnx
export UQNN_ORT_LIB ?= $(ORT_LIB)

.PHONY: all build deps ort test test-short run bench fuzz clean
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

# All tests: unit tests, end-to-end CLI tests, onnxruntime cross-checks.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

test-short: deps
	$(GO) test -short -count=1 ./...

run: build
	bin/uqnn inspect $(MODEL)
	bin/uqnn eval $(MODEL) --preprocess auto

bench: deps
	@scripts/apt-deps.sh python3-torch
	scripts/bench.sh

fuzz: deps
	$(GO) test ./onnxio -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-60s} -fuzzminimizetime 5s

clean:
	rm -rf bin
