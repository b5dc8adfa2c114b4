#!/usr/bin/env python3
"""Writes tests/data/safetensors/fixture.safetensors with the reference
`safetensors` package, so that test_safetensors.c checks our reader against
an independent writer.

Every element is a formula of its flat index i that tests/unit/test_safetensors.c
recomputes, and every value is exact in its dtype:
  f32.matrix  F32  (3, 4)        i * 0.5 - 2.75
  f32.scalar  F32  ()            -1.5
  f32.empty   F32  (0, 3)        no data
  f16.vector  F16  (5,)          (i - 2) * 0.25
  f16.rank4   F16  (1, 2, 1, 3)  i * 1.5 + 0.5
  bf16.cube   BF16 (2, 3, 2)     (i - 6) * 0.125
  model.layers.0.self_attn.q_proj.weight  BF16 (4, 2)  i * 2 - 5
__metadata__ = {"format": "pt"}

Usage: python tools/make_safetensors_fixture.py [out_path]
Needs: pip install numpy "safetensors>=0.8" (TensorSpec API)
"""
import sys

import numpy as np
import safetensors


def bf16_bits(values):
    # Values are exact in bfloat16, so truncating the float32 bits is exact.
    return (np.asarray(values, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)


def build():
    f32 = np.float32
    f16 = np.float16
    arrays = {
        "f32.matrix": ("float32", (np.arange(12) * 0.5 - 2.75).astype(f32).reshape(3, 4)),
        "f32.scalar": ("float32", np.array(-1.5, dtype=f32)),
        "f32.empty": ("float32", np.zeros((0, 3), dtype=f32)),
        "f16.vector": ("float16", ((np.arange(5) - 2) * 0.25).astype(f16)),
        "f16.rank4": ("float16", (np.arange(6) * 1.5 + 0.5).astype(f16).reshape(1, 2, 1, 3)),
        "bf16.cube": ("bfloat16", bf16_bits((np.arange(12) - 6) * 0.125).reshape(2, 3, 2)),
        "model.layers.0.self_attn.q_proj.weight": ("bfloat16", bf16_bits(np.arange(8) * 2.0 - 5).reshape(4, 2)),
    }
    keep = []
    specs = {}
    for name, (dtype, arr) in arrays.items():
        arr = np.array(arr, order="C", copy=True)  # ascontiguousarray would make 0-d arrays 1-d
        assert arr.dtype.byteorder in ("=", "<", "|") and sys.byteorder == "little"
        keep.append(arr)
        specs[name] = safetensors.TensorSpec(
            dtype=dtype, shape=list(arr.shape), data_ptr=arr.ctypes.data, data_len=arr.nbytes)
    # One key: the writer keeps metadata in a hash map, so several keys would
    # come out in a run-dependent order.
    meta = {"format": "pt"}
    return safetensors.serialize(specs, metadata=meta), arrays, keep


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/safetensors/fixture.safetensors"
    data, arrays, _keep = build()
    with open(out, "wb") as f:
        f.write(data)
    # Read it back with the reference reader (numpy has no bfloat16, so those
    # values are checked by the C test only).
    with safetensors.safe_open(out, framework="numpy") as f:
        assert sorted(f.keys()) == sorted(arrays)
        for name, (dtype, arr) in arrays.items():
            if dtype != "bfloat16":
                assert np.array_equal(f.get_tensor(name), arr), name
    print(f"wrote {out} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
