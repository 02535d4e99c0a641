"""The stage runner: POLARIS's multi-stage schedule as one verl launch per stage.

For stage ``s`` of the tier config (folder ``<run_dir>/03_training/<stage name>/``):

* **training data** -- stage 1: the difficulty section's filtered set (manifest output
  ``train_data``) if the run has one, else the tier's training data; stage ``s > 1``: the previous
  stage's set minus the prompts whose mean logged accuracy over that stage is > the threshold
  (``difficulty.drop_easy`` on the previous stage's ``accuracy_log.jsonl``, reference 3.6);
* **temperature** -- stage 1: the temperature section's choice (manifest output
  ``stage1_temperature``) if present, else the
  configured value; later stages: the configured value, or (``temperature_mode="search"``, default
  ``training.temperature_mode``)
  ``temperature.search_for_stage`` on the previous stage's merged model, matching the previous
  choice's diversity (reference 6.4);
* **model** -- stage 1: the tier's model; stage ``s > 1``: the previous stage's last checkpoint
  merged to HF format (``python -m verl.model_merger merge``); the optimiser starts fresh, as in
  the paper. If the stage's token budget exceeds the model's context, ``max_position_embeddings``
  is raised first (``yarn.extend_context``; ``yarn.apply_yarn`` when the tier sets
  ``model.context_extension.rope_scaling``);
* **lengths, batch, loss** -- :func:`polaris_repro.training.verl_config.stage_overrides`.

Everything a stage decides is written to ``stage.json`` before launching, and a re-run reuses
it: an interrupted stage re-launches with the same data and temperature and verl resumes from the
last checkpoint (``trainer.resume_mode=auto``); the trainer truncates the accuracy log to that
checkpoint, so no line is lost or duplicated. A finished stage (``status: done`` and its merged
model present) is skipped. Metrics: verl's ``file`` logger, one file per launch under
``metrics/``, merged by :func:`stage_metrics`. Running a launch (its session, its output, what it
leaves behind) is :mod:`polaris_repro.training.supervisor`'s.

The module is longer than 500 lines because it holds a stage's whole life (plan, launch record,
merge, resume) plus the small readers of what the stages logged that the notebooks, figures and
claims share; the launch's process handling is already :mod:`~polaris_repro.training.supervisor`'s.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from .. import sections
from ..artifacts import now, write_json
from ..config import StageSpec, check_choice, stage_spec
from ..signals import as_interrupt, handling, signal_name
from . import mechanisms as M
from . import supervisor
from . import time_limits as TL
from .supervisor import LaunchFailed
from .overrides import OverrideSet
from .verl_config import StageError, stage_override_set

SECTION = "03_training"
STAGE_FILE = "stage.json"
MERGED = "merged_hf"


# --------------------------------------------------------------------------------------------
# paths and plans

def section_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / SECTION


def stage_dir(cfg: dict, run_dir: str | os.PathLike, stage: int | str) -> Path:
    return section_dir(run_dir) / stage_spec(cfg, stage).name


@dataclass
class StagePlan:
    index: int
    name: str
    dir: str
    train_file: str
    val_file: str
    model_path: str
    temperature: float
    temperature_source: str
    val_temperature: float | None
    substitution: str
    rescue: bool
    steps: int | None
    data_report: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)

    @property
    def accuracy_log(self) -> Path:
        return Path(self.dir) / "accuracy_log.jsonl"

    @property
    def metrics_file(self) -> Path:
        return Path(self.dir) / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return Path(self.dir) / "checkpoints"

    @property
    def merged(self) -> Path:
        return Path(self.dir) / MERGED


def read_stage(sdir: str | os.PathLike) -> dict:
    p = Path(sdir) / STAGE_FILE
    return json.loads(p.read_text()) if p.exists() else {}


def _write_stage(sdir: Path, **fields) -> dict:
    st = read_stage(sdir)
    st.update(fields)
    write_json(sdir / STAGE_FILE, st)
    return st


def _choice_temperature(run_dir: Path) -> dict | None:
    """The temperature section's choice record (the manifest's ``stage1_temperature``), or None."""
    rec = sections.output_record(run_dir, sections.STAGE1_TEMPERATURE)
    if rec is not None and "temperature" not in rec:
        raise ValueError(f"{sections.output(run_dir, sections.STAGE1_TEMPERATURE)['path']}: no 'temperature' field")
    return rec


def _stage1_train_source(cfg: dict, run_dir: Path) -> tuple[str | None, str]:
    out = sections.output(run_dir, sections.TRAIN_DATA)
    if out and Path(out["path"]).exists():
        return out["path"], "01_difficulty (manifest outputs.train_data)"
    return None, f"tier data ({cfg['data']['train'].get('source')})"


def _write_tier_train(cfg: dict, path: Path) -> Path:
    from ..data import load_training_data, to_verl_parquet

    return to_verl_parquet(load_training_data(cfg), path)


def _write_val(cfg: dict, path: Path) -> Path:
    from ..data import load_benchmark, to_verl_parquet

    v = cfg["data"]["val"]
    df = load_benchmark(v["benchmark"], cfg["data"].get("benchmarks_dir"), num_problems=v.get("num_problems"),
                        seed=cfg["seed"])
    return to_verl_parquet(df, path)


def drop_easy(train_parquet: Path, accuracy_log: Path, out_parquet: Path, threshold: float) -> dict:
    """The difficulty section's ``drop_easy`` (reference 3.6)."""
    from .. import difficulty

    return difficulty.drop_easy(train_parquet, accuracy_log, out_parquet, threshold=threshold)


