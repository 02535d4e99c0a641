"""polaris-repro plan: the throughput model against the published figures and its arithmetic."""
import math

import pandas as pd
import pytest

from polaris_repro import plan as P
from polaris_repro.cli import main
from polaris_repro.config import load_config


def test_calibration_against_every_reported_figure():
    cal = P.calibration()
    assert len(cal) == len(P.REPORTED) == 6
    assert {"figure", "reported s", "estimated s", "relative error", "source"} <= set(cal.columns)
    err = cal.set_index("figure")["relative error"]
    # the 4B figure fitted nothing: an out-of-sample check of the model (0.33 h/step on 32 H800)
    four = cal[cal["figure"].str.startswith("4B")].iloc[0]
    assert four["constant fitted on it"].startswith("nothing")
    assert abs(four["relative error"]) < 0.25
    assert four["reported s"] == pytest.approx(0.33 * 3600)
    # the others each fitted one constant: reproduced closely
    fitted = cal[~cal["constant fitted on it"].str.startswith("nothing")]
    assert len(fitted) == 4 and (fitted["relative error"].abs() < 0.02).all(), fitted
    # the tiny tier extrapolates the smoke tier's per-step overhead: within a factor of 2.5
    tiny = cal[cal["figure"].str.startswith("tiny")].iloc[0]
    assert 0.4 < tiny["estimated s"] / tiny["reported s"] < 2.5
    assert 0.1 < P.MFU < 0.6
    assert P.DECODE_S_PER_LAYER == pytest.approx(300 / (15360 * 28))


def test_token_arithmetic_per_stage():
    e = P.estimate("paper-4b")
    assert list(e["stage"]) == ["stage1", "stage2", "stage3", "total"]
    s1 = e.iloc[0]
    mean, clip = P.expected_response(16000, 39936)
    assert s1["tokens generated/step"] == pytest.approx(128 * 8 * mean)
    assert s1["update tokens/step"] == pytest.approx(128 * 8 * (256 + mean))
    assert s1["steps"] == 450 and e.iloc[-1]["steps"] == 700
    assert e.iloc[-1]["hours"] == pytest.approx(e.iloc[:3]["hours"].sum())
    assert e.iloc[-1]["GPU hours"] == pytest.approx(32 * e.iloc[-1]["hours"])
    assert s1["s/step"] == pytest.approx(s1["gen s/step"] + s1["update s/step"] + s1["val s/step"])
    # 10 days of RL reported for ~700 steps: the estimate is within a few days of it
    assert 7 < e.iloc[-1]["hours"] / 24 < 14


def test_expected_response_model():
    mean, clip = P.expected_response(9000, 15360)
    assert 7000 < mean < 9000 and 0.1 < clip < 0.25          # report Fig. 14: 7.5-9.4K, 3-23 % clipped
    assert P.expected_response(100, 10)[0] < 10
    assert P.expected_response(10, 1_000_000)[0] == pytest.approx(10)


def test_more_gpus_cost_less_wall_clock_and_smaller_batches_less_per_step():
    t32 = P.estimate("paper-4b", gpus=32, gpu_type="H800").iloc[-1]["hours"]
    t8 = P.estimate("paper-4b", gpus=8, gpu_type="H800").iloc[-1]["hours"]
    assert t8 > t32
    slow = P.estimate("paper-4b", gpus=32, gpu_type="A100").iloc[-1]["hours"]
    assert slow > t32
    b64 = P.estimate(load_config("paper-4b", ["training.train_batch_size=64", "training.ppo_mini_batch_size=64"]))
    assert b64.iloc[0]["tokens generated/step"] == pytest.approx(
        P.estimate("paper-4b").iloc[0]["tokens generated/step"] / 2)


def test_alternatives_price_batch_64_and_single_gpu():
    alt = P.alternatives("paper-4b")
    labels = list(alt["configuration"])
    assert labels[0] == "paper-4b as configured"
    assert any("batch 64" in l for l in labels) and any(l.startswith("single-gpu") for l in labels)
    single = alt[alt["configuration"].str.startswith("single-gpu tier (")].iloc[0]
    assert single["hardware"] == "1 x H800" and single["GPU hours"] < alt.iloc[0]["GPU hours"] / 50


def test_stages_without_steps_give_per_step_costs_only():
    e = P.estimate("paper-1.7b", gpus=2, gpu_type="A100")
    assert e.iloc[0]["s/step"] == pytest.approx(3600, rel=0.02)     # issue #4's 1 h per step
    assert math.isnan(e.iloc[-1]["hours"])


def test_cpu_tier_uses_the_measured_rates():
    e = P.estimate("smoke")
    assert e.iloc[0]["s/step"] == pytest.approx(P.CPU_SMOKE_STEP_S, rel=0.01)
    assert e.iloc[-1]["steps"] == 13
    # ~13 GRPO steps of ~30 s plus 3 launches and merges: the 9.8 min of training of the run the
    # constants come from (seed 10, docs/results.md), less its two temperature searches (~1.1 min)
    assert 7 < e.iloc[-1]["hours"] * 60 < 12
    with pytest.raises(ValueError, match="CPU tier"):
        P.estimate("smoke", gpu_type="H100")


def test_cli(capsys):
    assert main(["plan", "--tier", "paper-4b"]) == 0
    out = capsys.readouterr().out
    for text in ("plan --tier paper-4b on 32 x H800", "calibration", "+", "single-gpu tier", "batch 64",
                 "constants:"):
        assert text in out, text
    assert main(["plan", "--tier", "single-gpu", "--gpus", "1", "--gpu-type", "A100"]) == 0
    assert "1 x A100" in capsys.readouterr().out
    assert main(["plan", "--tier", "paper-4b", "--gpu-type", "V100"]) == 2
    assert "unknown GPU type" in capsys.readouterr().err


def test_plan_table_for_the_notebook():
    t = P.plan_table("tiny")
    assert isinstance(t, pd.DataFrame) and t.iloc[-1]["stage"] == "total"
    assert t.attrs["tier"] == "tiny"


def test_cluster_guide_shows_the_current_plan_output():
    """The cluster guide (docs/cluster.md) quotes `polaris-repro plan` for paper-4b and single-gpu: regenerate
    it (python -m polaris_repro.plan --tier T) when the model, its constants or the tiers change."""
    from polaris_repro.artifacts import REPO_ROOT

    guide = (REPO_ROOT / "docs" / "cluster.md").read_text()
    assert P.format_plan(P.plan("paper-4b")) in guide
    single = P.format_plan(P.plan("single-gpu")).split("\n\ncalibration")[0]
    assert single in guide
