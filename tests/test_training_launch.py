"""Multi-node launch templates rendered from the tier config (no cluster needed)."""
from __future__ import annotations

import re
import subprocess

import pytest

from polaris_repro.config import load_config
from polaris_repro.training import launch_scripts as launch
from polaris_repro.training.cli import cli


def test_render_paper_4b(tmp_path):
    assert cli(["--tier", "paper-4b", "--render-launch", str(tmp_path), "--run", "/shared/runs/p4b"]) == 0
    sb = (tmp_path / "polaris_slurm.sbatch").read_text()
    job = (tmp_path / "ray_job_submit.sh").read_text()
    for text in (sb, job):
        assert not re.search(r"\{\{\w+\}\}", text)
    # SLURM: 4 nodes x 8 GPUs (the report's 32-GPU run), a Ray head + workers, then the stages
    assert "#SBATCH --nodes=4" in sb and "#SBATCH --gpus-per-node=8" in sb
    assert re.search(r"ray start --head .*--port=\"\$RAY_PORT\"", sb)
    assert 'ray start --address="$RAY_ADDRESS" "${node_ip_args[@]}" --num-cpus="$CPUS_PER_NODE" --num-gpus="$GPUS_PER_NODE"' in sb
    assert "GPUS_PER_NODE=8" in sb and "RAY_PORT=6379" in sb and "gpus >= 32" in sb
    assert 'polaris-repro train --tier "$TIER" --run "$RUN_DIR"' in sb and "TIER=paper-4b" in sb
    assert "RUN_DIR=/shared/runs/p4b" in sb and "stop_ray" in sb
    assert "stage3 (53248 tokens, T=1.5)" in sb
    # ray job submit against an existing cluster
    assert 'ray job submit' in job and '--address "http://$RAY_HEAD:8265"' in job
    assert "polaris-repro train --tier paper-4b --run /shared/runs/p4b" in job
    for p in (tmp_path / "polaris_slurm.sbatch", tmp_path / "ray_job_submit.sh"):
        assert subprocess.run(["bash", "-n", str(p)]).returncode == 0, p
        assert p.stat().st_mode & 0o100


def test_render_other_tiers_and_errors(tmp_path):
    cfg = load_config("paper-7b")
    sb, _job, *sections = launch.render_all(cfg, tmp_path / "7b")
    assert [p.name for p in sections] == [f"polaris_{s}.sbatch" for s in launch.SECTION_JOBS]
    assert "#SBATCH --nodes=1" in sb.read_text() and "stage1 (16384 tokens, T=0.7)" in sb.read_text()
    with pytest.raises(ValueError, match="no GPUs and one node"):
        launch.render_all(load_config("tiny"), tmp_path / "tiny")
    with pytest.raises(KeyError, match="missing_key"):
        launch.render("x {{missing_key}}", {})
