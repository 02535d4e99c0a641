"""Multi-node launch templates for the paper tiers, rendered from the tier config.

``render_all(cfg, out_dir)`` writes ``polaris_slurm.sbatch`` (a SLURM batch script that starts a
Ray head and workers and runs the stage runner on that cluster) and ``ray_job_submit.sh`` (the
``ray job submit`` command for an existing Ray cluster) into ``out_dir``. The templates live in
``polaris_repro/templates/``; placeholders are ``{{name}}``. No cluster manager of our own: SLURM
and Ray do the work, the stage runner only launches verl once per stage.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ..artifacts import REPO_ROOT, artifacts_root, write_text

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATES = ("polaris_slurm.sbatch", "ray_job_submit.sh")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render(text: str, values: dict) -> str:
    """Replace ``{{name}}``; a placeholder without a value is an error naming it."""
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise KeyError(f"template placeholders without a value: {missing}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def launch_values(cfg: dict, *, run_dir: str | os.PathLike | None = None, python_env: str | None = None,
                  time_limit: str = "14-00:00:00", cpus_per_task: int = 64,
                  train_args: str = "") -> dict:
    tr, cl = cfg["training"], cfg["cluster"]
    nnodes = int(tr["nnodes"])
    gpus = int(tr["n_gpus_per_node"])
    if int(cl.get("nnodes") or nnodes) != nnodes:
        raise ValueError(f"tier {cfg['tier']}: cluster.nnodes={cl.get('nnodes')} but training.nnodes={nnodes}")
    if gpus <= 0 or tr["rollout_name"] == "hf":
        raise ValueError(f"tier {cfg['tier']} has no GPUs (a CPU tier: rollout {tr['rollout_name']}, "
                         f"cluster.gpus_per_node={cl.get('gpus_per_node')}); the launch templates are "
                         "for GPU clusters")
    run_dir = str(run_dir) if run_dir else str(artifacts_root() / cfg["tier"] / "cluster-run")
    partition = cl.get("partition")
    return {
        "tier": cfg["tier"], "description": cfg.get("description", ""), "nnodes": nnodes,
        "gpus_per_node": gpus, "total_gpus": nnodes * gpus, "cpus_per_task": int(cpus_per_task),
        "time_limit": time_limit, "ray_port": int(cl.get("ray_port") or 6379), "dashboard_port": 8265,
        "partition_line": f"#SBATCH --partition={partition}" if partition else "# (no partition set: cluster.partition)",
        "repo": str(REPO_ROOT), "run_dir": run_dir, "artifacts_root": str(Path(run_dir).parent),
        "python_env": python_env or str(REPO_ROOT / ".venv"),
        "stages": ", ".join(f"{s['name']} ({s['max_response_length'] + tr['max_prompt_length']} tokens, "
                            f"T={s['temperature']})" for s in tr["stages"]),
        "train_args": train_args,
    }


def render_all(cfg: dict, out_dir: str | os.PathLike, **kw) -> list[Path]:
    values = launch_values(cfg, **kw)
    out = []
    for name in TEMPLATES:
        text = render((TEMPLATE_DIR / name).read_text(), values)
        path = Path(out_dir) / name
        write_text(path, text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        out.append(path)
    return out
