"""The stage runner: POLARIS's multi-stage schedule as one verl launch per stage.

For stage ``s`` of the tier config (folder ``<run_dir>/03_training/<stage name>/``):

* **training data, temperature, model and context** -- :mod:`polaris_repro.training.stage_plan`
  (:func:`plan_stage`; the plan's names are re-exported here);
* **lengths, batch, loss** -- :func:`polaris_repro.training.verl_config.stage_overrides`.

Everything a stage decides is written to ``stage.json`` before launching, and a re-run reuses
it: an interrupted stage re-launches with the same data and temperature and verl resumes from the
last checkpoint (``trainer.resume_mode=auto``); the trainer truncates the accuracy log to that
checkpoint, so no line is lost or duplicated. A finished stage (``status: done`` and its merged
model present) is skipped. Metrics: verl's ``file`` logger, one file per launch under
``metrics/``, merged by :func:`stage_metrics`. Running a launch (its session, its output, what it
leaves behind) is :mod:`polaris_repro.training.supervisor`'s.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from .. import sections
from ..artifacts import now, write_json
from ..config import as_config
from ..signals import as_interrupt, handling, signal_name
from . import mechanisms as M
from . import supervisor
from . import time_limits as TL
from .supervisor import LaunchFailed
from .overrides import OverrideSet
from .stage_plan import (MERGED, SECTION, STAGE_FILE, StagePlan, drop_easy, plan_stage, read_stage,  # noqa: F401
                         section_dir, stage_dir, write_stage)
from .verl_config import StageError, stage_override_set  # noqa: F401


def overrides_for(cfg: dict, plan: StagePlan, *, resume_mode: str = "auto",
                  extra: Iterable[str] = (), ray_temp_dir: str | None = None) -> list[str]:
    """The verl overrides of a planned stage (:func:`override_set_for`'s items)."""
    return override_set_for(cfg, plan, resume_mode=resume_mode, extra=extra, ray_temp_dir=ray_temp_dir).items()


def override_set_for(cfg: dict, plan: StagePlan, *, resume_mode: str = "auto",
                     extra: Iterable[str] = (), ray_temp_dir: str | None = None) -> OverrideSet:
    """The verl overrides of a planned stage with each one's source: the recipe's, the CPU
    platform's, the user's ``extra`` (``--verl``), then the launch's Ray temp dir."""
    loggers = list(dict.fromkeys(list(cfg.training.logger) + ["file"]))
    ov = stage_override_set(cfg, plan.index, train_files=plan.train_file, val_files=plan.val_file,
                            model_path=plan.model_path, output_dir=plan.dir, temperature=plan.temperature,
                            temperature_source=plan.temperature_source,
                            accuracy_log=plan.accuracy_log, metrics_file=plan.metrics_file,
                            substitution=plan.substitution, rescue=plan.rescue, resume_mode=resume_mode,
                            logger=loggers, extra=list(extra))
    if ray_temp_dir:
        ov.add_user([f"++ray_kwargs.ray_init._temp_dir={ray_temp_dir}"], source="stage runner: Ray's temp dir")
    return ov


# --------------------------------------------------------------------------------------------
# launching verl

def abort_stage(sdir: str | os.PathLike) -> list[int]:
    """Kill a running stage's verl launch (its whole session and its private Ray processes) with
    SIGKILL, as a crash would; the stage resumes from its last checkpoint when run again."""
    st = read_stage(sdir)
    if not st.get("pid"):
        return []
    return supervisor.kill_processes(st["pid"], st.get("ray_temp_dir"))


def leftover_processes(sdir: str | os.PathLike) -> list[int]:
    """Live processes of a stage's last launch (its session or its Ray temp dir); [] when clean."""
    st = read_stage(sdir)
    pids = supervisor.launch_processes(st.get("pid"), st.get("ray_temp_dir"))
    return sorted(p for p in pids if supervisor.alive(p))


_PLACEMENT = re.compile(r"\[polaris\] placement: rank (\d+) pid (\d+) on node (\w+) \(ip ([^)]*)\)")


def placement_from_log(log_path: str | os.PathLike) -> list[dict]:
    """The FSDP ranks' Ray nodes of one launch (the trainer's ``[polaris] placement`` lines)."""
    p = Path(log_path)
    if not p.exists():
        return []
    out = {}
    for m in _PLACEMENT.finditer(p.read_text(errors="replace")):
        out[int(m.group(1))] = {"rank": int(m.group(1)), "pid": int(m.group(2)), "node_id": m.group(3),
                                "ip": m.group(4)}
    return [out[k] for k in sorted(out)]


def latest_step(ckpt_dir: str | os.PathLike) -> int | None:
    p = Path(ckpt_dir) / "latest_checkpointed_iteration.txt"
    if not p.exists():
        return None
    return int(p.read_text().strip())


def merge_checkpoint(ckpt_dir: str | os.PathLike, target_dir: str | os.PathLike, *,
                     step: int | None = None, env: dict | None = None, timeout: float = 1800) -> Path:
    """``python -m verl.model_merger merge --backend fsdp`` of ``global_step_<step>/actor`` (the
    latest by default) into ``target_dir`` (written to a temporary folder, renamed on success)."""
    ckpt_dir, target = Path(ckpt_dir), Path(target_dir)
    step = latest_step(ckpt_dir) if step is None else step
    if step is None:
        raise StageError(f"{ckpt_dir}: no checkpoint to merge (latest_checkpointed_iteration.txt missing)")
    actor = ckpt_dir / f"global_step_{step}" / "actor"
    tmp = target.with_name(f".{target.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    cmd = [sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp", "--local_dir", str(actor),
           "--target_dir", str(tmp)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if out.returncode != 0:
        raise StageError(f"model merge failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    hf = actor / "huggingface"
    for f in hf.glob("*") if hf.exists() else []:   # tokenizer / generation config next to the shards
        if f.is_file() and not (tmp / f.name).exists():
            shutil.copy2(f, tmp / f.name)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    write_json(target / "polaris_merge.json", {"checkpoint": str(actor), "step": step, "merged": now()})
    return target


# --------------------------------------------------------------------------------------------
# running stages

def stage_finished(sdir: str | os.PathLike) -> bool:
    """Done and merged: a resumed run skips the stage."""
    return read_stage(sdir).get("status") == "done" and (Path(sdir) / MERGED / "config.json").exists()


def run_stage(cfg: dict, run_dir: str | os.PathLike, stage: int | str, *, substitution: str | None = None,
              rescue: bool | None = None, temperature: float | None = None,
              temperature_mode: str | None = None, resume: bool = True, timeout: float | None = None,
              extra_overrides: Iterable[str] = (), log: Callable[[str], None] = print) -> dict:
    """Run one stage to completion (or resume it); returns its ``stage.json`` record."""
    run_dir = Path(run_dir).resolve()
    i = cfg.stage(stage).index
    sdir = stage_dir(cfg, run_dir, i)
    st = read_stage(sdir)
    if resume and stage_finished(sdir):
        log(f"[{sdir.name}] already done ({st.get('final_step')} steps), skipped")
        return st
    if not resume and sdir.exists():
        shutil.rmtree(sdir)
    plan = plan_stage(cfg, run_dir, i, substitution=substitution, rescue=rescue, temperature=temperature,
                      temperature_mode=temperature_mode, log=log)
    # a private Ray temp dir for a local cluster (so leftovers can be found by path); none when
    # joining an existing cluster (RAY_ADDRESS, e.g. the SLURM template)
    ray_tmp = None if os.environ.get("RAY_ADDRESS") else f"/tmp/rp{os.getpid()}{i}{int(time.time()) % 100000}"
    ov = overrides_for(cfg, plan, extra=extra_overrides, ray_temp_dir=ray_tmp)
    n_launch = int(st.get("launches", 0)) + 1
    from_step = latest_step(plan.checkpoints) or 0
    (sdir / TL.STOPPED_FILE).unlink(missing_ok=True)   # a previous launch's stop
    write_stage(sdir, status="running", launches=n_launch, overrides=ov, started=now(), error=None,
                 interrupted_by=None,
                 attempts=[*st.get("attempts", []), _attempt_record(n_launch, from_step)])
    log(f"[{plan.name}] launch {n_launch}: T={plan.temperature} ({plan.temperature_source}), "
        f"model={plan.model_path}, data={plan.train_file}")
    env = supervisor.launch_env(cfg)
    log_path = sdir / "logs" / f"launch-{n_launch:03d}.log"
    try:
        # SIGTERM / SIGHUP (a cluster's time limit, a closed terminal) take Ctrl-C's path: run_verl()
        # stops the verl launch and its Ray processes, the stage stays resumable
        with as_interrupt():
            secs = supervisor.run_verl(ov, env=env, log_path=log_path, timeout=timeout,
                                       ray_temp_dir=ray_tmp, echo=log, echo_filter=supervisor.default_echo_filter,
                                       on_start=lambda p: write_stage(sdir, pid=p.pid, ray_temp_dir=ray_tmp))
    except LaunchFailed as e:
        _end_attempt(sdir, plan, "failed", reason=str(e).splitlines()[0][:300])
        write_stage(sdir, status="failed", error=str(e)[-3000:], ended=now())
        raise
    except KeyboardInterrupt as e:
        _end_attempt(sdir, plan, "interrupted", reason=signal_name(e))
        write_stage(sdir, status="interrupted", interrupted_by=signal_name(e), ended=now(),
                     placement=placement_from_log(log_path))
        log(f"[{plan.name}] interrupted by {signal_name(e)}: verl launch stopped; "
            f"run again to resume from step {latest_step(plan.checkpoints) or 0}")
        raise
    finally:
        if ray_tmp:
            shutil.rmtree(ray_tmp, ignore_errors=True)
    write_stage(sdir, placement=placement_from_log(log_path))
    step = latest_step(plan.checkpoints)
    stopped = TL.read_stopped(sdir)
    if stopped and stopped.get("total") is not None and int(stopped["step"]) < int(stopped["total"]):
        _end_attempt(sdir, plan, "stopped", reason=stopped["reason"], seconds=secs)
        write_stage(sdir, status="stopped", stopped_at_step=step, ended=now())
        log(f"[{plan.name}] stopped on request at step {step} of {stopped['total']} (checkpoint saved); "
            f"run again to resume from step {step}")
        raise TL.StopRequested(f"{plan.name} stopped at step {step} of {stopped['total']} ({stopped['reason']})")
    _end_attempt(sdir, plan, "trained", seconds=secs)
    t0 = time.time()
    merged = merge_checkpoint(plan.checkpoints, plan.merged, step=step, env=env)
    rec = write_stage(sdir, status="done", final_step=step, merged_model=str(merged), ended=now(),
                       train_s=round(secs, 1), merge_s=round(time.time() - t0, 1))
    log(f"[{plan.name}] done: {step} steps in {secs:.0f} s, merged model {merged}")
    if not cfg.training.keep_checkpoints:
        rec = _remove_checkpoints(sdir, plan.checkpoints, log=log, name=plan.name)
    return rec


def _attempt_record(launch: int, from_step: int) -> dict:
    """One launch of a stage in ``stage.json``'s ``attempts``: where it ran (the SLURM job and its
    restart count when under SLURM), the checkpoint it resumed from, and (at its end) how it ended."""
    rec = {"launch": launch, "started": now(), "host": os.uname().nodename, "from_step": from_step}
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        rec.update(slurm_job=job, slurm_restart=int(os.environ.get("SLURM_RESTART_COUNT") or 0))
    return rec


def _end_attempt(sdir: Path, plan: "StagePlan", status: str, *, reason: str | None = None,
                 seconds: float | None = None) -> None:
    st = read_stage(sdir)
    attempts = list(st.get("attempts", []))
    if not attempts:
        return
    last = dict(attempts[-1])
    if seconds is None:
        seconds = max(0.0, time.time() - datetime.fromisoformat(last["started"]).timestamp())
    last.update(status=status, ended=now(), to_step=latest_step(plan.checkpoints) or 0, seconds=round(seconds, 1))
    if reason:
        last["reason"] = reason
    write_stage(sdir, attempts=[*attempts[:-1], last])


def _remove_checkpoints(sdir: Path, ckpt_dir: Path, *, log: Callable[[str], None], name: str) -> dict:
    """``training.keep_checkpoints: false``: delete a finished stage's verl checkpoints (the merged
    model is what the next stage and the evaluation read); ``stage.json`` records what was freed."""
    ckpt_dir = Path(ckpt_dir)
    size = sum(f.stat().st_size for f in ckpt_dir.rglob("*") if f.is_file()) if ckpt_dir.exists() else 0
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    log(f"[{name}] checkpoints removed ({size / 1e9:.1f} GB; training.keep_checkpoints=false)")
    return write_stage(sdir, checkpoints_removed_gb=round(size / 1e9, 2))


def run_stages(cfg: dict, run_dir: str | os.PathLike, stages: Sequence[int | str] | None = None, *,
               record: bool = True, **kw) -> list[dict]:
    """Run stages in order (all by default); record the last stage's merged model as the run's
    ``final_model`` in the manifest."""
    run_dir = Path(run_dir).resolve()
    idx = [cfg.stage(s).index for s in stages] if stages else [s.index for s in cfg.training.stages]
    log = kw.get("log", print)
    stale = TL.clear_stale_stop(run_dir)
    if stale:
        log(f"[training] an earlier stop request was removed ({stale}): this run continues")
    out = []
    trained = 0        # stages launched by this invocation (finished ones are skipped, not launched)
    with _stop_on_usr1(run_dir):
        for i in idx:
            finished = stage_finished(stage_dir(cfg, run_dir, i)) and kw.get("resume", True)
            reason = TL.stop_reason(TL.stop_file(run_dir))
            if trained and not finished and reason is not None:
                # between stages (after a merge): stop before the next launch. Before this invocation
                # has launched anything it launches anyway: the trainer stops after one step, so
                # every allocation makes progress however early the warning came
                log(f"[training] stop requested ({reason}): {trained} stage(s) finished in this run, "
                    "the next starts when the run is resumed")
                raise TL.StopRequested(f"stopped before {cfg.stage(i).name} on request ({reason})")
            out.append(run_stage(cfg, run_dir, i, **kw))
            trained += not finished
    if record and out:
        last = out[-1]
        sections.record_output(run_dir, sections.FINAL_MODEL, last["merged_model"],
                               stage=Path(last["merged_model"]).parent.name, step=last.get("final_step"))
        sections.record_output(run_dir, "training_stages", str(section_dir(run_dir)),
                               stages=[Path(r["merged_model"]).parent.name for r in out])
    return out


def _stop_on_usr1(run_dir: Path):
    """SIGUSR1 to ``polaris-repro train`` (``kill -USR1``, or SLURM's ``--signal=USR1@...`` without
    ``B:``) writes the run's stop request: checkpoint at the next step boundary, then exit."""
    return handling({signal.SIGUSR1: lambda *_: TL.request_stop(run_dir, "SIGUSR1 to polaris-repro train")})


# --------------------------------------------------------------------------------------------
# reading results (notebook figures)

def stage_metrics(sdir: str | os.PathLike) -> pd.DataFrame:
    """Per-step metrics of a stage (all launches merged; a resumed launch supersedes the steps it
    redid): one row per step, columns ``step`` + verl/POLARIS metric names."""
    files = sorted((Path(sdir) / "metrics").glob("launch-*.jsonl"))
    recs = M.merge_attempt_logs(files)
    rows = [{"step": int(r["step"]), **(r.get("data") or {})} for r in recs]
    df = pd.DataFrame(rows)
    if len(df):
        df = df.drop_duplicates("step", keep="last").sort_values("step").reset_index(drop=True)
    return df


def all_metrics(cfg: dict, run_dir: str | os.PathLike) -> pd.DataFrame:
    """Metrics of every stage that has any, with ``stage`` and a cumulative ``global_step``."""
    cfg = as_config(cfg)
    frames, offset = [], 0
    for st in cfg.training.stages:
        df = stage_metrics(stage_dir(cfg, run_dir, st.index))
        if not len(df):
            continue
        df.insert(0, "stage", st.name)
        df.insert(1, "global_step", df["step"] + offset)
        offset = int(df["global_step"].max())
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def accuracy_table(sdir: str | os.PathLike) -> pd.DataFrame:
    """Per prompt of a stage: times seen, mean / first / last logged accuracy."""
    from .. import difficulty

    log = Path(sdir) / "accuracy_log.jsonl"
    if not log.exists():
        return pd.DataFrame(columns=["index", "seen", "mean", "first", "last"])
    # one record per batch, as drop-easy counts them (the trainer's log has no repeated lines)
    return difficulty.prompt_accuracy(M.read_accuracy_log(log, repeated="last"))


def find_metric(df: pd.DataFrame, *candidates: str, prefix: str | None = None) -> str | None:
    """The first candidate column present (or the first column starting with ``prefix``)."""
    for c in candidates:
        if c in df.columns:
            return c
    if prefix:
        for c in df.columns:
            if str(c).startswith(prefix):
                return c
    return None


def summary(cfg: dict, run_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per stage: status, steps, launches, temperature, data sizes, reward first/last."""
    rows = []
    for st in cfg.training.stages:
        sdir = stage_dir(cfg, run_dir, st.index)
        rec = read_stage(sdir)
        plan = rec.get("plan") or {}
        df = stage_metrics(sdir)
        rcol = find_metric(df, "polaris/score_pre_substitution", "critic/score/mean") if len(df) else None
        rows.append({
            "stage": st.name, "status": rec.get("status", "not started"),
            "steps": rec.get("final_step"), "launches": rec.get("launches"),
            "temperature": plan.get("temperature"), "T source": plan.get("temperature_source"),
            "train rows": (plan.get("data_report") or {}).get("after", (plan.get("data_report") or {}).get("rows")),
            "reward first": float(df[rcol].iloc[0]) if rcol else None,
            "reward last": float(df[rcol].iloc[-1]) if rcol else None,
            "train s": rec.get("train_s"),
        })
    return pd.DataFrame(rows)
