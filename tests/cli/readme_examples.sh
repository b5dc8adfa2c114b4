#!/usr/bin/env bash
# Every command example of README.md runs (tools/check_readme.py: tiny limits,
# the tiny fixture model, outputs in a temporary folder). `make readme-check`
# runs the same with the small real model.
set -u
exec python3 tools/check_readme.py --bin "$1"
