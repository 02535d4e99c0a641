"""Temperature search: the rules reproduce the authors' choices from the authors' own curves
(figure values from polaris-recipe.md §6.2, encoded here independently of the package), zones on
synthetic curves, and the sweep on the tiny model (resume, seed)."""
import json

import numpy as np
import pandas as pd
import pytest

from polaris_repro import temperature as T
from polaris_repro.config import load_config

# ---- the report's figure readings (percent) --------------------------------------------------
FIG3_T = [0.1, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6]
FIG3_DIV_QWEN3_4B = [28, 37.5, 42, 45, 47, 55, 63, 84]
FIG5_T = [0.1, 0.6, 0.8, 1.4, 1.45, 1.5, 1.55, 1.6, 1.7]
FIG5_ACC_QWEN3_4B = [70.0, 73.8, 74.2, 74.0, 73.2, 70.2, 67.8, 50.0, 32.7]
FIG8_T = [0.4, 0.6, 0.7, 0.8, 1.0, 1.2]
FIG8 = {
    "before": ([52, 55, 56, 53, 47, 11], [48, 58, 59, 62, 80, 91]),
    "after400": ([57, 61, 60, 58, 55, 38], [45, 50, 52, 55, 64, 83]),
    "after800": ([61, 64.5, 66, 63, 62, 54], [40, 44, 47, 50, 54, 70]),
}
TOL_STAGE1, TOL_LATER = 0.05 + 1e-9, 0.1 + 1e-9


def qwen3_4b_curve():
    """Figure 5 accuracy on its finer grid, Figure 3 diversity interpolated onto it."""
    div = np.interp(FIG5_T, FIG3_T, FIG3_DIV_QWEN3_4B)
    return pd.DataFrame({"temperature": FIG5_T, "accuracy": np.array(FIG5_ACC_QWEN3_4B) / 100,
                         "diversity": div / 100})


def r1_7b_curve(which):
    acc, div = FIG8[which]
    return pd.DataFrame({"temperature": FIG8_T, "accuracy": np.array(acc) / 100,
                         "diversity": np.array(div) / 100})


def test_stage1_qwen3_4b_picks_1_4():
    assert abs(T.choose_initial(qwen3_4b_curve()) - 1.4) <= TOL_STAGE1


def test_stage1_r1_distill_7b_picks_0_7():
    assert abs(T.choose_initial(r1_7b_curve("before")) - 0.7) <= TOL_STAGE1


def test_stage1_uses_the_configured_thresholds():
    # the noise-free curves (no per-problem results): exactly the authors' values
    t = T.choose_initial(qwen3_4b_curve(), **T.rule_settings(load_config("paper-4b")))
    assert t == pytest.approx(1.4)
    t7 = T.choose_initial(r1_7b_curve("before"), **T.rule_settings(load_config("paper-7b")))
    assert t7 == pytest.approx(0.7)


# ---- the rule under sampling noise (issue 13) ------------------------------------------------
def _rate(picks, ok):
    return float(np.mean([any(abs(p - o) <= 1e-6 for o in ok) for p in picks]))


def r1_7b_on_tier_grid():
    """Figure 8 ("before") read linearly onto the paper-7b tier's stage-1 grid inside the figure's
    range (0.4-1.2): the tier refines 0.6-0.8 in 0.05 steps, as Figure 5 refines 4B's around 1.4."""
    grid = [t for t in load_config("paper-7b")["temperature_search"]["wide_grid"] if 0.4 <= t <= 1.2]
    assert {0.65, 0.7, 0.75} <= set(grid), grid
    acc, div = FIG8["before"]
    return pd.DataFrame({"temperature": grid, "accuracy": np.interp(grid, FIG8_T, acc) / 100,
                         "diversity": np.interp(grid, FIG8_T, div) / 100})


def test_noise_free_tier_grid_still_picks_0_7():
    assert T.choose_initial(r1_7b_on_tier_grid(), **T.rule_settings(load_config("paper-7b"))) == pytest.approx(0.7)


