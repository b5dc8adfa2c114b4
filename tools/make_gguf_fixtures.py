#!/usr/bin/env python3
"""Writes the GGUF reader fixtures under tests/data/gguf/ with gguf-py's
GGUFWriter, then re-reads them with gguf-py's GGUFReader to produce the
expected values the C tests compare against.

  tiny.gguf          v3, default alignment: one key of every value type
                     (incl. string/int/float/bool/u64 arrays and an array of
                     arrays) and small tensors of the dtypes F32..Q6_K, 1-4 dims
  tiny.expect.bin    every tensor of tiny.gguf dequantised by gguf-py, f32 LE,
                     concatenated in file order
  align64.gguf       general.alignment = 64, two tensors
  meta_only.gguf     no tensors; string arrays and an array of string arrays
  quants.gguf        one tensor of each type added after tiny.gguf (Q5_0,
                     Q5_1, IQ4_NL, Q2_K, Q3_K, IQ4_XS), random blocks
  quants.expect.bin  its tensors dequantised by gguf-py, as tiny.expect.bin
  smol_token_embd_row0.f32, smol_attn_q_row0.f32
                     row 0 of two tensors of the SmolLM2-135M-Instruct Q4_1
                     GGUF, dequantised by gguf-py (only when --smol PATH given)
  qwen_rows.f32      the rows QWEN_ROWS of the Qwen2.5-Coder-0.5B-Instruct
                     Q4_K_M GGUF (Q5_0, Q8_0, Q6_K, Q4_K tensors) dequantised
                     by gguf-py, concatenated (only when --qwen PATH given)

It also prints the tensor table (name, dtype, shape, absolute data offset,
bytes) that tests/unit/test_gguf.c hard-codes.

Run from the repo root with a Python that has numpy and gguf (>= 0.10):
  python tools/make_gguf_fixtures.py [--smol PATH]
"""
import argparse
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGML_QUANT_SIZES, GGUFReader, GGUFValueType as V, GGUFWriter, quants

OUT = os.path.join("tests", "data", "gguf")
rng = np.random.default_rng(7)


