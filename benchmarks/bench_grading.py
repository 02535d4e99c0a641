"""Grading throughput and verdict agreement: our checker vs math-verify, same inputs, same run.

Corpus: every benchmark's ground truths, each in correct-but-reformatted and wrong variants,
embedded at the end of long synthetic reasoning responses (2K to 200K characters, log-uniform,
LaTeX-heavy filler with intermediate results and sometimes an earlier intermediate box).
Two categories:

* integer  -- AIME24/25 and AMC23 ground truths (AIME-style integer answers);
* symbolic -- Minerva and OlympiadBench ground truths that are not plain integers.

For each category the script times ``grading.is_correct(response, gt)`` and math-verify's
``verify(parse(gold), parse(response))`` (main thread, its default timeouts) over the same items,
and prints throughput, the ratio and the fraction of identical verdicts (with examples of
disagreements).  Targets (issue 3): >= 20x math-verify on integers with the same verdicts; no
slower than math-verify on symbolic answers; the exit status is 1 when a target is NOT MET.
The answer forms of issue 14 (labels, several boxes, intervals, equations, decimals) are measured by
the sibling script ``bench_grading_forms.py``.

    .venv/bin/python benchmarks/bench_grading.py [--quick] [--seed 0] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from polaris_repro import grading  # noqa: E402

BENCH_DIR = Path(os.environ.get("POLARIS_BENCHMARKS_DIR", "/work/shared/data/benchmarks"))
INTEGER_SETS = ("aime24", "aime25", "amc23")
SYMBOLIC_SETS = ("minerva", "olympiad")

_SENTENCES = [
    "Let $x = {a}$ and $y = {b}$, so $x + y = {c}$.",
    "Then $\\frac{{{a}}}{{{b}}} + \\sqrt{{{c}}}$ is what we need to bound.",
    "Wait, let me double-check: ${a} \\times {b} = {ab}$.",
    "Substituting back gives $f({a}) = {a}^2 - {b} = {d}$.",
    "Hmm, that doesn't look right. Let me reconsider the case $n = {a}$.",
    "By the triangle inequality, $|{a} - {b}| \\le {c}$.",
    "So the sum is $\\sum_{{k=1}}^{{{a}}} k = {e}$.",
    "Consider $\\binom{{{a}}}{{2}} = {f}$ pairs.",
    "We have $({a}, {b})$ as a candidate point.",
    "Therefore $\\log_{{2}} {g} = {h}$.",
    "Alternatively, $\\dfrac{{{c}}}{{{a}}} \\approx {r}$.",
    "Okay, so far we have {a} cases and {b} subcases to check.",
]


def _filler(rng: random.Random, length: int) -> str:
    parts, n = [], 0
    while n < length:
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        g = 2 ** rng.randint(1, 20)
        s = rng.choice(_SENTENCES).format(a=a, b=b, c=a + b, ab=a * b, d=a * a - b, e=a * (a + 1) // 2,
                                          f=a * (a - 1) // 2, g=g, h=int(math.log2(g)),
                                          r=round((a + b) / a, 3))
        parts.append(s)
        n += len(s) + 1
    return " ".join(parts)[:length]


def _load(name: str) -> list[list[str]]:
    p = BENCH_DIR / f"{name}.parquet"
    if not p.exists():
        raise SystemExit(f"{p}: benchmark file not found (set POLARIS_BENCHMARKS_DIR)")
    df = pd.read_parquet(p)
    return [grading.ground_truths(rm["ground_truth"]) for rm in df["reward_model"]]


def _int_variants(g: str, other: str, rng: random.Random) -> list[tuple[str, str]]:
    m = re.fullmatch(r"0*(\d+)(\^\\circ)?", g)
    v = int(m.group(1)) if m else None
    out = [(g, "exact")]
    if v is not None:
        out += [(f"{v:03d}" if v < 100 else f"0{v}", "leading-zero"), (f"{v}.0", "float"),
                (f"x = {v}", "prefix"), (f"\\text{{{v}}}", "text"),
                (str(v + rng.choice([1, -1, 10])), "wrong-off"), (str(v * 10 + 1), "wrong-digits")]
    out.append((other, "wrong-other"))
    return out


def _sym_variants(g: str, other: str, rng: random.Random) -> list[tuple[str, str]]:
    s = g.replace("$", "").strip()
    out = [(s, "exact"), (re.sub(r"\s+", "", s), "no-spaces"), (s.replace("\\frac", "\\dfrac"), "dfrac")]
    if re.fullmatch(r"-?\d+\.\d+", s):
        out.append((s + "0", "trailing-zero"))
    digits = [i for i, ch in enumerate(s) if ch.isdigit()]
    if digits:
        i = rng.choice(digits)
        out.append((s[:i] + str((int(s[i]) + 1) % 10) + s[i + 1:], "wrong-digit"))
    else:
        out.append((s + "+1", "wrong-plus1"))
    out.append((other.replace("$", "").strip(), "wrong-other"))
    return out


def build_corpus(quick: bool, seed: int) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    corpus: dict[str, list[dict]] = {"integer": [], "symbolic": []}
    for cat, sets in (("integer", INTEGER_SETS), ("symbolic", SYMBOLIC_SETS)):
        for name in sets:
            rows = _load(name)
            idx = list(range(len(rows)))
            if cat == "symbolic":
                idx = [i for i in idx if not re.fullmatch(r"\s*-?\d+\s*", rows[i][0].replace("$", ""))]
            for i in idx:
                g = rows[i][0]
                j = (i + 1) % len(rows)
                while rows[j][0].replace("$", "").strip() == g.replace("$", "").strip():
                    j = (j + 1) % len(rows)
                other = rows[j][0]
                variants = (_int_variants if cat == "integer" else _sym_variants)(g, other, rng)
                for ans, kind in variants:
                    corpus[cat].append({"gt": rows[i], "answer": ans, "kind": kind, "set": name})
    budget = {"integer": 240 if quick else 900, "symbolic": 240 if quick else 900}
    for cat in corpus:
        rng.shuffle(corpus[cat])
        corpus[cat] = corpus[cat][:budget[cat]]
        for it in corpus[cat]:
            length = int(math.exp(rng.uniform(math.log(2_000), math.log(200_000))))
            if quick:
                length = min(length, 60_000)
            body = _filler(rng, length)
            if rng.random() < 0.3:  # an intermediate box earlier in the text
                k = rng.randint(0, len(body) // 2)
                body = body[:k] + f" so tentatively $\\boxed{{{rng.randint(1, 999)}}}$, but wait. " + body[k:]
            it["response"] = (f"<think>\n{body}\n</think>\n\n{_filler(rng, 400)} The final answer is "
                              f"$\\boxed{{{it['answer']}}}$.")
    return corpus


def run_ours(items: list[dict]) -> tuple[float, list[bool]]:
    t = time.perf_counter()
    out = [grading.is_correct(it["response"], it["gt"]) for it in items]
    return time.perf_counter() - t, out


def run_math_verify(items: list[dict]) -> tuple[float, list[bool | None]]:
    from math_verify import parse, verify

    out: list[bool | None] = []
    t = time.perf_counter()
    for it in items:
        try:
            pred = parse(it["response"])
            ok = False
            for g in it["gt"]:
                if verify(parse("$" + g.replace("$", "").strip() + "$"), pred):
                    ok = True
                    break
            out.append(ok)
        except Exception:  # math-verify's own timeouts raise
            out.append(None)
    return time.perf_counter() - t, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer and shorter items (~20 s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the figures as JSON")
    ap.add_argument("--examples", type=int, default=6, help="disagreement examples to print per category")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)

    t0 = time.perf_counter()
    corpus = build_corpus(args.quick, args.seed)
    print(f"corpus built in {time.perf_counter() - t0:.1f}s from {BENCH_DIR}")
    # warm both sides (imports, caches of the parsers' code paths) on items outside the corpus
    warm = [{"response": "x \\boxed{1}", "gt": ["1"]}, {"response": "\\boxed{\\frac{1}{2}}", "gt": ["0.5"]}]
    run_ours(warm)
    run_math_verify(warm)

    results = {}
    for cat, items in corpus.items():
        chars = sum(len(it["response"]) for it in items)
        t_ours, v_ours = run_ours(items)
        t_mv, v_mv = run_math_verify(items)
        same = sum(a == b for a, b in zip(v_ours, v_mv))
        mv_none = sum(b is None for b in v_mv)
        dis = [(it, a, b) for it, a, b in zip(items, v_ours, v_mv) if a != b]
        res = {
            "items": len(items), "mean_chars": chars / len(items),
            "ours_s": t_ours, "math_verify_s": t_mv,
            "ours_items_per_s": len(items) / t_ours, "math_verify_items_per_s": len(items) / t_mv,
            "ratio": t_mv / t_ours, "agreement": same / len(items), "disagreements": len(dis),
            "math_verify_none": mv_none,
            "ours_true_mv_false": sum(1 for _, a, b in dis if a and b is False),
            "ours_false_mv_true": sum(1 for _, a, b in dis if not a and b),
            "ours_accept_rate": sum(v_ours) / len(items),
        }
        results[cat] = res
        print(f"\n== {cat}: {res['items']} responses, mean {res['mean_chars'] / 1000:.1f}K chars")
        print(f"   ours        {t_ours:8.3f} s   {res['ours_items_per_s']:10.1f} responses/s")
        print(f"   math-verify {t_mv:8.3f} s   {res['math_verify_items_per_s']:10.1f} responses/s")
        print(f"   ratio (ours throughput / math-verify throughput): {res['ratio']:.1f}x")
        print(f"   same verdict: {same}/{len(items)} ({100 * res['agreement']:.2f}%); ours-correct/mv-wrong "
              f"{res['ours_true_mv_false']}, ours-wrong/mv-correct {res['ours_false_mv_true']}, "
              f"math-verify errors/timeouts {mv_none}")
        for it, a, b in dis[:args.examples]:
            print(f"     [{it['set']}/{it['kind']}] gt={it['gt']!r} answer={it['answer']!r} ours={a} mv={b}")
    ok_int = results["integer"]["ratio"] >= 20 and results["integer"]["disagreements"] == 0
    ok_sym = results["symbolic"]["ratio"] >= 1
    print(f"\ntargets: integer >= 20x with identical verdicts: {'MET' if ok_int else 'NOT MET'}; "
          f"symbolic no slower: {'MET' if ok_sym else 'NOT MET'}   (total {time.perf_counter() - t0:.0f}s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok_int and ok_sym else 1      # NOT MET -> non-zero exit (make bench fails)


if __name__ == "__main__":
    sys.exit(main())
