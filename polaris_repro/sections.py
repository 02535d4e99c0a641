"""The run's sections and what they hand each other.

:data:`SECTIONS` names the section notebooks in order (the runner executes them, the report
renders them). A section records the outputs the next sections need in the run's manifest
(``outputs[name] = {"path": ..., **fields}``); :func:`record_output` writes such an entry and
:func:`output` / :func:`output_record` read it back, so that no reader spells a section's file
path: the difficulty section's training set (``train_data``), the temperature section's choice
(``stage1_temperature``), the training's final model (``final_model``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .artifacts import Manifest

SECTIONS = ("01_difficulty", "02_temperature", "03_training", "04_evaluation", "05_report")

TRAIN_DATA = "train_data"                   # 01_difficulty: the filtered stage-1 training set
STAGE1_TEMPERATURE = "stage1_temperature"   # 02_temperature: the chosen rollout temperature's record
FINAL_MODEL = "final_model"                 # 03_training: the last stage's merged model


def _default_path(run_dir: Path, name: str) -> Path | None:
    """Where a section writes an output that a run without its manifest entry may still hold
    (a run folder assembled by hand, or a section run with parameters that do not record it)."""
    if name == STAGE1_TEMPERATURE:
        from .temperature import CHOICE_FILE

        return run_dir / "02_temperature" / CHOICE_FILE
    return None


def record_output(run: "str | Path | Manifest", name: str, path: str | Path, **fields: Any) -> None:
    """Record the section output ``name`` (its file and the fields a reader needs) in the manifest
    of ``run`` (a run folder, or the :class:`~polaris_repro.artifacts.Manifest` a section holds)."""
    from .artifacts import Manifest

    (run if isinstance(run, Manifest) else Manifest(run)).record_output(name, path, **fields)


def output(run_dir: str | Path, name: str) -> dict | None:
    """The manifest's entry of the section output ``name`` (``path`` and the recorded fields), or
    for an output with a default location, that file when present; None when the run has neither."""
    run_dir = Path(run_dir)
    mpath = run_dir / "manifest.json"
    out = None
    if mpath.exists():
        rec = (json.loads(mpath.read_text()).get("outputs") or {}).get(name)
        if rec:
            out = dict(rec) if isinstance(rec, dict) else {"path": str(rec)}
    if out is not None and Path(out["path"]).exists():
        return out
    p = _default_path(run_dir, name)   # also a run folder moved since the manifest recorded the path
    if p is not None and p.exists():
        return {**(out or {}), "path": str(p)}
    return out


def output_record(run_dir: str | Path, name: str) -> dict | None:
    """The JSON record the section output ``name`` points at (e.g. the temperature choice:
    ``temperature``, ``diversity``, ``zones``, ``curve``), or None when the run has none."""
    out = output(run_dir, name)
    if not out or not Path(out["path"]).is_file():
        return None
    return json.loads(Path(out["path"]).read_text())


def output_label(run_dir: str | Path, name: str) -> str | None:
    """The output's file relative to the run folder (its absolute path when outside), for messages."""
    out = output(run_dir, name)
    if not out:
        return None
    p = Path(out["path"])
    try:
        return str(p.resolve().relative_to(Path(run_dir).resolve()))
    except ValueError:
        return str(p)
