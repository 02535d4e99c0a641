r"""benchmarks/bench_checkers.py: the polaris and deepscaler checkers compared on perturbed benchmark
ground truths (a subset of rows, a few seconds), the report's structure and the facts it must show."""
from __future__ import annotations

import json
import csv
import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_checkers", ROOT / "benchmarks" / "bench_checkers.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_checkers"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench():
    return _bench()


@pytest.fixture(scope="module")
def run(bench, tmp_path_factory, bench_dir_module):
    out = tmp_path_factory.mktemp("checkers") / "pairs.csv"
    report = bench.main(["--benchmarks", "aime24,amc23,olympiad", "--limit", "40", "--out", str(out),
                         "--bench-dir", str(bench_dir_module)])
    return report, out


@pytest.fixture(scope="module")
def bench_dir_module():
    import os
    d = Path(os.environ["POLARIS_BENCHMARKS_DIR"])
    assert d.is_dir(), f"benchmark directory {d} missing"
    return d


def _by(report, kind):
    return [p for p in report["pairs"] if p.kind == kind]


def test_report_structure(run, bench):
    report, _ = run
    assert report["rows"] == {"aime24": 30, "amc23": 40, "olympiad": 40}
    assert report["n_pairs"] == len(report["pairs"]) and report["n_rollouts"] == 0
    for r in report["table"]:
        assert set(bench.COLUMNS) <= set(r) and {"benchmark", "kind", "expect"} <= set(r)
    assert {p.benchmark for p in report["pairs"]} == {"aime24", "amc23", "olympiad"}
    assert len(report["examples"]) <= 10
    t = report["timing"]
    assert t["calls"] == len(report["pairs"]) and all(t["total_s"][c] > 0 for c in bench.CHECKERS)
    assert t["ratio_deepscaler_over_polaris"] == pytest.approx(t["total_s"]["deepscaler"] / t["total_s"]["polaris"])
    assert "no --run" in report["rollouts"]
    assert not report["errors"]


def test_exact_ground_truth_accepted_by_both_on_every_row(run):
    report, _ = run
    exact = _by(report, "exact")
    assert len(exact) == sum(report["rows"].values())       # one per row
    bad = [(p.benchmark, p.row, p.answer, p.verdicts) for p in exact if not all(p.verdicts.values())]
    assert not bad


def test_no_think_rejected_by_both(run):
    report, _ = run
    nt = _by(report, "no_think")
    assert len(nt) == sum(report["rows"].values())
    assert all("</think>" not in p.response and "\\boxed{" in p.response for p in nt)
    assert not [p for p in nt if any(p.verdicts.values())]


def test_changed_last_digit_rejected_by_both(run):
    report, _ = run
    ld = _by(report, "last_digit")
    assert len(ld) >= 100                   # every AIME/AMC row, almost every olympiad one
    assert all(p.answer != p.ground_truth for p in ld)
    bad = [(p.benchmark, p.row, p.answer, p.ground_truth, p.verdicts) for p in ld if any(p.verdicts.values())]
    assert not bad


def test_counts_add_up(run, bench):
    report, out = run
    rows = report["table"]
    for r in rows:
        assert r["both_accept"] + r["both_reject"] + r["only_polaris"] + r["only_deepscaler"] == r["n"], r
        if r["expect"] == "+":      # wrong verdicts on equivalent answers are false rejects only
            assert r["polaris_FA"] == r["deepscaler_FA"] == 0
            assert r["polaris_FR"] == r["both_reject"] + r["only_deepscaler"]
            assert r["deepscaler_FR"] == r["both_reject"] + r["only_polaris"]
        elif r["expect"] == "-":
            assert r["polaris_FR"] == r["deepscaler_FR"] == 0
            assert r["polaris_FA"] == r["both_accept"] + r["only_polaris"]
            assert r["deepscaler_FA"] == r["both_accept"] + r["only_deepscaler"]
        elif r["expect"] == "?":
            assert r["polaris_FA"] is None
    per = [r for r in rows if r["benchmark"] != "ALL"]
    for r in (r for r in rows if r["benchmark"] == "ALL" and r["kind"] in bench.KINDS):
        sel = [x for x in per if x["kind"] == r["kind"]]
        for c in bench.COLUMNS:
            if r[c] is None:        # unlabelled kinds have no false accepts / rejects
                assert r["expect"] == "?" and all(x[c] is None for x in sel)
            else:
                assert r[c] == sum(x[c] for x in sel), (r["kind"], c)
    total = next(r for r in rows if r["kind"] == "(all pairs)")
    assert total["n"] == len(report["pairs"]) == sum(x["n"] for x in per)
    d = report["disagreements"]
    assert d["n"] == total["only_polaris"] + total["only_deepscaler"]
    assert d["polaris_right"] + d["deepscaler_right"] + d["unknown"] == d["n"]
    with open(out, newline="", encoding="utf-8") as fh:
        recs = list(csv.DictReader(fh))
    assert len(recs) == len(report["pairs"])
    assert {r["polaris"] for r in recs} <= {"0", "1"} and {r["deepscaler"] for r in recs} <= {"0", "1"}
    assert sum(r["agree"] == "0" for r in recs) == d["n"]
    assert not list(out.parent.glob(".*.tmp"))          # the temp file was renamed


