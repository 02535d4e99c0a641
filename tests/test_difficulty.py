"""Difficulty: histogram shapes (incl. the report's Figure 1), the filter rules, drop-easy on hand-made
logs with known answers, and profiles on the tiny model (range, resume, seed)."""
import json

import numpy as np
import pandas as pd
import pytest

from polaris_repro import difficulty as D
from polaris_repro.artifacts import sha256_file
from polaris_repro.config import load_config
from polaris_repro.data import normalise_rows, synthetic_problems


# ---- histogram and shapes -----------------------------------------------------------------------
def test_histogram_counts_every_bin():
    prof = pd.DataFrame({"index": range(6), "num_correct": [0, 0, 4, 8, 8, 8], "k": 8})
    h = D.histogram(prof)
    assert list(h.index) == list(range(9)) and h.sum() == 6
    assert h[0] == 2 and h[4] == 1 and h[8] == 3
    with pytest.raises(ValueError, match="0..4"):
        D.histogram([0, 5], k=4)


def test_report_figure1_shapes():
    # the report's own readings (§3.2): R1-Distill-7B is J, 1.5B mirrored J
    assert D.shape_label([8900, 2600, 2100, 1850, 1850, 1900, 2550, 4500, 14200]) == "J"
    assert D.shape_label([13800, 3750, 3000, 2850, 2800, 2450, 2550, 2800, 6100]) == "mirrored-J"
    # Figure 2: filtered (no 8/8) is mirrored J, after RL is J
    assert D.shape_label([7350, 2500, 2200, 2350, 2450, 3000, 3450, 5050, 0]) == "mirrored-J"
    assert D.shape_label([5200, 2200, 1900, 1850, 1900, 2200, 2550, 3600, 8100]) == "J"


def test_other_shapes():
    assert D.shape_label([10, 2, 1, 2, 9]) == "U"
    assert D.shape_label([1, 3, 9, 3, 1]) == "balanced"
    assert D.shape_label([0, 0, 0]) == "empty"
    assert D.shape_label([29, 4, 2, 3, 1, 1, 0, 0, 0]) == "mirrored-J"  # smoke model at T=1.0


# ---- filter ---------------------------------------------------------------------------------------
@pytest.fixture
def rows():
    df = synthetic_problems(6, ["add1"], seed=0, start_index=100)
    return normalise_rows(df, "test")


def test_filter_rules_keep_ids_and_difficulty(rows, tmp_path):
    prof = pd.DataFrame({"index": [105, 104, 103, 102, 101, 100], "num_correct": [8, 7, 5, 4, 0, 8], "k": 8})
    kept = D.filter_problems(rows, prof, "drop_perfect")
    assert list(kept["index"]) == [101, 102, 103, 104]  # 100 and 105 were 8/8; order kept
    assert list(kept["num_correct"]) == [0, 4, 5, 7]
    assert kept["difficulty"].tolist() == [0, 0.5, 0.625, 0.875]
    assert [ei["index"] for ei in kept["extra_info"]] == [101, 102, 103, 104]
    assert kept["extra_info"].iat[2]["difficulty"] == 0.625
    assert list(D.filter_problems(rows, prof, "gt:4")["index"]) == [101, 102]  # drop > 4/8
    assert len(D.filter_problems(rows, prof, "none")) == 6
    rep = D.filter_report(rows, kept, "drop_perfect", 8)
    assert (rep["before"], rep["after"], rep["dropped"]) == (6, 4, 2)

    path = D.write_training_set(kept, tmp_path / "train.parquet")
    back = pd.read_parquet(path)
    assert list(back.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info",
                                  "difficulty", "num_correct"]
    assert [ei["index"] for ei in back["extra_info"]] == [101, 102, 103, 104]


def test_filter_errors(rows):
    prof = pd.DataFrame({"index": [100, 101], "num_correct": [1, 2], "k": 8})
    with pytest.raises(ValueError, match="not profiled"):
        D.filter_problems(rows, prof)
    full = pd.DataFrame({"index": rows["index"], "num_correct": 1, "k": 8})
    for bad in ("gt:9", "gt:x", "drop_easy"):
        with pytest.raises(ValueError, match="filter rule"):
            D.filter_problems(rows, full, bad)


