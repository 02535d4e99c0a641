"""Evaluation (section 4): protocol vs the report, metrics and length studies on hand-made response
sets with known answers, resume, the official-layout reader, the results table."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polaris_repro import evaluation as ev
from polaris_repro import reference_results as ref
from polaris_repro.config import load_config, model_context
from polaris_repro.data import benchmark_path


# ---------------------------------------------------------------------------------------------
# helpers

def _frame(rows, benchmark="hand"):
    """rows: list of (ground_truth, [(text, num_tokens, finish_reason), ...])."""
    out = []
    for i, (gt, samples) in enumerate(rows):
        out.append({"data_source": benchmark, "prompt": [{"role": "user", "content": f"Q{i}"}],
                    "ability": "math", "reward_model": {"style": "rule", "ground_truth": gt},
                    "extra_info": {"split": "test", "index": i}, "index": i, "benchmark": benchmark,
                    "responses": [s[0] for s in samples], "num_tokens": [s[1] for s in samples],
                    "finish_reasons": [s[2] for s in samples]})
    return pd.DataFrame(out)


def B(x):
    return f"so the answer is \\boxed{{{x}}}."


# question 0: 4/4 correct; question 1: 1/4 correct, majority (2 votes) wrong, one without a box;
# question 2: 0/4, all truncated without a box
HAND = [
    ("5", [(B(5), 10, "stop"), (B("05"), 12, "stop"), (B(5), 14, "stop"), (B("5.0"), 16, "stop")]),
    ("12", [(B(12), 20, "stop"), (B(9), 22, "stop"), (B(9), 24, "stop"), ("I give up", 26, "stop")]),
    ("7", [("blah 7 blah", 30, "length"), ("x", 30, "length"), ("y", 30, "length"), ("z", 30, "length")]),
]


@pytest.fixture
def graded():
    return ev.grade_responses(_frame(HAND), mode="boxed", math_verify=False)


# ---------------------------------------------------------------------------------------------
# protocol

def test_paper_4b_protocol_matches_the_report_point_by_point():
    cfg = load_config("paper-4b")
    proto = ev.protocol(cfg)
    assert ev.protocol_mismatches(proto) == []
    # and explicitly, against reference §10.1 rather than our own table
    assert (proto["temperature"], proto["top_p"], proto["top_k"]) == (1.4, 1.0, 20)
    assert proto["max_new_tokens"] == 90_000
    assert proto["yarn"]["enabled"] and proto["yarn"]["factor"] == 1.5 and proto["yarn"]["attn_factor"] == 1.0
    assert proto["thinking"] is True and cfg["model"]["path"] == "Qwen/Qwen3-4B"
    assert proto["benchmarks"] == {"aime24": 32, "aime25": 32, "amc23": 8, "minerva": 4, "olympiad": 4}
    assert proto["num_problems"] is None
    assert proto["grading"] == {"answer_extraction": "boxed", "require_think": False}
    # the 90K evaluation fits the extended context
    assert model_context(cfg) >= cfg["training"]["max_prompt_length"] + proto["max_new_tokens"]
    assert proto["budgets"] == list(ref.BUDGETS) and proto["length_buckets"] == list(ref.LENGTH_BUCKET_EDGES)
    # the same-harness baselines are there by hub id, and map to the report's rows
    specs, notes = ev.default_models(cfg, "/nonexistent-run", include_trained=False)
    rows = {s.reported_as for s in specs}
    assert {"Qwen3-4B", "POLARIS-4B-Preview", "DeepSeek-R1-Distill-Qwen-7B", "POLARIS-7B-Preview"} <= rows
    assert len({s.path for s in specs}) == len(specs)          # Qwen3-4B base == baseline: once
    # the with/without-YaRN twin is the released POLARIS-4B when the run has no trained model
    specs, _ = ev.default_models(cfg, "/nonexistent-run", yarn_ablation=True)
    twin = specs[-1]
    assert (twin.path, twin.yarn, twin.role) == ("POLARIS-Project/Polaris-4B-Preview", False, "baseline-ablation")


def test_small_tiers_report_their_differences_from_the_protocol():
    proto = ev.protocol(load_config("tiny"))
    diff = "\n".join(ev.protocol_mismatches(proto))
    for key in ("temperature", "max_new_tokens", "yarn.enabled", "benchmarks.aime24", "num_problems"):
        assert key in diff
    with pytest.raises(ev.EvaluationError, match="benchmarks"):
        ev.protocol(load_config("tiny"), benchmarks={"aime24": 0})


def test_default_models_without_a_trained_model_say_so(tmp_path):
    specs, notes = ev.default_models(load_config("tiny"), tmp_path, yarn_ablation=True)
    assert [s.role for s in specs] == ["base", "base-ablation"]
    assert specs[0].yarn is False and specs[1].yarn is True and specs[1].label == "base+yarn"
    assert notes and "final_model" in notes[0]


# ---------------------------------------------------------------------------------------------
# metrics on a hand-made response set

def test_metrics_on_hand_made_responses(graded):
    assert graded["correct"].tolist() == [[True] * 4, [True, False, False, False], [False] * 4]
    m = ev.benchmark_metrics(graded, resamples=200)
    assert m["n"] == 4 and m["questions"] == 3 and m["responses"] == 12
    assert m["avg@n"] == pytest.approx((1 + 0.25 + 0) / 3)
    assert m["pass@k"]["1"] == pytest.approx(m["avg@n"])
    # unbiased pass@2: q1 has c=1 of n=4 -> 1 - C(3,2)/C(4,2) = 1/2
    assert m["pass@k"]["2"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert m["pass@k"]["4"] == pytest.approx(2 / 3)
    assert m["maj@n"] == pytest.approx(1 / 3)          # q1's majority answer 9 is wrong
    assert (m["solve_none"], m["solve_all"]) == (1, 1)
    assert m["truncation_rate"] == pytest.approx(4 / 12)
    assert m["missing_box_rate"] == pytest.approx(5 / 12)
    assert m["mean_length"] == pytest.approx(np.mean([10, 12, 14, 16, 20, 22, 24, 26, 30, 30, 30, 30]))
    lo, hi = m["avg@n_ci95"]
    assert lo <= m["avg@n"] <= hi and hi - lo > 0.2     # three questions: a wide interval
    assert m["avg@n_se"] == pytest.approx(np.std([1, 0.25, 0], ddof=1) / math.sqrt(3))
    q = ev.question_table(graded)
    assert q["correct"].tolist() == [4, 1, 0] and q["truncated"].tolist() == [0, 0, 4]
    assert q["majority_answer"].tolist()[:2] == ["5", "9"]
    assert json.loads(q["answers"].iloc[1]) == ["12", "9", "9", None]


def test_boxed_or_last_number_mode_and_disagreement_count(monkeypatch):
    from polaris_repro import grading

    df = _frame([("7", [("blah 7", 3, "stop"), (B(7), 4, "stop")])])
    g = ev.grade_responses(df, mode="boxed_or_last_number", math_verify=False)
    assert g["correct"].iloc[0] == [True, True] and g["has_box"].iloc[0] == [False, True]
    # math-verify's verdicts stubbed: it says wrong on the boxed answer and cannot decide the other
    verdicts = iter([None, False])
    monkeypatch.setattr(grading, "math_verify_correct", lambda text, gt, **kw: next(verdicts))
    g = ev.grade_responses(df, mode="boxed_or_last_number")
    m = ev.benchmark_metrics(g, resamples=50)
    assert m["grader_disagreements"] == 1 and m["ours_true_mv_false"] == 1
    assert m["math_verify_undecided"] == 1
    d = ev.disagreements([ev.ModelResult(ev.ModelSpec("m", "p", False), Path("."), {"hand": g},
                                         {"benchmarks": {}})])
    assert len(d) == 1 and d["ours"].iloc[0] and not d["math_verify"].iloc[0]


def test_math_verify_agrees_on_plain_answers(graded):
    g = ev.grade_responses(_frame(HAND[:2]), mode="boxed", math_verify=True)
    m = ev.benchmark_metrics(g, resamples=50)
    assert m["grader_disagreements"] == 0
    assert g["mv_correct"].iloc[0] == [True] * 4


# ---------------------------------------------------------------------------------------------
# length studies

def test_length_buckets_with_known_counts(graded):
    t = ev.length_buckets(graded, [15, 25])
    assert t["bucket"].tolist() == ["<15", "15-25", ">=25"]
    # lengths 10,12,14 | 16,20,22,24 | 26,30,30,30,30 ; correct: 3 | 1 (16) + 1 (20) | 0
    assert t["responses"].tolist() == [3, 4, 5]
    assert t["correct"].tolist() == [3, 2, 0]
    assert t["accuracy"].tolist() == pytest.approx([100, 50, 0])
    assert t["truncated"].tolist() == [0, 0, 4]
    assert ev.bucket_labels([16384, 32768]) == ["<16K", "16K-32K", ">=32K"]


def test_budget_curve_counts_longer_responses_as_wrong(graded):
    c = ev.budget_curve(graded, [11, 15, 21, 40], max_new_tokens=30)
    # budget 11: only the 10-token correct answer of q0 -> q0 1/4; 15: three of q0 -> 3/4;
    # 21: all of q0 and q1's 20-token correct -> (1 + 1/4)/3
    assert c["accuracy"].tolist() == pytest.approx([100 * 0.25 / 3, 100 * 0.75 / 3, 100 * 1.25 / 3,
                                                     100 * 1.25 / 3])
    assert c["lower_bound"].tolist() == [False, False, False, True]
    assert (np.diff(c["accuracy"]) >= 0).all()
    assert c["over_budget"].iloc[0] == pytest.approx(100 * 11 / 12)


def test_length_study_and_yarn_pairs(graded):
    proto = ev.protocol(load_config("tiny"))
    proto["length_buckets"], proto["budgets"] = [15, 25], [15, 30]
    a = ev.ModelResult(ev.ModelSpec("m", "p", False), Path("."), {"hand": graded}, {})
    b = ev.ModelResult(ev.ModelSpec("m+yarn", "p", True), Path("."), {"hand": graded}, {})
    st = ev.length_study([a, b], proto)
    assert set(st["buckets"]["model"]) == {"m", "m+yarn"}
    assert st["buckets"].groupby("model")["responses"].sum().tolist() == [12, 12]
    assert len(st["budget"]) == 4
    assert [(x.label, y.label) for x, y in ev.yarn_pairs([a, b])] == [("m", "m+yarn")]


# ---------------------------------------------------------------------------------------------
# evaluation with a fake sampler: resume

class _C:
    def __init__(self, text, num_tokens, finish_reason):
        self.text, self.num_tokens, self.finish_reason = text, num_tokens, finish_reason


class FakeSampler:
    """Answers 'What is a + b?' correctly on even samples, wrongly on odd ones; counts calls."""

    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on

    def generate(self, prompts, *, n, temperature, top_p=1.0, top_k=-1, max_new_tokens, seed=0,
                 out_file=None, desc=None):
        self.calls.append({"desc": desc, "n": n, "prompts": len(prompts), "out_file": out_file})
        if self.fail_on and self.fail_on in (desc or ""):
            raise KeyboardInterrupt("simulated interruption")
        out = []
        for p in prompts:
            text = p[-1]["content"] if isinstance(p, list) else p
            out.append([_C(B(len(text) if j % 2 else 1000 + j), 5 + j, "stop" if j < n - 1 else "length")
                        for j in range(n)])
        return out


def test_interrupted_evaluation_resumes_and_matches_a_clean_run(tmp_path):
    cfg = load_config("tiny")
    proto = ev.protocol(cfg, benchmarks={"synthetic": 2, "aime24": 3}, num_problems=3)
    spec = ev.ModelSpec("base", "builtin:tiny", False, "base")
    broken = FakeSampler(fail_on="aime24")
    with pytest.raises(KeyboardInterrupt):
        ev.evaluate_model(cfg, spec, tmp_path / "a", proto=proto, sampler_factory=lambda c, p: broken,
                          math_verify=False, log=None)
    assert (tmp_path / "a" / "base" / "synthetic.parquet").exists()
    assert not (tmp_path / "a" / "base" / "aime24.parquet").exists()
    again = FakeSampler()
    r = ev.evaluate_model(cfg, spec, tmp_path / "a", proto=proto, sampler_factory=lambda c, p: again,
                          math_verify=False, log=None)
    assert [c["desc"] for c in again.calls] == ["base/aime24"]          # synthetic not regenerated
    assert again.calls[0]["out_file"].endswith("aime24.samples.jsonl")   # the sampler's journal
    clean = ev.evaluate_model(cfg, spec, tmp_path / "b", proto=proto,
                              sampler_factory=lambda c, p: FakeSampler(), math_verify=False, log=None)
    for name in ("synthetic", "aime24"):
        a, b = r.metrics["benchmarks"][name], clean.metrics["benchmarks"][name]
        assert a == b
    # a finished evaluation loads no model at all
    none = FakeSampler()
    ev.evaluate_model(cfg, spec, tmp_path / "a", proto=proto, sampler_factory=lambda c, p: none,
                      math_verify=False, log=None)
    assert none.calls == []
    # the files: parquet per benchmark (official layout + extras), questions.csv, metrics.json
    d = tmp_path / "a" / "base"
    df = pd.read_parquet(d / "aime24.parquet")
    assert {"data_source", "prompt", "reward_model", "extra_info", "responses", "num_tokens",
            "finish_reasons", "correct", "pred"} <= set(df.columns)
    assert len(df) == 3 and all(len(x) == 3 for x in df["responses"])
    met = json.loads((d / "metrics.json").read_text())
    assert met["settings"]["temperature"] == proto["temperature"] and met["protocol"]["top_k"] == proto["top_k"]
    assert met["benchmarks"]["aime24"]["truncation_rate"] == pytest.approx(1 / 3)
    assert len(pd.read_csv(d / "questions.csv")) == 6
    loaded = ev.load_result(d)
    assert loaded.metrics["benchmarks"] == r.metrics["benchmarks"]


def test_resume_with_other_settings_is_refused(tmp_path):
    cfg = load_config("tiny")
    spec = ev.ModelSpec("base", "builtin:tiny", False, "base")
    proto = ev.protocol(cfg, benchmarks={"synthetic": 2}, num_problems=2)
    ev.evaluate_model(cfg, spec, tmp_path, proto=proto, sampler_factory=lambda c, p: FakeSampler(),
                      math_verify=False, log=None)
    with pytest.raises(ev.EvaluationError, match="temperature"):
        ev.evaluate_model(cfg, spec, tmp_path, proto={**proto, "temperature": 1.0},
                          sampler_factory=lambda c, p: FakeSampler(), math_verify=False, log=None)
    # another answer extraction does not regenerate: the stored responses are graded again
    regraded = ev.evaluate_model(cfg, spec, tmp_path, proto={**proto, "grading": {
        "answer_extraction": "boxed_or_last_number", "require_think": False}},
        sampler_factory=lambda c, p: pytest.fail("must not generate"), math_verify=False, log=None)
    assert json.loads((tmp_path / "base" / "settings.json").read_text())["grading"]["answer_extraction"] \
        == "boxed_or_last_number"
    assert regraded.metrics["benchmarks"]["synthetic"]["responses"] == 4
    with pytest.raises(ev.EvaluationError, match="responses per problem"):
        ev.evaluate_model(cfg, spec, tmp_path, proto={**proto, "benchmarks": {"synthetic": 4}},
                          sampler_factory=lambda c, p: FakeSampler(), math_verify=False, log=None)


# ---------------------------------------------------------------------------------------------
# the official POLARIS output layout

def _official_file(path, name, make_response):
    df = pd.read_parquet(benchmark_path(name))
    df = df.iloc[:12].copy()
    df["responses"] = [make_response(i, rm["ground_truth"]) for i, rm in enumerate(df["reward_model"])]
    df.to_parquet(path, index=False)
    return df


@pytest.mark.parametrize("name", ["aime24", "amc23", "minerva"])
def test_official_layout_grades_identically(tmp_path, name):
    from polaris_repro import grading

    def make(i, gt):
        first = grading.ground_truths(gt)[0]
        return [B(first), B("123456789"), f"no box, just {first}", B(first) if i % 3 else "truncated \\boxed{"]

    path = tmp_path / f"{name}-1.4-4-90000-20.parquet"
    raw = _official_file(path, name, make)
    g, m = ev.grade_file(path, mode="boxed", math_verify=False, resamples=100)
    assert g["benchmark"].iloc[0] == name
    expected = [[True, False, False, bool(i % 3)] for i in range(len(raw))]
    assert g["correct"].tolist() == expected
    # the same rows graded directly through grade_responses (our in-memory path) agree exactly
    direct = ev.grade_responses(raw.assign(benchmark=name), mode="boxed", math_verify=False)
    assert direct["correct"].tolist() == expected
    assert m["avg@n"] == pytest.approx(np.mean([sum(e) / 4 for e in expected]))
    assert m["truncation_rate"] is None            # the official layout has no finish reasons
    assert m["mean_length"] is None


def test_our_parquet_reads_back_through_the_official_reader(tmp_path):
    cfg = load_config("tiny")
    proto = ev.protocol(cfg, benchmarks={"aime24": 4}, num_problems=5)
    r = ev.evaluate_model(cfg, ev.ModelSpec("base", "builtin:tiny", False, "base"), tmp_path, proto=proto,
                          sampler_factory=lambda c, p: FakeSampler(), math_verify=False, log=None)
    g, m = ev.grade_file(tmp_path / "base" / "aime24.parquet", math_verify=False,
                         resamples=proto["bootstrap"], seed=proto["seed"])
    ours = dict(r.metrics["benchmarks"]["aime24"])
    assert ours.pop("skipped_overlong")                 # tiny: AIME prompts beyond 256 tokens skipped
    assert m == ours
    # and stripped to the official columns only, the verdicts are unchanged
    official = pd.read_parquet(tmp_path / "base" / "aime24.parquet")[
        ["data_source", "prompt", "ability", "reward_model", "extra_info", "responses"]]
    official.to_parquet(tmp_path / "off.parquet", index=False)
    g2, m2 = ev.grade_file(tmp_path / "off.parquet", math_verify=False)
    assert g2["correct"].tolist() == g["correct"].tolist() and m2["avg@n"] == m["avg@n"]


def test_overlong_prompts_are_skipped_and_listed():
    probs = pd.DataFrame({"index": [10, 11, 12, 13, 14], "x": list("abcde")})
    kept, skipped = ev.select_problems(probs, [100, 300, 150, 90, 500], 256, 48, 2)
    assert kept["index"].tolist() == [10, 12] and skipped == [11, 14]
    kept, _ = ev.select_problems(probs, [100, 300, 150, 90, 500], 256, 48, None)
    assert kept["index"].tolist() == [10, 12, 13]


def test_official_reader_errors_name_the_problem(tmp_path):
    df = pd.DataFrame({"data_source": ["x"], "prompt": [[{"role": "user", "content": "q"}]],
                       "reward_model": [{"ground_truth": "1", "style": "rule"}],
                       "extra_info": [{"index": 0}]})
    df.to_parquet(tmp_path / "no_resp.parquet")
    with pytest.raises(ev.EvaluationError, match="responses"):
        ev.read_official(tmp_path / "no_resp.parquet")
    df.drop(columns=["reward_model"]).assign(responses=[["a"]]).to_parquet(tmp_path / "no_gt.parquet")
    with pytest.raises(ev.EvaluationError, match="reward_model"):
        ev.read_official(tmp_path / "no_gt.parquet")


# ---------------------------------------------------------------------------------------------
# results table

def test_results_table_paired_difference_and_files(tmp_path):
    base_rows = [("1", [(B(1), 5, "stop"), (B(2), 5, "stop")]), ("3", [(B(0), 5, "stop"), (B(0), 5, "stop")]),
                 ("4", [(B(4), 5, "stop"), (B(4), 5, "stop")]), ("6", [(B(0), 5, "stop"), (B(6), 5, "stop")])]
    trained_rows = [("1", [(B(1), 5, "stop"), (B(1), 5, "stop")]), ("3", [(B(3), 5, "stop"), (B(0), 5, "stop")]),
                    ("4", [(B(4), 5, "stop"), (B(4), 5, "stop")]), ("6", [(B(6), 5, "stop"), (B(6), 5, "stop")])]
    proto = ev.protocol(load_config("paper-4b"))
    results = []
    for label, role, rows, row in (("base", "base", base_rows, "Qwen3-4B"),
                                   ("trained", "trained", trained_rows, "POLARIS-4B-Preview")):
        g = ev.grade_responses(_frame(rows, "aime24"), math_verify=False)
        out = tmp_path / label
        out.mkdir()
        results.append(ev.summarise_model(ev.ModelSpec(label, label, True, role, row), out, {"aime24": g},
                                          {**proto, "bootstrap": 200}))
    t = ev.results_table(results, resamples=200)
    tr = t[t.model == "trained"].iloc[0]
    # per-question accuracies: base .5 0 1 .5 ; trained 1 .5 1 1 -> mean difference 37.5 points
    assert tr["avg"] == pytest.approx(87.5) and t[t.model == "base"]["avg"].iloc[0] == pytest.approx(50)
    assert tr["diff_vs_base"] == pytest.approx(37.5) and tr["paired_questions"] == 4
    assert tr["diff_ci_low"] <= 37.5 <= tr["diff_ci_high"]
    assert tr["diff_se"] == pytest.approx(100 * np.std([.5, .5, 0, .5], ddof=1) / 2)
    assert tr["reported"] == 81.2 and t[t.model == "base"]["reported"].iloc[0] == 73.8
    paths = ev.write_results(t, proto, tmp_path)
    md = paths["md"].read_text()
    assert "87.5" in md and "+37.5" in md and "POLARIS-4B-Preview | 81.2 | 79.4" in md
    assert "reported by the authors" in md and "Matches the report's protocol" in md
    assert paths["png"].stat().st_size > 1000 and len(pd.read_csv(paths["csv"])) == 2
    s = ev.summary(results, t, proto)
    assert s["paired_vs_base"]["trained"]["aime24"]["diff_points"] == pytest.approx(37.5)


def test_reference_numbers_are_the_reports():
    t = ref.main_table()
    assert t.loc["POLARIS-4B-Preview"].tolist() == [81.2, 79.4, 44.0, 69.1, 94.8]
    assert t.loc["Qwen3-4B", "aime25"] == 65.6
    # the gains over the base model stated in reference §11.1
    gains = (t.loc["POLARIS-4B-Preview"] - t.loc["Qwen3-4B"]).round(1).tolist()
    assert gains == [7.4, 13.8, 0.4, 6.9, 7.6]
    gains7 = (t.loc["POLARIS-7B-Preview"] - t.loc["DeepSeek-R1-Distill-Qwen-7B"]).round(1).tolist()
    assert gains7 == [17.6, 12.9, 3.5, 8.6, 7.1]
    assert ref.LENGTH_BUCKETS["with YaRN"][">32K"] == 51.6
    assert ref.budget_curves().query("budget == 98304 and setting == 'with YaRN'")["accuracy"].tolist() == [81.2, 79.4]
    assert ref.row_for("POLARIS-Project/Polaris-4B-Preview") == "POLARIS-4B-Preview"
    assert ref.row_for("qwen3-4b") == "Qwen3-4B" and ref.row_for("builtin:tiny") is None


# ---------------------------------------------------------------------------------------------
# the real transformers sampler on the tiny model (CPU): YaRN via the sampler, journal resume

def test_real_sampler_yarn_and_journal_resume_on_cpu(tmp_path):
    from polaris_repro.sampling import make_sampler

    cfg = load_config("tiny")
    proto = ev.protocol(cfg, benchmarks={"synthetic": 2}, num_problems=3, max_new_tokens=24)
    made = []

    def factory(c, path):
        made.append(make_sampler(c, model=path, progress=False))
        return made[-1]

    spec = ev.ModelSpec("base+yarn", "builtin:tiny", True, "base")
    r = ev.evaluate_model(cfg, spec, tmp_path, proto=proto, sampler_factory=factory, log=None,
                          math_verify=False)
    settings = json.loads((tmp_path / "base+yarn" / "settings.json").read_text())
    rope = settings["context_extension"]["rope_scaling"]
    assert rope["rope_type"] == "yarn" and rope["factor"] == 1.5 and rope["original_max_position_embeddings"] == 256
    assert made[0].model_config["max_position_embeddings"] == 384
    df = r.frames["synthetic"]
    assert all(len(x) == 2 for x in df["responses"]) and all(0 < t <= 24 for x in df["num_tokens"] for t in x)
    # the parquet lost (e.g. killed between the journal and the parquet): the journal has every
    # prompt, so nothing is generated again and the responses are the same
    (tmp_path / "base+yarn" / "synthetic.parquet").unlink()
    r2 = ev.evaluate_model(cfg, spec, tmp_path, proto=proto, sampler_factory=factory, log=None,
                           math_verify=False)
    assert made[1].last_stats["resumed_prompts"] == 3 and made[1].last_stats["completions"] == 0
    assert r2.frames["synthetic"]["responses"].tolist() == df["responses"].tolist()