def _context_needed(cfg: dict, model_path: str, budget: int) -> dict:
    """If ``budget`` exceeds the model folder's context, what to apply (else {})."""
    p = Path(model_path)
    if not (p / "config.json").exists():
        return {}
    from .. import yarn

    limit = yarn.context_limit(p)
    if budget <= limit:
        return {}
    ext = cfg["model"]["context_extension"] or {}
    target = int(ext.get("max_position_embeddings") or budget)
    if target < budget:
        raise StageError(f"model.context_extension.max_position_embeddings = {target} is below the "
                         f"stage's token budget {budget}")
    return {"from": limit, "to": target, "rope_scaling": ext.get("rope_scaling")}


def _extend(model_path: str, out_dir: Path, ctx: dict) -> str:
    from .. import yarn

    rs = ctx.get("rope_scaling")
    if rs:
        folder = yarn.apply_yarn(model_path, float(rs.get("factor", 1.0)), out_dir=out_dir,
                                 attn_factor=float(rs.get("attn_factor", 1.0)),
                                 max_position_embeddings=ctx["to"])
    else:
        folder = yarn.extend_context(model_path, ctx["to"], out_dir=out_dir)
    return str(folder)


def plan_stage(cfg: dict, run_dir: str | os.PathLike, stage: int | str, *, substitution: str | None = None,
               rescue: bool | None = None, temperature: float | None = None,
               temperature_mode: str | None = None, dry_run: bool = False,
               log: Callable[[str], None] = print) -> StagePlan:
    """Decide (and, unless ``dry_run``, materialise) a stage's inputs; reuse ``stage.json``'s
    decisions if the stage was planned before (an interrupted stage resumes unchanged).

    The steps, in order: the input model, the training and validation data, the rollout
    temperature, the context the token budget needs; each takes and returns the typed stage record
    (:class:`polaris_repro.config.StageSpec`) or what it decided."""
    run_dir = Path(run_dir)
    spec = stage_spec(cfg, stage)
    sdir = stage_dir(cfg, run_dir, spec.index)
    prev = read_stage(sdir).get("plan")
    if prev and not dry_run:
        plan = StagePlan(**prev)
        log(f"[{plan.name}] reusing the plan in {sdir / STAGE_FILE}")
        return plan
    mode = _temperature_mode(cfg, temperature_mode)
    model_path = _input_model(cfg, run_dir, spec, dry_run)
    data_report = _training_data(cfg, run_dir, spec, sdir, dry_run, log)
    if not dry_run:
        _write_val(cfg, sdir / "val.parquet")
    spec = _rollout_temperature(cfg, run_dir, spec, sdir, model_path, temperature, mode, dry_run)
    ctx, model_path = _fit_context(cfg, spec, sdir, model_path, dry_run, log)
    tr = cfg["training"]
    plan = StagePlan(
        index=spec.index, name=spec.name, dir=str(sdir), train_file=str(sdir / "train.parquet"),
        val_file=str(sdir / "val.parquet"), model_path=str(model_path), temperature=spec.temperature,
        temperature_source=spec.temperature_source, val_temperature=spec.val_temperature,
        substitution=substitution if substitution is not None else tr["substitution"],
        rescue=bool(tr["rescue"] if rescue is None else rescue), steps=spec.steps,
        data_report={k: v for k, v in data_report.items() if k != "dropped_indices"}, context=ctx)
    if not dry_run:
        _write_stage(sdir, plan=asdict(plan), status="planned", planned=now())
    return plan


