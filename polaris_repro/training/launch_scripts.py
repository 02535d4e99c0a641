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
from . import time_limits as TL

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATES = ("polaris_slurm.sbatch", "ray_job_submit.sh")
COMMON = "job_common.sh"        # rendered into every job script: environment, token, requeue
SECTION_TEMPLATE = "polaris_section.sbatch"
# the sections with a job of their own (one node): what each does, and what a stopped one keeps
SECTION_JOBS = {
    "01_difficulty": ("pass-rate profiling of the training data with vLLM and the difficulty filter",
                      "finished problems are skipped on restart"),
    "02_temperature": ("the diversity-based temperature sweep",
                       "the sampler resumes part-finished temperatures"),
    "04_evaluation": ("AIME24/25, AMC23, Minerva, OlympiadBench with YaRN, then the report (05_report)",
                      "finished generations are kept and resumed"),
}
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render(text: str, values: dict) -> str:
    """Replace ``{{name}}``; a placeholder without a value is an error naming it."""
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise KeyError(f"template placeholders without a value: {missing}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def _python_env(path: str | os.PathLike | None) -> str:
    """The environment the scripts activate: a venv (``bin/activate``) or a conda prefix
    (``conda-meta/``); default the repository's ``.venv``. Checked here only when it exists locally
    (a cluster path may not exist on the machine that renders)."""
    p = Path(path).expanduser() if path else REPO_ROOT / ".venv"
    if not p.is_absolute():
        raise ValueError(f"--python-env must be an absolute path (the same on every node), got {str(path)!r}")
    if p.exists() and not ((p / "bin" / "activate").exists() or (p / "conda-meta").is_dir()):
        raise ValueError(f"--python-env {p} is neither a venv (no bin/activate) nor a conda environment "
                         "(no conda-meta/)")
    return str(p)


_IFNAME = re.compile(r"^[A-Za-z0-9_.:,^-]+$")


def _socket_env(ifname: str | None) -> str:
    if not ifname:
        return ("# NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME not set at rendering: NCCL and gloo choose an\n"
                "# interface themselves unless they are set in the environment sbatch passes on.")
    if not _IFNAME.match(ifname):
        raise ValueError(f"--socket-ifname {ifname!r}: expected an interface name such as ib0 or eth0")
    return (f'export NCCL_SOCKET_IFNAME="${{NCCL_SOCKET_IFNAME:-{ifname}}}"\n'
            f'export GLOO_SOCKET_IFNAME="${{GLOO_SOCKET_IFNAME:-{ifname}}}"')


def signal_lead(cfg: dict) -> tuple[int, str]:
    """Seconds of warning before the time limit (:func:`.time_limits.signal_lead_s` from the plan's
    longest step and a checkpoint save of the tier's model), and how they were sized."""
    from ..plan import estimate, tier_model_spec

    try:
        df = estimate(cfg)
        spec = tier_model_spec(cfg)
    except ValueError as e:
        raise ValueError(f"cannot size the time-limit warning from the plan ({e}); pass --signal-lead SECONDS") from e
    step_s = float(df.loc[df["stage"] != "total", "s/step"].max())
    save_s = TL.checkpoint_save_s(spec.params, int(cfg.training.nnodes))
    lead = TL.signal_lead_s(step_s, save_s)
    return lead, (f"sized from the plan: 1.25 x the longest step ({step_s:.0f} s) + a checkpoint save "
                  f"({save_s:.0f} s) + {TL.SLURM_CHECK_MARGIN_S} s for SLURM's check interval")


LOGGERS = ("console", "wandb", "tensorboard", "swanlab", "mlflow", "file")


def logger_override(loggers: str | None) -> str | None:
    """``--logger console,wandb`` -> the tier override ``training.logger=[console,wandb]`` (verl's
    ``trainer.logger`` backends); None when not given."""
    if not loggers:
        return None
    names = [x.strip() for x in loggers.split(",") if x.strip()]
    bad = [x for x in names if x not in LOGGERS]
    if bad or not names:
        raise ValueError(f"--logger {loggers!r}: expected a comma-separated list of {', '.join(LOGGERS)}")
    return f"training.logger=[{','.join(dict.fromkeys(names))}]"


def _hf_env(hf_home: str | None) -> str:
    """Where the nodes find models and data sets: a prefetched, shared Hugging Face cache read
    offline (compute nodes often have no internet), or a comment saying what happens without one."""
    if not hf_home:
        return ("# HF_HOME not set at rendering (--hf-home): each node uses its own ~/.cache/huggingface and\n"
                "# downloads what is missing, which fails on nodes without internet")
    p = Path(hf_home).expanduser()
    if not p.is_absolute() or not _PATH_SAFE.match(str(p)):
        raise ValueError(f"--hf-home must be an absolute path without spaces or quotes (the same on every node), "
                         f"got {hf_home!r}")
    return (f'export HF_HOME="${{HF_HOME:-{p}}}"   # a prefetched cache on shared storage (--hf-home)\n'
            'export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"   # never reach the hub from a compute node\n'
            'export HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"\n'
            f'export POLARIS_BENCHMARKS_DIR="${{POLARIS_BENCHMARKS_DIR:-{p}/benchmarks}}"   # polaris-repro fetch puts them there')


_PATH_SAFE = re.compile(r"^/[A-Za-z0-9_./+@:-]*$")


def launch_values(cfg: dict, *, run_dir: str | os.PathLike | None = None, python_env: str | None = None,
                  time_limit: str | None = None, cpus_per_task: int = 64, socket_ifname: str | None = None,
                  train_args: str = "", signal_lead_s: int | None = None,
                  script: str | os.PathLike | None = None, hf_home: str | None = None) -> dict:
    tr, cl = cfg.training, cfg.cluster
    nnodes = int(tr.nnodes)
    gpus = int(tr.n_gpus_per_node)
    if int(cl.nnodes or nnodes) != nnodes:
        raise ValueError(f"tier {cfg.tier}: cluster.nnodes={cl.nnodes} but training.nnodes={nnodes}")
    cpu = tr.rollout_name == "hf"
    if gpus <= 0 or (cpu and nnodes == 1):
        raise ValueError(f"tier {cfg.tier} has no GPUs and one node (a CPU tier: rollout {tr.rollout_name}, "
                         f"cluster.gpus_per_node={cl.gpus_per_node}); the launch templates are "
                         "for clusters (GPU tiers, or the CPU rehearsal tier with training.nnodes > 1)")
    if not isinstance(cpus_per_task, int) or cpus_per_task < 1:
        raise ValueError(f"cpus_per_task must be a positive int, got {cpus_per_task!r}")
    run_dir = str(Path(run_dir).resolve()) if run_dir else str(artifacts_root() / cfg.tier / "cluster-run")
    partition = cl.partition
    if time_limit:
        limit_s = TL.parse_slurm_time(time_limit)
        time_line = f"#SBATCH --time={TL.format_slurm_time(limit_s)}"
    else:
        time_line = ("# (no --time given at rendering: the partition's default limit applies -- sinfo -o '%P %l' "
                     "shows it; the warning below comes before whichever limit applies)")
    if signal_lead_s is None:
        lead, lead_note = signal_lead(cfg)
    else:
        if not isinstance(signal_lead_s, int) or not 60 <= signal_lead_s <= 65535:
            raise ValueError(f"--signal-lead must be whole seconds from 60 to 65535 (SLURM checks limits about "
                             f"every 30 s), got {signal_lead_s!r}")
        lead, lead_note = signal_lead_s, "given with --signal-lead"
    if time_limit and lead >= limit_s:
        raise ValueError(f"--time {time_limit}: the time-limit warning comes {lead} s before the limit, which is "
                         f"not shorter than the limit itself; ask for more time or pass a smaller --signal-lead")
    gpus_line = (f"#SBATCH --gpus-per-node={gpus}" if not cpu else
                 f"# (CPU tier: no --gpus-per-node; each node's Ray declares {gpus} fake GPU(s) for verl's placement)")
    script = str(Path(script).resolve()) if script else str(Path(run_dir) / "polaris_slurm.sbatch")
    return {
        "tier": cfg.tier, "description": cfg.description, "nnodes": nnodes,
        "gpus_per_node": gpus, "total_gpus": nnodes * gpus, "cpus_per_task": int(cpus_per_task),
        "time_line": time_line, "signal_lead_s": lead, "signal_lead_note": lead_note, "gpus_line": gpus_line,
        "exit_stopped": TL.EXIT_STOPPED, "script": script, "ray_port": int(cl.ray_port),
        "dashboard_port": int(cl.dashboard_port),
        "partition_line": f"#SBATCH --partition={partition}" if partition else "# (no partition set: cluster.partition)",
        "repo": str(REPO_ROOT), "run_dir": run_dir, "artifacts_root": str(Path(run_dir).parent),
        "python_env": _python_env(python_env), "socket_env": _socket_env(socket_ifname), "hf_env": _hf_env(hf_home),
        "section_gpus": max(1, int(cfg.sampling.tensor_parallel_size) * int(cfg.sampling.data_parallel_size))
        if not cpu else 0,
        "stages": ", ".join(f"{s.name} ({s.token_budget} tokens, T={s.temperature})" for s in cfg.training.stages),
        "train_args": train_args,
    }


def _write(path: Path, template: str, values: dict) -> Path:
    values = {**values, "script": str(path.resolve())}
    values["job_common"] = render((TEMPLATE_DIR / COMMON).read_text(), values).rstrip("\n")
    write_text(path, render((TEMPLATE_DIR / template).read_text(), values))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def render_all(cfg: dict, out_dir: str | os.PathLike, **kw) -> list[Path]:
    """The training job script, the ray-job script, and one single-node job script per section of
    :data:`SECTION_JOBS` (``polaris_<section>.sbatch``; 04_evaluation also runs the report)."""
    out_dir = Path(out_dir)
    values = launch_values(cfg, script=out_dir / "polaris_slurm.sbatch", **kw)
    out = [_write(out_dir / name, name, values) for name in TEMPLATES]
    one_node = {**values, "gpus_line": values["gpus_line"].replace(
        f"--gpus-per-node={values['gpus_per_node']}", f"--gpus-per-node={values['section_gpus']}")}
    for section, (what, resume) in SECTION_JOBS.items():
        then = 'polaris-repro run 05_report --tier "$TIER" --run "$RUN_DIR"' if section == "04_evaluation" else ":"
        out.append(_write(out_dir / f"polaris_{section}.sbatch", SECTION_TEMPLATE,
                          {**one_node, "section": section, "section_what": what, "section_resume": resume,
                           "then_run": then}))
    return out
