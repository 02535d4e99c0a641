"""The tiny tier through real verl on CPU: three stages, a crash and resume, drop-easy between
stages, every stage starting from the previous stage's merged model.

Five verl launches (~45 s each on an idle 2-core machine) plus three merges. The verl plugin
(polaris_repro.verl_cpu) provides the CPU platform and the hf rollout.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polaris_repro.artifacts import Manifest, read_jsonl
from polaris_repro.config import load_config
from polaris_repro.training import stages as S, verl_config as vc

pytestmark = pytest.mark.slow

STEPS_STAGE1 = 5          # stage 1 runs longer than tiny.yaml's 2 steps so the kill lands mid-stage
LAUNCH_TIMEOUT = 600


def _weights(folder):
    from safetensors.torch import load_file

    out = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def _check_accuracy_log(path: Path, final_step: int) -> list[dict]:
    recs = read_jsonl(path)
    batches = [r["step"] for r in recs]
    assert batches == list(range(1, len(recs) + 1)), f"batch numbers not consecutive: {batches}"
    trained = [r["global_step"] for r in recs if not r["skipped"]]
    # exactly one trained batch per optimiser step, none lost, none duplicated
    assert trained == list(range(1, final_step + 1)), trained
    for r in recs:
        assert len(r["index"]) == len(r["score"]) == 4
        assert all(s in (0.0, 0.25, 0.5, 0.75, 1.0) for s in r["score"])
    return recs


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = load_config("tiny", ["difficulty.drop_easy_threshold=0.5"])
    run_dir = tmp_path_factory.mktemp("tiny-run")
    Manifest(run_dir, cfg)
    return cfg, run_dir, {}


def test_stage1_killed_mid_stage_then_resumed(run):
    cfg, run_dir, info = run
    sdir = S.stage_dir(cfg, run_dir, 0)
    extra = [f"trainer.total_training_steps={STEPS_STAGE1}"]
    errors = []

    def first():
        try:
            S.run_stage(cfg, run_dir, 0, timeout=LAUNCH_TIMEOUT, extra_overrides=extra, log=lambda s: None)
        except S.LaunchFailed as e:
            errors.append(e)

    t0 = time.time()
    th = threading.Thread(target=first)
    th.start()
    # kill once step 1 is checkpointed and a later step has started logging (mid-step), if caught
    while time.time() - t0 < LAUNCH_TIMEOUT and th.is_alive():
        step = S.latest_step(sdir / "checkpoints")
        if step is not None and step >= 1:
            logged = read_jsonl(sdir / "accuracy_log.jsonl")
            if any(r["global_step"] > step for r in logged) or time.time() - t0 > LAUNCH_TIMEOUT / 2:
                break
        time.sleep(0.05)
    killed_at = S.latest_step(sdir / "checkpoints")
    assert killed_at is not None and killed_at < STEPS_STAGE1, "the stage ended before it could be killed"
    assert S.abort_stage(sdir), "nothing to kill"
    th.join(timeout=120)
    assert errors and "exited with" in str(errors[0])
    assert S.read_stage(sdir)["status"] == "failed"
    assert S.leftover_processes(sdir) == [], "processes left after the kill"
    before_resume = read_jsonl(sdir / "accuracy_log.jsonl")

    rec = S.run_stage(cfg, run_dir, 0, timeout=LAUNCH_TIMEOUT, extra_overrides=extra, log=lambda s: None)
    info["stage1_s"] = time.time() - t0
    assert rec["status"] == "done" and rec["final_step"] == STEPS_STAGE1 and rec["launches"] == 2
    assert S.leftover_processes(sdir) == []
    log2 = (sdir / "logs" / "launch-002.log").read_text()
    resumed = int(log2.split("[polaris] resumed at step ")[1].split(";")[0])
    removed = int(log2.split("accuracy log: ")[1].split(" line")[0])
    assert resumed >= killed_at >= 1
    # the lines of the step the crash interrupted were removed, the earlier ones kept as they were
    assert removed == sum(1 for r in before_resume if r["global_step"] > resumed)
    recs = _check_accuracy_log(sdir / "accuracy_log.jsonl", STEPS_STAGE1)
    kept = [r for r in before_resume if r["global_step"] <= resumed]
    assert recs[:len(kept)] == kept
    info["removed_on_resume"] = removed
    # per-step metrics: both launches merged, every step once
    m = S.stage_metrics(sdir)
    steps = m["step"].tolist()
    # every step once; the resumed step's line may be missing if the kill fell between its
    # checkpoint and verl's metrics line (that step is not redone)
    assert len(steps) == len(set(steps)) and set(range(1, STEPS_STAGE1 + 1)) - {resumed} <= set(steps)
    for col in ("critic/score/mean", "polaris/informative_frac", "polaris/solve_none_frac",
                "response_length/mean"):
        assert col in m.columns and m[col].notna().all(), col
    # entropy: from the old-log-prob pass, or (training.old_log_prob: rollout, verl's bypass mode,
    # which skips that pass) from the update pass
    ent = "actor/entropy" if "actor/entropy" in m.columns else "actor/entropy_loss"
    assert ent in m.columns and m[ent].notna().all() and (m[ent] > 0).all(), list(m.columns)
    info["stage1_reward"] = m["polaris/score_pre_substitution"].tolist()


def test_an_uninterrupted_rerun_samples_what_the_killed_and_resumed_run_did(run, tmp_path):
    """Rollouts are seeded per (step, prompt, occurrence) and the POLARIS state travels with the
    checkpoint, so the same stage run again without a crash logs the same batches, prompts and
    per-prompt accuracies as the run that was killed and resumed."""
    cfg, run_dir, info = run
    sdir = S.stage_dir(cfg, run_dir, 0)
    assert S.read_stage(sdir).get("status") == "done", "stage 1 did not finish"
    ref_dir = tmp_path / "reference"
    Manifest(ref_dir, cfg)
    rec = S.run_stage(cfg, ref_dir, 0, timeout=LAUNCH_TIMEOUT,
                      extra_overrides=[f"trainer.total_training_steps={STEPS_STAGE1}"], log=lambda s: None)
    assert rec["status"] == "done" and rec["launches"] == 1
    key = lambda recs: [(r["step"], r["global_step"], r["skipped"], r["index"], r["score"]) for r in recs]
    ref = key(read_jsonl(S.stage_dir(cfg, ref_dir, 0) / "accuracy_log.jsonl"))
    assert ref == key(read_jsonl(sdir / "accuracy_log.jsonl"))


def test_stages_2_and_3_from_merged_models_with_drop_easy(run):
    cfg, run_dir, info = run
    s1, s2, s3 = (S.stage_dir(cfg, run_dir, i) for i in range(3))
    assert S.read_stage(s1).get("status") == "done", "stage 1 did not finish"
    t0 = time.time()
    # stage 2 with rollout rescue on, stage 3 with the released substitution (both real code paths)
    r2 = S.run_stage(cfg, run_dir, 1, rescue=True, timeout=LAUNCH_TIMEOUT, log=lambda s: None)
    r3 = S.run_stage(cfg, run_dir, 2, substitution="released", timeout=LAUNCH_TIMEOUT, log=lambda s: None)
    info["stages23_s"] = time.time() - t0
    assert r2["status"] == r3["status"] == "done"
    plan2, plan3 = S.read_stage(s2)["plan"], S.read_stage(s3)["plan"]
    # each stage starts from the previous stage's merged checkpoint
    assert plan2["model_path"] == str(s1 / S.MERGED) and plan3["model_path"] == str(s2 / S.MERGED)
    assert json.loads((s1 / S.MERGED / "polaris_merge.json").read_text())["step"] == STEPS_STAGE1
    w0 = _weights(s1 / S.MERGED)
    base = _weights(S.read_stage(s1)["plan"]["model_path"])
    assert max(float((w0[k] - base[k]).abs().max()) for k in base) > 0, "stage 1 did not change the weights"
    # the accuracy log of stage s feeds drop-easy for stage s+1: recompute it independently
    for prev, nxt in ((s1, s2), (s2, s3)):
        recs = read_jsonl(prev / "accuracy_log.jsonl")
        sums: dict = {}
        for r in recs:
            for i, s in zip(r["index"], r["score"]):
                sums.setdefault(i, []).append(s)
        easy = {i for i, v in sums.items() if np.mean(v) > 0.5}
        before = pd.read_parquet(prev / "train.parquet")
        after = pd.read_parquet(nxt / "train.parquet")
        idx_after = {int(e["index"]) for e in after["extra_info"]}
        idx_before = {int(e["index"]) for e in before["extra_info"]}
        assert idx_after == idx_before - easy
        rep = S.read_stage(nxt)["plan"]["data_report"]
        assert rep["dropped"] == len(easy) and rep["seen"] == len(sums)
    # each stage draws its own data order and rollouts (issue 17: stage 3 used to replay stage 2)
    ov2, ov3 = (vc.overrides_to_dict(S.read_stage(sd)["overrides"]) for sd in (s2, s3))
    for key in ("data.seed", "actor_rollout_ref.rollout.seed"):
        assert ov2[key] != ov3[key], key
    first2, first3 = (read_jsonl(sd / "accuracy_log.jsonl")[0] for sd in (s2, s3))
    assert (first2["index"], first2["score"]) != (first3["index"], first3["score"])
    m2, m3 = S.stage_metrics(s2), S.stage_metrics(s3)
    assert "polaris/rescue_buffer" in m2.columns
    assert len(m3) == 1 and "polaris/substituted" in m3.columns
    assert _check_accuracy_log(s3 / "accuracy_log.jsonl", 1)
    # the run's final model is the last stage's merged model
    final = Manifest(run_dir).data["outputs"]
    S.run_stages(cfg, run_dir)   # everything done: skips all three, records the outputs
    final = Manifest(run_dir).data["outputs"]["final_model"]
    assert final["path"] == str(s3 / S.MERGED) and (Path(final["path"]) / "config.json").exists()
    for sd in (s1, s2, s3):
        assert S.leftover_processes(sd) == []
    allm = S.all_metrics(cfg, run_dir)
    assert allm["global_step"].is_monotonic_increasing and allm["stage"].iloc[-1] == "stage3"
    print(f"\n[e2e tiny] stage 1 (with kill + resume, {info.get('removed_on_resume')} log line(s) of the "
          f"interrupted step removed): {info.get('stage1_s', 0):.0f} s; stages 2+3: "
          f"{info['stages23_s']:.0f} s; batch reward per step: "
          f"{[round(x, 3) for x in allm['polaris/score_pre_substitution']]}")