def _temperature_mode(cfg: dict, mode: str | None) -> str:
    mode = mode or cfg["training"]["temperature_mode"]
    check_choice("training.temperature_mode", mode)
    return mode


def _previous_dir(cfg: dict, run_dir: Path, spec: StageSpec) -> Path:
    return stage_dir(cfg, run_dir, spec.index - 1)


def _input_model(cfg: dict, run_dir: Path, spec: StageSpec, dry_run: bool) -> str:
    """Stage 1: the tier's model (built or downloaded unless ``dry_run``); later stages: the
    previous stage's merged model, which must exist unless ``dry_run``."""
    if spec.index == 0:
        from ..models import resolve_model_path

        return str(cfg["model"]["path"]) if dry_run else resolve_model_path(str(cfg["model"]["path"]))
    model_path = str(_previous_dir(cfg, run_dir, spec) / MERGED)
    if not dry_run and not (Path(model_path) / "config.json").exists():
        raise StageError(f"stage {spec.name} starts from {model_path}, which does not exist: run "
                         f"{cfg['training']['stages'][spec.index - 1]['name']} first")
    return model_path


def _training_data(cfg: dict, run_dir: Path, spec: StageSpec, sdir: Path, dry_run: bool,
                   log: Callable[[str], None]) -> dict[str, Any]:
    """Write the stage's ``train.parquet`` (unless ``dry_run``) and report where it came from:
    stage 1 the difficulty section's set or the tier's data, later stages the previous stage's set
    after drop-easy."""
    train_file = sdir / "train.parquet"
    if spec.index == 0:
        src, how = _stage1_train_source(cfg, run_dir)
        report: dict[str, Any] = {"source": how}
        if not dry_run:
            sdir.mkdir(parents=True, exist_ok=True)
            if src:
                shutil.copyfile(src, train_file)
            else:
                _write_tier_train(cfg, train_file)
            report["rows"] = int(len(pd.read_parquet(train_file)))
        return report
    prev_dir = _previous_dir(cfg, run_dir, spec)
    prev_log = prev_dir / "accuracy_log.jsonl"
    report = {"source": f"drop_easy({prev_dir.name}/train.parquet, {prev_dir.name}/accuracy_log.jsonl)"}
    if not dry_run:
        sdir.mkdir(parents=True, exist_ok=True)
        if not prev_log.exists():
            raise StageError(f"{prev_log}: the previous stage has no accuracy log")
        rep = drop_easy(prev_dir / "train.parquet", prev_log, train_file,
                        float(cfg["difficulty"]["drop_easy_threshold"]))
        report.update(rep)
        log(f"[{spec.name}] drop-easy: {rep['before']} -> {rep['after']} prompts "
            f"({rep['dropped']} with accuracy > {rep['threshold']} dropped)")
    return report


