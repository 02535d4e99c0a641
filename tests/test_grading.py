"""Answer extraction, equivalence rules, safety bounds, the benchmark files and `polaris-repro grade`."""
from __future__ import annotations

import builtins
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polaris_repro import grading
from polaris_repro.grading import (GradeResult, canonical_answer, equivalent, extract_answer, grade,
                                   ground_truths, is_correct, last_number, split_think)

BENCHMARKS = ("aime24", "aime25", "amc23", "minerva", "olympiad")


def box(ans: str) -> str:
    return f"Some reasoning with $x^2 = 4$ and \\boxed{{7}} along the way.\n\nSo the answer is $\\boxed{{{ans}}}$."


# ----------------------------------------------------------------------------------- extraction

@pytest.mark.parametrize("text,want", [
    ("a \\boxed{\\frac{1}{2}} b", "\\frac{1}{2}"),
    ("\\boxed{1} and later \\boxed{2}", "2"),
    ("\\boxed{1} then \\fbox{3}", "3"),
    ("\\fbox{3} then \\boxed{4}", "4"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),                 # escaped braces do not count
    ("\\boxed{{a}{b{c}}}", "{a}{b{c}}"),                # nested braces
    ("so $\\boxed 5$.", "5"),                           # \boxed without braces
    ("\\boxed {12}", "12"),
    ("\\boxed{1} and a truncated \\boxed{2", None),    # the last box never closes
    ("no box here", None),
    ("", None),
])
def test_extract_answer(text, want):
    assert extract_answer(text) == want


def test_extract_answer_is_linear_on_long_responses():
    """Extraction time grows linearly with the response (CPU time of this process, so other jobs on
    the machine do not count): 4x the text costs well under the 16x a quadratic scan would."""
    def cost(reps: int) -> float:
        base = "We compute $\\frac{1}{2}$ and {braces} step by step. " * reps
        worst = 0.0
        for text in (base + "\\boxed{25}", "\\boxed{" + base, base + "\\boxed{" * (5 * reps)):
            best = min(_cpu_time(extract_answer, text) for _ in range(3))
            worst = max(worst, best)
        return worst

    small, large = cost(1000), cost(4000)          # ~50 KB and ~200 KB
    assert large < 0.05 and large < 8 * max(small, 1e-4), (small, large)
    assert extract_answer("x " * 4000 + "\\boxed{25}") == "25"


def _cpu_time(fn, *args) -> float:
    t = time.process_time()
    fn(*args)
    return time.process_time() - t


def test_split_think_follows_the_training_rule():
    assert split_think("no think \\boxed{1}") == (False, "")
    assert split_think("<think>a</think> b") == (True, " b")
    # only the text between the first and second </think> is kept (POLARIS reward)
    assert split_think("<think>a</think> b </think> c") == (True, " b ")


def test_last_number():
    assert last_number("the answer is 3.5.") == "3.5"
    assert last_number("so x = -12") == "-12"
    assert last_number("1,000 apples") == "1000"
    assert last_number("pairs 5, 6") == "6"
    assert last_number("nothing") is None


# --------------------------------------------------------------------------------- ground truths

def test_ground_truth_types():
    assert ground_truths(142.0) == ["142"]
    assert ground_truths(np.float64(-4.0)) == ["-4"]
    assert ground_truths(2.5) == ["2.5"]
    assert ground_truths(7) == ["7"]
    assert ground_truths(np.array(["0.01\n", "0.02\n"], dtype=object)) == ["0.01", "0.02"]
    assert ground_truths(["a", "", None]) == ["a"]
    assert ground_truths("\\boxed{5}") == ["5"]
    assert ground_truths(None) == []
    assert not is_correct(box("5"), None)
    assert is_correct(box("0.02"), np.array(["0.01\n", "0.02\n"], dtype=object))
    assert is_correct(box("142"), 142.0) and not is_correct(box("141"), 142.0)


# ------------------------------------------------------------------------- the five benchmarks

