"""The stage runner: POLARIS's multi-stage schedule as one verl launch per stage.

For stage ``s`` of the tier config (folder ``<run_dir>/03_training/<stage name>/``):

* **training data** -- stage 1: the difficulty section's filtered set (manifest output
  ``train_data``) if the run has one, else the tier's training data; stage ``s > 1``: the previous
  stage's set minus the prompts whose mean logged accuracy over that stage is > the threshold
  (``difficulty.drop_easy`` on the previous stage's ``accuracy_log.jsonl``, reference 3.6);
* **temperature** -- stage 1: ``<run_dir>/02_temperature/choice.json`` if present, else the
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
``metrics/``, merged by :func:`stage_metrics`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from ..artifacts import Manifest, REPO_ROOT, now, read_jsonl, write_json
from ..signals import as_interrupt, exit_with_parent, signal_name
from . import mechanisms as M
from .verl_config import StageError, stage_overrides

SECTION = "03_training"
STAGE_FILE = "stage.json"
MERGED = "merged_hf"


# --------------------------------------------------------------------------------------------
# paths and plans

def section_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / SECTION


def stage_index(cfg: dict, stage: int | str) -> int:
    """In this module a stage is its 0-based index (int) or its name (str); the CLI's 1-based
    numbers go through :func:`verl_config.resolve_stage`."""
    n = len(cfg["training"]["stages"])
    if isinstance(stage, int) and not isinstance(stage, bool):
        if not 0 <= stage < n:
            raise StageError(f"stage index {stage} out of range 0..{n - 1}")
        return stage
    names = [s["name"] for s in cfg["training"]["stages"]]
    if stage not in names:
        raise StageError(f"unknown stage {stage!r}; expected one of {names}")
    return names.index(stage)


def stage_dir(cfg: dict, run_dir: str | os.PathLike, stage: int | str) -> Path:
    return section_dir(run_dir) / cfg["training"]["stages"][stage_index(cfg, stage)]["name"]


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
    p = Path(run_dir) / "02_temperature" / "choice.json"
    if not p.exists():
        return None
    rec = json.loads(p.read_text())
    if "temperature" not in rec:
        raise ValueError(f"{p}: no 'temperature' field")
    return rec


def _stage1_train_source(cfg: dict, run_dir: Path) -> tuple[str | None, str]:
    man = Manifest(run_dir).data if (run_dir / "manifest.json").exists() else {}
    out = (man.get("outputs") or {}).get("train_data")
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
                        seed=cfg.get("seed", 0))
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
    decisions if the stage was planned before (an interrupted stage resumes unchanged)."""
    run_dir = Path(run_dir)
    i = stage_index(cfg, stage)
    st = cfg["training"]["stages"][i]
    sdir = stage_dir(cfg, run_dir, i)
    prev = read_stage(sdir).get("plan")
    if prev and not dry_run:
        plan = StagePlan(**prev)
        log(f"[{plan.name}] reusing the plan in {sdir / STAGE_FILE}")
        return plan
    temperature_mode = temperature_mode or cfg["training"]["temperature_mode"]
    if temperature_mode not in ("config", "search"):
        raise ValueError(f"temperature_mode must be 'config' or 'search', got {temperature_mode!r}")
    tr = cfg["training"]
    train_file = sdir / "train.parquet"
    val_file = sdir / "val.parquet"
    data_report: dict[str, Any] = {}
    T, T_src = float(st["temperature"]), "config"
    prev_dir = stage_dir(cfg, run_dir, i - 1) if i > 0 else None

    # ---- model
    if i == 0:
        from ..models import resolve_model_path

        model_path = str(cfg["model"]["path"]) if dry_run else resolve_model_path(str(cfg["model"]["path"]))
    else:
        model_path = str(prev_dir / MERGED)
        if not dry_run and not (Path(model_path) / "config.json").exists():
            raise StageError(f"stage {st['name']} starts from {model_path}, which does not exist: run "
                             f"{cfg['training']['stages'][i - 1]['name']} first")
    # ---- data
    if i == 0:
        src, how = _stage1_train_source(cfg, run_dir)
        data_report = {"source": how}
        if not dry_run:
            sdir.mkdir(parents=True, exist_ok=True)
            if src:
                shutil.copyfile(src, train_file)
            else:
                _write_tier_train(cfg, train_file)
            data_report["rows"] = int(len(pd.read_parquet(train_file)))
    else:
        prev_log = prev_dir / "accuracy_log.jsonl"
        data_report = {"source": f"drop_easy({prev_dir.name}/train.parquet, {prev_dir.name}/accuracy_log.jsonl)"}
        if not dry_run:
            sdir.mkdir(parents=True, exist_ok=True)
            if not prev_log.exists():
                raise StageError(f"{prev_log}: the previous stage has no accuracy log")
            rep = drop_easy(prev_dir / "train.parquet", prev_log, train_file,
                            float(cfg["difficulty"]["drop_easy_threshold"]))
            data_report.update(rep)
            log(f"[{st['name']}] drop-easy: {rep['before']} -> {rep['after']} prompts "
                f"({rep['dropped']} with accuracy > {rep['threshold']} dropped)")
    if not dry_run:
        _write_val(cfg, val_file)
    # ---- temperature
    if temperature is not None:
        T, T_src = float(temperature), "argument"
    elif i == 0:
        choice = _choice_temperature(run_dir)
        if choice is not None:
            T, T_src = float(choice["temperature"]), "02_temperature/choice.json"
    elif temperature_mode == "search" and not dry_run:
        from .. import temperature as temp

        prev_choice = (read_stage(prev_dir).get("temperature_choice")
                       or _choice_temperature(run_dir) or {})
        target = prev_choice.get("diversity")
        rec = temp.search_for_stage(cfg, model_path, target, out_dir=sdir / "temperature")
        T, T_src = float(rec["temperature"]), f"search on {prev_dir.name}/{MERGED}"
        _write_stage(sdir, temperature_choice={k: v for k, v in rec.items() if k != "curve"})
    # ---- context
    if dry_run:
        native = cfg["model"].get("max_position_embeddings")
        ext = (cfg["model"]["context_extension"] or {}).get("max_position_embeddings")
        ctx = {"from": native, "to": int(ext or st["token_budget"]), "applied": "at launch"} \
            if native and int(st["token_budget"]) > int(native) else {}
    else:
        ctx = _context_needed(cfg, model_path, int(st["token_budget"]))
    if ctx and not dry_run:
        model_path = _extend(model_path, sdir / "model_in", ctx)
        log(f"[{st['name']}] context raised {ctx['from']} -> {ctx['to']} in {model_path}")
    plan = StagePlan(
        index=i, name=st["name"], dir=str(sdir), train_file=str(train_file), val_file=str(val_file),
        model_path=str(model_path), temperature=T, temperature_source=T_src,
        val_temperature=st.get("val_temperature"),
        substitution=substitution if substitution is not None else tr["substitution"],
        rescue=bool(tr["rescue"] if rescue is None else rescue), steps=st.get("steps"),
        data_report={k: v for k, v in data_report.items() if k != "dropped_indices"}, context=ctx)
    if not dry_run:
        _write_stage(sdir, plan=asdict(plan), status="planned", planned=now())
    return plan


