"""KV caches as Python objects: block accounting, save/load, gates, and
deterministic release (also after the model is closed)."""
import gcache
import numpy as np
import pytest

from conftest import GSM8K_MINI, TINY


@pytest.fixture()
def qwen3():
    with gcache.Model(TINY / "qwen3") as m:
        yield m


def test_blocks_return_to_zero(qwen3):
    m = qwen3
    assert m.live_blocks == 0
    a = m.cache()
    a.feed(list(range(1, 41)))            # 40 positions: 3 blocks of 16
    assert len(a) == 40 and m.live_blocks == 3
    f = a.fork()                           # zero-copy
    assert m.live_blocks == 3 and len(f) == 40
    f.feed([5])                            # copy-on-write: a new block for f only
    assert m.live_blocks == 4 and len(a) == 40 and len(f) == 41
    with gcache.concat([a, f]) as c:       # zero-copy
        assert len(c) == 81 and m.live_blocks == 4
        s = c[10:50]
        assert len(s) == 40 and m.live_blocks == 4
        w = gcache.weighted_sum([a, f], [0.5, 0.5])   # materialised
        assert len(w) == 40 and m.live_blocks == 4 + 3
        k = a.clone()
        assert m.live_blocks == 10
    # c released by its `with`; s, w, k, a, f still hold blocks
    for x in (s, w, k, a, f):
        x.close()
    assert m.live_blocks == 0
    a.close()  # twice is fine


def test_garbage_collected_cache_frees_blocks(qwen3):
    c = qwen3.cache()
    c.feed([1, 2, 3])
    assert qwen3.live_blocks == 1
    del c
    assert qwen3.live_blocks == 0