def _crude(s: str) -> str:
    return re.sub(r"\s|\$|\\left|\\right|\\!|\\,", "", s).rstrip(".")


def _float(s: str):
    c = _crude(s)
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\\times10\^\{?(-?\d+)\}?", c)
    if m:
        return float(f"{m.group(1)}e{m.group(2)}")
    try:
        return float(c)
    except ValueError:
        return None


def _has_variables(s: str) -> bool:
    s = re.sub(r"\\(?:text|mathrm|mbox|textbf)\{[^{}]*\}", "", s)
    s = re.sub(r"\\[a-zA-Z]+", "", s)
    return "=" not in s and bool(re.search(r"[a-zA-Z]", s))


def _cheaply_different(a: list[str], b: list[str]) -> bool | None:
    """Independent of our checker: True/False when decidable without a CAS, else None."""
    if {_crude(x) for x in a} & {_crude(y) for y in b}:
        return False
    fa, fb = [_float(x) for x in a], [_float(y) for y in b]
    if all(v is not None for v in fa + fb):
        return not set(fa) & set(fb)
    if all(v is not None for v in fb) and all(_has_variables(x) for x in a):
        return True  # an expression in variables vs a plain number
    return None


def _mv_different(a: list[str], b: list[str], mv_parse, mv_verify) -> bool:
    for x in a:
        for y in b:
            px, py = mv_parse(f"${x.replace('$', '')}$"), mv_parse(f"${y.replace('$', '')}$")
            if mv_verify(px, py) or mv_verify(py, px):
                return False
    return True


def _other_row(gts: list[list[str]], i: int, mv_parse, mv_verify) -> int | None:
    """A row whose answer is genuinely different from row i's (cheap tests first, then
    math-verify as an independent judge)."""
    order = [(i + s) % len(gts) for s in range(1, len(gts))]
    for j in order:
        if _cheaply_different(gts[i], gts[j]):
            return j
    for j in order[:10]:
        if _cheaply_different(gts[i], gts[j]) is None and _mv_different(gts[i], gts[j], mv_parse, mv_verify):
            return j
    return None


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_ground_truths_grade_against_own_and_other_rows(name, bench_dir):
    from math_verify import parse, verify

    df = pd.read_parquet(bench_dir / f"{name}.parquet")
    raw = [rm["ground_truth"] for rm in df["reward_model"]]
    gts = [ground_truths(g) for g in raw]
    assert all(gts), f"{name}: empty ground truth"
    others = 0
    for i, g in enumerate(raw):
        for cand in gts[i]:
            assert is_correct(box(cand), g), (name, i, cand)
            assert is_correct(box(cand), g, require_think=False, mode="boxed_or_last_number")
        # a row whose answer is genuinely different must grade as wrong
        j = _other_row(gts, i, parse, verify)
        if j is None:
            continue
        others += 1
        for cand in gts[j]:
            assert not is_correct(box(cand), g), (name, i, j, cand, gts[i])
    assert others >= len(raw) - 2


@pytest.mark.parametrize("name", ("minerva", "olympiad"))
def test_symbolic_ground_truths_reject_other_symbolic_answers(name, bench_dir):
    """Expressions against other rows' expressions (math-verify as the independent judge)."""
    from math_verify import parse, verify

    df = pd.read_parquet(bench_dir / f"{name}.parquet")
    gts = [ground_truths(rm["ground_truth"]) for rm in df["reward_model"]]
    sym = [i for i, g in enumerate(gts) if all(_has_variables(x) for x in g)][:20]
    assert len(sym) == 20
    checked = 0
    for a, b in zip(sym, sym[1:] + sym[:1]):
        if _cheaply_different(gts[a], gts[b]) is False or not _mv_different(gts[a], gts[b], parse, verify):
            continue
        checked += 1
        for cand in gts[b]:
            assert not is_correct(box(cand), gts[a]), (gts[a], cand)
    assert checked >= 8


