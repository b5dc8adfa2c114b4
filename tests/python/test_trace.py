"""The binding's forward passes, latent steps and cache operations equal
`gcache trace` on the tiny test models."""
import json

import gcache
import numpy as np
import pytest

from conftest import TINY, cli


def cli_trace(model: str, program: str, realign: bool = True):
    args = ["trace", "--model", str(TINY / model), "--device", "cpu", "--program", program]
    if not realign:
        args.append("--no-realign")
    return json.loads(cli(*args))["segments"]


def f32(x):
    return np.asarray(x, dtype=np.float32)  # %.9g round-trips float32 exactly


PROGRAM = "ids:3,17,42,7,9;latent:3;greedy:4;save:A;reset;ids:5,6;save:B;concat:A,B;ids:8;keep:4;ids:11;" \
          "save:C;wsum:A@0.7,C@0.3;ids:2,4"


@pytest.mark.parametrize("model,realign", [("qwen3", True), ("llama", False), ("qwen2", True)])
def test_trace_equals_cli(model, realign):
    want = cli_trace(model, PROGRAM, realign)
    with gcache.Model(TINY / model) as m:
        got = m.trace(PROGRAM, realign=realign)
    assert [s["type"] for s in got] == [s["type"] for s in want]
    for g, w in zip(got, want):
        if g["type"] == "ids":
            assert np.array_equal(g["logits"], f32(w["logits"]))
            assert np.array_equal(g["hidden_last"], f32(w["hidden_last"]))
        elif g["type"] == "latent":
            assert np.array_equal(g["hidden"], f32(w["hidden"]))
            assert np.array_equal(g["logits_last"], f32(w["logits_last"]))
        elif g["type"] == "greedy":
            assert g["ids"] == w["ids"]


def test_trace_arrays_outlive_the_model():
    with gcache.Model(TINY / "llama") as m:
        seg = m.trace("ids:1,2,3")[0]
    logits = seg.pop("logits")
    del seg
    assert logits.shape == (3, m.vocab_size) and np.isfinite(logits).all()
    assert not logits.flags.writeable


@pytest.mark.parametrize("model,realign", [("qwen3", True), ("llama", False)])
def test_feed_and_latent_steps_equal_trace(model, realign):
    want = cli_trace(model, "ids:3,17,42;latent:4;greedy:3", realign)
    with gcache.Model(TINY / model) as m, m.cache() as c:
        f = c.feed([3, 17, 42], all_logits=True)
        assert np.array_equal(f.logits, f32(want[0]["logits"]))
        assert np.array_equal(f.hidden, f32(want[0]["hidden_last"]))
        h = c.latent(4, realign=realign)
        assert h.shape == (4, m.hidden_size)
        assert np.array_equal(h, f32(want[1]["hidden"]))
        # the last latent step's logits: a latent step by hand, from the public pieces
        with m.cache() as d:
            d.feed([3, 17, 42])
            d.latent(3, realign=realign)
            e = d.realign(d.last_hidden, realign=realign)
            last = d.feed_embeddings(e)
            assert np.array_equal(last.hidden, h[3])
            assert np.array_equal(last.logits, f32(want[1]["logits_last"]))
        # greedy: argmax, fed back
        ids, logits = [], last.logits
        for _ in range(3):
            ids.append(int(np.argmax(logits)))
            logits = c.feed([ids[-1]]).logits
        assert ids == want[2]["ids"]
        assert len(c) == 3 + 4 + 3


def test_cache_operations_equal_trace():
    prog = ("ids:3,17,42,7,9;save:A;reset;ids:5,6;save:B;concat:A,B;ids:8;keep:4;ids:11;save:C;"
            "wsum:A@0.7,C@0.3;ids:2,4")
    want = cli_trace("qwen3", prog)
    with gcache.Model(TINY / "qwen3") as m:
        with m.cache() as a, m.cache() as b:
            a.feed([3, 17, 42, 7, 9])
            b.feed([5, 6])
            with gcache.concat([a, b]) as cur:
                assert len(cur) == 7
                assert np.array_equal(cur.feed([8], all_logits=True).logits, f32(want[6]["logits"]))
                cur.keep_last(4)
                assert len(cur) == 4
                assert np.array_equal(cur.feed([11], all_logits=True).logits, f32(want[8]["logits"]))
                with gcache.weighted_sum([a, cur], [0.7, 0.3]) as w:
                    assert len(w) == min(len(a), len(cur))
                    assert np.array_equal(w.feed([2, 4], all_logits=True).logits, f32(want[11]["logits"]))
        assert m.live_blocks == 0
