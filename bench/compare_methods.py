#!/usr/bin/env python3
"""Runs a list of method configurations over the same questions with the same
decoding settings and writes one comparison table and figure.

    python3 bench/compare_methods.py --config bench/configs/gsm8k.json --out runs/cmp-gsm8k

The config (JSON, or TOML for a .toml file):

    {
      "common":   ["--task", "gsm8k", "--dataset", "...", "--model", "...",
                   "--max-samples", "300", "--temperature", "0", "--max-tokens", "512"],
      "baseline": "single",
      "methods": [
        {"name": "single",    "args": ["--method", "single"]},
        {"name": "latentmas", "args": "--method latentmas --latent-steps 10"},
        {"name": "learned",   "args": "--method gcache --topology Learned --eval-policy sample",
         "seeds": [1, 2, 3]}
      ]
    }

An optional "identical": [["latentmas-b1", "latentmas-b16"], ...] lists pairs of
configurations whose outputs must agree (batch invariance: the same method
at two batch sizes, greedy); the report counts, on the questions both
answered, identical predictions and identical whole outputs, and names the
first questions that differ.

`common` holds what every configuration shares (questions, model, decoding);
a method's `args` may not set those options again. Each configuration (and
seed) is an ordinary `gcache run` output folder, OUT/<name> or
OUT/<name>/seed-<s>, run with --resume: an interrupted configuration goes on
where it stopped, a finished one (OUT/<name>/.../runner.json written after a
successful run, holding its command) is not run again; a finished folder whose
command differs from the config's is refused rather than mixed.

Outputs: OUT/comparison.md and OUT/comparison.csv (one row per configuration;
per-seed rows too for sampled configurations), OUT/per_question.csv (one row
per question id: 1 / 0 per configuration and seed, empty where unscored — the
paired tests can be recomputed from it without the full records), and
OUT/accuracy_vs_tokens.svg and .png (PNG through rsvg-convert, as `gcache plot`).

Statistics (standard library only):
  accuracy with its 95 % Wilson score interval;
  paired difference to the baseline on the questions both answered (matched by
  id): the exact two-sided McNemar test (binomial on the discordant pairs) and
  a paired bootstrap 95 % interval of the difference (questions resampled);
  output / input tokens and seconds per question (means over questions);
  for configurations with several seeds, mean ± sd (n − 1) over the seeds.
"""
import argparse
import csv
import json
import math
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import xml.sax.saxutils as xml

Z95 = 1.959963984540054   # the 0.975 quantile of N(0, 1)

# Options that decide which questions are asked and how answers are decoded;
# they belong in `common` so that every configuration shares them.
SHARED_OPTS = {"--task", "--dataset", "--model", "--max-samples", "--offset", "--temperature", "--top-p",
               "--top-k", "--max-tokens", "--think", "--prompts", "--strict"}
RUNNER_OPTS = {"--out", "--resume", "--seed"}


class ConfigError(Exception):
    pass


# ---- statistics ----

def wilson(k, n, z=Z95):
    """95 % Wilson score interval of k successes in n trials."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z / den * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # The bounds are exactly 0 at k = 0 and 1 at k = n (rounding would miss them).
    return (0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


def mcnemar_exact(b, c):
    """Two-sided exact McNemar p-value: b, c the discordant counts
    (method right / baseline wrong and the reverse); under H0 b ~ Bin(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_bootstrap(a, b, reps=10000, seed=12345, level=0.95):
    """Percentile interval of mean(a) − mean(b) over question resamples;
    a, b: equally long 0/1 lists paired by question."""
    n = len(a)
    if n == 0:
        return (float("nan"), float("nan"))
    d = [x - y for x, y in zip(a, b)]
    rng = random.Random(seed)
    stats = sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(reps))
    lo = stats[int(math.floor((1 - level) / 2 * reps))]
    hi = stats[min(reps - 1, int(math.ceil((1 + level) / 2 * reps)) - 1)]
    return (lo, hi)