def test_float_and_list_ground_truths_do_not_crash(bench_dir):
    for name in ("amc23", "minerva", "olympiad"):
        df = pd.read_parquet(bench_dir / f"{name}.parquet")
        for rm in df["reward_model"].head(40):
            r = grade(box("\\frac{1}{2}"), rm["ground_truth"])
            assert isinstance(r, GradeResult) and isinstance(r.correct, bool)


# ---------------------------------------------------------------------------- equivalence rules

EQUIVALENT = [
    # MATH-style normalisation
    ("\\text{5}", "5"), ("5\\text{ cm}", "5"), ("10 inches", "10"), ("\\mathrm{(B)}", "B"),
    ("1 2 3".replace(" ", ""), "123"), ("\\frac { 1 } { 2 }", "\\frac{1}{2}"),
    ("\\left( 1, 2 \\right)", "(1,2)"), ("336^\\circ", "336"), ("336^{\\circ}", "336"),
    ("$\\frac{1}{3}$", "\\frac13"), ("50\\%", "50"), ("\\$50", "50"),
    ("\\dfrac{3}{4}", "\\frac{3}{4}"), ("\\tfrac{3}{4}", "\\frac34"), ("\\frac12", "\\frac{1}{2}"),
    ("3/4", "\\frac{3}{4}"), ("x = 5", "5"), ("k=1", "1"), ("f(x) = 2x", "2x"), ("5.", "5"),
    ("0.5", "\\frac{1}{2}"), ("1,000", "1000"), ("\\text{(C)}", "C"),
    # numbers
    ("025", "25"), ("142.0", "142"), ("-4.0", "-4"), ("9.60", "9.6"), ("4.5e33", "4.5 \\times 10^{33}"),
    ("10^{-3}", "1 \\times 10^{-3}"), ("\\frac{284}{2}", "142"),
    # tuples, intervals, sets
    ("(1, 2)", "(1,2)"), ("[1, \\infty)", "[1,\\infty)"), ("(-\\infty, 3]", "(-\\infty,3]"),
    ("2, 1", "1, 2"), ("\\{1, 2\\}", "1,2"), ("(1,8,19), (2,7,13)", "(2,7,13),(1,8,19)"),
    ("(0,\\frac12)", "(0, 0.5)"), ("2 \\pm \\sqrt{3}", "2+\\sqrt3, 2-\\sqrt3"),
    ("x=1, y=2", "y=2, x=1"), ("x = 1 or x = 2", "1, 2"),
    ("(-\\infty, 0) \\cup (1, \\infty)", "(1,\\infty)\\cup(-\\infty,0)"),
    # symbolic
    ("\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2"), ("\\frac{1}{2n+2}", "\\frac{1}{2(n+1)}"),
    ("\\binom{2n}{n}", "\\frac{(2n)!}{(n!)^2}"), ("2^{1009}", "2\\cdot 2^{1008}"),
    ("\\frac{100!}{2^{50}}", "100!/2^{50}"), ("\\sqrt{8}", "2\\sqrt{2}"),
    ("mn - \\lfloor m/2 \\rfloor", "m n-\\lfloor \\frac{m}{2}\\rfloor"),
    ("\\lfloor \\log_2 n \\rfloor + 1", "\\left\\lfloor\\log _{2} n\\right\\rfloor+1"),
    ("\\arcsin{\\frac{10}{13}}", "\\arcsin(10/13)"), ("e^{i\\pi}", "e^{\\pi i}"),
    ("\\frac{a M^{1/3}}{G M^{2/3}+b}", "aM^{1/3}/(GM^{2/3}+b)"), ("2\\sqrt{2} - \\sqrt{8}", "0"),
    ("x > 3", "3 < x"), ("y = 2x + 1", "y=1+2x"), ("n(n+1)/2", "\\frac{n^2+n}{2}"),
]

