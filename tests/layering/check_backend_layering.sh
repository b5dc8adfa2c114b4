#!/usr/bin/env bash
# Layering of the backend interface (src/backend/backend.h): the layers above
# the engine reach a device only through the engine and its backend table.
# No file under src/kv, src/latent, src/graph or src/run may include a
# backend-private header (backend/cpu/*, backend/cuda/*; backend/backend.h,
# the interface, is allowed), call a backend's private functions (gc_cuda_*,
# gc_cpu_*, gck_*), or name GC_DEVICE_CUDA / ask gc_engine_device (device
# branches belong to engine/ and the backends). And the backends see no
# engine internals: no file under src/backend includes a header of
# src/engine (they get plain data through backend/backend.h).
# Usage: check_backend_layering.sh [ROOT]   (default: the repository)
# With --self-test it first checks that a planted violation is caught.
set -u
PATTERN='#include *[<"]backend/(cpu|cuda)/|GC_DEVICE_CUDA|gc_engine_device|\bgc_cuda_|\bgc_cpu_|\bgck_'
BACKEND_PATTERN='#include *[<"]engine/'

scan() {   # ROOT: prints the violations, fails when there are any
    local dirs=() d
    for d in kv latent graph run; do [ -d "$1/src/$d" ] && dirs+=("$1/src/$d"); done
    [ ${#dirs[@]} -gt 0 ] || { echo "no src/kv, src/latent, src/graph or src/run under $1"; return 2; }
    local bad=0
    grep -rnE "$PATTERN" "${dirs[@]}" && bad=1
    [ -d "$1/src/backend" ] && grep -rnE "$BACKEND_PATTERN" "$1/src/backend" && bad=1
    return $bad
}

if [ "${1:-}" = "--self-test" ]; then
    shift
    t=$(mktemp -d)
    trap 'rm -rf "$t"' EXIT
    mkdir -p "$t/src/kv" "$t/src/latent" "$t/src/backend/cpu"
    printf '#include "backend/backend.h"\n' > "$t/src/kv/ok.c"
    printf '#include "backend/backend.h"\n#include "gcache/engine.h"\n' > "$t/src/backend/cpu/ok.c"
    scan "$t" > /dev/null || { echo "self-test: a clean tree was refused"; exit 1; }
    for bad in '#include "backend/cuda/cuda_backend.h"' 'if (d == GC_DEVICE_CUDA) x();' 'gc_cuda_kv_get(a, b);'; do
        printf '%s\n' "$bad" > "$t/src/latent/bad.c"
        if scan "$t" > /dev/null; then echo "self-test: not caught: $bad"; exit 1; fi
    done
    rm "$t/src/latent/bad.c"
    printf '#include "engine/engine.h"\n' > "$t/src/backend/cpu/bad.c"
    if scan "$t" > /dev/null; then echo "self-test: not caught: a backend including engine/engine.h"; exit 1; fi
    rm "$t/src/backend/cpu/bad.c"
fi
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
if scan "$root"; then
    echo "layering: src/kv, src/latent, src/graph, src/run use no backend-private header and no device branch;"
    echo "          src/backend includes no engine header"
else
    echo "layering: the lines above cross the backend interface: layers above the engine go through the engine and"
    echo "          backend/backend.h; backends get plain data from backend/backend.h, not engine/ internals"
    exit 1
fi
