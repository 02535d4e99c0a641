"""``polaris-repro doctor``: can a tier's run work on the machines at hand? Checked before anything starts.

``doctor(tier, overrides, hardware=None)`` returns one row per check (``check``, ``status`` ok / warn
/ fail, ``found``, ``fix``) as a pandas DataFrame; ``polaris-repro doctor --tier T`` prints it and
exits 1 when any check fails. ``train``, ``run`` and ``reproduce`` run it first at the GPU tiers
(``--skip-doctor`` skips it). It reads, never starts: no model is built or downloaded, no GPU
memory is allocated; the Ray cluster is only listed.

What is checked (issue 15):

* **packages** -- the installed torch, verl, transformers, ray (and vLLM when the tier rolls out with
  it, flash-attn at the GPU tiers, whose packed-sequence training uses it) against the tier's pinned
  environment file (``envs/cpu.txt`` for the CPU tiers, ``envs/cluster.txt`` otherwise). A verl
  other than the pinned one fails: the stage overrides are written for its config schema;
* **CUDA / GPUs / Ray** -- CUDA visible and its version; GPUs per node and their memory against
  ``training.n_gpus_per_node`` and ``training.nnodes``; the tensor- and sequence-parallel sizes
  against the GPU count and the batch (verl's own divisibility rules); with ``RAY_ADDRESS`` the
  cluster's alive nodes and GPUs (``ray.nodes()``) and, from a task on every node, that node's
  Hugging Face cache (the tier's hub model) and the run folder (``--run``); on a multi-node tier or with ``RAY_ADDRESS``,
  where Ray's auth token will come from (``ray start`` aborts without one; never the token itself);
* **GPU memory per stage** -- :func:`actor_memory` (FSDP states, gathered unit, activations with or
  without gradient checkpointing, logits, at ``ppo_max_token_len_per_gpu`` = the stage's token
  budget) and :func:`rollout_memory` (vLLM's KV cache under ``gpu_memory_utilization`` for
  ``rollout_n`` sequences of prompt + response), from the model's layers, KV heads and head size
  (:func:`model_spec`: a local ``config.json``, else :data:`KNOWN_MODELS`, so it works offline);
* **model** -- its context against every stage's token budget and the evaluation (with the tier's
  context extension and YaRN), its chat template, and ``<think>``/``</think>`` in its vocabulary when
  the reward requires them;
* **data** -- the training and validation files present and readable with the expected columns
  (hub data sets: present in the local Hugging Face cache); the benchmark files' sha256;
* **disk** -- room for the checkpoints verl will keep (every ``save_freq`` steps, the last
  ``training.max_ckpt_to_keep`` of each stage, or ``trainer.max_actor_ckpt_to_keep`` when passed) and the merged model of each stage;
* **logger** -- credentials for the loggers in ``training.logger`` (wandb: ``WANDB_API_KEY``, a
  ``~/.netrc`` entry or ``WANDB_MODE=offline``).

The machine is described by a :class:`Hardware` (``detect_hardware()`` reads this one; tests and
what-if questions pass ``Hardware.from_dict({...})``), so every check runs on a CPU-only machine.

The checks live in one module per group (:mod:`.software`, :mod:`.gpus`, :mod:`.memory`,
:mod:`.model`, :mod:`.data`); the GPU data sheet, the model table and the memory model they check
against are :mod:`polaris_repro.resources`, shared with ``polaris-repro plan``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from ..config import ConfigError, as_config, load_config
from ..resources import is_gpu_tier, model_spec
from .data import check_data
from .gpus import check_cluster_only, check_gpus, check_gpus_sampling, check_nodes, check_parallelism, check_ray_auth
from .hardware import GPU, PACKAGES, Hardware, detect_hardware
from .memory import check_disk, check_memory
from .model import check_model
from .rows import COLUMNS, STATUSES, Row, row
from .software import ENV_DIR, check_cpu_precision, check_cuda, check_logger, check_packages, cluster_cuda, \
    env_file, env_pins, flash_attn_step

__all__ = ["COLUMNS", "ENV_DIR", "GPU", "Hardware", "PACKAGES", "STATUSES", "check_cluster_only",
           "check_cpu_precision", "check_cuda", "check_nodes", "check_ray_auth", "check_data", "check_disk", "check_gpus", "check_gpus_sampling",
           "check_logger", "check_memory", "cluster_cuda", "flash_attn_step", "check_model", "check_packages", "check_parallelism", "cli",
           "detect_hardware", "doctor", "env_file", "env_pins", "failed", "format_table", "run_before",
           "summary_line"]


def doctor(tier: str | Mapping, overrides: Sequence[str] | Mapping | None = None, *,
           hardware: Hardware | Mapping | None = None, verl_overrides: Sequence[str] = (),
           training: bool = True) -> pd.DataFrame:
    """Run every check for ``tier`` (a tier name, or an already resolved config dict) on ``hardware``
    (default: :func:`detect_hardware`); one row per check with columns check, status, found, fix.

    ``training=False`` (a section that samples but does not train, e.g. ``run 04_evaluation`` of
    released checkpoints on one node): the training's nodes, Ray cluster, per-stage memory,
    checkpoint disk and logger are not required; at least one GPU is."""
    cfg = load_config(tier, overrides) if isinstance(tier, str) else as_config(tier)
    if hardware is None:
        hw = detect_hardware()
    elif isinstance(hardware, Hardware):
        hw = hardware
    else:
        hw = Hardware.from_dict(hardware)
    try:
        spec = model_spec(str(cfg.model.path))
    except ValueError as e:
        spec = None
        spec_error = str(e)
    else:
        spec_error = None
    rows: list[Row] = []
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("packages", lambda: check_packages(cfg, hw)),
        ("cuda", lambda: check_cuda(cfg, hw)),
        ("cpu precision", lambda: check_cpu_precision(cfg, hw) if training else []),
        ("gpus", lambda: check_gpus(cfg, hw) if training else check_gpus_sampling(cfg, hw)),
        ("ray auth token", lambda: check_ray_auth(cfg, hw) if training else []),
        ("nodes", lambda: check_nodes(cfg, hw)),
        ("gpu memory", lambda: check_memory(cfg, hw, spec) if training else
         [row("gpu memory", "ok", "training memory not needed (no training in this run)")]),
        ("model", lambda: check_model(cfg, spec)),
        ("data", lambda: check_data(cfg, hw)),
        ("disk", lambda: check_disk(cfg, hw, spec, verl_overrides) if training else []),
        ("cluster-only paths", lambda: check_cluster_only(cfg, hw) if training else []),
        ("logger", lambda: check_logger(cfg, hw) if training else []),
    ]
    if spec_error:
        rows.append(row("model config", "fail", spec_error, "fix the model's config.json"))
    for name, fn in steps:
        try:
            out = fn()
        except Exception as e:  # a check that cannot run is itself a failure, with its reason
            out = [row(name, "fail", f"the check raised {type(e).__name__}: {e}", "")]
        if name == "gpus" and spec is not None and is_gpu_tier(cfg) and training:
            out = [check_parallelism(cfg, spec) if r["check"] == "parallelism" else r for r in out]
        rows.extend(out)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df.attrs["tier"] = cfg.tier
    df.attrs["hardware"] = hw.description
    return df


def failed(table: pd.DataFrame) -> bool:
    return bool((table["status"] == "fail").any())


def format_table(table: pd.DataFrame, width: int = 70) -> str:
    from tabulate import tabulate

    return tabulate(table[list(COLUMNS)].values.tolist(), headers=list(COLUMNS), tablefmt="simple",
                    maxcolwidths=[30, None, width, width])


def summary_line(table: pd.DataFrame) -> str:
    counts = table["status"].value_counts()
    return (f"doctor --tier {table.attrs.get('tier')}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
            + f" ({table.attrs.get('hardware', '')})")


def run_before(cfg: dict, *, skip: bool = False, verl_overrides: Sequence[str] = (),
               training: bool = True, run_dir: str | os.PathLike | None = None, stream=None) -> bool:
    """The doctor at the start of ``train`` / ``run`` / ``reproduce``: at GPU tiers print the table
    and return False when a check fails (the caller stops); CPU tiers and ``skip`` return True."""
    stream = stream or sys.stdout
    if skip or not is_gpu_tier(cfg):
        return True
    t0 = time.time()
    table = doctor(cfg, verl_overrides=verl_overrides, training=training,
                   hardware=detect_hardware(disk_path=run_dir, node_probe=(str(cfg.model.path), run_dir)))
    print(format_table(table), file=stream)
    print(summary_line(table) + f" in {time.time() - t0:.1f} s", file=stream, flush=True)
    if failed(table):
        print("doctor: a check failed; fix it or pass --skip-doctor to start anyway", file=stream, flush=True)
        return False
    return True


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="polaris-repro doctor", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", required=True)
    p.add_argument("-o", "--override", action="append", default=[], help="tier config key.path=value")
    p.add_argument("--verl", action="append", default=[],
                   help="verl overrides the training will get (e.g. trainer.max_actor_ckpt_to_keep=2)")
    p.add_argument("--hardware", default=None, help="a JSON file describing the hardware (Hardware.from_dict) "
                   "instead of this machine")
    p.add_argument("--no-ray", action="store_true", help="do not connect to RAY_ADDRESS")
    p.add_argument("--run", default=None, help="the run folder: with RAY_ADDRESS, checked from every node "
                   "(with the tier's model in each node's Hugging Face cache)")
    p.add_argument("--csv", default=None, help="also write the table to this CSV file")
    args = p.parse_args(argv)
    t0 = time.time()
    try:
        cfg = load_config(args.tier, args.override)
        hw = Hardware.from_dict(json.loads(Path(args.hardware).read_text())) if args.hardware else \
            detect_hardware(ray=not args.no_ray, disk_path=args.run,
                            node_probe=(str(cfg.model.path), str(Path(args.run).resolve()) if args.run else None))
        table = doctor(cfg, hardware=hw, verl_overrides=args.verl)
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(table))
    print(summary_line(table) + f" in {time.time() - t0:.1f} s")
    if args.csv:
        from ..artifacts import write_text

        write_text(args.csv, table.to_csv(index=False))
    return 1 if failed(table) else 0
