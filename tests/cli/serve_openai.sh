#!/usr/bin/env bash
# `gcache serve` with the official openai Python client (tests/cli/serve_openai.py)
# on SmolLM2 (GC_SMOL_GGUF, else .cache/models). The client comes from the
# project venv (.cache/venv; `make unit` installs it). Exit 77 (skipped)
# without the model or the client.
set -u
BIN=$1
PY=.cache/venv/bin/python
# GC_SERVE_TEST_MODEL: another chat model (the sanitizer build sets the tiny one).
MODEL=${GC_SERVE_TEST_MODEL:-${GC_SMOL_GGUF:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}}
[ -e "$MODEL" ] || { echo "skipped: no SmolLM2 GGUF at $MODEL (make unit)"; exit 77; }
"$PY" -c "import openai" 2>/dev/null || { echo "skipped: the openai package is not in $PY (make unit)"; exit 77; }
exec "$PY" tests/cli/serve_openai.py "$BIN" "$MODEL"
