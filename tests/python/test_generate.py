"""Generation through the binding equals `gcache generate` on the same inputs."""
import gcache
import pytest

from conftest import TINY, cli


def test_greedy_chat_equals_cli(smol, smol_path):
    prompt = "What is the capital of France?"
    want = cli("generate", "--model", str(smol_path), "--device", "cpu", "--chat", "--prompt", prompt,
               "--max-tokens", "16", "--quiet")
    assert want  # the CLI produced text
    assert smol.generate(prompt, max_tokens=16) == want
    # the stream's pieces join to the same text
    pieces = list(smol.stream(prompt, max_tokens=16))
    assert len(pieces) > 1 and "".join(pieces) == want


def test_sampled_plain_prompt_with_stop_equals_cli(tiny_chat):
    args = ["--temperature", "0.9", "--top-p", "0.8", "--top-k", "40", "--seed", "7", "--max-tokens", "24"]
    want = cli("generate", "--model", str(TINY / "chat"), "--device", "cpu", "--prompt", "hello world", *args,
               "--quiet")
    got = tiny_chat.generate("hello world", chat=False, temperature=0.9, top_p=0.8, top_k=40, seed=7, max_tokens=24)
    assert got == want
    # a stop string taken from the middle of that text cuts it there, as the CLI does
    stop = want[len(want) // 2:len(want) // 2 + 2]
    want_stop = cli("generate", "--model", str(TINY / "chat"), "--device", "cpu", "--prompt", "hello world", *args,
                    "--stop", stop, "--quiet")
    got_stop = tiny_chat.generate("hello world", chat=False, temperature=0.9, top_p=0.8, top_k=40, seed=7,
                                  max_tokens=24, stop=[stop])
    assert got_stop == want_stop and stop not in got_stop and len(got_stop) < len(want)


def test_system_message_and_conversation(tiny_chat):
    want = cli("generate", "--model", str(TINY / "chat"), "--device", "cpu", "--chat", "--system", "be brief",
               "--prompt", "hi", "--max-tokens", "8", "--quiet")
    assert tiny_chat.generate("hi", system="be brief", max_tokens=8) == want
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert tiny_chat.generate(msgs, max_tokens=8) == want


def test_cache_generate_keeps_the_conversation(tiny_chat):
    prompt = tiny_chat.chat_prompt("hello")
    ids = tiny_chat.tokenize(prompt, special=True)
    assert tiny_chat.tokenize("<|im_start|>", special=True) == [ids[0]]
    with tiny_chat.cache() as c:
        r = c.generate(prompt, max_tokens=6)
        assert r.text == tiny_chat.generate("hello", max_tokens=6)
        assert r.prompt_tokens == len(ids) and r.finish in ("length", "eos", "stop")
        fed = len(r.ids) - (1 if r.unfed >= 0 and r.finish == "length" else 0)
        assert len(c) == len(ids) + fed


def test_tokenize_round_trip(tiny_chat):
    text = "Hello, world! 123 ünïcödé"
    ids = tiny_chat.tokenize(text)
    assert all(0 <= i < tiny_chat.vocab_size for i in ids)
    assert tiny_chat.detokenize(ids) == text


def test_stream_stops_early_and_model_stays_usable(tiny_chat):
    it = tiny_chat.stream("hello", max_tokens=64, ignore_eos=True)
    first = next(it)
    it.close()
    assert isinstance(first, str)
    assert tiny_chat.live_blocks == 0  # the stream's cache was released
    assert tiny_chat.generate("hello", max_tokens=4) == tiny_chat.generate("hello", max_tokens=4)


def test_stream_then_close_model(tiny_chat):
    it = tiny_chat.stream("hello", max_tokens=64, ignore_eos=True)
    next(it)
    tiny_chat.close()
    with pytest.raises(gcache.ClosedError):
        tiny_chat.generate("hello")
    list(it)  # drains without crashing


def test_threads_share_a_model(tiny_chat):
    from concurrent.futures import ThreadPoolExecutor
    prompts = [f"hello {i}" for i in range(6)]
    alone = [tiny_chat.generate(p, max_tokens=6) for p in prompts]
    with ThreadPoolExecutor(3) as ex:
        together = list(ex.map(lambda p: tiny_chat.generate(p, max_tokens=6), prompts))
    assert together == alone and tiny_chat.live_blocks == 0
