"""bench/cuda/pipeline_floor.py: the floor of a pipeline run, checked against
the step counts worked out by hand."""
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench" / "cuda"))
from pipeline_floor import pipeline_floor_s_per_question, step_floor_s  # noqa: E402

# A card and model where every number is easy: W = 100 bytes, 1 byte per
# cached position, 10 bytes/s; GEMMs of 5 parameters at 10 FLOP/s (a token
# costs 1 s of GEMM time).
M = {"weight_bytes": 100, "kv_bytes": 1, "params": 5, "bw": 10, "gemm": 10}


def agent(cache_in, prompt, latent, out):
    return {"role": "a", "cache_in": cache_in, "prompt_tokens": prompt, "latent_steps": latent, "out_tokens": out}


def test_step_is_the_larger_of_memory_and_gemm_time():
    assert step_floor_s(1, 0, M) == pytest.approx(10.0)        # weights only
    assert step_floor_s(1, 50, M) == pytest.approx(15.0)       # weights + cache read
    assert step_floor_s(40, 0, M) == pytest.approx(40.0)       # a prefill: GEMM-bound


def test_one_question_by_hand():
    # prefill of 20 tokens: max((100+20)/10, 20) = 20; latent steps read 21, 22: 12.1 + 12.2;
    # decode steps read 23, 24, 25: 12.3 + 12.4 + 12.5. Second agent (cache 25, prompt 5):
    # prefill max(130/10, 5) = 13; one decode step reading 31: 13.1.
    r = {"id": "q", "agents": [agent(0, 20, 2, 3), agent(25, 5, 0, 1)]}
    want = 20 + 12.1 + 12.2 + 12.3 + 12.4 + 12.5 + 13 + 13.1
    assert pipeline_floor_s_per_question([r], 1, M) == pytest.approx(want)


def test_a_batch_shares_the_weight_reads():
    a = {"id": "a", "agents": [agent(0, 2, 0, 3)]}
    b = {"id": "b", "agents": [agent(0, 2, 0, 1)]}
    # together: prefill max((100+4)/10, 4) = 10.4; decode step 0 both rows (3 + 3 = 6 read): 10.6;
    # steps 1, 2 only a (4, 5): 10.4 + 10.5
    assert pipeline_floor_s_per_question([a, b], 2, M) == pytest.approx((10.4 + 10.6 + 10.4 + 10.5) / 2)
    # alone, each pays its own weight reads
    alone = (10.2 + 10.3 + 10.4 + 10.5) + (10.2 + 10.3)
    assert pipeline_floor_s_per_question([a, b], 1, M) == pytest.approx(alone / 2)


def test_bad_records_are_refused():
    with pytest.raises(ValueError, match="no question records"):
        pipeline_floor_s_per_question([], 1, M)
    with pytest.raises(ValueError, match="'out_tokens' is not a count"):
        pipeline_floor_s_per_question([{"id": "q", "agents": [{"role": "j", "cache_in": 0, "prompt_tokens": 3,
                                                                  "latent_steps": 0}]}], 1, M)


def test_command_line_on_a_run_folder(tmp_path, capsys):
    from pipeline_floor import main, model_costs
    tiny = ROOT / "tests" / "data" / "tiny" / "qwen3"   # L 2, D 64, 4 heads of 32, 2 KV heads, F 128
    m = model_costs(str(tiny), "bf16")
    assert m["params"] == 2 * (64 * (4 + 4) * 32 + 4 * 32 * 64 + 3 * 64 * 128)
    assert m["kv_bytes"] == 2 * 2 * 2 * 32 * 2
    assert model_costs(str(tiny), "q8")["kv_bytes"] == 2 * 2 * 2 * 32 + 4 * 2 * 2 * 2
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text('{"info": {"batch": 2, "kv": "bf16"}}')
    recs = [{"id": str(i), "seconds": 0.5, "agents": [agent(0, 10, 3, 20)]} for i in range(3)]
    (run / "results.jsonl").write_text("".join(__import__("json").dumps(r) + "\n" for r in recs))
    assert main([str(run), "--model", str(tiny), "--bw", "1e9", "--gemm", "1e12"]) == 0
    out = __import__("json").loads(capsys.readouterr().out)
    want = pipeline_floor_s_per_question(recs, 2, {**m, "bw": 1e9, "gemm": 1e12})
    assert out["floor_s_per_question"] == pytest.approx(want)
    assert out["percent_of_floor"] == pytest.approx(100 * want / 0.5)
    (run / "run.json").write_text('{"info": {}}')
    assert main([str(run), "--model", str(tiny), "--bw", "1e9", "--gemm", "1e12"]) == 1
    assert "no batch size" in capsys.readouterr().err