NOT_EQUIVALENT = [
    ("\\text{6}", "5"), ("5\\text{ cm}", "6"), ("337^\\circ", "336"), ("\\frac{1}{3}", "\\frac12"),
    ("51\\%", "50"), ("\\dfrac{3}{5}", "\\frac{3}{4}"), ("\\frac13", "\\frac{1}{2}"), ("3/5", "\\frac34"),
    ("x = 6", "5"), ("5.1", "5"), ("0.51", "\\frac{1}{2}"),
    # integers match exactly: no tolerance
    ("026", "25"), ("142.0001", "142"), ("1000001", "1000000"), ("142.00000000000001", "142"),
    ("4.6e33", "4.5 \\times 10^{33}"), ("2^{1009}+1", "2^{1009}"), ("\\frac{1}{2004!}", "\\frac{1}{2006!}"),
    ("\\sqrt{2}\\cdot 10^{40}+1", "\\sqrt{2}\\cdot10^{40}"),
    # structure
    ("(2, 1)", "(1,2)"), ("(1, 2]", "(1,2)"), ("[1, 2]", "(1, 2)"), ("1, 2, 2", "1, 1, 2"),
    ("1, 2", "1, 2, 3"), ("\\pm 2021", "2021"), ("x=1, y=2", "x=2, y=1"),
    ("(1,8,19), (2,7,13)", "(8,1,19),(2,7,13)"), ("x < 3", "x > 3"), ("-\\infty", "\\infty"),
    # symbolic
    ("\\frac{\\sqrt{3}}{3}", "\\sqrt{3}/2"), ("\\frac{1}{2n+1}", "\\frac{1}{2n+2}"),
    ("\\lfloor\\frac{2 n-2}{5}\\rfloor", "\\lfloor\\frac{2 n-1}{5}\\rfloor"),
    ("0", "\\lfloor\\frac{2 n-1}{5}\\rfloor"), ("\\lceil n/2 \\rceil", "\\lfloor n/2 \\rfloor"),
    ("y(0)e^{t}", "I(0)e^{-t}"), ("f(x) = n^2", "f(n) = n^2"), ("n(n-1)/2", "\\frac{n^2+n}{2}"),
    ("1.325 \\times 11^{-27}", "1.325 \\times 10^{-27}"), ("\\text{No}", "on"), ("ab", "abc"),
    ("", "0"), ("\\frac{1}{0}", "\\frac{2}{0}"), ("x", "y"),
]


@pytest.mark.parametrize("pred,truth", EQUIVALENT)
def test_equivalent(pred, truth):
    assert equivalent(pred, truth)
    assert is_correct(box(pred), truth)


@pytest.mark.parametrize("pred,truth", NOT_EQUIVALENT)
def test_not_equivalent(pred, truth):
    assert not equivalent(pred, truth)
    assert not is_correct(box(pred), truth)


def test_require_think_split():
    gt = "42"
    assert not is_correct("\\boxed{42}", gt, require_think=True)        # no </think>: wrong
    assert is_correct("\\boxed{42}", gt, require_think=False)           # evaluation searches all
    assert is_correct("<think>try \\boxed{41}</think> so \\boxed{42}", gt, require_think=True)
    # only the text after </think> counts in training; the whole response in evaluation
    assert not is_correct("<think>\\boxed{42}</think> I give up", gt, require_think=True)
    assert is_correct("<think>\\boxed{42}</think> I give up", gt, require_think=False)
    r = grade("<think>x</think> \\boxed{42}", gt, require_think=True)
    assert r == GradeResult(True, "42", True, True)
    assert grade("\\boxed{42}", gt, require_think=True) == GradeResult(False, None, False, False)


def test_boxed_or_last_number_mode():
    assert not is_correct("so it is 42", "42")
    assert is_correct("so it is 42", "42", mode="boxed_or_last_number")
    assert not is_correct("so it is 42 or maybe 43", "42", mode="boxed_or_last_number")
    # a box wins over later numbers
    assert is_correct("\\boxed{42} (checked with 7 cases)", "42", mode="boxed_or_last_number")
    r = grade("it is 42", "42", mode="boxed_or_last_number")
    assert r.correct and r.pred == "42" and not r.has_box
    with pytest.raises(ValueError, match="mode"):
        grade("x", "1", mode="last")


