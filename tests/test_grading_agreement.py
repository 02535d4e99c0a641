"""Our grader against math-verify on inputs where both should agree (the README's identical-verdict
claim, without timing), and the exit status of the grading benchmarks."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_grading  # noqa: E402
import bench_grading_forms  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    assert bench_grading.BENCH_DIR.is_dir(), f"benchmark directory {bench_grading.BENCH_DIR} missing"
    return bench_grading.build_corpus(quick=True, seed=0)


def test_integer_answers_identical_verdicts_with_math_verify(corpus):
    """AIME/AMC ground truths reformatted (leading zeros, ``.0``, ``x =``, ``\\text{}``) or wrong, at
    the end of long responses with an occasional earlier intermediate box: the same verdict as
    math-verify on every item."""
    items = corpus["integer"][:80]
    _, ours = bench_grading.run_ours(items)
    _, theirs = bench_grading.run_math_verify(items)
    assert ours == theirs, [(it["gt"], it["answer"], a, b) for it, a, b in zip(items, ours, theirs) if a != b]
    assert 10 < sum(ours) < len(items) - 10          # both verdicts occur


def test_symbolic_answers_identical_verdicts_with_math_verify(corpus):
    items = corpus["symbolic"][:40]
    _, ours = bench_grading.run_ours(items)
    _, theirs = bench_grading.run_math_verify(items)
    assert ours == theirs, [(it["gt"], it["answer"], a, b) for it, a, b in zip(items, ours, theirs) if a != b]
    assert 5 < sum(ours) < len(items) - 5


def test_new_forms_math_verify_also_accepts():
    """Forms both checkers read the same way: labels, scaled equations, semicolon tuples."""
    items = [{"response": f"So $\\boxed{{{p}}}$.", "gt": [t]} for p, t in [
        ("(4,1)", "(a,b)=(4,1)"), ("3, 8", "PQ=3, RS=8"), ("(1;2;0)", "(1,2,0)"),
        ("-x + 2y - 3 = 0", "3x - 6y + 9 = 0"), ("0.0909090909", "\\frac{1}{11}"), ("x \\in [-1, 4]", "[-1, 4]"),
        ("(4,2)", "(a,b)=(4,1)"), ("x + 2y - 3 = 0", "3x - 6y + 9 = 0"), ("0.0909", "\\frac{1}{11}")]]
    _, ours = bench_grading.run_ours(items)
    _, theirs = bench_grading.run_math_verify(items)
    assert ours == theirs == [True] * 6 + [False] * 3


def _fake_runs(monkeypatch, module, flip: bool):
    verdicts = {}

    def ours(items):
        out = [i % 2 == 0 for i in range(len(items))]
        verdicts[len(items)] = out
        return 0.01, out

    def theirs(items):
        out = list(verdicts.get(len(items)) or [i % 2 == 0 for i in range(len(items))])
        if flip and len(items) > 2:
            out[0] = not out[0]
        return 1.0, out

    monkeypatch.setattr(module, "run_ours", ours)
    monkeypatch.setattr(module, "run_math_verify", theirs)


@pytest.mark.parametrize("flip,code", [(False, 0), (True, 1)])
def test_bench_grading_exit_status_follows_the_target(monkeypatch, capsys, flip, code):
    items = [{"gt": ["1"], "answer": "1", "kind": "exact", "set": "aime24", "response": "\\boxed{1}"}] * 6
    monkeypatch.setattr(bench_grading, "build_corpus", lambda quick, seed: {"integer": items, "symbolic": items})
    _fake_runs(monkeypatch, bench_grading, flip)
    assert bench_grading.main(["--quick"]) == code
    out = capsys.readouterr().out
    assert ("NOT MET" in out) == bool(code)


def test_bench_grading_forms_exit_status_follows_our_verdicts(monkeypatch, capsys):
    items = [{"form": "decimal", "variant": "8-digits", "answer": "1", "gt": ["1"], "expected": True,
              "response": "\\boxed{1}"}] * 4
    monkeypatch.setattr(bench_grading_forms, "build_pairs", lambda quick, seed: items)
    monkeypatch.setattr(bench_grading_forms, "run_math_verify", lambda its: (1.0, [True] * len(its)))
    monkeypatch.setattr(bench_grading_forms, "run_ours", lambda its: (0.01, [True] * len(its)))
    assert bench_grading_forms.main(["--quick"]) == 0
    monkeypatch.setattr(bench_grading_forms, "run_ours", lambda its: (0.01, [False] * len(its)))
    assert bench_grading_forms.main(["--quick"]) == 1
    assert "NOT MET" in capsys.readouterr().out


def test_forms_corpus_covers_every_form(bench_dir):
    items = bench_grading_forms.build_pairs(quick=True, seed=0)
    forms = {it["form"] for it in items}
    assert forms == set(bench_grading_forms.FORMS)
    for f in forms:
        exp = [it["expected"] for it in items if it["form"] == f]
        assert any(exp) and not all(exp), f                     # correct and wrong variants