def test_save_load_round_trip(qwen3, tmp_path):
    m = qwen3
    p = tmp_path / "kv.bin"
    with m.cache() as a:
        a.feed([3, 17, 42, 7, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
        a.save(p)
        with m.load_cache(p) as b:
            assert len(b) == len(a) and b.nbytes == a.nbytes
            for layer in range(m.n_layers):
                for pos in (0, 7, len(a) - 1):
                    ka, va = a.read(layer, pos)
                    kb, vb = b.read(layer, pos)
                    assert np.array_equal(ka, kb) and np.array_equal(va, vb)
            assert np.array_equal(a.feed([6]).logits, b.feed([6]).logits)
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(raw))
    with pytest.raises(gcache.FormatError) as e:
        m.load_cache(bad)
    assert "bad.bin" in str(e.value)
    with pytest.raises(gcache.GcacheIOError):
        m.load_cache(tmp_path / "missing.bin")
    with gcache.Model(TINY / "llama") as other, pytest.raises(gcache.FormatError):
        other.load_cache(p)   # another model's shapes


def test_gates_hide_positions(qwen3):
    """With every layer gated off on the earlier positions, a new token attends
    only to itself, as it does in an empty cache (RoPE cancels at distance 0)."""
    m = qwen3
    with m.cache() as fresh:
        alone = fresh.feed([9]).logits
    with m.cache() as c:
        c.feed([3, 17, 42, 7])
        with c.fork() as open_:
            seen = open_.feed([9]).logits
        c.scale(0, 4, gate=[0] * m.n_layers)
        gated = c.feed([9]).logits
    assert not np.allclose(seen, alone, atol=1e-4)
    np.testing.assert_allclose(gated, alone, rtol=1e-4, atol=1e-5)
    with m.cache() as c, pytest.raises(gcache.InvalidArgumentError):
        c.feed([1])
        c.scale(0, 1, k_scale=[1.0])   # one entry per layer needed


def test_scale_by_one_changes_nothing(qwen3):
    m = qwen3
    with m.cache() as a:
        a.feed([3, 17, 42])
        with a.fork() as b:
            b.scale(k_scale=np.ones(m.n_layers), v_scale=np.ones(m.n_layers))
            assert np.array_equal(a.feed([5]).logits, b.feed([5]).logits)


def test_use_after_close_raises(qwen3):
    m = qwen3
    c = m.cache()
    c.feed([1, 2, 3])
    d = m.cache()
    d.close()
    with pytest.raises(gcache.ClosedError):
        len(d)
    with pytest.raises(gcache.ClosedError):
        gcache.concat([c, d])
    m.close()
    assert c.closed and m.closed
    for op in (lambda: len(c), lambda: c.feed([1]), lambda: c.fork(), lambda: c.latent(1), lambda: c.save("x"),
               lambda: c.keep_last(1), lambda: c.read(0, 0), lambda: m.cache(), lambda: m.generate("x"),
               lambda: m.trace("ids:1"), lambda: m.live_blocks, lambda: m.embed("x"),
               lambda: gcache.run(m, "single", "gsm8k", dataset=GSM8K_MINI),
               lambda: gcache.train(m, "gsm8k", dataset=GSM8K_MINI)):
        with pytest.raises(gcache.ClosedError):
            op()
    c.close()
    m.close()
    assert "closed" in repr(c) and "closed" in repr(m)


def test_errors_carry_the_library_message(qwen3, tmp_path):
    with pytest.raises(gcache.GcacheIOError) as e:
        gcache.Model(tmp_path / "no-such-model")
    assert "no-such-model" in str(e.value) and e.value.status == "GC_ERR_IO"
    assert isinstance(e.value, OSError) and isinstance(e.value, gcache.GcacheError)
    with pytest.raises(gcache.InvalidArgumentError) as e:
        qwen3.trace("ids:1;bogus:2")
    assert "segment 1" in str(e.value) and "bogus" in str(e.value)
    with pytest.raises(gcache.InvalidArgumentError):
        qwen3.trace("ids:99999")
    with qwen3.cache() as c:
        with pytest.raises(gcache.InvalidArgumentError):
            c.feed([qwen3.vocab_size])
        with pytest.raises(gcache.InvalidArgumentError, match="feed a token first"):
            c.latent(2)
        c.feed([1, 2])
        with pytest.raises(gcache.RangeError):
            c.read(0, 5)
    with gcache.Model(TINY / "llama") as other, qwen3.cache() as a, other.cache() as b:
        with pytest.raises(gcache.InvalidArgumentError, match="different models"):
            gcache.concat([a, b])
    with pytest.raises(gcache.InvalidArgumentError):
        qwen3.tokenize("x")   # this model folder has no tokenizer
    if not gcache.cuda_available():
        with pytest.raises(gcache.UnsupportedError):
            gcache.Model(TINY / "qwen3", device="cuda")


def test_layout_check_catches_a_changed_struct(monkeypatch):
    import ctypes
    from gcache import _lib

    class gc_engine_params(ctypes.Structure):   # a field short
        _fields_ = [("n_threads", ctypes.c_int), ("kv_pool_bytes", ctypes.c_size_t)]
    monkeypatch.setattr(_lib, "MIRRORED", [gc_engine_params])
    with pytest.raises(ImportError, match="gc_engine_params"):
        _lib._check_layouts()


def test_q8_cache(tmp_path):
    """kv="q8": int8 K/V rows with one scale per position and KV head (the
    qwen3 fixture: 2 KV heads × 32), bit-exact through save/load, refused by
    an f32 engine; the CPU stores no bf16."""
    ids = [3, 17, 42, 7, 9, 1, 2, 3, 4, 5]
    with gcache.Model(TINY / "qwen3") as f, gcache.Model(TINY / "qwen3", kv="q8") as q:
        with f.cache() as a, q.cache() as b:
            la, lb = a.feed(ids).logits, b.feed(ids).logits
            assert b.nbytes * 4 * 32 == a.nbytes * (32 + 4)
            assert not np.array_equal(la, lb)
            assert np.abs(la - lb).max() < 0.05 * np.abs(la).max()
            b.save(tmp_path / "q8.bin")
            with q.load_cache(tmp_path / "q8.bin") as c:
                for layer in range(q.n_layers):
                    kb, vb = b.read(layer, 4)
                    kc, vc = c.read(layer, 4)
                    assert np.array_equal(kb, kc) and np.array_equal(vb, vc)
            with pytest.raises(gcache.FormatError, match="q8 KV format"):
                f.load_cache(tmp_path / "q8.bin")
    with pytest.raises(gcache.UnsupportedError, match="bf16"):
        gcache.Model(TINY / "qwen3", kv="bf16")
    with pytest.raises(gcache.InvalidArgumentError):
        gcache.Model(TINY / "qwen3", kv="int4")
