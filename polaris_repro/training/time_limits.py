"""Living within a cluster's time limit: a run longer than one allocation.

A 10-day run meets sites that cap a job at 1-3 days. The recipe here (what ``polaris_slurm.sbatch``
does, rehearsed against a real SLURM by ``make rehearse-slurm``):

1. the job asks SLURM for a warning before its limit (``#SBATCH --signal=B:USR1@LEAD``, LEAD sized by
   :func:`signal_lead_s` from the plan's longest step) and may be requeued (``#SBATCH --requeue``);
2. on SIGUSR1 the batch script writes the run's **stop request** (:func:`request_stop`:
   ``<run>/03_training/STOP``); ``polaris-repro train`` accepts SIGUSR1 itself too;
3. the trainer checks the request after each actor update: it saves a checkpoint at that step (unless
   verl saves one anyway), writes ``stopped.json`` in the stage folder, and ends its launch before the
   next step starts (:class:`polaris_repro.training.trainer.PolarisTrainer`). Between stages the stage
   runner checks it too (after a merge). ``polaris-repro train`` then exits with :data:`EXIT_STOPPED`;
4. the batch script stops Ray and runs ``scontrol requeue $SLURM_JOB_ID`` (same job id, output
   appended, ``SLURM_RESTART_COUNT`` counts the allocations); where a site forbids requeueing, it
   submits the rendered script again instead. The next allocation resumes from the checkpoint.

SLURM itself never requeues a job that reaches its limit (it ends in TIMEOUT), which is why the
job must act on the warning. Work lost at a limit is therefore only the idle end of the allocation
(at most LEAD) and one start-up; a kill *without* warning (node failure, ``scancel``) loses the
steps since the last periodic checkpoint (``training.save_freq``). :func:`submissions` prices both
(``polaris-repro plan --time``).
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

from ..artifacts import now, write_json, write_text

EXIT_STOPPED = 75            # sysexits EX_TEMPFAIL: stopped on request, checkpoint saved; submit again
STOP_FILE = "STOP"           # <run>/03_training/STOP: the run's stop request
STOPPED_FILE = "stopped.json"  # <stage>/stopped.json: where the trainer stopped for the request

# SLURM looks at time limits and signal times about every 30 s (its background loop), so a warning
# can come up to a minute late: the lead time keeps this much on top of one step and one save
SLURM_CHECK_MARGIN_S = 90
# saving a checkpoint: fp32 weights + Adam moments (12 bytes a parameter) written to shared storage
# at an assumed 1 GB/s per node (each rank writes its own shard)
CKPT_BYTES_PER_PARAM = 12
CKPT_WRITE_GBS_PER_NODE = 1.0
# what a new allocation costs before training resumes on GPUs: Ray start, verl workers, model load,
# vLLM engine with CUDA graphs (an assumption: minutes for a 4-7B model; not measured here)
GPU_START_S = 600


PROCESS_START = time.time()   # a stop request older than this process is stale (see clear_stale_stop)


class StopRequested(Exception):
    """The run stopped at a step boundary (or between stages) because a stop was requested."""


# ------------------------------------------------------------------------------------------------
# SLURM time strings

_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_slurm_time(text: str) -> int:
    """Seconds of a SLURM time limit: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``
    (``sbatch --time``'s formats). Raises ValueError naming the accepted forms."""
    s = str(text).strip()
    m = _TIME.match(s)
    if not m:
        raise ValueError(f"--time {text!r}: expected a SLURM time limit such as 2-00:00:00 (D-HH:MM:SS), "
                         "48:00:00 (HH:MM:SS), 90 (minutes) or 1-12 (D-HH)")
    d, a, b, c = m.groups()
    a, b, c = int(a), int(b) if b else None, int(c) if c else None
    if d is not None:   # D-H, D-H:M, D-H:M:S
        secs = int(d) * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif c is not None:  # H:M:S
        secs = a * 3600 + b * 60 + c
    elif b is not None:  # M:S
        secs = a * 60 + b
    else:                # M
        secs = a * 60
    if secs <= 0:
        raise ValueError(f"--time {text!r}: the limit must be positive")
    return secs


def format_slurm_time(seconds: int) -> str:
    s = int(seconds)
    return f"{s // 86400}-{s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ------------------------------------------------------------------------------------------------
# sizing the warning and the submissions

def checkpoint_save_s(params: float, nnodes: int) -> float:
    return params * CKPT_BYTES_PER_PARAM / (CKPT_WRITE_GBS_PER_NODE * 1e9 * max(1, int(nnodes)))


def signal_lead_s(max_step_s: float, save_s: float) -> int:
    """Seconds before the limit at which SLURM should warn: the step in progress may have just begun
    (1.25 x the longest step, for steps slower than the plan), then a checkpoint save, plus
    SLURM's check interval; rounded up to a minute. SLURM accepts up to 65535 s."""
    lead = 1.25 * float(max_step_s) + float(save_s) + SLURM_CHECK_MARGIN_S
    return int(min(65535, 60 * math.ceil(lead / 60)))


def submissions(total_s: float, limit_s: float, *, start_s: float, lead_s: float, step_s: float,
                save_freq: int, gpus: int | None) -> dict:
    """How a run of ``total_s`` seconds of training fits allocations of ``limit_s``: the submissions
    it needs (each pays ``start_s`` and gives up at most ``lead_s`` at its end) and what a stop costs,
    with the warning (idle tail + a start-up) and without it (the steps since the last checkpoint)."""
    usable = limit_s - start_s - lead_s
    if usable < step_s:
        raise ValueError(f"a time limit of {format_slurm_time(limit_s)} leaves {max(0, usable):.0f} s per allocation "
                         f"after start-up ({start_s:.0f} s) and the warning lead ({lead_s:.0f} s): less than one "
                         f"step ({step_s:.0f} s); ask for a longer --time")
    n = max(1, math.ceil(total_s / usable))
    warned = lead_s + start_s
    unwarned = max(1, int(save_freq)) * step_s + start_s if save_freq and int(save_freq) > 0 else float("inf")
    out = {"submissions": n, "usable_s": usable, "limit_s": limit_s, "lead_s": lead_s, "start_s": start_s,
           "lost_with_warning_s": warned, "lost_without_warning_s": unwarned,
           "overhead_s": (n - 1) * warned}
    if gpus:
        out.update(lost_with_warning_gpu_h=warned * gpus / 3600, lost_without_warning_gpu_h=unwarned * gpus / 3600,
                   overhead_gpu_h=(n - 1) * warned * gpus / 3600)
    return out


def time_limit_lines(cfg: dict, time_limit: str | None, *, signal_lead_s: int | None = None,
                     gpus: int | None = None, gpu_type: str | None = None) -> list[str]:
    """What a site's time limit means for the tier's run (``plan --time``, ``train --render-launch
    --time``): the warning's lead, the submissions the run needs, and what a stop costs with and
    without the warning (:func:`polaris_repro.training.time_limits.submissions`)."""
    from ..plan import CPU_STAGE_START_S, estimate, fmt_hours as _h, fmt_seconds as _s, hardware_for
    from .launch_scripts import signal_lead

    lead, note = (signal_lead_s, "given") if signal_lead_s else signal_lead(cfg)
    df = estimate(cfg, gpus, gpu_type)
    hw = hardware_for(cfg, gpus, gpu_type)
    stages = df[df["stage"] != "total"]
    step_s = float(stages["s/step"].max())
    start_s = float(CPU_STAGE_START_S if hw.gpu is None else GPU_START_S)
    total_h = float(df.loc[df["stage"] == "total", "hours"].iloc[0]) if len(df) else float("nan")
    freq = int(cfg.training.save_freq)
    ngpu = hw.gpus if hw.gpu is not None else None
    out = [f"time-limit warning: SIGUSR1 {_s(lead)} before the limit ({note}); the trainer checkpoints the "
           "step it is on and the job requeues itself"]
    if not time_limit:
        out.append("no --time: the partition's default limit applies (sinfo -o '%P %l'); pass --time D-HH:MM:SS "
                   "to count the submissions the run needs")
        return out
    limit = parse_slurm_time(time_limit)
    if math.isnan(total_h):
        out.append("the stages have no step counts (training.stages[i].steps): submissions not counted")
        return out
    sub = submissions(total_h * 3600, limit, start_s=start_s, lead_s=lead, step_s=step_s, save_freq=freq, gpus=ngpu)

    def cost(sec: float, key: str) -> str:
        return _s(sec) + (f" ({sub[key]:,.0f} GPU-hours)" if ngpu else "")

    start_src = "measured CPU stage start" if hw.gpu is None else "assumed GPU start-up: Ray, model load, vLLM"
    out += [f"time limit {format_slurm_time(limit)} per allocation: {_h(total_h)} of training need "
            f"{sub['submissions']} allocation(s) ({_s(sub['usable_s'])} of training each, after "
            f"{_s(start_s)} start-up ({start_src}) and the {_s(lead)} warning)",
            f"a stop at the limit, with the warning, costs at most {cost(sub['lost_with_warning_s'], 'lost_with_warning_gpu_h')} "
            f"(the idle end of the allocation + one start-up); the run's {sub['submissions'] - 1} such stop(s): "
            f"{cost(sub['overhead_s'], 'overhead_gpu_h')}",
            f"a kill without warning (node failure, scancel, preemption) costs up to "
            f"{cost(sub['lost_without_warning_s'], 'lost_without_warning_gpu_h')}: the steps since the last checkpoint "
            f"(training.save_freq = {freq} steps x {_s(step_s)}) + one start-up"]
    return out


# ------------------------------------------------------------------------------------------------
# the stop request

def stop_file(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "03_training" / STOP_FILE


def request_stop(run_dir: str | os.PathLike, reason: str) -> Path:
    """Ask the run's trainer to checkpoint at the next step boundary and end (the batch script does
    the same with ``echo REASON > <run>/03_training/STOP``)."""
    return write_text(stop_file(run_dir), f"{reason} {now()}\n")


def stop_reason(path: str | os.PathLike) -> str | None:
    """The stop request's text, or None when no stop is requested."""
    try:
        return Path(path).read_text().strip() or "stop requested"
    except OSError:
        return None


def clear_stale_stop(run_dir: str | os.PathLike) -> str | None:
    """Remove a stop request made before this process started (a finished allocation's, or a stop
    by hand that was honoured); one made since (a warning during start-up) stays and is honoured
    after the first step. Returns the removed request's text."""
    p = stop_file(run_dir)
    # the job script exports when its allocation began: a warning during Ray's start-up is not stale
    since = min(PROCESS_START, float(os.environ.get("POLARIS_STOP_SINCE") or PROCESS_START))
    try:
        if p.stat().st_mtime < since - 1:
            text = stop_reason(p)
            p.unlink()
            return text
    except OSError:
        pass
    return None


def write_stopped(stage_dir: str | os.PathLike, *, step: int, total: int | None, reason: str,
                  saved: bool) -> Path:
    return write_json(Path(stage_dir) / STOPPED_FILE, {"step": int(step), "total": total, "reason": reason,
                                                       "checkpoint_saved_by": "polaris" if saved else "verl",
                                                       "at": now()})


def read_stopped(stage_dir: str | os.PathLike) -> dict | None:
    p = Path(stage_dir) / STOPPED_FILE
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None
