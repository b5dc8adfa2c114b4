"""gcache.run / gcache.train return what `gcache run` records: the same
records (timings aside), training log and policy checkpoint bytes."""
import json

import gcache
import pytest

from conftest import GSM8K_MINI, TINY, cli, same

TIMING = ("wall_s", "seconds")


def cli_run(tmp_path, name, model, *args):
    out = tmp_path / name
    cli("run", "--model", str(model), "--device", "cpu", "--out", str(out), *args)
    return out, [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def same_records(got, want):
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        for k in TIMING:
            assert isinstance(g.pop(k), float)
            w.pop(k)
        same(g, w)


def test_latentmas_records_equal_cli(tiny_chat, tmp_path):
    args = ["--method", "latentmas", "--task", "gsm8k", "--dataset", str(GSM8K_MINI), "--max-samples", "3",
            "--latent-steps", "2", "--max-tokens", "8", "--batch", "2", "--seed", "5"]
    _, want = cli_run(tmp_path, "lm", TINY / "chat", *args)
    seen = []
    got = gcache.run(tiny_chat, "latentmas", "gsm8k", dataset=GSM8K_MINI, max_samples=3, latent_steps=2,
                     max_tokens=8, batch=2, seed=5, on_record=seen.append)
    assert seen == got
    same_records(got, want)
    assert tiny_chat.live_blocks == 0


def test_prefill_rows(tiny_chat):
    # 5 prompt rows per step: every agent's prompt enters over dozens of steps; the CPU's records do not change
    kw = dict(dataset=GSM8K_MINI, max_samples=2, latent_steps=1, max_tokens=6, batch=2, temperature=0)
    a = gcache.run(tiny_chat, "latentmas", "gsm8k", **kw)
    b = gcache.run(tiny_chat, "latentmas", "gsm8k", prefill_rows=5, **kw)
    assert [r["output"] for r in a] == [r["output"] for r in b]
    with pytest.raises(gcache.InvalidArgumentError, match="prefill_rows"):
        gcache.run(tiny_chat, "latentmas", "gsm8k", prefill_rows=-1, **kw)


def test_records_from_a_list_of_questions(tiny_chat):
    rows = [json.loads(line) for line in GSM8K_MINI.read_text().splitlines()[:2]]
    a = gcache.run(tiny_chat, "textmas", "gsm8k", questions=rows, max_tokens=4, agent_max_tokens=4)
    b = gcache.run(tiny_chat, "textmas", "gsm8k", dataset=GSM8K_MINI, max_samples=2, max_tokens=4,
                   agent_max_tokens=4)
    assert [r["id"] for r in a] == ["0", "1"] and [r["gold"] for r in a] == ["12", "13"]
    for r in a + b:
        for k in TIMING:
            r.pop(k)
    same(a, b)


def test_fixed_topology_graph_equals_cli(tiny_chat, tmp_path):
    args = ["--method", "gcache", "--topology", "Chain", "--agents", "3", "--fuse", "wsum", "--score-answer",
            "--task", "gsm8k", "--dataset", str(GSM8K_MINI), "--offset", "3", "--max-samples", "2",
            "--latent-steps", "2", "--max-tokens", "6", "--temperature", "0.8"]
    _, want = cli_run(tmp_path, "chain", TINY / "chat", *args)
    got = gcache.run(tiny_chat, "gcache", "gsm8k", dataset=GSM8K_MINI, topology="Chain", agents=3, fuse="wsum",
                     score_answer=True, offset=3, max_samples=2, latent_steps=2, max_tokens=6, temperature=0.8)
    assert "answer_logp" in got[0] and got[0]["topology"]["spatial"] == [[0, 1], [1, 2]]
    same_records(got, want)


def test_learned_topology_training_equals_cli(tiny_chat, tmp_path):
    args = ["--method", "gcache", "--topology", "Learned", "--agents", "3", "--train-iters", "2", "--batch-size",
            "2", "--fuse", "wsum", "--latent-steps", "2", "--max-tokens", "6", "--max-samples", "2", "--task",
            "gsm8k", "--dataset", str(GSM8K_MINI)]
    out, want = cli_run(tmp_path, "learned", TINY / "chat", *args)
    ckpt = tmp_path / "policy.ckpt"
    opts = dict(agents=3, fuse="wsum", latent_steps=2, max_tokens=6)
    tr = gcache.train(tiny_chat, "gsm8k", dataset=GSM8K_MINI, iters=2, batch_size=2, checkpoint=ckpt, **opts)
    with tr.policy as policy:
        assert policy.step == 2 and tr.next_offset == 4
        assert ckpt.read_bytes() == (out / "policy.ckpt").read_bytes()
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        same(tr.log, log, rel=1e-14)
        got = gcache.run(tiny_chat, "gcache", "gsm8k", dataset=GSM8K_MINI, topology="Learned", policy=policy,
                         offset=tr.next_offset, max_samples=2, **opts)
        same_records(got, want)
    # the CLI's checkpoint loads, and evaluates to the same records
    with gcache.Policy.load(out / "policy.ckpt") as loaded:
        assert loaded.step == 2 and loaded.config["n_nodes"] == 3
        again = gcache.run(tiny_chat, "gcache", "gsm8k", dataset=GSM8K_MINI, topology="Learned", policy=loaded,
                           offset=4, max_samples=2, **opts)
        assert [r["output"] for r in again] == [r["output"] for r in want]
    assert tiny_chat.live_blocks == 0


def test_code_task_records_equal_cli(tiny_chat, tmp_path):
    problem = {"task_id": "T/0", "prompt": "def add(a, b):\n    \"\"\"Sum.\"\"\"\n", "entry_point": "add",
               "canonical_solution": "    return a + b\n",
               "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"}
    data = tmp_path / "he.jsonl"
    data.write_text(json.dumps(problem) + "\n")
    _, want = cli_run(tmp_path, "code", TINY / "chat", "--method", "single", "--task", "humaneval", "--dataset",
                      str(data), "--max-tokens", "6")
    got = gcache.run(tiny_chat, "single", "humaneval", dataset=data, max_tokens=6)
    assert got[0]["sandbox"]["outcome"] and got[0]["correct"] is False
    for r in got + want:
        r["sandbox"].pop("wall_s")
    same_records(got, want)
    with gcache.Dataset("humaneval", path=data) as ds:
        solved = ds.score(0, "```python\ndef add(a, b):\n    return a + b\n```")
        assert solved["correct"] is True and solved["sandbox"]["outcome"] == "passed"


def test_single_agent_on_the_small_model_equals_cli(smol, smol_path, tmp_path):
    args = ["--method", "single", "--task", "gsm8k", "--dataset", str(GSM8K_MINI), "--max-samples", "1",
            "--max-tokens", "12", "--temperature", "0"]
    _, want = cli_run(tmp_path, "smol", smol_path, *args)
    got = gcache.run(smol, "single", "gsm8k", dataset=GSM8K_MINI, max_samples=1, max_tokens=12, temperature=0)
    same_records(got, want)


def test_run_errors(tiny_chat, tmp_path):
    with pytest.raises(gcache.InvalidArgumentError, match="unknown method"):
        gcache.run(tiny_chat, "nope", "gsm8k", dataset=GSM8K_MINI)
    with pytest.raises(gcache.InvalidArgumentError, match="needs a policy"):
        gcache.run(tiny_chat, "gcache", "gsm8k", dataset=GSM8K_MINI, topology="Learned")
    with pytest.raises(gcache.InvalidArgumentError):
        gcache.run(tiny_chat, "gcache", "gsm8k", dataset=GSM8K_MINI, topology="Ring")
    with pytest.raises(gcache.GcacheIOError):
        gcache.run(tiny_chat, "single", "gsm8k", dataset=tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(gcache.FormatError, match="bad.jsonl"):
        gcache.Dataset("gsm8k", path=bad, strict=True)
    with pytest.raises(gcache.InvalidArgumentError, match="code tasks"):
        gcache.train(tiny_chat, "humaneval", dataset=bad, reward="likelihood")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(gcache.FormatError, match="junk.ckpt"):
        gcache.Policy.load(junk)


def test_untrained_policy_sampled_evaluation_equals_cli(tiny_chat, tmp_path):
    args = ["--method", "gcache", "--topology", "Learned", "--agents", "2", "--train-iters", "0", "--eval-policy",
            "sample", "--seed", "3", "--latent-steps", "1", "--max-tokens", "4", "--max-samples", "2", "--task",
            "gsm8k", "--dataset", str(GSM8K_MINI)]
    _, want = cli_run(tmp_path, "sampled", TINY / "chat", *args)
    opts = dict(agents=2, latent_steps=1, max_tokens=4, seed=3)
    tr = gcache.train(tiny_chat, "gsm8k", dataset=GSM8K_MINI, iters=0, **opts)
    with tr.policy as policy:
        assert tr.log == [] and policy.step == 0
        got = gcache.run(tiny_chat, "gcache", "gsm8k", dataset=GSM8K_MINI, topology="Learned", policy=policy,
                         eval_policy="sample", max_samples=2, **opts)
    assert got[0]["fuser"]["eval_policy"] == "sample"
    same_records(got, want)


def test_forced_gates_equal_cli(tiny_chat, tmp_path):
    args = ["--method", "gcache", "--topology", "Learned", "--agents", "2", "--train-iters", "1", "--batch-size", "2",
            "--gates", "off", "--latent-steps", "1", "--max-tokens", "4", "--max-samples", "2", "--task", "gsm8k",
            "--dataset", str(GSM8K_MINI)]
    out, want = cli_run(tmp_path, "off", TINY / "chat", *args)
    opts = dict(agents=2, latent_steps=1, max_tokens=4, gates="off")
    tr = gcache.train(tiny_chat, "gsm8k", dataset=GSM8K_MINI, iters=1, batch_size=2, **opts)
    with tr.policy as policy:
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        same(tr.log, log, rel=1e-14)
        got = gcache.run(tiny_chat, "gcache", "gsm8k", dataset=GSM8K_MINI, topology="Learned", policy=policy,
                         offset=tr.next_offset, max_samples=2, **opts)
    assert got[0]["gates_forced"] == "off" and set(got[0]["fuser"]["gates"]) == {0}
    same_records(got, want)
    with pytest.raises(gcache.InvalidArgumentError, match="learned, on, off"):
        gcache.run(tiny_chat, "gcache", "gsm8k", dataset=GSM8K_MINI, topology="Chain", gates="maybe")