def test_canonical_answer_groups_equivalent_answers():
    assert canonical_answer("025") == canonical_answer("25") == canonical_answer("x = 25.0")
    assert canonical_answer("\\frac{\\sqrt3}{2}") == canonical_answer("\\sqrt{3}/2")
    assert canonical_answer("26") != canonical_answer("25")
    assert canonical_answer(None) is None and canonical_answer("  ") is None


# ---------------------------------------------------------------------------------------- safety

HOSTILE = ["9^{9^{9^{9}}}", "100000!", "{" * 5000 + "25" + "}" * 5000, "2^{2^{2^{2^{2^{2}}}}}",
           "10^{10^{10}}", "\\sin(10^{100000})", "(10^{999})!", "\\binom{10^{9}}{5 \\cdot 10^{8}}",
           "e^{e^{e^{100}}}", "x^{x^{x^{x^{x}}}}", "(" * 39 + "25" + ")" * 39 + "^{10^{9}}",
           "9" * 5000, "1e999999", "\\sqrt[" + "9" * 60 + "]{2}",
           "+".join(["2^{190000}"] * 150), "\\{" + ",".join(["x^{99999}"] * 60) + "\\}",
           "\\left(" * 3000 + "1" + "\\right)" * 3000]


def _check_hostile(bound: float) -> list[tuple[str, bool, float]]:
    out = []
    for h in HOSTILE:
        t = time.perf_counter()
        ok = is_correct(box(h), "25", timeout_s=bound)
        out.append((h[:40], ok, time.perf_counter() - t))
    return out


def test_hostile_inputs_are_bounded_and_wrong():
    bound = 2.0
    for h, ok, dt in _check_hostile(bound):
        assert ok is False, h
        assert dt < bound + 0.5, (h, dt)


def test_hostile_inputs_are_bounded_off_the_main_thread():
    bound = 2.0
    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda _: _check_hostile(bound), range(2)))
    for res in results:
        for h, ok, dt in res:
            assert ok is False, h
            assert dt < 2 * bound + 1, (h, dt)  # two threads share the GIL


def test_deadline_is_enforced(monkeypatch):
    """Even without the size guards, the cooperative deadline stops a long check."""
    big_set = ", ".join(f"\\sqrt{{{k}}} + \\sin({k} x)" for k in range(60))
    t = time.perf_counter()
    assert not equivalent(big_set, ", ".join(f"\\sqrt{{{k}}} + \\sin({k} y)" for k in range(60)),
                          timeout_s=0.05)
    assert time.perf_counter() - t < 1.0


def test_model_text_is_never_evaluated(monkeypatch):
    import sympy

    def boom(*a, **k):
        raise AssertionError("model text reached eval/exec/sympify")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    monkeypatch.setattr(sympy, "sympify", boom)
    monkeypatch.setattr(sympy, "parse_expr", boom, raising=False)
    grading.prepare_cached.cache_clear()
    payloads = ["__import__('os').system('echo pwned')", "(lambda: 1)()", "\\frac{\\sqrt{3}}{2}",
                "2^{10} + x", "(1, 2]", "os.system"]
    for p in payloads:
        is_correct(box(p), "\\frac{\\sqrt3}{2}")
        canonical_answer(p)


# --------------------------------------------------------------------------------- math-verify

def test_math_verify_second_opinion_works_off_the_main_thread():
    try:
        assert grading.math_verify_correct(box("025"), "25") is True
        assert grading.math_verify_correct(box("26"), "25") is False
        box_ = {}
        th = threading.Thread(target=lambda: box_.update(r=grading.math_verify_correct(box("\\frac12"), "0.5")))
        th.start()
        th.join(60)
        assert box_.get("r") is True
        assert grading.math_verify_correct("no think", "25", require_think=True) is False
    finally:
        grading.close_math_verify()


# ------------------------------------------------------------------------ polaris-repro grade

