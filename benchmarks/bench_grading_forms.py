"""Answer forms (issue 14): our verdicts vs math-verify's on answers rewritten in the forms olympiad
answers take, with a known verdict for every pair, and the throughput of both.

Pairs are built from the five benchmarks' ground truths (``POLARIS_BENCHMARKS_DIR``), each rewritten
in one form, correct and wrong:

* ``labelled``  -- ``(a,b)=(4,1)`` vs ``(4,1)``, ``PQ=3, RS=8`` vs ``3, 8``, ``|XY| = 2``, ratios
  ``A_1 : A_2 = v : w``; wrong: a changed value, a different label, a swapped ratio;
* ``boxes``     -- a list ground truth answered with one box per item (shuffled), sometimes after
  an intermediate box far earlier; wrong: an item missing or changed;
* ``interval``  -- ``(a, b)`` / ``[a, b)`` / ``(a, \\infty)`` / ``[-b,-a] \\cup [a,b]`` answered
  as inequalities ``a < x < b``, ``x > a``, ``a \\le |x| \\le b`` (and the benchmarks' own
  intervals); wrong: an end opened or closed, an endpoint changed;
* ``equation``  -- ``p x + q y = r`` answered scaled (``k p x + k q y - k r = 0``) or solved for
  ``y``, and the benchmarks' own equations scaled by 2 or moved to one side; wrong: another
  constant term;
* ``lists``     -- tuples with semicolons ``(a;b;c)``, lists in bare braces ``{a, b}`` or with
  semicolons; wrong: an item changed or dropped;
* ``decimal``   -- non-integer exact values answered as 8- or 6-significant-digit decimals;
  wrong: off by two units in the last place, or only 3 significant digits.

Issue 22's forms (``forms22_pairs.py``), from the ground truths: rational values as mixed numbers
``a\\frac{r}{q}`` (wrong: the product reading, the fraction part alone), integers >= 1000 with
``,\\!`` / ``{,}`` separators, integers with a trailing ``\\text{ widgets}`` or ``pct`` (wrong:
``or more``, another value), non-integer values as 6-digit scientific ground truths and with
``\\approx`` tails (wrong: 0.1 % off, an inconsistent approximation), lists joined by ``, and``,
tuples as column vectors in another matrix environment (wrong: a row vector, swapped cells); and
from synthetic values, each with a perturbed value: ``mixed``, ``matrices``, ``thousands``,
``scientific``, ``bases``, ``imaginary``, ``degrees``, ``powers``, ``inequalities``, ``and_lists``,
``approx``, ``functions``, ``percent``.  It also exits 1 if our speed ratio over math-verify on
the whole set is below 50x.

The response is a short reasoning text ending in the answer's box(es).  For each form the script
prints how often our grader and math-verify give the constructed verdict, how often they agree, the
disagreements by variant (with examples), and both throughputs.  It exits 1 unless our verdict is
the constructed one on every pair.

    .venv/bin/python benchmarks/bench_grading_forms.py [--quick] [--seed 0] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import time
import warnings
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_grading import BENCH_DIR, _filler, _load, run_math_verify, run_ours  # noqa: E402
import forms22_pairs  # noqa: E402

from polaris_repro import grading  # noqa: E402

SETS = ("aime24", "aime25", "amc23", "minerva", "olympiad")
FORMS14 = ("labelled", "boxes", "interval", "equation", "lists", "decimal")
FORMS22 = tuple(dict.fromkeys(("mixed", "matrices", "thousands", "scientific", "approx", "words")
                              + tuple(forms22_pairs.GENERATORS)))
FORMS = tuple(dict.fromkeys(FORMS14 + FORMS22))


# ------------------------------------------------------------------------------ ground truths

def _value(s: str):
    """Numeric value of a constant answer (mpmath, 50 digits), None for anything else."""
    v = grading.prepare(s).value
    if v is None or v[0] != "expr" or grading.free_symbols(v[1], set()) or grading.has_inf(v[1]):
        return None
    ctx = grading.mp_contexts()[0]
    try:
        x = grading.numeric_value(v[1], ctx, {}, time.monotonic() + 1.0)
    except Exception:
        return None
    return None if isinstance(x, ctx.mpc) else x


def _split_items(s: str) -> list[str]:
    """Top-level comma items of a list answer (brackets respected)."""
    out, depth, cur = [], 0, ""
    i = 0
    while i < len(s):
        c = s[i]
        if s.startswith("\\{", i) or s.startswith("\\}", i):
            cur += s[i:i + 2]
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur.strip())
    return [x for x in out if x]


def _wrong(s: str, rng: random.Random) -> str:
    digits = [i for i, ch in enumerate(s) if ch.isdigit()]
    if not digits:
        return s + "+1"
    i = rng.choice(digits)
    return s[:i] + str((int(s[i]) + rng.randint(1, 8)) % 10) + s[i + 1:]


def load_truths() -> dict[str, list[str]]:
    """Per benchmark: the first candidate answer of every row, ``$`` removed."""
    out = {}
    for name in SETS:
        out[name] = [g[0].replace("$", "").strip().rstrip(".") for g in _load(name)]
    return out


def classify(truths: dict[str, list[str]]) -> dict[str, list[tuple[str, str]]]:
    """(benchmark, answer) by structure: int, number (non-integer constant), seq, set, interval,
    equation."""
    by: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, gs in truths.items():
        for g in gs:
            v = grading.prepare(g).value
            if v is None:
                continue
            k = v[0]
            if k == "expr" and not grading.free_symbols(v[1], set()):
                x = _value(g)
                if x is None:
                    continue
                by["int" if x == int(x) and re.fullmatch(r"-?\d+", g) else "number"].append((name, g))
            elif k == "seq" and len(v[3]) == 2 and grading.seq_interval(v) is not None and (
                    "infty" in g or v[1] + v[2] != "()"):
                by["interval"].append((name, g))      # (2, 4) is a point, (-\infty, -5) an interval
            elif k == "seq" and v[1] == "(" and v[2] == ")":
                by["seq"].append((name, g))
            elif k == "set" and len(v[1]) > 1 and all(x[0] in ("expr", "seq") for x in v[1]):
                by["set"].append((name, g))
            elif (k == "rel" and v[1] == ("=",)) or (k == "named" and grading.equation_of(v) is not None):
                by["equation"].append((name, g))
            elif k == "rel" and grading.is_inequality(v):
                by["inequality"].append((name, g))
    return by


# ------------------------------------------------------------------------------------ pairs
# each pair: (form, variant, answer text in the box(es) or a full answer tail, ground truth,
#             expected verdict); "boxes" answers are the full final sentence

def _pairs_labelled(by, rng):
    out = []
    for name, g in by["int"] + by["number"]:
        w = _wrong(g, rng)
        out += [("labelled", "truth-label", g, f"PQ = {g}", True),
                ("labelled", "pred-label", f"|XY| = {g}", g, True),
                ("labelled", "wrong-value", f"PQ = {w}", f"PQ = {g}", False),
                ("labelled", "wrong-label", f"RS = {g}", f"PQ = {g}", False)]
    for name, g in by["seq"] + by["interval"]:
        items = _split_items(g[1:-1])
        if len(items) > 8:
            continue
        names = ",".join("abcdfghk"[i] for i in range(len(items)))
        out += [("labelled", "tuple-label", g, f"({names}) = {g}", True),
                ("labelled", "wrong-tuple", g.replace(items[0], _wrong(items[0], rng), 1),
                 f"({names}) = {g}", False)]
    for name, g in by["set"]:
        items = _split_items(g)
        if len(items) > 8 or any("=" in x for x in items):
            continue
        lab = ", ".join(f"a_{i + 1} = {x}" for i, x in enumerate(items))
        out += [("labelled", "list-label", ", ".join(items), lab, True),
                ("labelled", "wrong-list", ", ".join([_wrong(items[0], rng)] + items[1:]), lab, False)]
    ints = [g for _, g in by["int"]]
    for _ in range(min(60, len(ints))):
        v, w = rng.sample(ints, 2)
        if int(v) == int(w):
            continue
        out += [("labelled", "ratio", f"{v}:{w}", f"A_1 : A_2 = {v} : {w}", True),
                ("labelled", "wrong-ratio", f"{w}:{v}", f"A_1 : A_2 = {v} : {w}", False)]
    return out


def _boxes(items):
    return " and ".join(f"$\\boxed{{{x}}}$" for x in items)


def _pairs_boxes(by, rng):
    out = []
    lists = [_split_items(g) for _, g in by["set"]]
    ints = [g for _, g in by["int"]]
    for _ in range(120):
        k = rng.choice([2, 2, 3])
        vals = rng.sample(ints, k)
        if len({int(v) for v in vals}) == k:
            lists.append(vals)
    for items in lists:
        if len(items) > 8:
            continue
        truth = ", ".join(items)
        shuffled = rng.sample(items, len(items))
        far = "Let us double-check every case against the original conditions once more. " * 3
        out += [("boxes", "one-box-each", "The answers are " + _boxes(shuffled) + ".", truth, True),
                ("boxes", "after-intermediate", f"First $\\boxed{{{_wrong(items[0], rng)}}}$. {far}"
                 "So the answers are " + _boxes(shuffled) + ".", truth, True),
                ("boxes", "item-missing", "The answers are " + _boxes(shuffled[:-1]) + ".", truth, False),
                ("boxes", "item-changed", "The answers are " + _boxes([_wrong(shuffled[0], rng)] + shuffled[1:])
                 + ".", truth, False),
                ("boxes", "missing-item-only-intermediate", f"First $\\boxed{{{shuffled[-1]}}}$. {far}"
                 "So the answers are " + _boxes(shuffled[:-1]) + ".", truth, False)]
    return out


def _ineq(lo, lc, hi, hc, var="x"):
    parts = []
    if lo is not None:
        parts += [lo, "\\le" if lc else "<"]
    parts.append(var)
    if hi is not None:
        parts += ["\\le" if hc else "<", hi]
    return " ".join(parts)


def _pairs_interval(by, rng):
    out = []
    nums = [(g, _value(g)) for _, g in by["int"] + by["number"]]
    nums = [(g, x) for g, x in nums if x is not None and abs(x) < 1e6]
    for _ in range(150):
        (a, xa), (b, xb) = rng.sample(nums, 2)
        if xa == xb:
            continue
        if xa > xb:
            (a, xa), (b, xb) = (b, xb), (a, xa)
        lc, hc = rng.choice([(False, False), (True, True), (True, False)])
        iv = ("[" if lc else "(") + f"{a}, {b}" + ("]" if hc else ")")
        out += [("interval", "two-sided", _ineq(a, lc, b, hc), iv, True),
                ("interval", "in-interval", f"x \\in {iv}", _ineq(a, lc, b, hc), True),
                ("interval", "wrong-end-type", _ineq(a, not lc, b, hc), iv, False),
                ("interval", "wrong-endpoint", _ineq(a, lc, _wrong(b, rng), hc), iv, False)]
        out += [("interval", "one-sided", f"x > {a}", f"({a}, \\infty)", True),
                ("interval", "wrong-one-sided", f"x \\ge {a}", f"({a}, \\infty)", False)]
        if xa > 0:
            na, nb = (f"-{t}" if re.fullmatch(r"[\d.]+", t) else f"-\\left({t}\\right)" for t in (a, b))
            u = f"[{nb}, {na}] \\cup [{a}, {b}]"
            out += [("interval", "absolute-value", f"{a} \\le |x| \\le {b}", u, True),
                    ("interval", "wrong-absolute-value", f"{a} < |x| \\le {b}", u, False)]
    for name, g in by["interval"]:
        v = grading.prepare(g).value
        lo, hi = v[3][0][1], v[3][1][1]
        items = _split_items(g[1:-1])
        lo_t = None if lo == ("neg", ("c", "inf")) else items[0]
        hi_t = None if hi == ("c", "inf") else items[1]
        if lo_t is None and hi_t is None:
            continue
        out += [("interval", "benchmark-interval", _ineq(lo_t, v[1] == "[", hi_t, v[2] == "]"), g, True),
                ("interval", "wrong-benchmark-interval", _ineq(lo_t, v[1] != "[" if lo_t else False, hi_t,
                                                                v[2] != "]" if hi_t else False), g, False)]
    for name, g in by["inequality"]:
        v = grading.prepare(g).value
        ivs = grading.intervals_of(v, time.monotonic() + 1)
        if ivs and len(ivs[1]) == 1:
            lo, lc, hi, hc = ivs[1][0]
            if hi == ("c", "inf") and lo != ("neg", ("c", "inf")):
                m = re.search(r"(?:\\geq?|\\geqslant|>=?)\s*(.+)$", g)
                if m:
                    t = m.group(1).strip()
                    out += [("interval", "benchmark-inequality", ("[" if lc else "(") + f"{t}, \\infty)", g, True),
                            ("interval", "wrong-benchmark-inequality", ("(" if lc else "[") + f"{t}, \\infty)", g,
                             False)]
    return out


def _pairs_equation(by, rng):
    out = []
    ints = [int(g) for _, g in by["int"] if 0 < int(g) < 1000]
    for _ in range(150):
        p, q, r = rng.sample(ints, 3)
        k = rng.choice([2, -3, 5, -1])
        truth = f"{p}x + {q}y = {r}"
        out += [("equation", "scaled", f"{k * p}x + {k * q}y - {k * r} = 0", truth, True),
                ("equation", "solved-for-y", f"y = \\frac{{{r}}}{{{q}}} - \\frac{{{p}}}{{{q}}}x", truth, True),
                ("equation", "wrong-constant", f"{k * p}x + {k * q}y - {k * (r + 1)} = 0", truth, False),
                ("equation", "wrong-sign", f"y = \\frac{{{r}}}{{{q}}} + \\frac{{{p}}}{{{q}}}x", truth, False)]
    for name, g in by["equation"]:
        lhs, rhs = g.split("=", 1)
        out += [("equation", "benchmark-scaled", f"2\\left({lhs}\\right) = 2\\left({rhs}\\right)", g, True),
                ("equation", "benchmark-one-side", f"{lhs} - \\left({rhs}\\right) = 0", g, True),
                ("equation", "wrong-benchmark", f"{lhs} = {rhs} + 1", g, False)]
    return out


def _pairs_lists(by, rng):
    out = []
    for name, g in by["seq"]:
        if not (g.startswith("(") and g.endswith(")")):
            continue
        items = _split_items(g[1:-1])
        out += [("lists", "semicolons", "(" + "; ".join(items) + ")", g, True),
                ("lists", "wrong-semicolons", "(" + "; ".join([_wrong(items[0], rng)] + items[1:]) + ")", g,
                 False)]
    sets = [_split_items(g) for _, g in by["set"]]
    ints = [g for _, g in by["int"]]
    for _ in range(80):
        vals = rng.sample(ints, 2)
        if int(vals[0]) != int(vals[1]):
            sets.append(vals)
    for items in sets:
        truth = ", ".join(items)
        out += [("lists", "bare-braces", "{" + ", ".join(rng.sample(items, len(items))) + "}", truth, True),
                ("lists", "semicolon-list", "; ".join(items), truth, True),
                ("lists", "wrong-braces", "{" + ", ".join(items[:-1]) + "}", truth, False)][
                :3 if len(set(items)) == len(items) else 2]    # with a repeated item, {..} may mean the set
    return out


def _decimal(x, digits: int) -> str:
    ctx = grading.mp_contexts()[0]
    s = ctx.nstr(x, digits, min_fixed=-ctx.inf, max_fixed=ctx.inf, strip_zeros=False)
    return s


def _pairs_decimal(by, rng):
    out = []
    for name, g in by["number"]:
        x = _value(g)
        if x is None or not (1e-4 < abs(x) < 1e6) or x == int(x):
            continue
        d8, d6, d3 = _decimal(x, 8), _decimal(x, 6), _decimal(x, 3)
        places = len(d8.split(".")[1]) if "." in d8 else 0
        off = Fraction(d8) + Fraction(2 * rng.choice([1, -1]), 10 ** places)
        off_s = f"{'-' if off < 0 else ''}{abs(off) // 1}.{str(abs(off) % 1 * 10 ** places // 1).zfill(places)}"
        ex = grading.exact_or_none(grading.prepare(g).value[1], time.monotonic() + 1.0)
        exact3 = ex is not None and Fraction(d3) == ex     # d3 is then the exact value itself
        out += [("decimal", "8-digits", d8, g, True), ("decimal", "6-digits", d6, g, True),
                ("decimal", "off-by-2-ulp", off_s, g, False),
                ("decimal", "3-digits", d3, g, bool(exact3))]
    return out


def _exact(g: str):
    v = grading.prepare(g).value
    if v is None or v[0] != "expr":
        return None
    return grading.exact_or_none(v[1], time.monotonic() + 1.0)


def _pairs_issue22(by, rng, quick: bool, seed: int):
    """Issue 22's forms: pairs from the benchmarks' ground truths and from synthetic values (the
    generators of ``forms22_pairs``), capped per form."""
    def value(g):
        x = _value(g)
        return None if x is None else float(x)
    got = forms22_pairs.bench_pairs(by, _exact, value, _split_items, rng) + \
        forms22_pairs.synthetic_pairs(10 if quick else 60, seed)
    grouped = defaultdict(list)
    for p in got:
        grouped[p[0]].append(p)
    out = []
    for form in sorted(grouped):
        rows = grouped[form]
        rng.shuffle(rows)
        out += rows[:30 if quick else 200]
    return out


def build_pairs(quick: bool, seed: int) -> list[dict]:
    rng = random.Random(seed)
    by = classify(load_truths())
    pairs = []
    for fn in (_pairs_labelled, _pairs_boxes, _pairs_interval, _pairs_equation, _pairs_lists, _pairs_decimal):
        got = fn(by, rng)
        rng.shuffle(got)
        pairs += got[:60 if quick else 400]
    pairs += _pairs_issue22(by, rng, quick, seed)
    items = []
    for form, variant, answer, truth, expected in pairs:
        body = _filler(rng, rng.randint(300, 1500 if quick else 4000))
        tail = answer if form == "boxes" else f"The final answer is $\\boxed{{{answer}}}$."
        items.append({"form": form, "variant": variant, "answer": answer, "gt": [truth],
                      "expected": bool(expected), "response": f"<think>\n{body}\n</think>\n\n{tail}"})
    return items


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="60 pairs per issue-14 form, 30 per issue-22 form")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the figures as JSON")
    ap.add_argument("--examples", type=int, default=3, help="disagreement examples to print per variant")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)

    t0 = time.perf_counter()
    items = build_pairs(args.quick, args.seed)
    print(f"{len(items)} pairs built in {time.perf_counter() - t0:.1f}s from {BENCH_DIR}")
    warm = [{"response": "x \\boxed{1}", "gt": ["1"]}, {"response": "\\boxed{0 < x < 1}", "gt": ["(0,1)"]}]
    run_ours(warm)
    run_math_verify(warm)
    # interleaved in chunks, so that both graders see the same load on a shared machine (a load
    # spike during our few seconds alone would otherwise decide the ratio)
    t_ours = t_mv = 0.0
    v_ours, v_mv = [], []
    step = max(1, len(items) // 40)
    for k in range(0, len(items), step):
        chunk = items[k:k + step]
        t, v = run_ours(chunk)
        t_ours, v_ours = t_ours + t, v_ours + v
        t, v = run_math_verify(chunk)
        t_mv, v_mv = t_mv + t, v_mv + v

    results: dict = {"forms": {}, "variants": {}}
    rows = list(zip(items, v_ours, v_mv))
    for key, groups in (("forms", lambda it: it["form"]), ("variants", lambda it: f"{it['form']}/{it['variant']}")):
        grouped: dict[str, list] = defaultdict(list)
        for r in rows:
            grouped[groups(r[0])].append(r)
        for g, rs in grouped.items():
            results[key][g] = {
                "pairs": len(rs), "expected_true": sum(it["expected"] for it, _, _ in rs),
                "ours_right": sum(bool(a) == it["expected"] for it, a, _ in rs),
                "mv_right": sum(b is not None and bool(b) == it["expected"] for it, _, b in rs),
                "agree": sum(b is not None and bool(a) == bool(b) for _, a, b in rs),
                "ours_true_mv_false": sum(bool(a) and b is False for _, a, b in rs),
                "ours_false_mv_true": sum(not a and b is True for _, a, b in rs),
                "mv_none": sum(b is None for _, _, b in rs)}
    n = len(items)
    tot = {k: sum(r[k] for r in results["forms"].values()) for k in next(iter(results["forms"].values()))}
    results["total"] = tot
    results["throughput"] = {"ours_s": t_ours, "math_verify_s": t_mv, "ours_items_per_s": n / t_ours,
                             "math_verify_items_per_s": n / t_mv, "ratio": t_mv / t_ours,
                             "mean_chars": sum(len(it["response"]) for it in items) / n}

    print(f"\n{'form':<10} {'pairs':>6} {'ours right':>11} {'mv right':>9} {'agree':>7} "
          f"{'ours T/mv F':>12} {'ours F/mv T':>12} {'mv none':>8}")
    for f in FORMS + ("total",):
        r = results["forms"].get(f) if f != "total" else tot
        if not r:
            continue
        print(f"{f:<10} {r['pairs']:>6} {r['ours_right']:>11} {r['mv_right']:>9} {r['agree']:>7} "
              f"{r['ours_true_mv_false']:>12} {r['ours_false_mv_true']:>12} {r['mv_none']:>8}")
    print("\ndisagreements by variant (ours vs math-verify; 'exp' = the constructed verdict):")
    for v, r in sorted(results["variants"].items()):
        d = r["pairs"] - r["agree"]
        if d:
            print(f"  {v:<42} {d:>4} of {r['pairs']:<4} (ours right {r['ours_right']}, math-verify right "
                  f"{r['mv_right']})")
            ex = [(it, a, b) for it, a, b in rows if f"{it['form']}/{it['variant']}" == v
                  and (b is None or bool(a) != bool(b))][:args.examples]
            for it, a, b in ex:
                print(f"      gt={it['gt'][0]!r} answer={it['answer'][-90:]!r} exp={it['expected']} ours={a} mv={b}")
    wrong = [(it, a) for it, a, _ in rows if bool(a) != it["expected"]]
    for it, a in wrong[:10]:
        print(f"  OURS WRONG [{it['form']}/{it['variant']}] gt={it['gt'][0]!r} answer={it['answer']!r} ours={a}")
    th = results["throughput"]
    print(f"\nthroughput on {n} responses (mean {th['mean_chars'] / 1000:.1f}K chars): ours "
          f"{th['ours_items_per_s']:.1f}/s, math-verify {th['math_verify_items_per_s']:.1f}/s "
          f"(ratio {th['ratio']:.1f}x)")
    for label, forms in (("issue-14 forms", FORMS14), ("issue-22 forms", FORMS22), ("all forms", FORMS)):
        rs = [results["forms"][f] for f in forms if f in results["forms"]]
        m = sum(r["pairs"] for r in rs)
        results[label] = {"pairs": m, "ours_right": sum(r["ours_right"] for r in rs),
                          "mv_right": sum(r["mv_right"] for r in rs), "agree": sum(r["agree"] for r in rs)}
        r = results[label]
        print(f"figures, {label}: constructed verdict given by ours {r['ours_right']}/{m} "
              f"({100 * r['ours_right'] / max(m, 1):.1f} %), by math-verify {r['mv_right']}/{m} "
              f"({100 * r['mv_right'] / max(m, 1):.1f} %); ours and math-verify agree on {r['agree']}/{m}")
    ok_verdicts, ok_speed = not wrong, th["ratio"] >= 50
    ok = ok_verdicts and ok_speed
    print(f"target: our verdict is the constructed one on every pair: {'MET' if ok_verdicts else 'NOT MET'} "
          f"({tot['ours_right']}/{n}; math-verify {tot['mv_right']}/{n}); speed ratio >= 50x on the whole set: "
          f"{'MET' if ok_speed else 'NOT MET'} ({th['ratio']:.1f}x)   (total {time.perf_counter() - t0:.0f}s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