# ---- drop-easy ------------------------------------------------------------------------------------
def _write_train(tmp_path, ids, difficulty=None):
    df = synthetic_problems(len(ids), ["add1"], seed=0)
    df["extra_info"] = [{"split": "train", "index": i} for i in ids]
    if difficulty is not None:
        df["difficulty"] = difficulty
    p = tmp_path / "stage1.parquet"
    df.drop(columns=["level", "solution"]).to_parquet(p, index=False)
    return p


def _write_log(tmp_path, lines):
    p = tmp_path / "accuracy_log.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return p


def test_drop_easy_threshold_is_strict_and_unseen_rows_stay(tmp_path):
    train = _write_train(tmp_path, [10, 11, 12, 13, 14])
    log = _write_log(tmp_path, [
        {"step": 1, "index": [10, 11, 12], "score": [1.0, 0.875, 1.0]},
        {"step": 2, "index": [10, 11, 12], "score": [1.0, 1.0, 0.8]},
        {"step": 3, "index": [13, 10], "score": [0.0, 0.7]},
    ])
    # means: 10 -> 0.9 (not > 0.9: kept), 11 -> 0.9375 (dropped), 12 -> 0.9 (kept), 13 -> 0, 14 unseen
    before = sha256_file(train)
    rep = D.drop_easy(train, log, tmp_path / "stage2.parquet", threshold=0.9)
    out = pd.read_parquet(tmp_path / "stage2.parquet")
    assert [ei["index"] for ei in out["extra_info"]] == [10, 12, 13, 14]
    assert (rep["before"], rep["after"], rep["dropped"], rep["never_seen"]) == (5, 4, 1, 1)
    assert rep["dropped_indices"] == [11]
    assert np.isnan(out["stage_accuracy"].iat[3]) and out["stage_seen"].tolist() == [3, 2, 1, 0]
    assert sha256_file(train) == before  # input untouched
    with pytest.raises(ValueError, match="never overwrites"):
        D.drop_easy(train, log, train)


def test_drop_easy_dedupes_replayed_lines_keeps_skipped_attempts(tmp_path):
    train = _write_train(tmp_path, [0, 1])
    log = _write_log(tmp_path, [
        {"step": 1, "index": [0, 1], "score": [0.0, 1.0], "skipped": True, "attempt": 0},
        {"step": 1, "index": [0, 1], "score": [1.0, 1.0], "skipped": False, "attempt": 1},
        {"step": 2, "index": [0, 1], "score": [0.0, 0.0], "attempt": 0},
        # a resumed run replays step 2: the replay supersedes the first line of that batch
        {"step": 2, "index": [0, 1], "score": [1.0, 1.0], "attempt": 0},
    ])
    rep = D.drop_easy(train, log, tmp_path / "out.parquet", threshold=0.9)
    # 0: (0 + 1 + 1) / 3 = 0.67 kept; 1: (1 + 1 + 1) / 3 = 1 dropped
    assert rep["duplicate_lines"] == 1 and rep["batches"] == 3 and rep["steps"] == 2
    assert rep["dropped_indices"] == [1]
    acc = D.prompt_accuracy(D.read_accuracy_log(log)).set_index("index")
    assert acc.at[0, "mean"] == pytest.approx(2 / 3) and acc.at[0, "seen"] == 3