def _responses_file(bench_dir: Path, tmp_path: Path, name: str = "aime24") -> Path:
    df = pd.read_parquet(bench_dir / f"{name}.parquet")
    gts = [ground_truths(rm["ground_truth"])[0] for rm in df["reward_model"]]
    resp, fin = [], []
    for i, g in enumerate(gts):
        other = next(gts[(i + s) % len(gts)] for s in range(1, len(gts))
                     if int(gts[(i + s) % len(gts)]) != int(g))
        resp.append([f"<think>ok</think> so $\\boxed{{{g}}}$", f"hmm \\boxed{{{other}}}",
                     "I ran out of tok", f"Final answer: \\boxed{{{int(g)}}}." if i % 2 else "I ran out"])
        fin.append(["stop", "stop", "length", "stop" if i % 2 else "length"])
    df["responses"] = resp
    df["finish_reasons"] = fin
    p = tmp_path / f"{name}_responses.parquet"
    df.to_parquet(p)
    return p


def test_grade_cli_reports(bench_dir, tmp_path, capsys):
    from polaris_repro.cli import main

    p = _responses_file(bench_dir, tmp_path)
    dis, js = tmp_path / "dis.csv", tmp_path / "s.json"
    assert main(["grade", str(p), "--disagreements", str(dis), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    import json

    s = json.loads(js.read_text())
    # 30 problems: 15 with 1/4 correct, 15 with 2/4 correct
    assert s["problems"] == 30 and s["n"] == 4
    assert s["avg@n"] == pytest.approx((15 * 0.25 + 15 * 0.5) / 30)
    assert s["pass@k"]["4"] == 1.0 and s["pass@k"]["1"] == pytest.approx(s["avg@n"])
    assert s["pass@k"]["2"] == pytest.approx((15 * 0.5 + 15 * (1 - 1 / 6)) / 30)
    assert s["solve_none"] == 0 and s["solve_all"] == 0
    assert s["truncation_rate"] == pytest.approx((30 + 15) / 120)
    assert s["missing_box_rate"] == pytest.approx((30 + 15) / 120)
    assert s["maj@n"] == pytest.approx(0.5)  # ties (1 vs 1 vote) go to the first answer
    assert s["math_verify"]["undecided"] == 0 and s["disagreements"] == 0
    assert 0 < s["distinct_4"] <= 1
    for key in ("avg@4", "pass@1", "pass@2", "pass@4", "maj@4", "solve-none", "distinct-4",
                "truncation rate", "missing-box rate", "math-verify: disagreements 0"):
        assert key in out, key
    assert pd.read_csv(dis).shape[0] == 0


def test_grade_cli_errors_name_the_file_and_column(bench_dir, tmp_path, capsys):
    from polaris_repro import grading_cli

    p = _responses_file(bench_dir, tmp_path)
    assert grading_cli.cli([str(p), "--column", "outputs", "--no-math-verify"]) == 2
    err = capsys.readouterr().err
    assert "outputs" in err and str(p) in err
    assert grading_cli.cli([str(p), "--gt-column", "reward_model.answer", "--no-math-verify"]) == 2
    assert "answer" in capsys.readouterr().err
    assert grading_cli.cli([str(tmp_path / "missing.parquet")]) == 2
    assert "not found" in capsys.readouterr().err
    # a benchmark file without responses
    assert grading_cli.cli([str(bench_dir / "amc23.parquet"), "--no-math-verify"]) == 2
    assert "responses" in capsys.readouterr().err


def test_grade_frame_float_and_list_ground_truths(bench_dir):
    from polaris_repro.grading_cli import grade_frame

    for name in ("amc23", "olympiad"):
        df = pd.read_parquet(bench_dir / f"{name}.parquet").head(8)
        df["responses"] = [[box(ground_truths(rm["ground_truth"])[0]), "none"] for rm in df["reward_model"]]
        s, per = grade_frame(df, math_verify=False)
        assert s["avg@n"] == pytest.approx(0.5) and s["missing_box_rate"] == pytest.approx(0.5)
        assert list(per.columns[:6]) == ["problem", "sample", "ground_truth", "pred", "correct", "has_box"]
