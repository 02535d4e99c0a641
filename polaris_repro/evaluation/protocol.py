"""The evaluation protocol and the models it runs on.

:func:`protocol` reads the settings of ``cfg.evaluation`` (with overrides) and checks them;
:func:`protocol_mismatches` lists where they differ from the report's. :class:`ModelSpec` is one
model to evaluate (:func:`default_models` picks them for a tier and run), :class:`ModelResult` what
its evaluation produced. Shared constants and :class:`EvaluationError` live here too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from .. import reference_results as ref
from ..config import OVERLONG_PROMPTS, as_config


SECTION = "04_evaluation"


# settings that change the responses: a resumed evaluation must match them exactly
GENERATION_KEYS = ("model", "yarn", "temperature", "top_p", "top_k", "max_new_tokens", "seed",
                   "thinking", "engine")


GRADE_COLUMNS = ("correct", "pred", "has_box", "mv_correct")


NO_INTERVAL = (float("nan"), float("nan"))


class EvaluationError(ValueError):
    """Bad evaluation input or a resume that would mix settings; the message names the cause."""


def protocol(cfg: dict, *, benchmarks: Mapping[str, int] | None = None,
             num_problems: int | None = None, temperature: float | None = None,
             top_p: float | None = None, top_k: int | None = None,
             max_new_tokens: int | None = None, yarn: bool | None = None,
             yarn_original_max_position_embeddings: int | None = None) -> dict:
    """The evaluation protocol of a tier's config, with optional overrides (None = config value).

    Returns a plain dict: sampling settings, YaRN, benchmarks ``{name: n}``, number of problems,
    thinking mode, grading mode (``require_think`` is always False for evaluation, reference
    §10.2), seed, length-bucket edges, token budgets and bootstrap resamples.
    """
    cfg = as_config(cfg)
    ev = cfg.evaluation
    y = ev.yarn
    proto = {
        "temperature": float(ev.temperature if temperature is None else temperature),
        "top_p": float(ev.top_p if top_p is None else top_p),
        "top_k": int(ev.top_k if top_k is None else top_k),
        "max_new_tokens": int(ev.max_new_tokens if max_new_tokens is None else max_new_tokens),
        "yarn": {"enabled": bool(y.enabled if yarn is None else yarn),
                 "factor": float(y.factor or 1.0),
                 "attn_factor": float(y.attn_factor or 1.0),
                 # the YaRN base: the tier's stated value (paper tiers: the documented native
                 # context), or a notebook override to settle which base reproduces Figs 10-12
                 "original_max_position_embeddings": (y.original_max_position_embeddings
                                                      if yarn_original_max_position_embeddings is None
                                                      else int(yarn_original_max_position_embeddings))},
        "benchmarks": dict(benchmarks if benchmarks else (ev.benchmarks or {})),
        "num_problems": ev.num_problems if num_problems is None else num_problems,
        "thinking": bool(cfg.model.thinking),
        "family": cfg.model.family,
        "grading": {"answer_extraction": cfg.grading.answer_extraction, "require_think": False},
        "seed": int(cfg.seed),
        "engine": cfg.sampling.engine,
        "tensor_parallel_size": cfg.sampling.tensor_parallel_size,
        "length_buckets": [int(x) for x in ev.length_buckets or []],
        "budgets": [int(x) for x in ev.budgets or []],
        "bootstrap": int(ev.bootstrap),
        "overlong_prompts": str(ev.overlong_prompts),
        "tier": cfg.tier,
    }
    if proto["overlong_prompts"] not in OVERLONG_PROMPTS:
        raise EvaluationError(f"evaluation.overlong_prompts must be error or skip, got {proto['overlong_prompts']!r}")
    for name, n in proto["benchmarks"].items():
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise EvaluationError(f"benchmarks[{name!r}]: the sample count must be a positive integer, "
                                  f"got {n!r}")
    if proto["num_problems"] is not None and (not isinstance(proto["num_problems"], int)
                                              or proto["num_problems"] <= 0):
        raise EvaluationError(f"num_problems must be a positive integer or None, got {proto['num_problems']!r}")
    if not 0 < proto["top_p"] <= 1:
        raise EvaluationError(f"top_p must lie in (0, 1], got {proto['top_p']}")
    if proto["temperature"] < 0:
        raise EvaluationError(f"temperature must be >= 0, got {proto['temperature']}")
    if list(proto["length_buckets"]) != sorted(set(proto["length_buckets"])):
        raise EvaluationError(f"evaluation.length_buckets must be strictly increasing, got {proto['length_buckets']}")
    return proto


def protocol_mismatches(proto: Mapping, reference: Mapping | None = None) -> list[str]:
    """Differences between a protocol and the report's (reference §10.1), one line per setting;
    an empty list means the protocol matches the report point by point."""
    want = reference or ref.REPORTED_PROTOCOL
    out = []
    for key in ("temperature", "top_p", "top_k", "max_new_tokens", "thinking"):
        if proto.get(key) != want[key]:
            out.append(f"{key}: ours {proto.get(key)!r}, report {want[key]!r}")
    for key in ("enabled", "factor", "attn_factor"):
        if proto["yarn"].get(key) != want["yarn"][key]:
            out.append(f"yarn.{key}: ours {proto['yarn'].get(key)!r}, report {want['yarn'][key]!r}")
    ours_b, want_b = dict(proto.get("benchmarks") or {}), dict(want["benchmarks"])
    for name in sorted(set(ours_b) | set(want_b)):
        if ours_b.get(name) != want_b.get(name):
            o = f"avg@{ours_b[name]}" if name in ours_b else "not evaluated"
            w = f"avg@{want_b[name]}" if name in want_b else "not in the report"
            out.append(f"benchmarks.{name}: ours {o}, report {w}")
    if proto.get("num_problems") is not None:
        out.append(f"num_problems: ours {proto['num_problems']}, report all problems")
    g = proto.get("grading", {})
    for key, val in want["grading"].items():
        if g.get(key) != val:
            out.append(f"grading.{key}: ours {g.get(key)!r}, report {val!r}")
    return out


@dataclass
class ModelSpec:
    """One model to evaluate. ``label`` names its folder; ``role`` is base | trained | baseline;
    ``reported_as`` is the report's row it corresponds to (None if none)."""
    label: str
    path: str
    yarn: bool
    role: str = "baseline"
    reported_as: str | None = None
    note: str = ""

    def as_dict(self) -> dict:
        return {"label": self.label, "path": self.path, "yarn": self.yarn, "role": self.role,
                "reported_as": self.reported_as, "note": self.note}


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-._" else "-" for c in str(text))
    return "-".join(p for p in keep.split("-") if p).strip(".") or "model"


