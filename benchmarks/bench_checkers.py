r"""The two training-reward checkers side by side: where ``polaris`` and ``deepscaler`` disagree.

Both checkers are called exactly as the training reward calls them:
``polaris_repro.reward.compute_score(source, response, ground_truth, require_think=True,
mode="boxed", checker=...)`` with ``checker="polaris"`` (the package's grader, the default) and
``checker="deepscaler"`` (DeepScaleR's rule-based reward, the one the POLARIS recipe trained with;
:mod:`polaris_repro.grading.deepscaler`).  The ground truth is passed as stored in the benchmark
file (AMC23's floats, Minerva's and OlympiadBench's lists).

Corpus 1 -- perturbed ground truths.  For every row of the five benchmark files (aime24, aime25,
amc23, minerva, olympiad; ``$POLARIS_BENCHMARKS_DIR``, else ``/work/shared/data/benchmarks``) the
*base answer* is the row's first ground truth with every ``$`` removed (``142.0`` -> ``142``); each
applicable perturbation of it (:data:`KINDS`, :func:`perturbations`) is boxed in the response
``<think>...</think> The answer is \boxed{X}``.  Every kind is labelled: ``+`` the answer is
equivalent (a checker should accept it), ``-`` it is different (a checker should reject it), ``?``
unknown (reordering an unbracketed list: the order may or may not matter), so each disagreement on a
labelled kind says which checker is right.  A kind that does not apply to an answer (``\dfrac`` for an
integer) makes no pair.  The generator is plain string rewriting, no randomness; the labels are
meant to be right on these benchmark answers, not on arbitrary LaTeX, and the report lists the
cases where both checkers contradict a label (a label error or a shared checker error).

Corpus 2 -- rollouts (``--run RUN_DIR``).  Evaluation responses of a run
(``RUN_DIR/04_evaluation/<model>/<benchmark>.parquet``, one row per problem with a ``responses``
list column; any ``*.parquet`` under RUN_DIR with ``responses`` and ``reward_model`` columns is
read) graded by both checkers, unlabelled.  Training logs hold no response text.  A folder without
such files is reported and skipped.

Output: per benchmark and kind, n, both accept, both reject, only polaris accepts, only deepscaler
accepts, and for labelled kinds each checker's false accepts (FA) and false rejects (FR); up to 10
disagreements (spread over kinds); the time each checker took.  ``--out CSV`` writes every pair with
both verdicts (temp file, then ``os.replace``).

    .venv/bin/python benchmarks/bench_checkers.py [--run RUN_DIR] [--out CSV]
        [--benchmarks aime24,olympiad] [--limit N] [--examples 10]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from polaris_repro.data import BENCHMARKS, load_benchmark  # noqa: E402
from polaris_repro.grading import ground_truths  # noqa: E402
from polaris_repro.reward import compute_score  # noqa: E402

BENCH_DIR = Path(os.environ.get("POLARIS_BENCHMARKS_DIR", "/work/shared/data/benchmarks"))
CHECKERS = ("polaris", "deepscaler")
REWARD_KW = {"require_think": True, "mode": "boxed"}     # the training reward's rule
THINK = "<think>Let me work through the problem step by step and check the result.</think>"
ACCEPT, REJECT, UNKNOWN = "+", "-", "?"

# kind -> (label, what it does); the order is the report's order
KINDS: dict[str, tuple[str, str]] = {
    "exact": (ACCEPT, "the ground truth itself (first alternative, $ removed)"),
    "spaces": (ACCEPT, "spaces around + - = and after commas, and at both ends"),
    "left_right": (ACCEPT, r"( ) [ ] \{ \} -> \left( \right) ... (answers with brackets)"),
    "dfrac": (ACCEPT, r"\frac -> \dfrac (or \dfrac -> \frac)"),
    "text_wrap": (ACCEPT, r"\text{X} (plain numbers and words)"),
    "label_prefix": (ACCEPT, "k = X (one expression, no relation; a letter the answer lacks)"),
    "unit_text": (ACCEPT, r"X\text{ cm} (plain numbers)"),
    "unit_word": (ACCEPT, r"X cm (plain numbers)"),
    "trailing_zero": (ACCEPT, "25 -> 25.0, 9.6 -> 9.60 (plain numbers)"),
    "leading_zero": (ACCEPT, "25 -> 025, 025 -> 25 (integers)"),
    "frac_decimal": (ACCEPT, r"\frac{3}{4} or 3/4 -> 0.75 (integer fraction, terminating)"),
    "decimal_frac": (ACCEPT, r"0.75 -> \frac{3}{4} (plain decimals)"),
    "frac_slash": (ACCEPT, r"\frac{A}{B} -> A/B, or (A)/(B) (the answer is one fraction)"),
    "reorder_set": (ACCEPT, r"\{a, b\} -> \{b, a\}"),
    "reorder_tuple": (REJECT, "(a, b) -> (b, a): a bracketed tuple or interval reversed"),
    "reorder_list": (UNKNOWN, "a, b -> b, a: an unbracketed list reversed (order may matter)"),
    "last_digit": (REJECT, "last digit d -> d+1 mod 10 (d+2... if that hits another alternative)"),
    "sign": (REJECT, "X -> -X or -(X), -X -> X (one nonzero expression, no relation, no \\pm)"),
    "no_think": (REJECT, r"the exact answer in a response without </think> (reward 0)"),
}

_PLAIN_INT = re.compile(r"-?\d+")
_PLAIN_DEC = re.compile(r"-?\d*\.\d+")
_INT_FRAC = re.compile(r"(-?)\\[dt]?frac\{(-?\d+)\}\{(\d+)\}|(-?\d+)/(\d+)")
_ONE_FRAC = re.compile(r"(-?)\\([dt]?)frac\{([^{}]+)\}\{([^{}]+)\}")
_SIMPLE = re.compile(r"[0-9A-Za-z.]+")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_RELATION = re.compile(r"=|<|>|\\[lg]eq?(?![a-z])|\\[lg]eqslant|\\neq?|\\in(?![a-z])|\\cup|\\cap|\\to"
                       r"|\\approx|\\sim|\\[lr]ightarrow|\\iff|\\implies|\\subset")
_WORDS = re.compile(r"[A-Za-z][A-Za-z ,.'-]+")
_OPEN, _CLOSE = "([{", ")]}"


# ---------------------------------------------------------------- perturbations

def base_answer(ground_truth: Any) -> str:
    """The first ground truth as a string, every ``$`` removed (``142.0`` -> ``142``)."""
    gts = ground_truths(ground_truth)
    return gts[0].replace("$", "").strip() if gts else ""


def _matching(s: str, i: int) -> int:
    """Index of the bracket closing the one at ``s[i]`` (any of ``([{``), or -1."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] in _OPEN:
            depth += 1
        elif s[j] in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return -1


def _split_top(s: str) -> list[str]:
    """Split at the commas outside brackets (``\\{`` counts as a bracket)."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c == "," and depth == 0 and (i == 0 or s[i - 1] != "\\"):
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return parts


def _has_top(s: str, chars: str, start: int = 0) -> bool:
    depth = 0
    for i, c in enumerate(s):
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c in chars and depth == 0 and i >= start:
            return True
    return False


def _value(s: str) -> Fraction | None:
    """Exact value of a plain integer, decimal or integer fraction, else None."""
    s = s.replace(" ", "")
    try:
        if _PLAIN_INT.fullmatch(s) or _PLAIN_DEC.fullmatch(s):
            return Fraction(Decimal(s))
        m = _INT_FRAC.fullmatch(s)
        if m:
            if m.group(2) is not None:
                v = Fraction(int(m.group(2)), int(m.group(3)))
                return -v if m.group(1) else v
            return Fraction(int(m.group(4)), int(m.group(5)))
    except (ArithmeticError, ValueError):
        return None
    return None


def _same(a: str, b: str) -> bool:
    """Plainly the same answer: equal up to spaces and $, or the same plain number."""
    ka, kb = a.replace("$", "").replace(" ", ""), b.replace("$", "").replace(" ", "")
    if ka == kb:
        return True
    va, vb = _value(ka), _value(kb)
    return va is not None and va == vb


def _decimal(v: Fraction) -> str | None:
    """Terminating decimal of ``v`` (at most 30 places), else None."""
    for k in range(31):
        x = v * 10 ** k
        if x.denominator == 1:
            n = abs(x.numerator)
            digits = str(n).rjust(k + 1, "0")
            s = digits if k == 0 else digits[:-k] + "." + digits[-k:]
            return ("-" if v < 0 else "") + s
    return None


def _spaces(a: str) -> str:
    s = re.sub(r"(?<!\\)(?<!\de)([+=])", r" \1 ", a)           # not \+, not the e+ of 1e+5
    s = re.sub(r"(?<=[\w})\]])(?<!\de)-", " - ", s)             # binary minus only
    s = re.sub(r"(?<!\\),(?!\d{3}(?!\d))", ", ", s)             # not \, nor 1,000
    return " " + re.sub(r" {2,}", " ", s).strip() + " "


def _left_right(a: str) -> str | None:
    if "\\left" in a or "\\right" in a or "\\begin" in a:
        return None
    out, i, changed = [], 0, False
    while i < len(a):
        if a.startswith("\\{", i) or a.startswith("\\}", i):
            out.append(("\\left" if a[i + 1] == "{" else "\\right") + a[i:i + 2])
            i += 2
            changed = True
            continue
        c = a[i]
        if c == "\\":                                    # other commands unchanged (\sqrt[3] below)
            m = re.match(r"\\[A-Za-z]+", a[i:])
            tok = m.group(0) if m else a[i:i + 2]
            out.append(tok)
            i += len(tok)
            if tok == "\\sqrt" and a.startswith("[", i):
                j = a.find("]", i)
                if j < 0:
                    return None
                out.append(a[i:j + 1])
                i = j + 1
            continue
        if c in "([":
            out.append("\\left" + c)
            changed = True
        elif c in ")]":
            out.append("\\right" + c)
            changed = True
        else:
            out.append(c)
        i += 1
    s = "".join(out)
    # \left / \right must pair up; an unbalanced answer is left alone
    if not changed or s.count("\\left") != s.count("\\right"):
        return None
    return s


def _reorder(a: str) -> tuple[str, str] | None:
    """(kind, reversed answer) for a set, a bracketed tuple or an unbracketed list; None if not a
    list or the reversal is the same answer."""
    s = a.strip()
    if _THOUSANDS.fullmatch(s):
        return None
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
        parts = _split_top(inner)
        if len(parts) > 1 and _matching(s, 1) == len(s) - 1:
            rev = [p.strip() for p in reversed(parts)]
            if [p.strip() for p in parts] != rev:
                return "reorder_set", "\\{" + ", ".join(rev) + "\\}"
        return None
    if s and s[0] in "([" and s[-1] in ")]" and _matching(s, 0) == len(s) - 1:
        parts = _split_top(s[1:-1])
        if len(parts) > 1:
            rev = [p.strip() for p in reversed(parts)]
            if [p.strip() for p in parts] != rev:
                return "reorder_tuple", s[0] + ", ".join(rev) + s[-1]
        return None
    parts = _split_top(s)
    if len(parts) > 1:
        rev = [p.strip() for p in reversed(parts)]
        if [p.strip() for p in parts] != rev:
            return "reorder_list", ", ".join(rev)
    return None


def _last_digit(a: str, alternatives: list[str]) -> str | None:
    m = None
    for m in re.finditer(r"\d", a):
        pass
    if m is None:
        return None
    d = int(m.group(0))
    for step in range(1, 10):
        s = a[:m.start()] + str((d + step) % 10) + a[m.end():]
        if not any(_same(s, g) for g in alternatives):
            return s
    return None


def _single_expression(s: str) -> bool:
    """One expression: no relation, no list, no \\pm, no text, not a bracketed tuple or set."""
    return bool(s) and not (_RELATION.search(s) or "\\pm" in s or "\\mp" in s or "\\begin" in s
                            or "\\text" in s or _has_top(s, ",;") or _WORDS.fullmatch(s)
                            or (s[0] in "([" and "," in s) or s.startswith("\\{"))


def _sign(a: str, alternatives: list[str]) -> str | None:
    s = a.strip()
    if not _single_expression(s):
        return None
    v = _value(s)
    if v == 0 or re.fullmatch(r"-?0+(\.0*)?", s):
        return None
    if s.startswith("-") and not _has_top(s, "+-", start=1):
        out = s[1:].lstrip()
    elif not _has_top(s, "+-"):
        out = "-" + s
    else:
        out = "-(" + s + ")"
    if any(_same(out, g) for g in alternatives):
        return None
    return out


def perturbations(answer: str, alternatives: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``[(kind, X), ...]``: the applicable perturbations of ``answer`` (see :data:`KINDS`), in the
    order of :data:`KINDS`, at most one per kind.  ``alternatives`` are all accepted answers of the
    row (``$`` removed): a "different" perturbation that equals one of them is not made."""
    a = answer.strip()
    alts = [g.replace("$", "").strip() for g in alternatives] or [a]
    out: dict[str, str] = {"exact": a}
    out["spaces"] = _spaces(a)
    lr = _left_right(a)
    if lr:
        out["left_right"] = lr
    if "\\dfrac" in a:
        out["dfrac"] = a.replace("\\dfrac", "\\frac")
    elif "\\frac" in a:
        out["dfrac"] = a.replace("\\frac", "\\dfrac")
    plain_int, plain_dec = bool(_PLAIN_INT.fullmatch(a)), bool(_PLAIN_DEC.fullmatch(a))
    if plain_int or plain_dec or re.fullmatch(r"[A-Za-z]{2,}(?: [A-Za-z]+)*", a):
        out["text_wrap"] = "\\text{" + a + "}"
    if _single_expression(a):
        var = next((v for v in "kmxyt" if v not in a), None)
        if var:
            out["label_prefix"] = f"{var} = {a}"
    if plain_int or plain_dec:
        out["unit_text"] = a + "\\text{ cm}"
        out["unit_word"] = a + " cm"
        out["trailing_zero"] = a + (".0" if plain_int else "0")
    if plain_int:
        neg, digits = a.startswith("-"), a.lstrip("-")
        canon = str(int(digits))
        other = canon if digits != canon else "0" + canon
        out["leading_zero"] = ("-" if neg else "") + other
    m = _INT_FRAC.fullmatch(a.replace(" ", ""))
    if m:
        v = _value(a)
        d = _decimal(v) if v is not None else None
        if d is not None:
            out["frac_decimal"] = d
    if plain_dec:
        v = Fraction(Decimal(a))
        if v.denominator != 1:
            sign = "-" if v < 0 else ""
            out["decimal_frac"] = f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"
    m = _ONE_FRAC.fullmatch(a)
    if m:
        num, den = m.group(3).strip(), m.group(4).strip()
        if _SIMPLE.fullmatch(num) and _SIMPLE.fullmatch(den):
            out["frac_slash"] = f"{m.group(1)}{num}/{den}"
        else:
            out["frac_slash"] = f"{m.group(1)}({num})/({den})"
    r = _reorder(a)
    if r:
        out[r[0]] = r[1]
    ld = _last_digit(a, alts)
    if ld is not None:
        out["last_digit"] = ld
    sg = _sign(a, alts)
    if sg is not None:
        out["sign"] = sg
    out["no_think"] = a
    return [(k, out[k]) for k in KINDS if k in out]


def response_for(kind: str, x: str) -> str:
    if kind == "no_think":
        return "<think>Let me work through the problem step by step. The answer is \\boxed{" + x + "}"
    return THINK + " The answer is \\boxed{" + x + "}"


# ---------------------------------------------------------------- grading

@dataclass
class Pair:
    source: str                 # "perturbation" | "rollout"
    benchmark: str
    row: int
    sample: int
    kind: str
    expect: str                 # + - ?
    ground_truth: Any
    answer: str                 # the boxed X (rollouts: "")
    response: str
    verdicts: dict = field(default_factory=dict)      # checker -> bool
    preds: dict = field(default_factory=dict)         # checker -> extracted answer
    seconds: dict = field(default_factory=dict)       # checker -> float
    errors: dict = field(default_factory=dict)        # checker -> exception text

    @property
    def agree(self) -> bool:
        return self.verdicts["polaris"] == self.verdicts["deepscaler"]

    def right(self) -> str:
        """Which checker matches the label: both | polaris | deepscaler | neither | unknown."""
        if self.expect == UNKNOWN:
            return "unknown"
        want = self.expect == ACCEPT
        ok = [c for c in CHECKERS if self.verdicts[c] == want]
        return "both" if len(ok) == 2 else (ok[0] if ok else "neither")


def _plain(gt: Any) -> Any:
    """The stored ground truth as the reward sees it (arrays as lists, numpy scalars as Python)."""
    if isinstance(gt, np.ndarray):
        return [_plain(x) for x in gt.tolist()]
    if isinstance(gt, (list, tuple)):
        return [_plain(x) for x in gt]
    if isinstance(gt, np.generic):
        return gt.item()
    return gt


def grade_pair(p: Pair, data_source: str) -> Pair:
    for c in CHECKERS:
        t0 = time.perf_counter()
        try:
            r = compute_score(data_source, p.response, p.ground_truth, None, checker=c, **REWARD_KW)
            p.verdicts[c], p.preds[c] = bool(r["acc"]), r["pred"]
        except Exception as e:  # a crash is a reject, and reported
            p.verdicts[c], p.preds[c], p.errors[c] = False, "", f"{type(e).__name__}: {e}"
        p.seconds[c] = time.perf_counter() - t0
    return p


def benchmark_pairs(name: str, directory: Path, limit: int | None = None) -> list[Pair]:
    df = load_benchmark(name, directory)
    if limit:
        df = df.iloc[:limit]
    pairs = []
    for i, row in enumerate(df.to_dict("records")):
        gt = _plain(row["reward_model"]["ground_truth"])
        src = str(row.get("data_source") or name)
        a = base_answer(gt)
        for kind, x in perturbations(a, ground_truths(gt)):
            pairs.append(grade_pair(Pair("perturbation", name, int(row.get("index", i)), 0, kind,
                                         KINDS[kind][0], gt, x, response_for(kind, x)), src))
    return pairs


def rollout_files(run_dir: Path) -> list[Path]:
    """Parquet files under ``run_dir`` holding evaluation responses (``responses`` and
    ``reward_model`` columns), sorted."""
    out = []
    for p in sorted(run_dir.rglob("*.parquet")):
        try:
            cols = pq.read_schema(p).names
        except Exception:   # not a readable parquet file: not evaluation responses
            continue
        if "responses" in cols and ("reward_model" in cols or "answers" in cols):
            out.append(p)
    return out


def rollout_pairs(run_dir: Path, limit: int | None = None) -> tuple[list[Pair], str]:
    """Pairs of a run's evaluation responses, and a line saying what was read."""
    if not run_dir.is_dir():
        return [], f"run folder {run_dir} does not exist: no rollouts compared"
    files = rollout_files(run_dir)
    if not files:
        return [], (f"run folder {run_dir} holds no evaluation responses (no *.parquet with a "
                    f"'responses' column, e.g. 04_evaluation/<model>/<benchmark>.parquet): no rollouts "
                    f"compared")
    # a tier whose model never thinks (model.thinking: false, e.g. smoke) writes no </think>: both
    # checkers would reject every response by the think rule alone, so its responses are compared
    # as the answer part of a response, after a "</think>" (the answer rules, the same extraction)
    man = run_dir / "manifest.json"
    thinking = True
    if man.is_file():
        thinking = bool((((json.loads(man.read_text()).get("config") or {}).get("model") or {})
                         .get("thinking", True)))
    pairs = []
    for f in files:
        df = pd.read_parquet(f)
        if limit:
            df = df.iloc[:limit]
        for i, row in enumerate(df.to_dict("records")):
            rm = row.get("reward_model")
            gt = _plain(rm["ground_truth"] if isinstance(rm, dict) and "ground_truth" in rm
                        else row.get("answers"))
            bench = str(row.get("benchmark") or f.stem)
            label = f"{f.parent.name}/{bench}" if f.parent != run_dir else bench
            src = str(row.get("data_source") or bench)
            for j, resp in enumerate(list(row["responses"])):
                text = "" if resp is None else str(resp)
                if not thinking and "</think>" not in text:
                    text = "</think>" + text
                pairs.append(grade_pair(Pair("rollout", label, int(row.get("index", i)), j, "rollout",
                                             UNKNOWN, gt, "", text), src))
    how = "" if thinking else " (model.thinking false: each compared after a '</think>', the answer rules only)"
    return pairs, f"rollouts: {len(pairs)} responses from {len(files)} file(s) under {run_dir}{how}"


# ---------------------------------------------------------------- report

COLUMNS = ("n", "both_accept", "both_reject", "only_polaris", "only_deepscaler",
           "polaris_FA", "polaris_FR", "deepscaler_FA", "deepscaler_FR", "errors")


def count(pairs: Iterable[Pair], labelled: bool) -> dict:
    c = Counter()
    for p in pairs:
        pv, dv = p.verdicts["polaris"], p.verdicts["deepscaler"]
        c["n"] += 1
        c["both_accept"] += pv and dv
        c["both_reject"] += not pv and not dv
        c["only_polaris"] += pv and not dv
        c["only_deepscaler"] += dv and not pv
        c["errors"] += bool(p.errors)
        if labelled:
            want = p.expect == ACCEPT
            for ch, v in (("polaris", pv), ("deepscaler", dv)):
                c[f"{ch}_FA"] += v and not want
                c[f"{ch}_FR"] += want and not v
    row = {k: int(c[k]) for k in COLUMNS}
    if not labelled:
        for k in ("polaris_FA", "polaris_FR", "deepscaler_FA", "deepscaler_FR"):
            row[k] = None
    return row


def table(pairs: list[Pair]) -> list[dict]:
    """One row per (benchmark, kind) in file then :data:`KINDS` order, then ``ALL`` per kind, then
    ``ALL``/``all labelled``."""
    benches = list(dict.fromkeys(p.benchmark for p in pairs))
    kinds = [k for k in (*KINDS, "rollout") if any(p.kind == k for p in pairs)]
    rows = []
    for b in (*benches, "ALL"):
        for k in kinds:
            sel = [p for p in pairs if p.kind == k and (b == "ALL" or p.benchmark == b)]
            if sel:
                expect = KINDS[k][0] if k in KINDS else UNKNOWN
                rows.append({"benchmark": b, "kind": k, "expect": expect,
                             **count(sel, expect != UNKNOWN)})
    lab = [p for p in pairs if p.expect != UNKNOWN]
    rows.append({"benchmark": "ALL", "kind": "(all labelled)", "expect": "+/-", **count(lab, True)})
    rows.append({"benchmark": "ALL", "kind": "(all pairs)", "expect": "", **count(pairs, False)})
    return rows


def examples(pairs: list[Pair], k: int) -> list[Pair]:
    """Up to ``k`` disagreements, spread round-robin over (kind, which checker accepts)."""
    groups: dict[tuple, list[Pair]] = {}
    for p in pairs:
        if not p.agree:
            groups.setdefault((p.kind, p.verdicts["polaris"]), []).append(p)
    out, i = [], 0
    while len(out) < k and any(i < len(g) for g in groups.values()):
        for g in groups.values():
            if i < len(g) and len(out) < k:
                out.append(g[i])
        i += 1
    return out


def timings(pairs: list[Pair]) -> dict:
    t = {c: sum(p.seconds[c] for p in pairs) for c in CHECKERS}
    n = len(pairs)
    by_bench = {}
    for b in dict.fromkeys(p.benchmark for p in pairs):
        sel = [p for p in pairs if p.benchmark == b]
        by_bench[b] = {c: sum(p.seconds[c] for p in sel) for c in CHECKERS}
    slowest = {c: max(((p.seconds[c], p) for p in pairs), key=lambda x: x[0], default=(0.0, None))
               for c in CHECKERS}
    return {"calls": n, "total_s": t,
            "ratio_deepscaler_over_polaris": (t["deepscaler"] / t["polaris"]) if t["polaris"] else None,
            "by_benchmark_s": by_bench,
            "slowest_s": {c: s for c, (s, _) in slowest.items()},
            "slowest_pair": {c: (None if p is None else f"{p.benchmark}#{p.row} {p.kind} {p.answer[:60]!r}")
                             for c, (_, p) in slowest.items()}}


def _fmt(v: Any) -> str:
    return "-" if v is None else str(v)


def _short(s: Any, n: int = 70) -> str:
    s = s if isinstance(s, str) else json.dumps(s, ensure_ascii=False)
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[:n - 3] + "..."


def render(report: dict) -> str:
    L = []
    L.append("Training-reward checkers compared: compute_score(..., require_think=True, mode='boxed', "
             "checker='polaris' | 'deepscaler')")
    L.append(f"benchmarks from {report['bench_dir']}: " + ", ".join(
        f"{b} ({n} rows)" for b, n in report["rows"].items()))
    L.append(f"pairs: {report['n_pairs']} perturbation pairs" + (
        f", {report['n_rollouts']} rollout pairs" if report["n_rollouts"] else ""))
    L.append("expect: + equivalent (should be accepted), - different (should be rejected), "
             "? unknown; FA false accept, FR false reject")
    L.append("")
    hdr = ("benchmark", "kind", "exp", "n", "both+", "both-", "only_pol", "only_ds",
           "pol_FA", "pol_FR", "ds_FA", "ds_FR")
    w = (10, 15, 4, 6, 6, 6, 8, 8, 6, 6, 6, 6)
    line = lambda vals: "  ".join(str(v).ljust(x) if i < 3 else str(v).rjust(x)  # noqa: E731
                                   for i, (v, x) in enumerate(zip(vals, w)))
    L.append(line(hdr))
    L.append("-" * len(line(hdr)))
    prev = None
    for r in report["table"]:
        if prev is not None and r["benchmark"] != prev:
            L.append("")
        prev = r["benchmark"]
        L.append(line((r["benchmark"], r["kind"], r["expect"], r["n"], r["both_accept"], r["both_reject"],
                       r["only_polaris"], r["only_deepscaler"], _fmt(r["polaris_FA"]),
                       _fmt(r["polaris_FR"]), _fmt(r["deepscaler_FA"]), _fmt(r["deepscaler_FR"]))))
    dis = report["disagreements"]
    L.append("")
    L.append(f"disagreements: {dis['n']} of {dis['of']} pairs; on labelled pairs polaris is right on "
             f"{dis['polaris_right']}, deepscaler on {dis['deepscaler_right']}; unlabelled: {dis['unknown']}")
    both_wrong = report["both_wrong"]
    L.append(f"both checkers contradict the label on {len(both_wrong)} pair(s)"
             + (": " + "; ".join(both_wrong[:5]) if both_wrong else ""))
    if report["errors"]:
        L.append(f"checker errors (counted as reject): {len(report['errors'])}: "
                 + "; ".join(report["errors"][:3]))
    L.append("")
    L.append(f"examples of disagreements (up to {report['max_examples']}, spread over kinds):")
    for j, e in enumerate(report["examples"], 1):
        L.append(f"{j:2d}. {e['benchmark']}#{e['row']} {e['kind']} (expect {e['expect']}, right: "
                 f"{e['right']})")
        L.append(f"    ground truth {_short(e['ground_truth'])}")
        L.append(f"    answer       {_short(e['answer'] or e['polaris_pred'])}")
        L.append(f"    polaris {'ACCEPT' if e['polaris'] else 'reject'} (pred {_short(e['polaris_pred'], 40)}), "
                 f"deepscaler {'ACCEPT' if e['deepscaler'] else 'reject'} "
                 f"(pred {_short(e['deepscaler_pred'], 40)})")
    t = report["timing"]
    L.append("")
    ratio = t["ratio_deepscaler_over_polaris"]
    L.append(f"timing over {t['calls']} calls each: polaris {t['total_s']['polaris']:.2f} s "
             f"({1e3 * t['total_s']['polaris'] / max(t['calls'], 1):.2f} ms/call), deepscaler "
             f"{t['total_s']['deepscaler']:.2f} s ({1e3 * t['total_s']['deepscaler'] / max(t['calls'], 1):.2f} "
             f"ms/call); deepscaler/polaris = {ratio:.2f}" if ratio is not None else "timing: -")
    L.append("  by benchmark (s): " + ", ".join(
        f"{b} {v['polaris']:.2f}/{v['deepscaler']:.2f}" for b, v in t["by_benchmark_s"].items())
             + "  (polaris/deepscaler)")
    L.append("  slowest call: " + ", ".join(
        f"{c} {t['slowest_s'][c] * 1e3:.0f} ms ({t['slowest_pair'][c]})" for c in CHECKERS))
    L.append("")
    L.append(report["rollouts"])
    L.append("")
    L.append("perturbation kinds:")
    for k, (lab, what) in KINDS.items():
        L.append(f"  {k:<14} {lab}  {what}")
    return "\n".join(L)


def write_csv(pairs: list[Pair], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ("source", "benchmark", "row", "sample", "kind", "expect", "ground_truth", "answer",
              "response", "polaris", "deepscaler", "agree", "right", "polaris_pred", "deepscaler_pred",
              "polaris_s", "deepscaler_s", "errors")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            um = os.umask(0)
            os.umask(um)
            os.chmod(tmp, 0o666 & ~um)      # mkstemp makes it 0600; give it the usual mode
            w = csv.writer(fh)
            w.writerow(fields)
            for p in pairs:
                w.writerow((p.source, p.benchmark, p.row, p.sample, p.kind, p.expect,
                            json.dumps(p.ground_truth, ensure_ascii=False), p.answer, p.response,
                            int(p.verdicts["polaris"]), int(p.verdicts["deepscaler"]), int(p.agree),
                            p.right(), p.preds["polaris"], p.preds["deepscaler"],
                            f"{p.seconds['polaris']:.6f}", f"{p.seconds['deepscaler']:.6f}",
                            json.dumps(p.errors) if p.errors else ""))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _example(p: Pair) -> dict:
    return {"benchmark": p.benchmark, "row": p.row, "sample": p.sample, "kind": p.kind, "expect": p.expect,
            "right": p.right(), "ground_truth": p.ground_truth, "answer": p.answer,
            "polaris": p.verdicts["polaris"], "deepscaler": p.verdicts["deepscaler"],
            "polaris_pred": p.preds["polaris"], "deepscaler_pred": p.preds["deepscaler"]}


def build_report(pairs: list[Pair], rollouts: list[Pair], *, rows: dict, bench_dir: Path,
                 rollout_line: str, max_examples: int) -> dict:
    allp = pairs + rollouts
    dis = [p for p in allp if not p.agree]
    rights = Counter(p.right() for p in dis)
    both_wrong = [f"{p.benchmark}#{p.row} {p.kind} {p.answer!r} vs {_short(p.ground_truth, 40)}"
                  for p in allp if p.expect != UNKNOWN and p.right() == "neither"]
    return {"bench_dir": str(bench_dir), "rows": rows, "n_pairs": len(pairs), "n_rollouts": len(rollouts),
            "table": table(allp),
            "disagreements": {"n": len(dis), "of": len(allp), "polaris_right": rights["polaris"],
                              "deepscaler_right": rights["deepscaler"], "unknown": rights["unknown"]},
            "both_wrong": both_wrong,
            "errors": [f"{p.benchmark}#{p.row} {p.kind}: {p.errors}" for p in allp if p.errors],
            "examples": [_example(p) for p in examples(allp, max_examples)], "max_examples": max_examples,
            "timing": timings(allp), "rollouts": rollout_line, "pairs": allp}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=None, help="a run folder: also compare its evaluation responses")
    ap.add_argument("--out", type=Path, default=None, help="write every pair with both verdicts to this CSV")
    ap.add_argument("--benchmarks", default=",".join(BENCHMARKS),
                    help=f"comma-separated subset of {','.join(BENCHMARKS)} (default: all)")
    ap.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    ap.add_argument("--limit", type=int, default=None, help="first N rows of each benchmark (and of each "
                                                           "rollout file)")
    ap.add_argument("--examples", type=int, default=10, help="disagreements shown (default 10)")
    a = ap.parse_args(argv)
    names = [b.strip() for b in a.benchmarks.split(",") if b.strip()]
    bad = [b for b in names if b not in BENCHMARKS]
    if bad or not names:
        ap.error(f"--benchmarks: unknown {bad}; choose from {list(BENCHMARKS)}")
    a.benchmarks = names
    return a


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison, print the report and return it (a dict; ``pairs`` holds every
    :class:`Pair`)."""
    a = parse_args(argv)
    pairs, rows = [], {}
    for name in a.benchmarks:
        ps = benchmark_pairs(name, a.bench_dir, a.limit)
        rows[name] = len({p.row for p in ps})
        pairs += ps
    if a.run is not None:
        rollouts, line = rollout_pairs(a.run, a.limit)
    else:
        rollouts, line = [], "rollouts: none compared (no --run given)"
    report = build_report(pairs, rollouts, rows=rows, bench_dir=a.bench_dir, rollout_line=line,
                          max_examples=a.examples)
    print(render(report), flush=True)
    if a.out is not None:
        write_csv(report["pairs"], a.out)
        print(f"\nwrote {len(report['pairs'])} pairs to {a.out}", flush=True)
    return report


if __name__ == "__main__":
    main()