def mean_sd(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    if not xs:
        return (float("nan"), float("nan"))
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return (m, sd)


# ---- results ----

def read_results(path):
    """id → record of a results.jsonl; a repeated id keeps its last line, a torn
    last line (no newline, not JSON) is ignored, as gcache's own summary does."""
    recs = {}
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if no == len(lines):   # the torn line a kill can leave
                continue
            raise ConfigError(f"{path}:{no}: not JSON ({e})")
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise ConfigError(f"{path}:{no}: expected an object with a string 'id'")
        recs[obj["id"]] = obj
    return recs


def num(rec, key):
    v = rec.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def run_stats(recs):
    scored = [r for r in recs.values() if isinstance(r.get("correct"), bool)]
    n = len(scored)
    k = sum(1 for r in scored if r["correct"])
    def avg(key):
        vals = [num(r, key) for r in recs.values()]
        vals = [v for v in vals if v is not None]
        return sum(vals) / len(vals) if vals else float("nan")
    lo, hi = wilson(k, n)
    return {"n": n, "correct": k, "accuracy": k / n if n else float("nan"), "wilson_lo": lo, "wilson_hi": hi,
            "out_tokens": avg("output_tokens"), "in_tokens": avg("tokens_in"), "seconds": avg("seconds")}


def paired_stats(recs, base, reps, seed):
    ids = sorted(i for i in recs if i in base and isinstance(recs[i].get("correct"), bool)
                 and isinstance(base[i].get("correct"), bool))
    a = [int(recs[i]["correct"]) for i in ids]
    b = [int(base[i]["correct"]) for i in ids]
    n01 = sum(1 for x, y in zip(a, b) if x and not y)   # method right, baseline wrong
    n10 = sum(1 for x, y in zip(a, b) if y and not x)
    n = len(ids)
    diff = (sum(a) - sum(b)) / n if n else float("nan")
    lo, hi = paired_bootstrap(a, b, reps, seed)
    return {"paired_n": n, "diff": diff, "b": n01, "c": n10, "mcnemar_p": mcnemar_exact(n01, n10),
            "boot_lo": lo, "boot_hi": hi}


# ---- configuration ----

def as_args(v, where):
    if isinstance(v, str):
        return shlex.split(v)
    if isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v):
        return [str(x) for x in v]
    raise ConfigError(f"{where}: expected a string or a list of strings")


def load_config(path):
    try:
        if path.endswith(".toml"):
            import tomllib
            with open(path, "rb") as f:
                cfg = tomllib.load(f)
        else:
            with open(path, encoding="utf-8") as f:
                cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: {e}")
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected an object")
    common = as_args(cfg.get("common", []), f"{path}: common")
    for o in common:
        if o in RUNNER_OPTS:
            raise ConfigError(f"{path}: common: {o} is set by the runner")
    methods = cfg.get("methods")
    if not isinstance(methods, list) or not methods:
        raise ConfigError(f"{path}: 'methods' must be a non-empty list")
    out, names = [], set()
    for i, m in enumerate(methods):
        where = f"{path}: methods[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"]:
            raise ConfigError(f"{where}: needs a 'name'")
        name = m["name"]
        if name in names:
            raise ConfigError(f"{where}: name '{name}' is used twice")
        if not all(ch.isalnum() or ch in "-_.+" for ch in name) or name.startswith("."):
            raise ConfigError(f"{where}: name '{name}' must be letters, digits, - _ . + (it names a folder)")
        names.add(name)
        args = as_args(m.get("args", []), f"{where}: args")
        for o in args:
            if o in SHARED_OPTS:
                raise ConfigError(f"{where} ({name}): {o} belongs in 'common' (every method shares it)")
            if o in RUNNER_OPTS:
                raise ConfigError(f"{where} ({name}): {o} is set by the runner (use 'seeds')")
        seeds = m.get("seeds", [0])
        if (not isinstance(seeds, list) or not seeds or
                not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds) or
                len(set(seeds)) != len(seeds)):
            raise ConfigError(f"{where} ({name}): 'seeds' must be a list of distinct integers >= 0")
        out.append({"name": name, "args": args, "seeds": seeds})
    base = cfg.get("baseline", "single")
    if base is not None and base not in names:
        raise ConfigError(f"{path}: baseline '{base}' is not one of the methods")
    pairs = cfg.get("identical", [])
    if not isinstance(pairs, list):
        raise ConfigError(f"{path}: identical: expected a list of [name, name] pairs")
    for i, pr in enumerate(pairs):
        if (not isinstance(pr, list) or len(pr) != 2 or not all(isinstance(x, str) for x in pr)
                or pr[0] == pr[1]):
            raise ConfigError(f"{path}: identical[{i}]: expected two different configuration names")
        for x in pr:
            if x not in names:
                raise ConfigError(f"{path}: identical[{i}]: '{x}' is not one of the methods")
            if len(next(m for m in out if m["name"] == x)["seeds"]) != 1:
                raise ConfigError(f"{path}: identical[{i}]: '{x}' has several seeds (compare single runs)")
    return {"common": common, "methods": out, "baseline": base, "identical": [tuple(p) for p in pairs]}