@pytest.mark.parametrize("n,least", [(16, 0.80), ("tier", 0.85)])
@pytest.mark.parametrize("tier,curve,ok", [
    ("paper-4b", qwen3_4b_curve, (1.4, 1.45)),
    ("paper-7b", r1_7b_on_tier_grid, (0.65, 0.7, 0.75)),   # the 0.7 +- 0.05
])
def test_simulated_paper_sweeps_pick_the_authors_values(tier, curve, ok, n, least):
    """1,000 simulated paper-tier sweeps of the report's curve (30 problems x n samples, per-problem
    logit offsets, binomial noise): the rule with the tier's settings picks the authors' value in
    >= 80 % of them at the issue's 30 x 16 (the released search script's size; 79-85 % over
    simulation seeds, so the seeded figure is near the edge) and >= 85 % at the tier's n = 32
    (the report's mean@32; 86-92 % over seeds)."""
    cfg = load_config(tier)
    ts = cfg["temperature_search"]
    n = ts["n"] if n == "tier" else n
    c = curve()
    rates = T.simulate_sweeps(c, num_problems=30, n=n, sweeps=1000, seed=13)
    assert rates.shape == (1000, 30, len(c))
    # the simulation is centred on the curve: mean accuracy per temperature within 1 point
    assert np.allclose(rates.mean(axis=(0, 1)), c["accuracy"], atol=0.01)
    picks = T.choose_many(c, rates, **T.rule_settings(cfg))
    assert _rate(picks, ok) >= least, np.unique(picks, return_counts=True)


def test_7b_needs_the_refined_grid_at_16_samples():
    """On Figure 8's own 0.1-step grid the 7B call at 30 x 16 is 0.7 vs 0.8, 1.4 standard errors of a
    paired difference apart: ~70 %. That is why the paper-7b tier refines its grid around 0.7."""
    c = r1_7b_curve("before")
    rates = T.simulate_sweeps(c, num_problems=30, n=16, sweeps=1000, seed=13)
    coarse = _rate(T.choose_many(c, rates), (0.7,))
    assert 0.6 <= coarse < 0.8, coarse


def test_at_16_samples_the_noise_aware_rule_beats_the_fixed_threshold():
    """The issue's finding at the released script's 30 x 16: a fixed 1 % threshold on point
    estimates picks 1.4/1.45 on Figure 5 in ~58 % of sweeps; the paired-bootstrap bound in ~82 %."""
    c = qwen3_4b_curve()
    rates = T.simulate_sweeps(c, num_problems=30, n=16, sweeps=1000, seed=13)
    fixed = _rate(T.choose_many(c, rates, bootstrap=0), (1.4, 1.45))
    noise_aware = _rate(T.choose_many(c, rates), (1.4, 1.45))
    assert fixed <= 0.65 and noise_aware >= 0.80 and noise_aware - fixed >= 0.15, (fixed, noise_aware)


def test_drop_counts_only_when_the_sweep_shows_it():
    # 3 temperatures, 20 problems x 8 samples; T=1.2 is 10 % below the peak on average
    rng = np.random.default_rng(0)
    base = rng.integers(2, 7, size=20)
    def curve(counts_hi):
        cols = [base, base, counts_hi]
        return pd.DataFrame({"temperature": [0.8, 1.0, 1.2], "diversity": [0.3, 0.4, 0.5], "n": 8,
                             "accuracy": [c.sum() / 160 for c in cols],
                             "correct": [list(map(int, c)) for c in cols]})
    # the same problems 10 % worse at 1.2 in a consistent way (every problem -> a clear drop)
    consistent = np.maximum(base - (np.arange(20) % 2), 0)
    assert T.choose_initial(curve(consistent)) == pytest.approx(1.0)
    # the same mean drop, but concentrated on two problems that swing both ways: not shown
    noisy = base.copy()
    noisy[0], noisy[1] = max(base[0] - 6, 0), base[1]
    noisy[2] = min(base[2] + 2, 8)
    drop = 1 - noisy.sum() / base.sum()
    assert drop > 0.01
    assert T.choose_initial(curve(noisy)) == pytest.approx(1.2)
    # and without per-problem results the same point drop does count
    assert T.choose_initial(curve(noisy).drop(columns=["correct"])) == pytest.approx(1.0)


