"""benchmarks/bench_mathverify_suite.py: our grader on math-verify's own test suite (issue 33 item 4).

The suite is the sdist of the installed math-verify version, fetched with pip at test time (the
package registry is reachable in CI) and cached under ``~/.cache/polaris-repro``; it is read with
``ast``, never imported.  Asserted: >= 85 % agreement with the verdicts its tests expect, no false
accept, and a reason category for every remaining disagreement."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import math_verify  # noqa: F401  (a required dependency: the version under test is the installed one)
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_mathverify_suite",
                                                  ROOT / "benchmarks" / "bench_mathverify_suite.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_mathverify_suite"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def suite(bench):
    sdist = bench.fetch_sdist(bench.installed_version())
    return bench.extract_cases(bench.read_tests(sdist))


def test_cases_read_from_the_tables(bench, suite):
    cases, skipped = suite
    assert len(cases) >= 200
    files = {c.file for c in cases}
    assert {"test_all.py", "test_numina_cases.py", "test_open_thoughts.py", "test_yujianll.py",
            "test_boxed.py"} <= files
    assert any(not c.expected for c in cases) and any(c.expected for c in cases)
    # a row the suite is known to hold, read as written (gold first)
    assert any(c.gold == "$\\pm 2021$" and c.pred == "$2021$" and not c.expected for c in cases)
    # the configuration tests are skipped with their reason, not graded
    reasons = {why for _, why in skipped}
    assert any("strict" in r for r in reasons) and any("float_rounding" in r for r in reasons)
    assert not any(c.test == "test_strict_variable_comparison" for c in cases)
    assert all(c.settings.get("precision") == 6 for c in cases)


def test_gold_and_prediction_reading(bench):
    assert bench.bare_answer("$x \\approx 11$") == "x \\approx 11"
    assert bench.bare_answer("$1$ and $2$ and $3$") == "1 and 2 and 3"
    assert bench.bare_answer("28 percent") == "28 percent"
    assert bench.bare_answer("Answer $ 9 $") is None                    # prose: not graded
    assert bench.bare_answer("We find that $x \\lt 3$.") is None
    assert bench.gold_answer("\\boxed{1} papers and \\boxed{2} bins") == "1, 2"
    assert bench.gold_answer("\\boxed{1} no no no no no \\boxed{2}") == "2"
    assert bench.gold_answer("so \\boxed{004}.\n\n**Final Answer**\n\\boxed{004}") == "004"


def test_agreement_and_no_false_accept(bench, capsys):
    rc = bench.main([])
    out = capsys.readouterr().out
    assert rc == 0, out
    line = next(x for x in out.splitlines() if x.startswith("graded "))
    agree, total = (int(v) for v in line.split("agreement ")[1].split(" =")[0].split("/"))
    assert total >= 200 and 100 * agree / total >= 85.0, line
    assert "false accepts 0," in line, line
    assert "FALSE ACCEPT" not in out
    assert "[unexplained]" not in out, out                # every disagreement has its reason
    assert "MET" in out.splitlines()[-1] and "NOT MET" not in out


def test_exit_status_on_a_false_accept(bench, monkeypatch, capsys):
    """The gate: one accepted expected-reject case makes the run exit 1."""
    real = bench.ours

    def lenient(case, mode="boxed"):
        v, how = real(case, mode)
        return (True if v is not None else v), how

    monkeypatch.setattr(bench, "ours", lenient)
    assert bench.main([]) == 1
    assert "FALSE ACCEPT" in capsys.readouterr().out
