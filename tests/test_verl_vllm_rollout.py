"""verl's vLLM rollout (``rollout.name=vllm``, vLLM 0.24.0: the cluster's version) in training, on CPU.

Runs ``polaris-repro train --tier tiny --stage 1`` inside the cluster's environment on a CPU
(:mod:`polaris_repro.sampling.vllm_cpu_env`: envs/cluster.txt with vllm-cpu 0.24.0 for vllm) with
verl's async vLLM server, agent loop and bucketed weight sync (shared-memory transfer: no CUDA IPC
on a CPU), three steps, one launch. Nothing in it depends on what the policy samples:

* **weight sync, with a control in the same run.** ``entropy_coeff`` > 0 makes every update change
  the weights whatever the advantages are (Adam's step is ~lr per weight), and lr 5e-3 makes the
  change large. vLLM's log-probs of
  the tokens it sampled are compared with the actor's recomputed ones at every step
  (``training/rollout_probs_diff_max``, fp32 on both sides): they agree to < 1e-4 after every
  sync, and the weights of step 2's update are received but dropped (``POLARIS_VLLM_SKIP_SYNCS=3``,
  the vLLM plugin's negative control), so step 3 samples from step 1's weights and the two differ
  by far more: the comparison sees a missed sync.
* **the POLARIS hooks on vLLM's rollouts.** The training set interleaves solvable problems with
  problems whose ground truth (200 digits) no 40-token response can contain, unshuffled, so every
  batch of 4 holds 2 groups certain to be solve-none: the accuracy log records each batch with those
  at 0, and each step either substitutes both (2 informative groups) or skips the batch and
  resamples (at most 1), as the skip rule says.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from polaris_repro.data import synthetic_problems
from polaris_repro.models import resolve_model_path
from polaris_repro.sampling import vllm_cpu_env
from polaris_repro.training.mechanisms import skip_batch
from polaris_repro.verl_cpu.vllm_plugin import SKIP_SYNCS_ENV

pytestmark = pytest.mark.slow

IMPOSSIBLE = "9" * 200        # no 40-token response of the tiny model's tokenizer can hold it
SKIPPED_VERSION = 3           # weights version 1: before step 1; version 3: after step 2's update
STEPS = 3


def _training_data(path: Path) -> Path:
    rows = synthetic_problems(8, ["add1"], seed=11, pool="dev").reset_index(drop=True)
    out = []
    for i, row in rows.iterrows():
        row = row.copy()
        if i % 2:   # every other problem: an answer no response reaches
            row["reward_model"] = {**dict(row["reward_model"]), "ground_truth": IMPOSSIBLE}
            row["solution"] = IMPOSSIBLE
        out.append(row)
    pd.DataFrame(out).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def venv() -> Path:
    return vllm_cpu_env.ensure_venv()


@pytest.fixture(scope="module")
def vllm_run(venv, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("vllm_rollout")
    resolve_model_path("builtin:tiny")        # built here, in .venv, not inside the launch
    data = _training_data(tmp / "train.parquet")
    run_dir = tmp / "run"
    cmd = [str(venv / "bin" / "python"), "-m", "polaris_repro.cli", "train", "--tier", "tiny",
           "--stage", "1", "--run", str(run_dir), "--skip-doctor",
           "-o", "training.rollout_name=vllm", "-o", "training.old_log_prob=recompute",
           "-o", f"data.train.path={data}", "-o", "training.shuffle=false",
           "-o", "training.lr=5e-3", "-o", "training.entropy_coeff=0.05",
           "-o", "training.test_freq=-1", "--verl", f"trainer.total_training_steps={STEPS}"]
    env = vllm_cpu_env.venv_env({SKIP_SYNCS_ENV: str(SKIPPED_VERSION), "PYTHONWARNINGS": "ignore"})
    proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=1500)
    stage = run_dir / "03_training" / "stage1"
    logs = sorted((stage / "logs").glob("launch-*.log")) if (stage / "logs").exists() else []
    log = logs[-1].read_text(errors="replace") if logs else ""
    metrics = {}
    for f in sorted((stage / "metrics").glob("launch-*.jsonl")) if (stage / "metrics").exists() else []:
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            metrics[rec["step"]] = rec["data"]
    acc = [json.loads(x) for x in (stage / "accuracy_log.jsonl").read_text().splitlines()] \
        if (stage / "accuracy_log.jsonl").exists() else []
    return {"proc": proc, "log": log, "metrics": metrics, "accuracy_log": acc, "stage": stage}


def _show(run) -> str:
    p = run["proc"]
    return f"exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}\n--- launch log ---\n{run['log'][-6000:]}"


def test_the_venv_is_the_clusters_set_with_vllms_cpu_build(venv):
    info = vllm_cpu_env.build_info()
    v = info["versions"]
    cluster = vllm_cpu_env.CLUSTER_REQUIREMENTS
    for dist in ("torch", "transformers", "verl", "ray"):
        assert v[dist] == vllm_cpu_env.pinned_version(cluster, dist), (dist, v)
    assert v["vllm-cpu"] == vllm_cpu_env.pinned_version(cluster, "vllm")
    assert v["vllm"] == v["vllm-cpu"] + "+cpu"          # the alias verl looks up


def test_training_runs_on_verls_vllm_rollout(vllm_run):
    assert vllm_run["proc"].returncode == 0, _show(vllm_run)
    m = vllm_run["metrics"]
    assert sorted(m) == list(range(1, STEPS + 1)), _show(vllm_run)
    assert "vLLMHttpServer" in vllm_run["log"], "verl's vLLM server did not serve the rollouts"
    assert "HFServer" not in vllm_run["log"]
    for step, d in m.items():
        assert d["response_length/mean"] > 0 and d["actor/grad_norm"] > 0, d
        assert 0 < d["timing_s/update_weights"] < d["timing_s/step"], d


def test_vllm_samples_from_the_synced_weights_and_a_dropped_sync_shows(vllm_run):
    assert vllm_run["proc"].returncode == 0, _show(vllm_run)
    diff = {s: vllm_run["metrics"][s]["training/rollout_probs_diff_max"] for s in vllm_run["metrics"]}
    print(f"\nrollout_probs_diff_max per step (weights version {SKIPPED_VERSION} dropped): {diff}")
    assert f"weight version {SKIPPED_VERSION}: NOT loading synced weights" in vllm_run["log"], _show(vllm_run)
    synced = [diff[s] for s in range(1, STEPS)]
    # vLLM (fp32) and the FSDP actor (fp32) give the same probabilities after every sync
    assert max(synced) < 1e-4, diff
    # step 3 sampled from step 1's weights: the comparison sees it
    assert diff[STEPS] > 1e-2 and diff[STEPS] > 100 * max(synced), diff


def test_polaris_hooks_act_on_vllm_rollouts(vllm_run):
    assert vllm_run["proc"].returncode == 0, _show(vllm_run)
    acc, m = vllm_run["accuracy_log"], vllm_run["metrics"]
    assert acc, "no accuracy log"
    assert len(acc) == sum(d["polaris/batches_generated"] for d in m.values()), (acc, m)
    for line in acc:
        score = dict(zip(line["index"], line["score"]))
        impossible = [score[i] for i in score if i % 2]
        # every batch holds two of them (rows 1, 3 / 5, 7, unshuffled), and none is ever solved
        assert len(impossible) == 2 and impossible == [0.0, 0.0], line
        n_inf = sum(0.0 < v < 1.0 for v in line["score"])
        assert line["skipped"] == skip_batch(n_inf, 4) or line.get("skip_unavailable"), line
    for step, d in m.items():
        assert d["batch/solve_none"] >= 2, d
        if d["polaris/skip_unavailable"]:
            continue
        n_inf = round(d["polaris/informative_frac"] * 4)
        assert not skip_batch(n_inf, 4), d          # a trained batch passed the skip rule
        assert d["polaris/substituted"] == 4 - n_inf, d   # and every dead group got a donor