def test_choice_record_reports_its_uncertainty():
    c = qwen3_4b_curve()
    rates = T.simulate_sweeps(c, num_problems=30, n=16, sweeps=1, seed=2)[0]
    sweep = c.assign(n=16, correct=[list(map(int, np.round(rates[:, k] * 16))) for k in range(len(c))],
                     accuracy=rates.mean(0))
    rec = T.choose(sweep, bootstrap=300, resamples=100)
    dist = rec["choice_distribution"]
    assert set(dist) == {f"{t:g}" for t in c["temperature"]}
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-3)
    assert rec["choice_share"] == dist[f"{rec['temperature']:g}"]
    assert rec["clear_majority"] == (max(dist.values()) > 0.5)
    note = T.uncertainty_note(rec)
    assert ("clear majority" in note) and (("No temperature" in note) != rec["clear_majority"])
    ann = T.annotate(sweep, bootstrap=300)
    assert (ann["accuracy_lo"] <= ann["accuracy"]).all() and (ann["accuracy"] <= ann["accuracy_hi"]).all()
    assert ((ann["accuracy_hi"] - ann["accuracy_lo"]) > 0.02).all()   # 30 x 16: intervals of several points
    assert (ann["drop_bound"] <= ann["rel_drop"] + 1e-9).all()
    json.dumps(rec)
    # a split decision is reported as such
    split = dict(rec, choice_distribution={"1.4": 0.45, "1.45": 0.4, "0.8": 0.15}, clear_majority=False,
                 resamples=100)
    assert T.uncertainty_note(split).startswith("No temperature wins a clear majority")


def test_bad_per_problem_results_raise():
    c = pd.DataFrame({"temperature": [0.5, 1.0], "accuracy": [0.5, 0.4], "diversity": [0.4, 0.9],
                      "n": 4, "correct": [[1, 2], [1]]})
    with pytest.raises(ValueError, match="correct"):
        T.choose_initial(c)
    with pytest.raises(ValueError, match="correct counts"):
        T.choose_initial(c.assign(correct=[[1, 9], [1, 2]]))


def test_stage2_7b_after_400_steps_picks_1_0():
    target = 0.59  # the diversity stage 1 trained at (T = 0.7, before training)
    t = T.choose_matching(r1_7b_curve("after400"), target, step=0.05)
    assert abs(t - 1.0) <= TOL_LATER
    assert round(t / 0.05) * 0.05 == pytest.approx(t)  # on the 0.05 grid


def test_stage3_7b_after_800_steps_picks_1_1():
    after400 = r1_7b_curve("after400")
    target = float(np.interp(1.0, after400["temperature"], after400["diversity"]))  # stage 2 at T=1.0
    t = T.choose_matching(r1_7b_curve("after800"), target, step=0.05)
    assert abs(t - 1.1) <= TOL_LATER


def test_the_package_copy_of_the_figures_matches_these_readings():
    pd.testing.assert_frame_equal(T.reported_curve("Qwen3-4B fig5")[["temperature", "accuracy", "diversity"]],
                                  qwen3_4b_curve(), check_dtype=False)
    for key, name in (("before", "before"), ("after400", "after 400 steps"), ("after800", "after 800 steps")):
        got = T.reported_curve(f"R1-Distill-7B fig8 {name}")[["temperature", "accuracy", "diversity"]]
        pd.testing.assert_frame_equal(got, r1_7b_curve(key), check_dtype=False)


