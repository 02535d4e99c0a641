"""A training stage's plan: what a stage starts from, decided (and written to ``stage.json``) before
its verl launch.

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
  ``model.context_extension.rope_scaling``).

A re-run reuses the plan in ``stage.json``, so an interrupted stage re-launches with the same data
and temperature. Launching, merging and resuming are :mod:`polaris_repro.training.stages`'s.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .. import sections
from ..artifacts import now, write_json
from ..config import StageSpec, check_choice
from .verl_config import StageError

SECTION = "03_training"
STAGE_FILE = "stage.json"
MERGED = "merged_hf"


# --------------------------------------------------------------------------------------------
# paths and plans

def section_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / SECTION


def stage_dir(cfg: dict, run_dir: str | os.PathLike, stage: int | str) -> Path:
    return section_dir(run_dir) / cfg.stage(stage).name


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


def write_stage(sdir: Path, **fields) -> dict:
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
    return None, f"tier data ({cfg.data.train.source})"


def _write_tier_train(cfg: dict, path: Path) -> Path:
    from ..data import load_training_data, to_verl_parquet

    return to_verl_parquet(load_training_data(cfg), path)


def _write_val(cfg: dict, path: Path) -> Path:
    from ..data import load_benchmark, to_verl_parquet

    v = cfg.data.val
    df = load_benchmark(v.benchmark, cfg.data.benchmarks_dir, num_problems=v.num_problems,
                        seed=cfg.seed)
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
    ext = cfg.model.context_extension
    target = int(ext.max_position_embeddings or budget)
    if target < budget:
        raise StageError(f"model.context_extension.max_position_embeddings = {target} is below the "
                         f"stage's token budget {budget}")
    return {"from": limit, "to": target, "rope_scaling": ext.rope_scaling}


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
    spec = cfg.stage(stage)
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
    tr = cfg.training
    plan = StagePlan(
        index=spec.index, name=spec.name, dir=str(sdir), train_file=str(sdir / "train.parquet"),
        val_file=str(sdir / "val.parquet"), model_path=str(model_path), temperature=spec.temperature,
        temperature_source=spec.temperature_source, val_temperature=spec.val_temperature,
        substitution=substitution if substitution is not None else tr.substitution,
        rescue=bool(tr.rescue if rescue is None else rescue), steps=spec.steps,
        data_report={k: v for k, v in data_report.items() if k != "dropped_indices"}, context=ctx)
    if not dry_run:
        write_stage(sdir, plan=asdict(plan), status="planned", planned=now())
    return plan


def _temperature_mode(cfg: dict, mode: str | None) -> str:
    mode = mode or cfg.training.temperature_mode
    check_choice("training.temperature_mode", mode)
    return mode


def _previous_dir(cfg: dict, run_dir: Path, spec: StageSpec) -> Path:
    return stage_dir(cfg, run_dir, spec.index - 1)


def _input_model(cfg: dict, run_dir: Path, spec: StageSpec, dry_run: bool) -> str:
    """Stage 1: the tier's model (built or downloaded unless ``dry_run``); later stages: the
    previous stage's merged model, which must exist unless ``dry_run``."""
    if spec.index == 0:
        from ..models import resolve_model_path

        return str(cfg.model.path) if dry_run else resolve_model_path(str(cfg.model.path))
    model_path = str(_previous_dir(cfg, run_dir, spec) / MERGED)
    if not dry_run and not (Path(model_path) / "config.json").exists():
        raise StageError(f"stage {spec.name} starts from {model_path}, which does not exist: run "
                         f"{cfg.stage(spec.index - 1).name} first")
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
                        float(cfg.difficulty.drop_easy_threshold))
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
    write_stage(sdir, temperature_choice={k: v for k, v in rec.items() if k != "curve"})
    return replace(spec, temperature=float(rec["temperature"]),
                   temperature_source=f"search on {prev_dir.name}/{MERGED}")


def _fit_context(cfg: dict, spec: StageSpec, sdir: Path, model_path: str, dry_run: bool,
                 log: Callable[[str], None]) -> tuple[dict, str]:
    """(what raising the model's context to the token budget takes, the model path to train): a
    dry run reads the tier's declared context; a real one the model folder's, and extends it."""
    budget = spec.token_budget
    if dry_run:
        native = cfg.model.max_position_embeddings
        ext = cfg.model.context_extension.max_position_embeddings
        ctx = {"from": native, "to": int(ext or budget), "applied": "at launch"} \
            if native and budget > int(native) else {}
        return ctx, model_path
    ctx = _context_needed(cfg, model_path, budget)
    if ctx:
        model_path = _extend(model_path, sdir / "model_in", ctx)
        log(f"[{spec.name}] context raised {ctx['from']} -> {ctx['to']} in {model_path}")
    return ctx, model_path