def test_perturbation_labels(bench):
    kinds = dict(bench.perturbations("025"))
    assert kinds["exact"] == "025" and kinds["leading_zero"] == "25" and kinds["trailing_zero"] == "025.0"
    assert kinds["last_digit"] == "026" and kinds["sign"] == "-025"
    k = dict(bench.perturbations(r"\frac{1}{2}"))
    assert k["frac_decimal"] == "0.5" and k["frac_slash"] == "1/2" and k["dfrac"] == r"\dfrac{1}{2}"
    assert dict(bench.perturbations("(1, 2)"))["reorder_tuple"] == "(2, 1)"
    assert "reorder_tuple" not in dict(bench.perturbations("(1, 1)"))
    # a "different" answer that is another accepted alternative is not made
    assert dict(bench.perturbations("0.01", ["0.01", "0.02"]))["last_digit"] == "0.03"
    assert "sign" not in dict(bench.perturbations("0"))
    assert all(bench.KINDS[k][0] in "+-?" for k in bench.KINDS)


def test_run_folder(bench, tmp_path, capsys):
    # a folder without evaluation responses is reported, and the comparison goes on
    rep = bench.main(["--benchmarks", "aime24", "--limit", "2", "--run", str(tmp_path / "missing")])
    assert "does not exist" in rep["rollouts"] and rep["n_rollouts"] == 0 and rep["n_pairs"] > 0
    (tmp_path / "empty").mkdir()
    rep = bench.main(["--benchmarks", "aime24", "--limit", "2", "--run", str(tmp_path / "empty")])
    assert "no evaluation responses" in rep["rollouts"]
    # evaluation responses in the layout of evaluation.generation (one row per problem)
    d = tmp_path / "run" / "04_evaluation" / "trained"
    d.mkdir(parents=True)
    pd.DataFrame({"benchmark": ["aime24", "aime24"], "index": [0, 1],
                  "reward_model": [{"style": "rule", "ground_truth": "204"}, {"style": "rule", "ground_truth": "025"}],
                  "responses": [["<think>a</think> \\boxed{204}", "\\boxed{204}"],
                                ["<think>b</think> \\boxed{25}", "<think>b</think> \\boxed{24}"]]}
                 ).to_parquet(d / "aime24.parquet", index=False)
    rep = bench.main(["--benchmarks", "aime24", "--limit", "2", "--run", str(tmp_path / "run")])
    ro = [p for p in rep["pairs"] if p.source == "rollout"]
    assert rep["n_rollouts"] == 4 and len(ro) == 4
    assert [p.verdicts["polaris"] for p in ro] == [True, False, True, False]
    assert [p.verdicts["deepscaler"] for p in ro] == [True, False, True, False]
    assert any(r["kind"] == "rollout" and r["n"] == 4 for r in rep["table"])
    assert "rollouts: 4 responses from 1 file(s)" in capsys.readouterr().out
    # a run whose model never thinks (model.thinking: false): each response is compared after a
    # '</think>', so the answer rules decide, not the missing think block
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({"config": {"model": {"thinking": False}}}))
    rep = bench.main(["--benchmarks", "aime24", "--limit", "2", "--run", str(tmp_path / "run")])
    ro = [p for p in rep["pairs"] if p.source == "rollout"]
    assert [p.verdicts["deepscaler"] for p in ro] == [True, True, True, False]
    assert [p.verdicts["polaris"] for p in ro] == [True, True, True, False]
    assert "the answer rules only" in capsys.readouterr().out