def test_curve_panel_draws_the_rule_and_the_authors_choice():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from polaris_repro import plots

    curve = T.reported_curve("Qwen3-4B fig5")
    rule = T.rule_settings(load_config("paper-4b"))
    zones = T.zones(curve, **rule)
    fig, (a, d) = plt.subplots(1, 2)
    assert plots.temperature_curve_panel(a, d, curve, zones, 1.4, 1.45, "Qwen3-4B") == (a, d)
    labels = [ln.get_label() for ln in a.get_lines()]
    assert "our rule: 1.4" in labels and "authors: 1.45" in labels and a.get_title() == "Qwen3-4B"
    assert (a.get_ylabel(), d.get_ylabel()) == ("accuracy (avg@n)", "distinct-4")
    assert len(a.patches) == len(curve)                 # one shaded span per temperature
    fig, (a, d) = plt.subplots(1, 2)
    plots.temperature_curve_panel(a, d, curve, zones, 1.4, None, "")
    assert not any(ln.get_label().startswith("authors") for ln in d.get_lines())
    plt.close("all")


# ---- zones on synthetic curves ----------------------------------------------------------------
def synth(acc, t=None, div=None):
    t = t or [0.2 * (i + 1) for i in range(len(acc))]
    div = div or list(np.linspace(0.3, 0.95, len(acc)))
    return pd.DataFrame({"temperature": t, "accuracy": acc, "diversity": div})


def test_zones_plateau_then_dip_then_collapse():
    c = synth([0.40, 0.60, 0.60, 0.598, 0.55, 0.50, 0.30, 0.10])
    z = T.zones(c, plateau_drop=0.01, collapse_drop=0.2)
    # 0.40 is 33 % below the peak -> Low; 0.6, 0.6, 0.598 robust; 0.55 (8 %) and 0.5 (17 %)
    # exploration; 0.3 collapse and everything after stays collapse
    assert z == ["Low Temperature", "Robust Generation", "Robust Generation", "Robust Generation",
                 "Controlled Exploration", "Controlled Exploration", "Performance Collapse",
                 "Performance Collapse"]
    assert T.choose_initial(c, plateau_drop=0.01, collapse_drop=0.2) == pytest.approx(0.8)


def test_zones_never_return_from_collapse_and_follow_input_order():
    c = synth([0.5, 0.5, 0.2, 0.5, 0.49])  # recovery after collapse is still collapse
    z = T.zones(c, plateau_drop=0.05, collapse_drop=0.3)
    assert z[2:] == ["Performance Collapse"] * 3
    shuffled = c.iloc[[3, 0, 4, 2, 1]]
    assert T.zones(shuffled, plateau_drop=0.05, collapse_drop=0.3) == [z[i] for i in [3, 0, 4, 2, 1]]


def test_wider_thresholds_move_the_choice_up():
    c = synth([0.50, 0.52, 0.51, 0.49, 0.45, 0.30])
    assert T.choose_initial(c, plateau_drop=0.01) == pytest.approx(0.4)
    assert T.choose_initial(c, plateau_drop=0.03) == pytest.approx(0.6)
    assert T.choose_initial(c, plateau_drop=0.1, collapse_drop=0.2) == pytest.approx(0.8)
    assert T.choose_initial(c, plateau_drop=0.15, collapse_drop=0.2) == pytest.approx(1.0)


def test_choice_prefers_diversity_within_the_robust_band():
    # diversity not monotone: the robust point with the highest diversity wins
    c = synth([0.5, 0.5, 0.5, 0.2], div=[0.3, 0.8, 0.6, 0.9])
    assert T.choose_initial(c, plateau_drop=0.01) == pytest.approx(0.4)