def test_drop_easy_offline_difficulty_counts_as_one_observation(tmp_path):
    train = _write_train(tmp_path, [0, 1, 2], difficulty=[0.875, 0.0, 0.875])
    log = _write_log(tmp_path, [{"step": 1, "index": [0, 1], "score": [1.0, 1.0]}])
    plain = D.drop_easy(train, log, tmp_path / "a.parquet", threshold=0.9)
    assert plain["dropped_indices"] == [0, 1]
    seeded = D.drop_easy(train, log, tmp_path / "b.parquet", threshold=0.9, initial_difficulty="column")
    # 0: (0.875 + 1) / 2 = 0.9375 dropped; 1: (0 + 1) / 2 = 0.5 kept; 2 never seen: kept
    assert seeded["dropped_indices"] == [0]
    out = pd.read_parquet(tmp_path / "b.parquet")
    assert out["stage_accuracy"].iat[0] == pytest.approx(0.5)
    no_col = _write_train(tmp_path, [0, 1, 2])
    with pytest.raises(ValueError, match="difficulty"):
        D.drop_easy(no_col, log, tmp_path / "c.parquet", initial_difficulty="column")


def test_accuracy_log_errors_name_the_file(tmp_path):
    bad = _write_log(tmp_path, [{"step": 1, "index": [0, 1], "score": [1.0]}, {"step": 2, "index": [], "score": []}])
    with pytest.raises(ValueError, match="accuracy_log.jsonl: record 1"):
        D.read_accuracy_log(bad)
    bad.write_text(json.dumps({"step": 1, "index": [0], "score": [3.0]}) + "\n{}\n")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        D.read_accuracy_log(bad)


# ---- profiles on the tiny model -------------------------------------------------------------------
def test_profile_on_tiny_model_range_resume_seed(tmp_path):
    cfg = load_config("tiny")
    df = D.load_dataset_spec(cfg, "synthetic:add1,mul1", 4)
    out = tmp_path / "samples.jsonl"
    a = D.profile(cfg, df, k=3, temperature=0.8, max_new_tokens=24, out_file=out, seed=5)
    assert list(a["index"]) == list(df["index"])
    assert a["num_correct"].between(0, 3).all() and (a["k"] == 3).all()
    assert (a["max_length"] <= 24).all() and a["truncations"].between(0, 3).all()
    assert D.histogram(a).sum() == 4

    class Boom:
        def generate(self, *args, **kw):
            raise AssertionError("a finished profile must not sample again")

    b = D.profile(cfg, df, k=3, temperature=0.8, max_new_tokens=24, out_file=out, seed=5, sampler=Boom())
    pd.testing.assert_frame_equal(a, b)
    c = D.profile(cfg, df, k=3, temperature=0.8, max_new_tokens=24, out_file=tmp_path / "other.jsonl", seed=5)
    pd.testing.assert_frame_equal(a, c)


def test_profile_resumes_a_partial_sample_file(tmp_path):
    from polaris_repro.sampling import make_sampler

    cfg = load_config("tiny")
    df = D.load_dataset_spec(cfg, "synthetic:add1,mul1", 4)
    out = tmp_path / "samples.jsonl"
    full = D.profile(cfg, df, k=2, temperature=0.7, max_new_tokens=16, out_file=out, seed=1)
    # simulate a crash after the first chunk: keep one prompt's line, drop the cached profile
    out.write_text(out.read_text().splitlines()[0] + "\n")
    (tmp_path / "samples.jsonl.profile.json").unlink()
    sampler = make_sampler(cfg, progress=False)
    again = D.profile(cfg, df, k=2, temperature=0.7, max_new_tokens=16, out_file=out, seed=1, sampler=sampler)
    assert sampler.last_stats["resumed_prompts"] == 1
    assert len(out.read_text().splitlines()) == 4
    pd.testing.assert_frame_equal(full, again)