def run_dirs(exp, m):
    if len(m["seeds"]) == 1:
        return [(m["seeds"][0], os.path.join(exp, m["name"]))]
    return [(s, os.path.join(exp, m["name"], f"seed-{s}")) for s in m["seeds"]]


def command(gcache, common, m, seed, out):
    return [gcache, "run", *common, *m["args"], "--seed", str(seed), "--out", out, "--resume"]


def identity(cmd):
    """What a finished folder must have been run with: the command without the
    binary and without its --out value (an experiment folder may be moved)."""
    ident = list(cmd[1:])
    for i, a in enumerate(ident[:-1]):
        if a == "--out":
            ident[i + 1] = "OUT"
    return ident


def run_all(cfg, exp, gcache, dry_run, log, only=None):
    for m in cfg["methods"]:
        if only is not None and m["name"] not in only:
            continue
        for seed, d in run_dirs(exp, m):
            cmd = command(gcache, cfg["common"], m, seed, d)
            stamp = os.path.join(d, "runner.json")
            if os.path.exists(stamp):
                with open(stamp, encoding="utf-8") as f:
                    prev = json.load(f).get("command")
                if identity([None, *(prev or [])]) != identity(cmd):
                    raise ConfigError(f"{d} was finished with another command:\n  {shlex.join(prev or [])}\n"
                                      f"the config now asks for:\n  {shlex.join(cmd[1:])}\n"
                                      "give the configuration a new name or remove the folder")
                print(f"[compare] {m['name']} seed {seed}: finished, not run again", file=log)
                continue
            print(f"[compare] {m['name']} seed {seed}: {shlex.join(cmd)}", file=log, flush=True)
            if dry_run:
                continue
            os.makedirs(d, exist_ok=True)
            r = subprocess.run(cmd)
            if r.returncode != 0:
                raise ConfigError(f"{m['name']} (seed {seed}) failed with status {r.returncode}; "
                                  "run the runner again to resume it")
            tmp = stamp + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"command": cmd[1:]}, f, indent=1)
            os.replace(tmp, stamp)


# ---- report ----

def fmt(x, spec):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def pm(ms, spec, scale=1.0):
    m, sd = ms
    if math.isnan(m):
        return "–"
    return f"{format(m * scale, spec)} ± {format(sd * scale, spec)}"


def collect(cfg, exp, reps, boot_seed):
    """One entry per configuration: per-seed stats and paired stats vs the baseline."""
    runs = {}
    for m in cfg["methods"]:
        per = []
        for seed, d in run_dirs(exp, m):
            path = os.path.join(d, "results.jsonl")
            if not os.path.exists(path):
                continue
            recs = read_results(path)
            per.append({"seed": seed, "dir": d, "recs": recs, "stats": run_stats(recs)})
        runs[m["name"]] = per
    base_runs = runs.get(cfg["baseline"], []) if cfg["baseline"] else []
    for m in cfg["methods"]:
        for r in runs[m["name"]]:
            r["paired"] = None
            if not base_runs or m["name"] == cfg["baseline"]:
                continue
            same = [b for b in base_runs if b["seed"] == r["seed"]]
            b = same[0] if same else base_runs[0]
            r["paired"] = paired_stats(r["recs"], b["recs"], reps, boot_seed)
            r["paired"]["base_seed"] = b["seed"]
    return runs