def test_matching_interpolates_onto_the_grid_and_reports_out_of_range():
    c = pd.DataFrame({"temperature": [0.5, 1.0], "accuracy": [0.5, 0.4], "diversity": [0.4, 0.9]})
    m = T.match_diversity(c, 0.62)  # crossing at 0.72 -> 0.7
    assert m["reached"] == "crossing" and m["exact"] == pytest.approx(0.72)
    assert m["temperature"] == pytest.approx(0.7)
    assert T.choose_matching(c, 0.95) == pytest.approx(1.0)
    assert T.match_diversity(c, 0.95)["reached"] == "above_range"
    assert T.choose_matching(c, 0.1) == pytest.approx(0.5)
    assert T.choose_matching(c, 0.62, step=0.1) == pytest.approx(0.7)


@pytest.mark.parametrize("bad", [
    {"temperature": [0.5, 0.5], "accuracy": [0.1, 0.2], "diversity": [0.1, 0.2]},
    {"temperature": [0.5, 0.6], "accuracy": [0.0, 0.0], "diversity": [0.1, 0.2]},
    {"temperature": [0.5, 0.6], "diversity": [0.1, 0.2]},
])
def test_bad_curves_raise_clear_errors(bad):
    with pytest.raises(ValueError, match="curve"):
        T.choose_initial(bad)


def test_choose_record_for_choice_json():
    rec = T.choose(qwen3_4b_curve())
    assert rec["choice_distribution"] is None and rec["clear_majority"] is None   # figure readings
    assert rec["temperature"] == pytest.approx(1.4)
    assert rec["diversity"] == pytest.approx(0.63) and rec["measured"]
    assert rec["zones"]["1.4"] == "Robust Generation" and rec["zones"]["1.45"] == "Controlled Exploration"
    json.dumps(rec)
    rec2 = T.choose(r1_7b_curve("after400"), 0.59)
    assert rec2["target_diversity"] == 0.59 and rec2["reached"] == "crossing"


# ---- sweep on the tiny model --------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    cfg = load_config("tiny")
    problems = T.load_problems(cfg, num_problems=3)
    return cfg, problems


def test_sweep_on_tiny_model_resumes_and_is_seed_deterministic(tiny, tmp_path):
    cfg, problems = tiny
    out = tmp_path / "sweep.jsonl"
    a = T.sweep(cfg, problems, [0.5, 1.5], n=3, max_new_tokens=24, out_file=out, seed=3)
    assert list(a["temperature"]) == [0.5, 1.5]
    for col in ("accuracy", "diversity", "truncation_rate"):
        assert a[col].between(0, 1).all(), col
    assert (a["mean_length"] > 0).all() and (a["mean_length"] <= 24).all()
    assert (a["num_samples"] == 9).all()
    assert all(len(c) == 3 and all(0 <= x <= 3 for x in c) for c in a["correct"])
    assert a["accuracy"].tolist() == pytest.approx([sum(c) / 9 for c in a["correct"]])
    assert len(out.read_text().splitlines()) == 2

    class Boom:
        def generate(self, *a, **k):
            raise AssertionError("finished temperatures must not be sampled again")

    b = T.sweep(cfg, problems, [1.5, 0.5], n=3, max_new_tokens=24, out_file=out, seed=3, sampler=Boom())
    pd.testing.assert_frame_equal(a, b)

    # a fresh file with the same seed gives the same numbers (the resumed temperature too)
    c = T.sweep(cfg, problems, [0.5, 1.5], n=3, max_new_tokens=24, out_file=tmp_path / "again.jsonl", seed=3)
    pd.testing.assert_frame_equal(a, c)
    # a record written before per-problem counts existed is re-scored from the cached samples
    legacy = [{k: v for k, v in json.loads(line).items() if k != "correct"} for line in out.read_text().splitlines()]
    out.write_text("".join(json.dumps(r) + "\n" for r in legacy))
    e = T.sweep(cfg, problems, [0.5, 1.5], n=3, max_new_tokens=24, out_file=out, seed=3)
    pd.testing.assert_frame_equal(a, e)
    # a changed setting is not served from the cache
    d = T.sweep(cfg, problems, [0.5], n=2, max_new_tokens=24, out_file=out, seed=3)
    assert d["num_samples"].iat[0] == 6