def model_label(path: str, yarn: bool, role: str | None = None) -> str:
    """Folder label of a model: the role (base/trained) or the hub id's last part, plus ``+yarn``."""
    name = role if role in ("base", "trained") else _slug(str(path).rstrip("/").rsplit("/", 1)[-1])
    return f"{name}+yarn" if yarn else name


def trained_model(run_dir: str | os.PathLike) -> str | None:
    """The trained model of a run: the manifest's ``outputs["final_model"]`` (written by section
    03), or None when the run has none (e.g. section 04 run alone)."""
    from ..sections import FINAL_MODEL, output

    out = output(run_dir, FINAL_MODEL)
    if not out:
        return None
    path = out.get("path")
    if not path or not Path(path).exists():
        return None
    return str(path)


def _baseline_entries(cfg: dict) -> list[dict]:
    out = []
    for i, b in enumerate(cfg.evaluation.baselines or []):
        if isinstance(b, str):
            out.append({"path": b})
        elif isinstance(b, Mapping) and b.get("path"):
            out.append(dict(b))
        else:
            raise EvaluationError(f"evaluation.baselines[{i}]: expected a hub id or "
                                  f"{{path, label, reported_as}}, got {b!r}")
    return out


def default_models(cfg: dict, run_dir: str | os.PathLike, *, extra: Iterable[str] = (),
                   include_trained: bool = True, include_baselines: bool = True,
                   yarn: bool | None = None, yarn_ablation: bool = False) -> tuple[list[ModelSpec], list[str]]:
    """The models to evaluate for a tier and run, and notes to show the reader.

    The tier's base model (``model.path``), the run's trained model (if section 03 wrote one), the
    config's baselines and any ``extra`` paths; duplicates (same path) are dropped. With
    ``yarn_ablation`` the last of base/trained is evaluated a second time with YaRN toggled, for
    the with/without-YaRN length study (Figures 10-12).
    """
    use_yarn = bool(cfg.evaluation.yarn.enabled) if yarn is None else bool(yarn)
    rows = ref.TIER_ROWS.get(cfg.tier, {})
    notes: list[str] = []
    specs = [ModelSpec(model_label(cfg.model.path, use_yarn, "base"), str(cfg.model.path),
                       use_yarn, "base", rows.get("base") or ref.row_for(cfg.model.path))]
    if include_trained:
        tm = trained_model(run_dir)
        if tm is None:
            notes.append(f"No trained model in this run ({Path(run_dir) / 'manifest.json'} has no "
                         f"outputs['final_model']): section 03 has not run here, so only the base "
                         f"model is evaluated.")
        else:
            specs.append(ModelSpec(model_label(tm, use_yarn, "trained"), tm, use_yarn, "trained",
                                   rows.get("trained"), note="outputs['final_model'] of section 03"))
    if include_baselines:
        for b in _baseline_entries(cfg):
            specs.append(ModelSpec(b.get("label") or model_label(b["path"], use_yarn), b["path"], use_yarn,
                                   "baseline", b.get("reported_as") or ref.row_for(b["path"])))
    for p in extra:
        specs.append(ModelSpec(model_label(p, use_yarn), str(p), use_yarn, "baseline", ref.row_for(p)))
    seen, unique = set(), []
    for s in specs:
        key = (s.path, s.yarn)
        if key in seen:
            continue
        seen.add(key)
        unique.append(s)
    if yarn_ablation:
        # the report's study is on its trained model: ours if this run has one, else the released
        # checkpoint among the baselines (paper tiers), else the base model
        trained = [s for s in unique if s.role == "trained"]
        released = [s for s in unique if s.role == "baseline" and rows.get("trained")
                    and s.reported_as == rows.get("trained")]
        last = (trained or released or [unique[0]])[0]
        twin = ModelSpec(model_label(last.path, not last.yarn, last.role if last.role != "baseline" else None),
                         last.path, not last.yarn, last.role + "-ablation", None,   # the table is with YaRN
                         note=f"{last.label} with YaRN {'on' if not last.yarn else 'off'} (length study)")
        unique.append(twin)
    labels = [s.label for s in unique]
    dup = {x for x in labels if labels.count(x) > 1}
    if dup:
        raise EvaluationError(f"two models share the label(s) {sorted(dup)}; give baselines a 'label'")
    return unique, notes


@dataclass
class ModelResult:
    spec: ModelSpec
    out_dir: Path
    frames: dict[str, pd.DataFrame]          # benchmark -> graded responses (one row per problem)
    metrics: dict                            # as written to metrics.json
    questions: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def label(self) -> str:
        return self.spec.label