CSV_FIELDS = ["method", "seed", "n", "correct", "accuracy", "wilson_lo", "wilson_hi", "paired_n", "diff_vs_baseline",
              "mcnemar_b", "mcnemar_c", "mcnemar_p", "boot_lo", "boot_hi", "out_tokens_per_q", "in_tokens_per_q",
              "seconds_per_q", "acc_sd_over_seeds", "n_seeds", "folder"]


def csv_row(name, seed, st, pr, folder, acc_sd=None, n_seeds=1):
    return {"method": name, "seed": seed, "n": st["n"], "correct": st["correct"], "accuracy": st["accuracy"],
            "wilson_lo": st["wilson_lo"], "wilson_hi": st["wilson_hi"],
            "paired_n": pr["paired_n"] if pr else "", "diff_vs_baseline": pr["diff"] if pr else "",
            "mcnemar_b": pr["b"] if pr else "", "mcnemar_c": pr["c"] if pr else "",
            "mcnemar_p": pr["mcnemar_p"] if pr else "", "boot_lo": pr["boot_lo"] if pr else "",
            "boot_hi": pr["boot_hi"] if pr else "", "out_tokens_per_q": st["out_tokens"],
            "in_tokens_per_q": st["in_tokens"], "seconds_per_q": st["seconds"],
            "acc_sd_over_seeds": "" if acc_sd is None else acc_sd, "n_seeds": n_seeds, "folder": folder}


def summarise(per):
    """Mean ± sd over seeds of a sampled configuration."""
    acc = mean_sd([r["stats"]["accuracy"] for r in per])
    out = {"accuracy": acc, "out_tokens": mean_sd([r["stats"]["out_tokens"] for r in per]),
           "in_tokens": mean_sd([r["stats"]["in_tokens"] for r in per]),
           "seconds": mean_sd([r["stats"]["seconds"] for r in per]),
           "n": mean_sd([r["stats"]["n"] for r in per])}
    prs = [r["paired"] for r in per if r["paired"]]
    out["diff"] = mean_sd([p["diff"] for p in prs]) if prs else None
    out["p"] = [p["mcnemar_p"] for p in prs]
    return out


def identical_stats(a, b):
    """Agreement of two runs on the questions both answered (matched by id):
    identical predictions, identical whole outputs, ids whose outputs differ."""
    ids = sorted(set(a) & set(b), key=lambda x: (len(x), x))
    pred = sum(1 for i in ids if a[i].get("prediction") == b[i].get("prediction"))
    differ = [i for i in ids if a[i].get("output") != b[i].get("output")]
    return {"n": len(ids), "same_prediction": pred, "same_output": len(ids) - len(differ), "differ": differ}


def identical_md(cfg, runs):
    if not cfg.get("identical"):
        return []
    md = ["\nIdentical outputs (pairs that must agree, e.g. one method at two batch sizes; questions both answered):\n",
          "| pair | questions | same prediction | same whole output | outputs differ at |", "|---|---:|---:|---:|---|"]
    for x, y in cfg["identical"]:
        if not runs.get(x) or not runs.get(y):
            md.append(f"| {x} = {y} | 0 | (not run) | | |")
            continue
        st = identical_stats(runs[x][0]["recs"], runs[y][0]["recs"])
        where = ", ".join(st["differ"][:8]) + (" …" if len(st["differ"]) > 8 else "")
        md.append(f"| {x} = {y} | {st['n']} | {st['same_prediction']}/{st['n']} | {st['same_output']}/{st['n']} | "
                  f"{where or '–'} |")
    return md


