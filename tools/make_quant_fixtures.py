#!/usr/bin/env python3
"""Writes the dequantisation fixtures under tests/data/quant/ using gguf-py
(pip package `gguf`) as the independent reference decoder.

Per dtype, <name>.bin is:
    u32 n_elems, u32 n_bytes, n_bytes of encoded blocks, n_elems x f32 expected
(all little-endian). The encoded blocks are random bytes whose f16 scale
fields are replaced by finite values: half of the blocks get small realistic
scales, the rest random finite f16 bit patterns (zero, subnormal, negative,
large), so every code path of the decoder is exercised.

Conversion fixtures (pairs of u32 f32-bits and expected u16 result):
    f32_to_f16.bin   numpy's float32 -> float16 (IEEE round to nearest even)
    f32_to_bf16.bin  gguf-py's BF16 quantiser (= ggml_compute_fp32_to_bf16)

Run from the repo root with a Python that has numpy and gguf (>= 0.10):
    python tools/make_quant_fixtures.py
"""
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGML_QUANT_SIZES, quants

OUT = os.path.join("tests", "data", "quant")
rng = np.random.default_rng(20240611)

# dtype -> (file name, number of blocks, byte offsets of f16 scale fields)
TYPES = {
    T.F32: ("f32", 1024, []),
    T.F16: ("f16", 1024, []),
    T.BF16: ("bf16", 1024, []),
    T.Q8_0: ("q8_0", 64, [0]),
    T.Q4_0: ("q4_0", 64, [0]),
    T.Q4_1: ("q4_1", 64, [0, 2]),
    T.Q4_K: ("q4_k", 16, [0, 2]),
    T.Q5_K: ("q5_k", 16, [0, 2]),
    T.Q6_K: ("q6_k", 16, [208]),
}

# Types added later. Their fixtures are drawn after the conversion fixtures so
# that adding them left the earlier files byte-for-byte unchanged.
MORE_TYPES = {
    T.Q5_0: ("q5_0", 64, [0]),
    T.Q5_1: ("q5_1", 64, [0, 2]),
    T.Q2_K: ("q2_k", 16, [80, 82]),
    T.Q3_K: ("q3_k", 16, [108]),
    T.IQ4_NL: ("iq4_nl", 64, [0]),
    T.IQ4_XS: ("iq4_xs", 16, [0]),
}


def finite_f16(n: int, realistic: bool) -> np.ndarray:
    if realistic:
        return (rng.normal(0.0, 0.02, n)).astype(np.float16)
    bits = rng.integers(0, 1 << 16, n, dtype=np.uint32).astype(np.uint16)
    exp = (bits >> 10) & 0x1F
    bits = np.where(exp == 0x1F, bits & 0xFBFF, bits)  # clear one exponent bit: finite
    bits[:4] = [0x0000, 0x8000, 0x0001, 0x83FF]          # +0, -0, subnormals
    return bits.view(np.float16)


def make_blocks(qtype, n_blocks: int, scale_offs) -> np.ndarray:
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (n_blocks, block_bytes), dtype=np.uint16).astype(np.uint8)
    half = n_blocks // 2
    for off in scale_offs:
        vals = np.concatenate([finite_f16(half, True), finite_f16(n_blocks - half, False)])
        raw[:, off:off + 2] = vals.view(np.uint8).reshape(n_blocks, 2)
    return raw


def dequant(qtype, raw: np.ndarray) -> np.ndarray:
    flat = raw.reshape(-1)
    if qtype == T.F32:
        return flat.view(np.float32).copy()
    if qtype == T.F16:
        return flat.view(np.float16).astype(np.float32)
    return quants.dequantize(flat, qtype).astype(np.float32).reshape(-1)


def write_block_fixture(qtype) -> int:
    name, n_blocks, offs = TYPES[qtype] if qtype in TYPES else MORE_TYPES[qtype]
    block_elems, _ = GGML_QUANT_SIZES[qtype]
    raw = make_blocks(qtype, n_blocks, offs)
    ref = dequant(qtype, raw)
    assert ref.size == n_blocks * block_elems
    path = os.path.join(OUT, name + ".bin")
    with open(path, "wb") as f:
        f.write(struct.pack("<II", ref.size, raw.size))
        f.write(raw.tobytes())
        f.write(ref.astype("<f4").tobytes())
    return os.path.getsize(path)


def tricky_f32() -> np.ndarray:
    """f32 bit patterns around every rounding boundary of f16 and bf16."""
    v = []
    for e in range(0x66, 0x98):  # exponents from below f16 subnormals to past 65504
        for m in (0, 1, 0x1000, 0x0FFF, 0x1001, 0x2000, 0x3000, 0x7FFFFF, 0x400000, 0x7FE000,
                  0x8000, 0x7FFF, 0x18000, 0x10000, 0x17FFF):
            v.append((e << 23) | (m & 0x7FFFFF))
    v += [0x477FE000, 0x477FEFFF, 0x477FF000, 0x477FF001, 0x47800000,  # around 65504 / 65520
          0x387FE000, 0x387FF000, 0x38800000, 0x33000000, 0x33000001, 0x337FFFFF,
          0x7F7FFFFF, 0x7F800000, 0x00000001, 0x007FFFFF, 0x3F800000, 0x3F808000, 0x3F818000]
    v = np.array(v, dtype=np.uint32)
    return np.concatenate([v, v | np.uint32(0x80000000)])


def write_conv_fixtures() -> int:
    rand = rng.integers(0, 1 << 32, 2048, dtype=np.uint64).astype(np.uint32)
    rand = rand[((rand >> 23) & 0xFF) != 0xFF]  # NaN/inf handled by the C edge-case tests
    bits = np.concatenate([tricky_f32(), rand])
    f = bits.view(np.float32)
    with np.errstate(over="ignore"):
        h = f.astype(np.float16).view(np.uint16)
    b = quants.quantize(f.reshape(-1, 1), T.BF16).view(np.uint16).reshape(-1)
    total = 0
    for name, res in (("f32_to_f16.bin", h), ("f32_to_bf16.bin", b)):
        path = os.path.join(OUT, name)
        with open(path, "wb") as fp:
            fp.write(struct.pack("<I", bits.size))
            fp.write(bits.astype("<u4").tobytes())
            fp.write(res.astype("<u2").tobytes())
        total += os.path.getsize(path)
    return total


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    total = sum(write_block_fixture(q) for q in TYPES)
    total += write_conv_fixtures()
    total += sum(write_block_fixture(q) for q in MORE_TYPES)
    print(f"wrote {OUT}: {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