def _rollout_temperature(cfg: dict, run_dir: Path, spec: StageSpec, sdir: Path, model_path: str,
                         temperature: float | None, mode: str, dry_run: bool) -> StageSpec:
    """The stage with its rollout temperature and where it came from: an explicit argument; stage
    1 the temperature section's choice; later stages in ``search`` mode (never in a dry run) a
    search on the previous stage's model; else the configured value the record already holds."""
    if temperature is not None:
        return replace(spec, temperature=float(temperature), temperature_source="argument")
    if spec.index == 0:
        choice = _choice_temperature(run_dir)
        if choice is None:
            return spec
        return replace(spec, temperature=float(choice["temperature"]),
                       temperature_source=sections.output_label(run_dir, sections.STAGE1_TEMPERATURE))
    if mode != "search" or dry_run:
        return spec
    from .. import temperature as temp

    prev_dir = _previous_dir(cfg, run_dir, spec)
    prev_choice = read_stage(prev_dir).get("temperature_choice") or _choice_temperature(run_dir) or {}
    rec = temp.search_for_stage(cfg, model_path, prev_choice.get("diversity"), out_dir=sdir / "temperature")
    _write_stage(sdir, temperature_choice={k: v for k, v in rec.items() if k != "curve"})
    return replace(spec, temperature=float(rec["temperature"]),
                   temperature_source=f"search on {prev_dir.name}/{MERGED}")


def _fit_context(cfg: dict, spec: StageSpec, sdir: Path, model_path: str, dry_run: bool,
                 log: Callable[[str], None]) -> tuple[dict, str]:
    """(what raising the model's context to the token budget takes, the model path to train): a
    dry run reads the tier's declared context; a real one the model folder's, and extends it."""
    budget = spec.token_budget
    if dry_run:
        native = cfg["model"].get("max_position_embeddings")
        ext = (cfg["model"]["context_extension"] or {}).get("max_position_embeddings")
        ctx = {"from": native, "to": int(ext or budget), "applied": "at launch"} \
            if native and budget > int(native) else {}
        return ctx, model_path
    ctx = _context_needed(cfg, model_path, budget)
    if ctx:
        model_path = _extend(model_path, sdir / "model_in", ctx)
        log(f"[{spec.name}] context raised {ctx['from']} -> {ctx['to']} in {model_path}")
    return ctx, model_path


def overrides_for(cfg: dict, plan: StagePlan, *, resume_mode: str = "auto",
                  extra: Iterable[str] = (), ray_temp_dir: str | None = None) -> list[str]:
    """The verl overrides of a planned stage (:func:`override_set_for`'s items)."""
    return override_set_for(cfg, plan, resume_mode=resume_mode, extra=extra, ray_temp_dir=ray_temp_dir).items()