def raw_blocks(qtype, rows: int, cols: int, scale_offs) -> np.ndarray:
    """Random blocks with small finite f16 scales at the given byte offsets."""
    be, bb = GGML_QUANT_SIZES[qtype]
    nb = rows * cols // be
    raw = rng.integers(0, 256, (nb, bb), dtype=np.uint16).astype(np.uint8)
    for off in scale_offs:
        raw[:, off:off + 2] = rng.normal(0, 0.05, nb).astype(np.float16).view(np.uint8).reshape(nb, 2)
    return raw.reshape(rows, cols // be * bb)


def write_tiny(path: str) -> None:
    w = GGUFWriter(path, arch="llama")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.1)
    w.add_bool("test.true", True)
    w.add_bool("test.false", False)
    w.add_string("test.str", "h\u00e9llo w\u00f6rld")
    w.add_key_value("test.empty", "", V.STRING)
    w.add_uint64("test.u64", 123456789012345)
    w.add_uint64("test.u64_big", (1 << 63) + 5)
    w.add_int64("test.i64", -(1 << 62) - 3)
    w.add_float64("test.f64", 3.141592653589793)
    w.add_array("test.arr_str", ["a", "", "\u00fcn\u00ef", "a longer string"])
    w.add_array("test.arr_i32", [1, -2, 2147483647])
    w.add_key_value("test.arr_u8", [0, 255, 7], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.arr_i16", [-32768, 32767], V.ARRAY, sub_type=V.INT16)
    w.add_key_value("test.arr_u64", [(1 << 64) - 1, 42], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("test.arr_i64", [-(1 << 63), 1 << 40], V.ARRAY, sub_type=V.INT64)
    w.add_array("test.arr_f32", [0.5, -2.25, 1e-3])
    w.add_key_value("test.arr_f64", [1.0 / 3.0, -1e300], V.ARRAY, sub_type=V.FLOAT64)
    w.add_array("test.arr_bool", [True, False, True])
    w.add_array("test.nested", [[1, 2], [3], [4, 5, 6]])
    w.add_uint32("test.after_nested", 77)

    w.add_tensor("t.f32", rng.normal(0, 1, (3, 4)).astype(np.float32))
    w.add_tensor("t.vec", np.arange(5, dtype=np.float32))
    w.add_tensor("t.f16_3d", rng.normal(0, 1, (2, 3, 8)).astype(np.float16))
    w.add_tensor("t.f32_4d", rng.normal(0, 1, (2, 1, 3, 2)).astype(np.float32))
    bf = quants.quantize(rng.normal(0, 1, (2, 16)).astype(np.float32), Q.BF16)
    w.add_tensor("t.bf16", bf, raw_dtype=Q.BF16)
    for name, qt in (("t.q8_0", Q.Q8_0), ("t.q4_0", Q.Q4_0), ("t.q4_1", Q.Q4_1)):
        data = quants.quantize(rng.normal(0, 1, (2, 64)).astype(np.float32), qt)
        w.add_tensor(name, data, raw_dtype=qt)
    for name, qt, offs in (("t.q4_k", Q.Q4_K, [0, 2]), ("t.q5_k", Q.Q5_K, [0, 2]), ("t.q6_k", Q.Q6_K, [208])):
        w.add_tensor(name, raw_blocks(qt, 2, 256, offs), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_align64(path: str) -> None:
    w = GGUFWriter(path, arch="llama")
    w.add_custom_alignment(64)
    w.add_string("general.name", "align64")
    w.add_tensor("a", np.arange(3, dtype=np.float32))
    w.add_tensor("b", quants.quantize(np.linspace(-1, 1, 32, dtype=np.float32).reshape(1, 32), Q.Q8_0),
                 raw_dtype=Q.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_meta_only(path: str) -> None:
    """No tensors: string arrays, an array of string arrays, a bool."""
    w = GGUFWriter(path, arch="qwen2")
    w.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "hello", "\u0120world"])
    w.add_array("test.nested_str", [["a", "bc"], ["def"]])
    w.add_bool("test.flag", True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# (name, type, rows, cols, byte offsets of the f16 scales in a block)
QUANTS = (
    ("q.q5_0", Q.Q5_0, 3, 64, [0]),
    ("q.q5_1", Q.Q5_1, 2, 96, [0, 2]),
    ("q.iq4_nl", Q.IQ4_NL, 2, 64, [0]),
    ("q.q2_k", Q.Q2_K, 2, 256, [80, 82]),
    ("q.q3_k", Q.Q3_K, 3, 256, [108]),
    ("q.iq4_xs", Q.IQ4_XS, 2, 512, [0]),
)


def write_quants(path: str) -> None:
    w = GGUFWriter(path, arch="llama")
    for name, qt, rows, cols, offs in QUANTS:
        w.add_tensor(name, raw_blocks(qt, rows, cols, offs), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def dequant(t) -> np.ndarray:
    return quants.dequantize(t.data, t.tensor_type).astype("<f4").reshape(-1)


def describe(path: str) -> None:
    r = GGUFReader(path)
    print(f"{path}: {len(r.tensors)} tensors, {len(r.fields) - 3} kv, size {os.path.getsize(path)}")
    for t in r.tensors:
        shape = list(reversed([int(x) for x in t.shape]))  # row-major
        print(f'    {{"{t.name}", {t.tensor_type.name}, {len(shape)}, {{{", ".join(map(str, shape))}}}, '
              f"{t.data_offset}, {t.n_bytes}}},")


def write_smol(path: str) -> None:
    r = GGUFReader(path)
    by_name = {t.name: t for t in r.tensors}
    for name, out in (("token_embd.weight", "smol_token_embd_row0.f32"),
                      ("blk.0.attn_q.weight", "smol_attn_q_row0.f32")):
        t = by_name[name]
        cols = int(t.shape[0])
        be, bb = GGML_QUANT_SIZES[t.tensor_type]
        row_bytes = cols // be * bb
        row = np.asarray(t.data).reshape(-1)[:row_bytes] if t.data.dtype == np.uint8 else None
        assert row is not None, name
        vals = quants.dequantize(row.reshape(1, row_bytes), t.tensor_type).astype("<f4").reshape(-1)
        assert vals.size == cols
        vals.tofile(os.path.join(OUT, out))
        print(f"{name}: {t.tensor_type.name} ne={[int(x) for x in t.shape]} offset={t.data_offset}")
    arch = r.fields["general.architecture"]
    print("arch:", bytes(arch.parts[arch.data[0]]).decode(), "n_tensors:", len(r.tensors),
          "n_kv:", len(r.fields) - 3)
    for name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight",
                 "blk.0.ffn_down.weight", "blk.29.ffn_up.weight", "output_norm.weight"):
        t = by_name.get(name)
        if t is not None:
            shape = list(reversed([int(x) for x in t.shape]))
            print(f'    {{"{name}", {t.tensor_type.name}, {len(shape)}, {{{", ".join(map(str, shape))}}}, '
                  f"{t.data_offset}, {t.n_bytes}}},")


# (tensor, row) pairs of the real Qwen GGUF whose values qwen_rows.f32 holds;
# tests/unit/test_gguf.c lists the same rows.
QWEN_ROWS = (
    ("token_embd.weight", 0),          # Q5_0
    ("token_embd.weight", 151935),     # Q5_0, last row
    ("blk.0.attn_k.weight", 127),      # Q5_0
    ("blk.23.ffn_up.weight", 4863),    # Q5_0
    ("blk.0.ffn_down.weight", 0),      # Q6_K
    ("blk.11.ffn_down.weight", 895),   # Q4_K
    ("output.weight", 151644),         # Q8_0
)


def write_qwen(path: str) -> None:
    r = GGUFReader(path)
    by_name = {t.name: t for t in r.tensors}
    with open(os.path.join(OUT, "qwen_rows.f32"), "wb") as f:
        for name, row in QWEN_ROWS:
            t = by_name[name]
            cols = int(t.shape[0])
            data = np.asarray(t.data)
            one = data.reshape(-1, data.shape[-1])[row:row + 1]
            vals = quants.dequantize(one, t.tensor_type).astype("<f4").reshape(-1)
            assert vals.size == cols
            f.write(vals.tobytes())
            print(f"{name}[{row}]: {t.tensor_type.name}, {cols} columns")
    counts = {}
    for t in r.tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    print("n_tensors:", len(r.tensors), counts)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smol", help="path to SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--qwen", help="path to qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    tiny = os.path.join(OUT, "tiny.gguf")
    write_tiny(tiny)
    with open(os.path.join(OUT, "tiny.expect.bin"), "wb") as f:
        for t in GGUFReader(tiny).tensors:
            f.write(dequant(t).tobytes())
    describe(tiny)
    a64 = os.path.join(OUT, "align64.gguf")
    write_align64(a64)
    describe(a64)
    meta = os.path.join(OUT, "meta_only.gguf")
    write_meta_only(meta)
    describe(meta)
    qf = os.path.join(OUT, "quants.gguf")
    write_quants(qf)
    with open(os.path.join(OUT, "quants.expect.bin"), "wb") as f:
        for t in GGUFReader(qf).tensors:
            f.write(dequant(t).tobytes())
    describe(qf)
    if args.smol:
        write_smol(args.smol)
    if args.qwen:
        write_qwen(args.qwen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