def test_plots_save_figure_and_table(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from polaris_repro import plots

    fig = plots.histogram_grid([{"counts": [3, 1, 4]}, {"counts": [1, 5, 9], "reported": True}])
    out = plots.save_figure(fig, tmp_path / "fig.png", {"bin": [0, 1, 2], "count": [3, 1, 4]}, close=True)
    assert out["png"].read_bytes()[:4] == b"\x89PNG"
    assert pd.read_csv(out["csv"])["count"].tolist() == [3, 1, 4]
    t = plots.save_table(pd.DataFrame({"a": [1.5], "b": ["x"]}), tmp_path / "tab")
    assert t["md"].read_text().splitlines()[0].split("|")[1].strip() == "a" and pd.read_csv(t["csv"]).shape == (1, 2)



# ---- the notebook's settings --------------------------------------------------------------------
def test_notebook_settings_fill_in_the_tier_defaults(tmp_path):
    cfg = load_config("tiny")
    dc = cfg["difficulty"]
    s = D.notebook_settings(cfg, run_dir=tmp_path)
    assert (s.k, s.temperature, s.max_new_tokens, s.num_problems, s.filter_rule) == \
        (dc["k"], dc["temperature"], dc["max_new_tokens"], dc["num_problems"], dc["filter"])
    assert s.pairs == list(zip(dc["models"], dc["datasets"])) and s.expect_shapes == dc["expect_shapes"]
    assert s.accuracy_log is None and s.trained_model is None
    assert s.table("tiny").iloc[0].to_dict() == {
        "tier": "tiny", "k": dc["k"], "temperature": dc["temperature"], "max_new_tokens": dc["max_new_tokens"],
        "problems per pair": dc["num_problems"], "filter": dc["filter"],
        "answer check": "boxed (evaluation-style, no </think> needed)"}
    # given parameters win; temperature 0 and expect_shapes [] are values, not "the tier's"
    s = D.notebook_settings(cfg, run_dir=tmp_path, k=2, temperature=0.0, max_new_tokens=9, num_problems=3,
                            filter_rule="gt:1", expect_shapes=[])
    assert (s.k, s.temperature, s.max_new_tokens, s.num_problems, s.filter_rule, s.expect_shapes) == \
        (2, 0.0, 9, 3, "gt:1", [])


def test_notebook_settings_pair_models_and_datasets(tmp_path):
    cfg = load_config("paper-7b")       # one dataset for two models: repeated
    s = D.notebook_settings(cfg, run_dir=tmp_path)
    assert s.pairs == [(m, "deepscaler") for m in cfg["difficulty"]["models"]] and s.num_problems is None
    s = D.notebook_settings(cfg, run_dir=tmp_path, models=["m"], datasets=["a", "b"])
    assert s.pairs == [("m", "a"), ("m", "b")]
    cfg = load_config("paper-7b", ["difficulty.models=[]", "difficulty.datasets=[]"])   # nothing configured:
    #                                                                                    the tier's model on "train"
    assert D.notebook_settings(cfg, run_dir=tmp_path).pairs == [(cfg["model"]["path"], "train")]
    with pytest.raises(ValueError, match="must pair up"):
        D.notebook_settings(cfg, run_dir=tmp_path, models=["a", "b"], datasets=["x", "y", "z"])


def test_notebook_settings_find_the_stage_log_and_the_final_model(tmp_path):
    cfg = load_config("tiny")
    first = cfg["training"]["stages"][0]["name"]
    log = tmp_path / "03_training" / first / "accuracy_log.jsonl"
    model = tmp_path / "final"
    outputs = {"final_model": {"path": str(model)}}
    s = D.notebook_settings(cfg, run_dir=tmp_path, outputs=outputs)
    assert s.accuracy_log is None and s.trained_model is None       # recorded, but not there yet
    log.parent.mkdir(parents=True)
    log.write_text("")
    model.mkdir()
    s = D.notebook_settings(cfg, run_dir=tmp_path, outputs=outputs)
    assert s.accuracy_log == log and s.trained_model == str(model)
    s = D.notebook_settings(cfg, run_dir=tmp_path, outputs=outputs, accuracy_log="none", after_model="none")
    assert s.accuracy_log is None and s.trained_model is None
    other = tmp_path / "other.jsonl"
    s = D.notebook_settings(cfg, run_dir=tmp_path, outputs=outputs, accuracy_log=str(other), after_model="x/ckpt")
    assert s.accuracy_log is None and s.trained_model == "x/ckpt"    # a given model is taken as given
    other.write_text("")
    assert D.notebook_settings(cfg, run_dir=tmp_path, accuracy_log=str(other)).accuracy_log == other