def write_report(cfg, exp, runs, reps):
    rows, md = [], []
    base = cfg["baseline"]
    md.append("# Method comparison\n")
    md.append(f"Shared `gcache run` options: `{shlex.join(cfg['common'])}`\n")
    if base:
        md.append(f"Paired differences are to `{base}` on the questions both answered (matched by id): exact "
                  f"two-sided McNemar test (b = method right / baseline wrong, c = the reverse) and a paired "
                  f"bootstrap 95 % interval ({reps} resamples). Accuracy intervals are 95 % Wilson. Tokens and "
                  f"seconds are means per question (seconds: each batch's wall time shared by its questions). "
                  f"Configurations with several seeds show mean ± sd over the seeds.\n")
    md.append("| method | n | accuracy | 95 % Wilson | Δ vs " + (base or "–") +
              " (paired n) | McNemar b/c, p | bootstrap 95 % of Δ | out tok/q | in tok/q | s/q |")
    md.append("|---|---:|---:|---|---:|---|---|---:|---:|---:|")
    per_seed_md = []
    for m in cfg["methods"]:
        name, per = m["name"], runs[m["name"]]
        if not per:
            md.append(f"| {name} | 0 | (not run) | | | | | | | |")
            continue
        for r in per:
            rows.append(csv_row(name, r["seed"], r["stats"], r["paired"], r["dir"]))
        if len(m["seeds"]) == 1:
            st, pr = per[0]["stats"], per[0]["paired"]
            md.append(f"| {name} | {st['n']} | {fmt(100 * st['accuracy'], '.1f')} % ({st['correct']}/{st['n']}) | "
                      f"{fmt(100 * st['wilson_lo'], '.1f')}–{fmt(100 * st['wilson_hi'], '.1f')} | "
                      + (f"{100 * pr['diff']:+.1f} ({pr['paired_n']}) | {pr['b']}/{pr['c']}, "
                         f"p = {fmt(pr['mcnemar_p'], '.3g')} | {100 * pr['boot_lo']:+.1f} … {100 * pr['boot_hi']:+.1f} | "
                         if pr else "– | – | – | ")
                      + f"{fmt(st['out_tokens'], '.1f')} | {fmt(st['in_tokens'], '.1f')} | {fmt(st['seconds'], '.3g')} |")
            continue
        s = summarise(per)
        rows.append({**csv_row(name, "mean", {"n": s["n"][0], "correct": "", "accuracy": s["accuracy"][0],
                                               "wilson_lo": "", "wilson_hi": "", "out_tokens": s["out_tokens"][0],
                                               "in_tokens": s["in_tokens"][0], "seconds": s["seconds"][0]},
                             None, os.path.join(exp, name), acc_sd=s["accuracy"][1], n_seeds=len(per)),
                     "diff_vs_baseline": s["diff"][0] if s["diff"] else ""})
        ps = ", ".join(fmt(p, ".3g") for p in s["p"])
        md.append(f"| {name} ({len(per)} seeds) | {fmt(s['n'][0], '.0f')} | {pm(s['accuracy'], '.1f', 100)} % | "
                  f"per seed below | " + (f"{pm(s['diff'], '+.1f', 100)} | p per seed: {ps} | per seed below | "
                                          if s["diff"] else "– | – | – | ")
                  + f"{pm(s['out_tokens'], '.1f')} | {pm(s['in_tokens'], '.1f')} | {pm(s['seconds'], '.3g')} |")
        for r in per:
            st, pr = r["stats"], r["paired"]
            per_seed_md.append(
                f"| {name} | {r['seed']} | {st['n']} | {fmt(100 * st['accuracy'], '.1f')} % | "
                f"{fmt(100 * st['wilson_lo'], '.1f')}–{fmt(100 * st['wilson_hi'], '.1f')} | "
                + (f"{100 * pr['diff']:+.1f} ({pr['paired_n']}) | {pr['b']}/{pr['c']}, p = {fmt(pr['mcnemar_p'], '.3g')} | "
                   f"{100 * pr['boot_lo']:+.1f} … {100 * pr['boot_hi']:+.1f} |" if pr else "– | – | – |"))
    if per_seed_md:
        md.append("\nPer seed:\n")
        md.append("| method | seed | n | accuracy | 95 % Wilson | Δ (paired n) | McNemar b/c, p | bootstrap 95 % of Δ |")
        md.append("|---|---:|---:|---:|---|---:|---|---|")
        md.extend(per_seed_md)
    md.extend(identical_md(cfg, runs))
    md.append("\n![accuracy vs output tokens](accuracy_vs_tokens.svg)\n")
    with open(os.path.join(exp, "comparison.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(exp, "comparison.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        w.writerows(rows)
    write_per_question(cfg, exp, runs)


def per_question_key(qid):
    """Sort ids by their numeric parts (GSM8K 'gsm8k-12' before 'gsm8k-100')."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", qid)]


def write_per_question(cfg, exp, runs):
    """OUT/per_question.csv: id, then one column per configuration (and seed):
    1 correct, 0 wrong, empty when the question was not scored in that run."""
    cols, ids = [], set()
    for m in cfg["methods"]:
        for r in runs[m["name"]]:
            col = m["name"] if len(m["seeds"]) == 1 else f"{m['name']}/seed-{r['seed']}"
            cols.append((col, r["recs"]))
            ids.update(r["recs"])
    with open(os.path.join(exp, "per_question.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id"] + [c for c, _ in cols])
        for qid in sorted(ids, key=per_question_key):
            row = [qid]
            for _, recs in cols:
                c = recs.get(qid, {}).get("correct")
                row.append(int(c) if isinstance(c, bool) else "")
            w.writerow(row)


def nice_ticks(lo, hi, n=5):
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=10 * mag)
    t = math.floor(lo / step) * step
    ticks = []
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 10))
        t += step
    return ticks


def write_figure(cfg, exp, runs):
    """Accuracy (95 % Wilson bars; mean ± sd over seeds) against output tokens
    per question, one labelled point per configuration."""
    pts = []
    for m in cfg["methods"]:
        per = runs[m["name"]]
        if not per:
            continue
        if len(per) == 1:
            st = per[0]["stats"]
            pts.append((m["name"], st["out_tokens"], 0.0, st["accuracy"], st["wilson_lo"], st["wilson_hi"]))
        else:
            s = summarise(per)
            a, sd = s["accuracy"]
            pts.append((f"{m['name']} ({len(per)} seeds)", s["out_tokens"][0], s["out_tokens"][1], a, a - sd, a + sd))
    pts = [p for p in pts if not math.isnan(p[1]) and not math.isnan(p[3])]
    W, H, L, R, T, B = 720, 480, 70, 200, 30, 60
    xs = [p[1] - p[2] for p in pts] + [p[1] + p[2] for p in pts] or [0, 1]
    ys = [p[4] for p in pts] + [p[5] for p in pts] or [0, 1]
    x0, x1 = min(0.0, min(xs)), max(xs) * 1.05 if max(xs) > 0 else 1
    y0, y1 = max(0.0, min(ys) - 0.05), min(1.0, max(ys) + 0.05)
    if y1 - y0 < 0.1:
        y0, y1 = max(0.0, y0 - 0.05), min(1.0, y1 + 0.05)
    xt, yt = nice_ticks(x0, x1), nice_ticks(y0, y1)
    x0, x1, y0, y1 = min(x0, xt[0]), max(x1, xt[-1]), min(y0, yt[0]), max(y1, yt[-1])
    sx = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
    sy = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf"]
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>']
    for t in xt:
        o.append(f'<line x1="{sx(t):.1f}" y1="{H - B}" x2="{sx(t):.1f}" y2="{H - B + 5}" stroke="black"/>')
        o.append(f'<text x="{sx(t):.1f}" y="{H - B + 18}" text-anchor="middle">{t:g}</text>')
    for t in yt:
        o.append(f'<line x1="{L - 5}" y1="{sy(t):.1f}" x2="{L}" y2="{sy(t):.1f}" stroke="black"/>')
        o.append(f'<line x1="{L}" y1="{sy(t):.1f}" x2="{W - R}" y2="{sy(t):.1f}" stroke="#e0e0e0"/>')
        o.append(f'<text x="{L - 8}" y="{sy(t) + 4:.1f}" text-anchor="end">{100 * t:g} %</text>')
    o.append(f'<text x="{(L + W - R) / 2}" y="{H - 15}" text-anchor="middle">output tokens per question</text>')
    o.append(f'<text x="18" y="{(T + H - B) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 18 {(T + H - B) / 2})">accuracy</text>')
    for i, (label, x, xsd, a, lo, hi) in enumerate(pts):
        c = colours[i % len(colours)]
        o.append(f'<line x1="{sx(x):.1f}" y1="{sy(lo):.1f}" x2="{sx(x):.1f}" y2="{sy(hi):.1f}" stroke="{c}"/>')
        if xsd > 0:
            o.append(f'<line x1="{sx(x - xsd):.1f}" y1="{sy(a):.1f}" x2="{sx(x + xsd):.1f}" y2="{sy(a):.1f}" '
                     f'stroke="{c}"/>')
        o.append(f'<circle cx="{sx(x):.1f}" cy="{sy(a):.1f}" r="5" fill="{c}"><title>{xml.escape(label)}: '
                 f'{100 * a:.1f} %, {x:.1f} tokens</title></circle>')
        ly = T + 10 + 18 * i
        o.append(f'<circle cx="{W - R + 15}" cy="{ly}" r="5" fill="{c}"/>')
        o.append(f'<text x="{W - R + 25}" y="{ly + 4}">{xml.escape(label)}</text>')
    o.append("</svg>")
    svg = os.path.join(exp, "accuracy_vs_tokens.svg")
    with open(svg, "w", encoding="utf-8") as f:
        f.write("\n".join(o) + "\n")
    png = os.path.join(exp, "accuracy_vs_tokens.png")
    conv = shutil.which("rsvg-convert")
    if not conv:
        print("[compare] rsvg-convert not found (apt-get install librsvg2-bin): no PNG", file=sys.stderr)
        return
    subprocess.run([conv, "-o", png, svg], check=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="JSON (or .toml) list of method configurations")
    ap.add_argument("--out", required=True, help="experiment folder (one gcache run folder per configuration)")
    ap.add_argument("--gcache", default="build/gcache", help="the gcache binary (default build/gcache)")
    ap.add_argument("--report-only", action="store_true", help="only (re)write the table and figure")
    ap.add_argument("--dry-run", action="store_true", help="print the commands that would run")
    ap.add_argument("--only", help="comma-separated configuration names to run now (the report covers every "
                    "configuration with results)")
    ap.add_argument("--bootstrap", type=int, default=10000, help="paired bootstrap resamples (default 10000)")
    ap.add_argument("--bootstrap-seed", type=int, default=12345)
    a = ap.parse_args(argv)
    try:
        cfg = load_config(a.config)
        if a.bootstrap < 100:
            raise ConfigError("--bootstrap must be at least 100")
        only = None
        if a.only is not None:
            only = {n.strip() for n in a.only.split(",") if n.strip()}
            unknown = sorted(only - {m["name"] for m in cfg["methods"]})
            if unknown or not only:
                raise ConfigError(f"--only: no configuration named {', '.join(unknown) or '(empty list)'} in {a.config}")
        os.makedirs(a.out, exist_ok=True)
        if not a.report_only:
            run_all(cfg, a.out, a.gcache, a.dry_run, sys.stderr, only)
        if a.dry_run:
            return 0
        runs = collect(cfg, a.out, a.bootstrap, a.bootstrap_seed)
        write_report(cfg, a.out, runs, a.bootstrap)
        write_figure(cfg, a.out, runs)
    except ConfigError as e:
        print(f"compare_methods: {e}", file=sys.stderr)
        return 2
    print(f"[compare] {os.path.join(a.out, 'comparison.md')}  {os.path.join(a.out, 'comparison.csv')}  "
          f"{os.path.join(a.out, 'accuracy_vs_tokens.svg')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