def override_set_for(cfg: dict, plan: StagePlan, *, resume_mode: str = "auto",
                     extra: Iterable[str] = (), ray_temp_dir: str | None = None) -> OverrideSet:
    """The verl overrides of a planned stage with each one's source: the recipe's, the CPU
    platform's, the user's ``extra`` (``--verl``), then the launch's Ray temp dir."""
    loggers = list(dict.fromkeys(list(cfg["training"]["logger"]) + ["file"]))
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
    i = stage_spec(cfg, stage).index
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
    _write_stage(sdir, status="running", launches=n_launch, overrides=ov, started=now(), error=None,
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
                                       on_start=lambda p: _write_stage(sdir, pid=p.pid, ray_temp_dir=ray_tmp))
    except LaunchFailed as e:
        _end_attempt(sdir, plan, "failed", reason=str(e).splitlines()[0][:300])
        _write_stage(sdir, status="failed", error=str(e)[-3000:], ended=now())
        raise
    except KeyboardInterrupt as e:
        _end_attempt(sdir, plan, "interrupted", reason=signal_name(e))
        _write_stage(sdir, status="interrupted", interrupted_by=signal_name(e), ended=now(),
                     placement=placement_from_log(log_path))
        log(f"[{plan.name}] interrupted by {signal_name(e)}: verl launch stopped; "
            f"run again to resume from step {latest_step(plan.checkpoints) or 0}")
        raise
    finally:
        if ray_tmp:
            shutil.rmtree(ray_tmp, ignore_errors=True)
    _write_stage(sdir, placement=placement_from_log(log_path))
    step = latest_step(plan.checkpoints)
    stopped = TL.read_stopped(sdir)
    if stopped and stopped.get("total") is not None and int(stopped["step"]) < int(stopped["total"]):
        _end_attempt(sdir, plan, "stopped", reason=stopped["reason"], seconds=secs)
        _write_stage(sdir, status="stopped", stopped_at_step=step, ended=now())
        log(f"[{plan.name}] stopped on request at step {step} of {stopped['total']} (checkpoint saved); "
            f"run again to resume from step {step}")
        raise TL.StopRequested(f"{plan.name} stopped at step {step} of {stopped['total']} ({stopped['reason']})")
    _end_attempt(sdir, plan, "trained", seconds=secs)
    t0 = time.time()
    merged = merge_checkpoint(plan.checkpoints, plan.merged, step=step, env=env)
    rec = _write_stage(sdir, status="done", final_step=step, merged_model=str(merged), ended=now(),
                       train_s=round(secs, 1), merge_s=round(time.time() - t0, 1))
    log(f"[{plan.name}] done: {step} steps in {secs:.0f} s, merged model {merged}")
    if not cfg["training"]["keep_checkpoints"]:
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
    _write_stage(sdir, attempts=[*attempts[:-1], last])


def _remove_checkpoints(sdir: Path, ckpt_dir: Path, *, log: Callable[[str], None], name: str) -> dict:
    """``training.keep_checkpoints: false``: delete a finished stage's verl checkpoints (the merged
    model is what the next stage and the evaluation read); ``stage.json`` records what was freed."""
    ckpt_dir = Path(ckpt_dir)
    size = sum(f.stat().st_size for f in ckpt_dir.rglob("*") if f.is_file()) if ckpt_dir.exists() else 0
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    log(f"[{name}] checkpoints removed ({size / 1e9:.1f} GB; training.keep_checkpoints=false)")
    return _write_stage(sdir, checkpoints_removed_gb=round(size / 1e9, 2))


def run_stages(cfg: dict, run_dir: str | os.PathLike, stages: Sequence[int | str] | None = None, *,
               record: bool = True, **kw) -> list[dict]:
    """Run stages in order (all by default); record the last stage's merged model as the run's
    ``final_model`` in the manifest."""
    run_dir = Path(run_dir).resolve()
    idx = [stage_spec(cfg, s).index for s in stages] if stages else list(range(len(cfg["training"]["stages"])))
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
                raise TL.StopRequested(f"stopped before {stage_spec(cfg, i).name} on request ({reason})")
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
    frames, offset = [], 0
    for i, st in enumerate(cfg["training"]["stages"]):
        df = stage_metrics(stage_dir(cfg, run_dir, i))
        if not len(df):
            continue
        df.insert(0, "stage", st["name"])
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
    for i, st in enumerate(cfg["training"]["stages"]):
        sdir = stage_dir(cfg, run_dir, i)
        rec = read_stage(sdir)
        plan = rec.get("plan") or {}
        df = stage_metrics(sdir)
        rcol = find_metric(df, "polaris/score_pre_substitution", "critic/score/mean") if len(df) else None
        rows.append({
            "stage": st["name"], "status": rec.get("status", "not started"),
            "steps": rec.get("final_step"), "launches": rec.get("launches"),
            "temperature": plan.get("temperature"), "T source": plan.get("temperature_source"),
            "train rows": (plan.get("data_report") or {}).get("after", (plan.get("data_report") or {}).get("rows")),
            "reward first": float(df[rcol].iloc[0]) if rcol else None,
            "reward last": float(df[rcol].iloc[-1]) if rcol else None,
            "train s": rec.get("train_s"),
        })
    return pd.DataFrame(rows)