def overrides_for(cfg: dict, plan: StagePlan, *, resume_mode: str = "auto",
                  extra: Iterable[str] = (), ray_temp_dir: str | None = None) -> list[str]:
    extra = list(extra)
    if ray_temp_dir:
        extra.append(f"++ray_kwargs.ray_init._temp_dir={ray_temp_dir}")
    loggers = list(dict.fromkeys(list(cfg["training"]["logger"]) + ["file"]))
    return stage_overrides(cfg, plan.index, train_files=plan.train_file, val_files=plan.val_file,
                           model_path=plan.model_path, output_dir=plan.dir, temperature=plan.temperature,
                           accuracy_log=plan.accuracy_log, metrics_file=plan.metrics_file,
                           substitution=plan.substitution, rescue=plan.rescue, resume_mode=resume_mode,
                           logger=loggers, extra=extra)


# --------------------------------------------------------------------------------------------
# launching verl

def launch_env(cfg: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("HYDRA_FULL_ERROR", "1")
    if cfg["training"]["rollout_name"] == "hf":
        env["VERL_PLATFORM"] = "cpu"
        # Ray starts its workers at nice 15; on a CPU tier the workers *are* the job, and at nice 15
        # any other process on the machine (the notebook kernel, a browser) preempts the actor
        env.setdefault("RAY_worker_niceness", "0")
    env.setdefault("RAY_DEDUP_LOGS", "0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _session_pids(sid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and int(d.name) != os.getpid():  # field 6: session id
                out.append(int(d.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _cmdline_pids(needle: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                out.append(int(d.name))
        except OSError:
            continue
    return out


def cleanup_processes(sid: int | None, ray_temp_dir: str | None = None, grace_s: float = 5.0) -> list[int]:
    """Stop what a launch left behind: the processes of its session and those naming its private
    Ray temp dir (Ray's raylet/GCS/workers). Only these PIDs are signalled. Returns them."""
    pids = set(_session_pids(sid) if sid else [])
    if ray_temp_dir:
        pids |= set(_cmdline_pids(ray_temp_dir))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            break
        t0 = time.time()
        while time.time() - t0 < grace_s and any(_alive(p) for p in alive):
            time.sleep(0.2)
    return sorted(pids)


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


class LaunchFailed(RuntimeError):
    pass


def launch(overrides: Sequence[str], *, env: dict, log_path: Path, timeout: float | None = None,
           ray_temp_dir: str | None = None, echo: Callable[[str], None] | None = print,
           echo_filter: Callable[[str], bool] | None = None,
           on_start: Callable[[subprocess.Popen], None] | None = None,
           heartbeat_s: float | None = 20.0, label: str | None = None,
           cmd: Sequence[str] | None = None) -> float:
    """Run ``python -m polaris_repro.training.main_polaris <overrides>`` in its own session,
    teeing output to ``log_path``; on exit/timeout stop every process it left. Returns seconds.

    Progress through ``echo``: a line when the launch starts, the output lines ``echo_filter``
    accepts, and a heartbeat whenever nothing was echoed for ``heartbeat_s`` seconds (verl's
    start-up takes minutes before the first ``[polaris]`` line), with the last start-up line of
    the log (:func:`_progress_hint`). ``label``: the lines' prefix (default: the stage folder's
    name, from ``log_path``); ``cmd``: replaces the command (tests)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = list(cmd) if cmd is not None else [sys.executable, "-m", "polaris_repro.training.main_polaris",
                                             *overrides]
    label = label or (log_path.parent.parent.name if log_path.parent.name == "logs" else "verl")
    t0 = time.time()
    lock = threading.Lock()
    # last: any echoed line (heartbeats too); output: the last echoed output line
    state = {"last": t0, "output": t0, "hint": "", "running": False}

    def say(text: str, output: bool = False) -> None:
        with lock:
            echo(text)
            state["last"] = time.time()
            if output:
                state["output"] = state["last"]

    with open(log_path, "a") as logf:
        logf.write(f"# {now()} {' '.join(cmd)}\n")
        logf.flush()
        if echo:
            say(f"[{label}] starting verl (Ray, workers, model load) ... full log: {log_path}")
        # own session (stopped as a whole); SIGTERM to it if this process dies without clean-up
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                cwd=str(log_path.parent), start_new_session=True, text=True, bufsize=1,
                                preexec_fn=exit_with_parent)
        if on_start is not None:
            on_start(proc)

        def pump():
            last = ("", 0.0)
            for line in proc.stdout:
                logf.write(line)
                logf.flush()
                if echo and (echo_filter is None or echo_filter(line)):
                    text = _clean(line)
                    # several Ray nodes on one machine (the rehearsal) share a session folder, and
                    # each node's log monitor forwards every worker line: echo a repeat once
                    if text == last[0] and time.time() - last[1] < 5:
                        continue
                    last = (text, time.time())
                    say(text, output=True)
                    state["running"] = state["running"] or "[polaris]" in line
                elif echo:
                    state["hint"] = _progress_hint(line) or state["hint"]

        th = threading.Thread(target=pump, daemon=True)
        th.start()
        deadline = None if timeout is None else t0 + timeout
        beat = bool(echo and heartbeat_s and heartbeat_s > 0)
        rc = None
        try:
            while True:
                wait_s = min(1.0, heartbeat_s) if beat else None
                if deadline is not None:
                    left = deadline - time.time()
                    if left <= 0:
                        break
                    wait_s = left if wait_s is None else min(wait_s, left)
                try:
                    rc = proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    pass
                t = time.time()
                if beat and t - state["last"] >= heartbeat_s:
                    what = (f"verl running ... {t - state['output']:.0f} s since the last [polaris] line"
                            if state["running"] else f"verl starting ... {t - t0:.0f} s")
                    say(f"[{label}] {what}" + (f" (log: {state['hint']})" if state["hint"] else ""))
        finally:
            cleanup_processes(proc.pid, ray_temp_dir)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            th.join(timeout=10)
    elapsed = time.time() - t0
    if rc is None:
        raise LaunchFailed(f"verl launch timed out after {timeout} s; log: {log_path}")
    if rc != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-40:])
        raise LaunchFailed(f"verl launch exited with {rc}; log: {log_path}\n--- last lines ---\n{tail}")
    return elapsed


def abort_stage(sdir: str | os.PathLike) -> list[int]:
    """Kill a running stage's verl launch (its whole session and its private Ray processes) with
    SIGKILL, as a crash would; the stage resumes from its last checkpoint when run again."""
    st = read_stage(sdir)
    pid, tmp = st.get("pid"), st.get("ray_temp_dir")
    if not pid:
        return []
    pids = set(_session_pids(pid)) | (set(_cmdline_pids(tmp)) if tmp else set())
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sorted(pids)


def leftover_processes(sdir: str | os.PathLike) -> list[int]:
    """Live processes of a stage's last launch (its session or its Ray temp dir); [] when clean."""
    st = read_stage(sdir)
    pid, tmp = st.get("pid"), st.get("ray_temp_dir")
    pids = set(_session_pids(pid)) if pid else set()
    if tmp:
        pids |= set(_cmdline_pids(tmp))
    return sorted(p for p in pids if _alive(p))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RAY_PREFIX = re.compile(r"^\(\S+ pid=\d+(?:, ip=\S+)?\)\s*")


def _clean(line: str) -> str:
    """A console line without colour codes and Ray's ``(Actor pid=N)`` prefix."""
    return _RAY_PREFIX.sub("", _ANSI.sub("", line.rstrip("\n")))


_HINT = re.compile(r"start|init|load|connect|worker|actor|checkpoint|validat|generat|Training Progress",
                   re.IGNORECASE)


def _progress_hint(line: str, width: int = 100) -> str:
    """A launch-log line worth quoting in the start-up heartbeat (what verl is doing), or ""."""
    parts = [x.strip() for x in _clean(line).split("\r") if x.strip()]   # tqdm redraws: the last
    text = parts[-1] if parts else ""
    if not text or "warn" in text.lower() or not _HINT.search(text):
        return ""
    return text if len(text) <= width else text[:width - 3] + "..."


def _default_echo_filter(line: str) -> bool:
    """Progress lines worth showing live (the full output is in the launch log)."""
    if "Warning" in line:
        return False
    return "[polaris]" in line or "Traceback" in line \
        or line.startswith(("Error", "RuntimeError", "ValueError"))


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

def run_stage(cfg: dict, run_dir: str | os.PathLike, stage: int | str, *, substitution: str | None = None,
              rescue: bool | None = None, temperature: float | None = None,
              temperature_mode: str | None = None, resume: bool = True, timeout: float | None = None,
              extra_overrides: Iterable[str] = (), log: Callable[[str], None] = print) -> dict:
    """Run one stage to completion (or resume it); returns its ``stage.json`` record."""
    run_dir = Path(run_dir).resolve()
    i = stage_index(cfg, stage)
    sdir = stage_dir(cfg, run_dir, i)
    st = read_stage(sdir)
    if resume and st.get("status") == "done" and (sdir / MERGED / "config.json").exists():
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
    _write_stage(sdir, status="running", launches=n_launch, overrides=ov, started=now(), error=None,
                 interrupted_by=None)
    log(f"[{plan.name}] launch {n_launch}: T={plan.temperature} ({plan.temperature_source}), "
        f"model={plan.model_path}, data={plan.train_file}")
    env = launch_env(cfg)
    log_path = sdir / "logs" / f"launch-{n_launch:03d}.log"
    try:
        # SIGTERM / SIGHUP (a cluster's time limit, a closed terminal) take Ctrl-C's path: launch()
        # stops the verl launch and its Ray processes, the stage stays resumable
        with as_interrupt():
            secs = launch(ov, env=env, log_path=log_path, timeout=timeout,
                          ray_temp_dir=ray_tmp, echo=log, echo_filter=_default_echo_filter,
                          on_start=lambda p: _write_stage(sdir, pid=p.pid, ray_temp_dir=ray_tmp))
    except LaunchFailed as e:
        _write_stage(sdir, status="failed", error=str(e)[-3000:], ended=now())
        raise
    except KeyboardInterrupt as e:
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
    t0 = time.time()
    merged = merge_checkpoint(plan.checkpoints, plan.merged, step=step, env=env)
    rec = _write_stage(sdir, status="done", final_step=step, merged_model=str(merged), ended=now(),
                       train_s=round(secs, 1), merge_s=round(time.time() - t0, 1))
    log(f"[{plan.name}] done: {step} steps in {secs:.0f} s, merged model {merged}")
    return rec


def run_stages(cfg: dict, run_dir: str | os.PathLike, stages: Sequence[int | str] | None = None, *,
               record: bool = True, **kw) -> list[dict]:
    """Run stages in order (all by default); record the last stage's merged model as the run's
    ``final_model`` in the manifest."""
    run_dir = Path(run_dir).resolve()
    idx = [stage_index(cfg, s) for s in stages] if stages else list(range(len(cfg["training"]["stages"])))
    out = []
    for i in idx:
        out.append(run_stage(cfg, run_dir, i, **kw))
    if record and out:
        man = Manifest(run_dir)
        last = out[-1]
        man.record_output("final_model", last["merged_model"], stage=Path(last["merged_model"]).parent.name,
                          step=last.get("final_step"))
        man.record_output("training_stages", str(section_dir(run_dir)),
                          stages=[Path(r["merged_model"]).parent.name for r in out])
    return out


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
    return difficulty.prompt_accuracy(M.read_accuracy_log(log))


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
