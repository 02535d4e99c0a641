"""Section 4: benchmark evaluation, the results table and the length studies.

The protocol comes from ``cfg["evaluation"]`` (reference §10): temperature, top-p, top-k, max new
tokens, YaRN, the benchmarks with their sample counts (avg@n), the number of problems, the
length-bucket edges (Figures 10-11) and the token budgets (Figure 12). Every setting is written
next to the results.

Per model, under ``<run_dir>/04_evaluation/<label>/``:

* ``settings.json``            the generation and grading settings (a resumed run must match them)
* ``<benchmark>.parquet``      all responses, one row per problem, in the official POLARIS layout
                               (the benchmark's columns plus a ``responses`` list column) with
                               ``num_tokens``, ``finish_reasons`` and the per-response grades
                               (``correct``, ``pred``, ``has_box``, ``mv_correct``) as list columns
* ``<benchmark>.samples.jsonl`` the sampler's resume journal (interrupted generation continues)
* ``questions.csv``            one row per question: correct count, lengths, truncations, answers
* ``metrics.json``             per benchmark: avg@n with a question-level 95 % interval, unbiased
                               pass@k for k = 1..n, maj@n, truncation and missing-box rates, lengths,
                               and the number of responses on which our grader and math-verify
                               disagree

Across models (``<run_dir>/04_evaluation/``): ``results`` (Markdown, CSV, PNG: ours next to the
report's table with intervals and the paired difference to the base model), ``length_buckets``
and ``budget_curve`` (figures + CSVs, from the same responses: no extra generation).

Files in the official output layout (``responses`` next to the benchmark columns, as written by
verl's ``main_generation``) are read by :func:`read_official` and graded by :func:`grade_file`
through exactly the same code.
"""
from __future__ import annotations

import copy
import gc
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import reference_results as ref
from .artifacts import atomic_path, now, write_json

SECTION = "04_evaluation"
# settings that change the responses: a resumed evaluation must match them exactly
GENERATION_KEYS = ("model", "yarn", "temperature", "top_p", "top_k", "max_new_tokens", "seed",
                   "thinking", "engine")
GRADE_COLUMNS = ("correct", "pred", "has_box", "mv_correct")
NO_INTERVAL = (float("nan"), float("nan"))


class EvaluationError(ValueError):
    """Bad evaluation input or a resume that would mix settings; the message names the cause."""


# =============================================================================================
# Protocol


def protocol(cfg: dict, *, benchmarks: Mapping[str, int] | None = None,
             num_problems: int | None = None, temperature: float | None = None,
             top_p: float | None = None, top_k: int | None = None,
             max_new_tokens: int | None = None, yarn: bool | None = None) -> dict:
    """The evaluation protocol of a tier's config, with optional overrides (None = config value).

    Returns a plain dict: sampling settings, YaRN, benchmarks ``{name: n}``, number of problems,
    thinking mode, grading mode (``require_think`` is always False for evaluation, reference
    §10.2), seed, length-bucket edges, token budgets and bootstrap resamples.
    """
    ev = cfg["evaluation"]
    y = dict(ev.get("yarn") or {})
    proto = {
        "temperature": float(ev["temperature"] if temperature is None else temperature),
        "top_p": float(ev["top_p"] if top_p is None else top_p),
        "top_k": int(ev["top_k"] if top_k is None else top_k),
        "max_new_tokens": int(ev["max_new_tokens"] if max_new_tokens is None else max_new_tokens),
        "yarn": {"enabled": bool(y.get("enabled") if yarn is None else yarn),
                 "factor": float(y.get("factor") or 1.0),
                 "attn_factor": float(y.get("attn_factor") or 1.0),
                 "original_max_position_embeddings": y.get("original_max_position_embeddings")},
        "benchmarks": dict(benchmarks if benchmarks else (ev.get("benchmarks") or {})),
        "num_problems": ev.get("num_problems") if num_problems is None else num_problems,
        "thinking": bool(cfg["model"].get("thinking", True)),
        "family": cfg["model"].get("family"),
        "grading": {"answer_extraction": cfg["grading"]["answer_extraction"], "require_think": False},
        "seed": int(cfg.get("seed", 0)),
        "engine": cfg["sampling"]["engine"],
        "tensor_parallel_size": cfg["sampling"].get("tensor_parallel_size"),
        "length_buckets": [int(x) for x in ev.get("length_buckets") or []],
        "budgets": [int(x) for x in ev.get("budgets") or []],
        "bootstrap": int(ev.get("bootstrap") or 1000),
        "overlong_prompts": str(ev.get("overlong_prompts") or "error"),
        "tier": cfg.get("tier"),
    }
    if proto["overlong_prompts"] not in ("error", "skip"):
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


# =============================================================================================
# Models


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
    from .artifacts import Manifest

    mpath = Path(run_dir) / "manifest.json"
    if not mpath.exists():
        return None
    out = Manifest(run_dir).data.get("outputs", {}).get("final_model")
    if not out:
        return None
    path = out.get("path") if isinstance(out, dict) else str(out)
    if not path or not Path(path).exists():
        return None
    return str(path)


def _baseline_entries(cfg: dict) -> list[dict]:
    out = []
    for i, b in enumerate(cfg["evaluation"].get("baselines") or []):
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
    use_yarn = bool(cfg["evaluation"]["yarn"].get("enabled")) if yarn is None else bool(yarn)
    rows = ref.TIER_ROWS.get(cfg.get("tier"), {})
    notes: list[str] = []
    specs = [ModelSpec(model_label(cfg["model"]["path"], use_yarn, "base"), str(cfg["model"]["path"]),
                       use_yarn, "base", rows.get("base") or ref.row_for(cfg["model"]["path"]))]
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


# =============================================================================================
# Problems and generation


def load_problems(name: str, cfg: dict, num_problems: int | None = None) -> pd.DataFrame:
    """One benchmark's problems (normalised rows), the first ``num_problems`` of them."""
    from .data import load_benchmark

    directory = cfg["data"].get("benchmarks_dir")
    if name == "synthetic":
        # held-out problems of the trained levels, disjoint from every problem of sections 1-3
        levels = cfg["evaluation"].get("synthetic_levels") or cfg["data"]["train"].get("levels")
        return load_benchmark("synthetic", num_problems=num_problems or 32, seed=int(cfg.get("seed", 0)),
                              levels=levels, pool="heldout")
    return load_benchmark(name, directory, num_problems=num_problems)


def _chat(prompt: Any) -> list[dict] | str:
    if isinstance(prompt, str):
        return prompt
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in list(prompt)]


def _generation_settings(spec: ModelSpec, proto: Mapping) -> dict:
    y = proto["yarn"]
    return {"model": spec.path, "label": spec.label, "role": spec.role,
            "yarn": ({"factor": y["factor"], "attn_factor": y["attn_factor"],
                      "original_max_position_embeddings": y.get("original_max_position_embeddings")}
                     if spec.yarn else None),
            "temperature": proto["temperature"], "top_p": proto["top_p"], "top_k": proto["top_k"],
            "max_new_tokens": proto["max_new_tokens"], "seed": proto["seed"],
            "thinking": proto["thinking"], "engine": proto["engine"],
            "grading": dict(proto["grading"])}


def _check_resume(path: Path, settings: dict) -> None:
    if not path.exists():
        return
    old = json.loads(path.read_text())
    diff = [f"{k}: before {old.get(k)!r}, now {settings.get(k)!r}" for k in GENERATION_KEYS
            if old.get(k) != settings.get(k)]
    if diff:
        raise EvaluationError(
            f"{path.parent}: this folder holds responses generated with other settings ("
            + "; ".join(diff) + "). Use another model label or run folder, or delete the folder.")


def local_model_path(path: str) -> str:
    """A local folder for a model: builtin models are built/cached, local folders pass through,
    hub ids are downloaded into the Hugging Face cache (``snapshot_download``)."""
    from .models import resolve_model_path

    resolved = resolve_model_path(str(path))
    if Path(resolved).is_dir():
        return resolved
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover
        raise EvaluationError(f"{path}: not a local folder and huggingface_hub is missing") from e
    try:
        return str(snapshot_download(resolved))
    except Exception as e:
        raise EvaluationError(f"{path}: not a local folder and could not be downloaded from the hub "
                              f"({type(e).__name__}: {e}); pass a local folder") from e


def context_extension(spec: ModelSpec, proto: Mapping, cfg: dict, model_path: str) -> dict:
    """``model.context_extension`` for the sampler: the tier's raised context limit, plus the YaRN
    entry (``factor``, ``attn_factor``, ``original_max_position_embeddings`` = the config's value or
    the model's native context) when the spec asks for YaRN. Without YaRN a YaRN entry the model's
    own config carries is switched off (rope_type default), so "without YaRN" means without."""
    from . import yarn as Y

    ext = dict(cfg["model"].get("context_extension") or {})
    mcfg = Y.read_config(model_path)
    out: dict = {"max_position_embeddings": ext.get("max_position_embeddings"), "rope_scaling": None}
    if spec.yarn:
        y = proto["yarn"]
        orig = int(y.get("original_max_position_embeddings") or Y.original_context(mcfg))
        out["rope_scaling"] = Y.yarn_rope_scaling(y["factor"], orig, y["attn_factor"])
        need = int(math.ceil(y["factor"] * orig))
        out["max_position_embeddings"] = max(int(out["max_position_embeddings"] or 0), need,
                                             Y.context_limit(mcfg))
    elif Y.rope_settings(mcfg).get("rope_type") == "yarn":
        out["rope_scaling"] = {"rope_type": "default"}
    return out


def _sampler_cfg(cfg: dict, proto: Mapping, model_path: str, ext: Mapping) -> dict:
    c = copy.deepcopy(cfg)
    c["model"]["path"] = model_path
    c["model"]["thinking"] = proto["thinking"]
    c["model"]["context_extension"] = dict(ext)
    return c


def _prompt_lengths(probe: Any, prompts: Iterable[Any]) -> list[int]:
    """Token counts of prompts as the sampler encodes them (the tokenizer's "longer than the
    maximum sequence length" warning is expected here and silenced)."""
    from transformers.utils import logging as tlog

    level = tlog.get_verbosity()
    tlog.set_verbosity_error()
    try:
        return [len(probe.encode(_chat(p))) for p in prompts]
    finally:
        tlog.set_verbosity(level)


def select_problems(problems: pd.DataFrame, prompt_lens: Sequence[int], limit: int, max_new_tokens: int,
                    num_problems: int | None) -> tuple[pd.DataFrame, list[int]]:
    """``overlong_prompts: skip``: keep the problems whose prompt + max_new_tokens fits the context
    ``limit``, then the first ``num_problems`` of them; returns (kept rows, skipped indices)."""
    fits = [L + max_new_tokens <= limit for L in prompt_lens]
    skipped = [int(i) for i, ok in zip(problems["index"], fits) if not ok]
    kept = problems[fits]
    if num_problems:
        kept = kept.iloc[:num_problems]
    return kept.reset_index(drop=True), skipped


def responses_frame(problems: pd.DataFrame, completions: Sequence[Sequence[Any]], *,
                    benchmark: str) -> pd.DataFrame:
    """Problems plus their completions in the official layout (one row per problem, a
    ``responses`` list column) with ``num_tokens`` and ``finish_reasons`` list columns."""
    if len(completions) != len(problems):
        raise EvaluationError(f"{benchmark}: {len(completions)} completion lists for {len(problems)} problems")
    df = problems.copy().reset_index(drop=True)
    df["responses"] = [[str(c.text) for c in cs] for cs in completions]
    df["num_tokens"] = [[int(c.num_tokens) for c in cs] for cs in completions]
    df["finish_reasons"] = [[str(c.finish_reason) for c in cs] for cs in completions]
    df["benchmark"] = benchmark
    return df


# =============================================================================================
# Grading


def _ground_truth(row: Mapping) -> Any:
    """The row's ground truth as stored (str, number or list): graded as is, by one code path."""
    rm = row.get("reward_model")
    if isinstance(rm, Mapping) and "ground_truth" in rm:
        gt = rm["ground_truth"]
        return list(gt) if isinstance(gt, np.ndarray) else gt
    ans = row.get("answers")
    if ans is None:
        raise EvaluationError("row has neither reward_model.ground_truth nor answers")
    return list(ans)


def _answers_of(row: Mapping) -> list[str]:
    from .grading import ground_truths

    return ground_truths(_ground_truth(row))


def grade_responses(df: pd.DataFrame, *, mode: str = "boxed", math_verify: bool = True,
                    timeout_s: float = 2.0, desc: str | None = None) -> pd.DataFrame:
    """Grade every response (our grader, ``require_think=False`` as in evaluation) and, as a second
    opinion, math-verify. Adds list columns ``correct``, ``pred``, ``has_box``, ``mv_correct``
    (None where math-verify could not decide). ``desc``: show a progress bar (problems) named so."""
    from . import grading
    from .sampling.base import progress_bar

    if "responses" not in df.columns:
        raise EvaluationError("grade_responses: no 'responses' column")
    out = df.copy()
    cols: dict[str, list] = {c: [] for c in GRADE_COLUMNS}
    rows = out.to_dict("records")
    for i, row in enumerate(progress_bar(rows, desc=desc, unit="problem", disable=desc is None,
                                              delay=5.0)):
        gt = _ground_truth(row)
        if not grading.ground_truths(gt):
            raise EvaluationError(f"row {i}: empty ground truth {gt!r}")
        c, p, b, m = [], [], [], []
        for resp in list(row["responses"]):
            text = "" if resp is None else str(resp)
            g = grading.grade(text, gt, require_think=False, mode=mode, timeout_s=timeout_s)
            c.append(bool(g.correct))
            p.append(None if g.pred is None else str(g.pred))
            b.append(bool(g.has_box))
            m.append(grading.math_verify_correct(text, gt, timeout_s=timeout_s) if math_verify else None)
        for k, v in zip(GRADE_COLUMNS, (c, p, b, m)):
            cols[k].append(v)
    for k, v in cols.items():
        out[k] = v
    return out


def _lists(df: pd.DataFrame, col: str) -> list[list]:
    if col not in df.columns:
        return [[None] * len(list(r)) for r in df["responses"]]
    return [[] if v is None else list(v) for v in df[col]]


def long_responses(df: pd.DataFrame) -> pd.DataFrame:
    """One row per response: benchmark, index, sample, num_tokens, finish_reason, truncated,
    correct, pred, has_box, mv_correct."""
    rows = []
    bench = df["benchmark"] if "benchmark" in df.columns else [None] * len(df)
    index = df["index"] if "index" in df.columns else range(len(df))
    cols = {c: _lists(df, c) for c in ("num_tokens", "finish_reasons", *GRADE_COLUMNS)}
    for i, (b, q, resps) in enumerate(zip(bench, index, df["responses"])):
        for j in range(len(list(resps))):
            fr = cols["finish_reasons"][i][j]
            rows.append({"benchmark": b, "index": int(q), "sample": j,
                         "num_tokens": cols["num_tokens"][i][j], "finish_reason": fr,
                         "truncated": None if fr is None else fr == "length",
                         "correct": cols["correct"][i][j], "pred": cols["pred"][i][j],
                         "has_box": cols["has_box"][i][j], "mv_correct": cols["mv_correct"][i][j]})
    return pd.DataFrame(rows)


# =============================================================================================
# Metrics


def _majority(preds: Sequence[str | None], correct: Sequence[bool]) -> tuple[str | None, bool]:
    """Majority vote over the extracted answers, equivalent answers pooled under
    ``grading.canonical_answer``; ties go to the answer seen first; missing answers do not vote.
    The question counts as solved by maj@n when the winning answer was graded correct."""
    from .grading import canonical_answer
    from .metrics import majority_vote

    keys = [canonical_answer(p) if p is not None else None for p in preds]
    j = majority_vote(keys)
    if j is None:
        return None, False
    ok = any(bool(c) for k, c in zip(keys, correct) if k == keys[j])
    return preds[j], ok


def question_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per question: correct count, accuracy, lengths, truncations, missing boxes, the
    grader/math-verify disagreements and the extracted answers (JSON list)."""
    rows = []
    for i, row in enumerate(df.to_dict("records")):
        correct = [bool(x) for x in row["correct"]]
        n = len(correct)
        toks = [x for x in (row.get("num_tokens") if row.get("num_tokens") is not None else [])
                if x is not None]
        fins = list(row.get("finish_reasons")) if row.get("finish_reasons") is not None else []
        mv = list(row.get("mv_correct")) if row.get("mv_correct") is not None else [None] * n
        preds = list(row["pred"])
        maj, maj_ok = _majority(preds, correct)
        rows.append({
            "benchmark": row.get("benchmark"), "index": int(row.get("index", i)),
            "ground_truth": " | ".join(_answers_of(row)), "n": n, "correct": sum(correct),
            "accuracy": sum(correct) / n if n else float("nan"),
            "mean_length": float(np.mean(toks)) if toks else float("nan"),
            "min_length": int(min(toks)) if toks else None, "max_length": int(max(toks)) if toks else None,
            "truncated": sum(f == "length" for f in fins) if fins else None,
            "missing_box": sum(not bool(b) for b in row["has_box"]),
            "mv_correct": sum(bool(x) for x in mv if x is not None),
            "mv_undecided": sum(x is None for x in mv),
            "disagreements": sum(1 for a, b in zip(correct, mv) if b is not None and a != b),
            "majority_answer": maj, "majority_correct": maj_ok,
            "answers": json.dumps(preds, ensure_ascii=False),
            "problem": str(row.get("problem", ""))[:200],
        })
    return pd.DataFrame(rows)


def mean_ci(values: Sequence[float], *, resamples: int = 1000, seed: int = 0) -> dict:
    """Mean of per-question values with its question-level standard error (CLT, Miller 2024) and a
    95 % question-level bootstrap interval."""
    from . import metrics

    v = np.asarray(list(values), dtype=float)
    q = len(v)
    if q == 0:
        return {"mean": float("nan"), "se": float("nan"), "ci95": list(NO_INTERVAL), "questions": 0}
    se = metrics.question_se(v)
    ci = metrics.bootstrap_ci(v, n_resamples=resamples, seed=seed) if q > 1 else NO_INTERVAL
    return {"mean": float(v.mean()), "se": se, "ci95": [float(ci[0]), float(ci[1])], "questions": q}


def benchmark_metrics(df: pd.DataFrame, *, resamples: int = 1000, seed: int = 0,
                      texts: bool = True) -> dict:
    """Metrics of one graded benchmark frame (all questions with the same n)."""
    from . import metrics

    qt = question_table(df)
    ns = set(qt["n"])
    if len(ns) != 1:
        raise EvaluationError(f"benchmark {set(qt['benchmark'])}: questions have different sample "
                              f"counts {sorted(ns)}; avg@n needs one n")
    n = ns.pop()
    c = qt["correct"].to_numpy()
    acc = mean_ci(qt["accuracy"], resamples=resamples, seed=seed)
    lr = long_responses(df)
    toks = pd.to_numeric(lr["num_tokens"], errors="coerce")
    trunc = lr["truncated"].dropna()
    mv_known = lr["mv_correct"].dropna()
    out = {
        "benchmark": str(qt["benchmark"].iloc[0]) if len(qt) else None,
        "n": int(n), "questions": int(len(qt)), "responses": int(len(lr)),
        "avg@n": acc["mean"], "avg@n_se": acc["se"], "avg@n_ci95": acc["ci95"],
        "interval": "question-level: SE = sd(p_i)/sqrt(Q); 95% bootstrap over questions",
        "pass@k": {str(k): float(metrics.pass_at_k_array(n, c, k).mean()) for k in range(1, n + 1)},
        "maj@n": float(qt["majority_correct"].mean()),
        "solve_none": int((c == 0).sum()), "solve_all": int((c == n).sum()),
        "truncation_rate": float(trunc.astype(bool).mean()) if len(trunc) else None,
        "missing_box_rate": float((~lr["has_box"].astype(bool)).mean()) if len(lr) else None,
        "mean_length": float(toks.mean()) if toks.notna().any() else None,
        "median_length": float(toks.median()) if toks.notna().any() else None,
        "max_length": int(toks.max()) if toks.notna().any() else None,
        "grader_disagreements": int(qt["disagreements"].sum()),
        "ours_true_mv_false": int(((lr["correct"] == True) & (lr["mv_correct"] == False)).sum()),  # noqa: E712
        "ours_false_mv_true": int(((lr["correct"] == False) & (lr["mv_correct"] == True)).sum()),  # noqa: E712
        "math_verify_undecided": int(lr["mv_correct"].isna().sum()),
        "math_verify_avg@n": float(mv_known.astype(bool).sum() / len(lr)) if len(lr) else None,
    }
    if texts and n > 1:
        out["distinct_4"] = float(metrics.distinct_n([list(r) for r in df["responses"]], n=4))
    return out


# =============================================================================================
# Evaluating one model


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


def _expected_problems(existing: pd.DataFrame, problems: pd.DataFrame, n: int, path: Path) -> None:
    if len(existing) != len(problems) or list(existing["index"]) != list(problems["index"]):
        raise EvaluationError(f"{path}: holds {len(existing)} problems, the protocol asks for "
                              f"{len(problems)} (other num_problems?); use another run folder or delete it")
    ns = {len(list(r)) for r in existing["responses"]}
    if ns != {n}:
        raise EvaluationError(f"{path}: holds {sorted(ns)} responses per problem, the protocol asks "
                              f"for {n}; use another run folder or delete it")


def evaluate_model(cfg: dict, spec: ModelSpec, out_root: str | os.PathLike, *,
                   proto: Mapping | None = None, sampler: Any = None,
                   sampler_factory: Callable[[dict, str], Any] | None = None,
                   math_verify: bool = True, timeout_s: float = 2.0,
                   log: Callable[[str], None] | None = print) -> ModelResult:
    """Generate (or resume), grade and summarise one model on every benchmark of the protocol.

    ``out_root`` is ``<run_dir>/04_evaluation``; results go to ``out_root/<label>``. A benchmark
    whose parquet exists is not generated again; an interrupted one continues from the sampler's
    journal. ``sampler`` (or ``sampler_factory(cfg, model_path)``) replaces the tier's sampler
    (tests); the model is loaded only if something must be generated.
    """
    proto = dict(proto or protocol(cfg))
    out = Path(out_root) / spec.label
    out.mkdir(parents=True, exist_ok=True)
    settings = _generation_settings(spec, proto)
    _check_resume(out / "settings.json", settings)
    record = {**settings, "spec": spec.as_dict(), "protocol": proto, "written": now()}
    regrade = False
    if (out / "settings.json").exists():
        old = json.loads((out / "settings.json").read_text())
        record["context_extension"] = old.get("context_extension")
        regrade = old.get("grading") != settings["grading"]      # stored verdicts are stale
    write_json(out / "settings.json", record)
    say = log or (lambda s: None)
    lazy: dict[str, Any] = {}
    own_sampler = sampler is None

    def model() -> tuple[str, dict]:
        if "path" not in lazy:
            lazy["path"] = local_model_path(spec.path)
            lazy["ext"] = context_extension(spec, proto, cfg, lazy["path"])
            record["context_extension"] = lazy["ext"]
            write_json(out / "settings.json", record)
        return lazy["path"], lazy["ext"]

    frames: dict[str, pd.DataFrame] = {}
    timings: dict[str, dict] = {}
    skipped: dict[str, list[int]] = {}
    for name, n in proto["benchmarks"].items():
        if proto["overlong_prompts"] == "skip":
            from .sampling import Sampler

            path, ext = model()
            if "probe" not in lazy:
                # tokenizer and config only: the sampler's own prompt lengths, and the context
                # WITHOUT the YaRN extension, so a model and its YaRN twin answer the same problems
                lazy["probe"] = Sampler(path, thinking=proto["thinking"], max_position_embeddings=(
                    cfg["model"].get("context_extension") or {}).get("max_position_embeddings"))
            probe = lazy["probe"]
            allp = load_problems(name, cfg, None if name != "synthetic" else proto["num_problems"])
            from . import yarn as Y

            lens = _prompt_lengths(probe, allp["prompt"])
            problems, skipped[name] = select_problems(allp, lens, Y.context_limit(probe.model_config),
                                                      proto["max_new_tokens"], proto["num_problems"])
            if skipped[name]:
                say(f"[{spec.label}] {name}: {len(skipped[name])} of {len(allp)} prompts do not fit the "
                    f"context with {proto['max_new_tokens']} new tokens and are skipped "
                    f"(evaluation.overlong_prompts = skip)")
            if not len(problems):
                raise EvaluationError(f"{name}: no prompt fits the model's context with "
                                      f"{proto['max_new_tokens']} new tokens")
        else:
            problems = load_problems(name, cfg, proto["num_problems"])
        pq = out / f"{name}.parquet"
        if pq.exists():
            df = pd.read_parquet(pq)
            _expected_problems(df, problems, n, pq)
            say(f"[{spec.label}] {name}: {len(df)} problems x {n} found in {pq.name}, not regenerated")
            if regrade:
                say(f"[{spec.label}] {name}: grading settings changed, regrading")
                df = grade_responses(df.drop(columns=[c for c in GRADE_COLUMNS if c in df.columns]),
                                     mode=proto["grading"]["answer_extraction"], math_verify=math_verify,
                                     timeout_s=timeout_s, desc=f"grade {spec.label} on {name}")
                with atomic_path(pq) as tmp:
                    df.to_parquet(tmp, index=False)
        else:
            if sampler is None:
                path, ext = model()
                scfg = _sampler_cfg(cfg, proto, path, ext)
                if sampler_factory is not None:
                    sampler = sampler_factory(scfg, path)
                else:
                    from .sampling import make_sampler

                    sampler = make_sampler(scfg, model=path)
            say(f"[{spec.label}] {name}: generating {len(problems)} problems x {n} "
                f"(T={proto['temperature']}, top_p={proto['top_p']}, top_k={proto['top_k']}, "
                f"max_new_tokens={proto['max_new_tokens']}, yarn={spec.yarn})")
            t0 = time.time()
            comps = sampler.generate([_chat(p) for p in problems["prompt"]], n=n,
                                     temperature=proto["temperature"], top_p=proto["top_p"],
                                     top_k=proto["top_k"], max_new_tokens=proto["max_new_tokens"],
                                     seed=proto["seed"], out_file=str(out / f"{name}.samples.jsonl"),
                                     desc=f"{spec.label}/{name}")
            elapsed = time.time() - t0
            df = responses_frame(problems, comps, benchmark=name)
            df = grade_responses(df, mode=proto["grading"]["answer_extraction"],
                                 math_verify=math_verify, timeout_s=timeout_s,
                                 desc=f"grade {spec.label} on {name}")
            ntok = int(sum(sum(x) for x in df["num_tokens"]))
            timings[name] = {"generation_s": round(elapsed, 2), "tokens": ntok,
                             "tokens_per_s": round(ntok / elapsed, 1) if elapsed > 0 else None}
            with atomic_path(pq) as tmp:
                df.to_parquet(tmp, index=False)
        if "correct" not in df.columns:
            df = grade_responses(df, mode=proto["grading"]["answer_extraction"],
                                 math_verify=math_verify, timeout_s=timeout_s)
        df["benchmark"] = name
        frames[name] = df
    if own_sampler and sampler is not None and hasattr(sampler, "close"):
        sampler.close()
    del sampler
    lazy.clear()
    gc.collect()
    return summarise_model(spec, out, frames, proto, timings=timings, skipped=skipped)


def summarise_model(spec: ModelSpec, out: Path, frames: Mapping[str, pd.DataFrame], proto: Mapping,
                    *, timings: Mapping[str, dict] | None = None,
                    skipped: Mapping[str, list[int]] | None = None) -> ModelResult:
    """Write ``questions.csv`` and ``metrics.json`` for graded frames; return the ModelResult."""
    old = {}
    if (out / "metrics.json").exists():
        old = json.loads((out / "metrics.json").read_text()).get("generation_time", {})
    per = {}
    for name, df in frames.items():
        per[name] = benchmark_metrics(df, resamples=proto.get("bootstrap", 1000), seed=proto.get("seed", 0))
        if skipped and skipped.get(name):
            per[name]["skipped_overlong"] = list(skipped[name])
    questions = pd.concat([question_table(df) for df in frames.values()], ignore_index=True) \
        if frames else pd.DataFrame()
    with atomic_path(out / "questions.csv") as tmp:
        questions.to_csv(tmp, index=False)
    met = {"model": spec.as_dict(), "settings": _generation_settings(spec, proto), "protocol": dict(proto),
           "benchmarks": per, "generation_time": {**old, **dict(timings or {})}, "written": now()}
    write_json(out / "metrics.json", met)
    return ModelResult(spec, out, dict(frames), met, questions)


def load_result(model_dir: str | os.PathLike) -> ModelResult:
    """Read a finished model evaluation back from its folder (no generation, no grading)."""
    d = Path(model_dir)
    if not (d / "metrics.json").exists():
        raise EvaluationError(f"{d}: no metrics.json (the evaluation of this model did not finish)")
    met = json.loads((d / "metrics.json").read_text())
    spec = ModelSpec(**met["model"])
    frames = {}
    for name in met["benchmarks"]:
        df = pd.read_parquet(d / f"{name}.parquet")
        df["benchmark"] = name
        frames[name] = df
    qt = pd.read_csv(d / "questions.csv") if (d / "questions.csv").exists() else pd.DataFrame()
    return ModelResult(spec, d, frames, met, qt)


# =============================================================================================
# The official output layout


def read_official(path: str | os.PathLike, *, benchmark: str | None = None,
                  tokenizer: Any = None) -> pd.DataFrame:
    """Read a file of responses in the official POLARIS layout: the benchmark's verl columns
    (``data_source``, ``prompt``, ``reward_model``, ``extra_info``) plus a ``responses`` column
    holding a list of n strings per row. Our own ``<benchmark>.parquet`` files are a superset.

    ``num_tokens``/``finish_reasons`` are kept when present; otherwise token counts come from
    ``tokenizer`` (if given) and finish reasons are unknown (None). Previous grades are dropped so
    that the file is graded afresh by :func:`grade_responses`.
    """
    from .data import DataError, normalise_rows

    path = Path(path)
    try:
        raw = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types
        raise EvaluationError(f"{path}: not a readable parquet file ({e})") from e
    if "responses" not in raw.columns:
        raise EvaluationError(f"{path}: no 'responses' column; expected the official POLARIS output "
                              f"layout (the benchmark's columns plus a list of responses per row)")
    try:
        df = normalise_rows(raw, str(path))
    except DataError as e:
        raise EvaluationError(str(e)) from e
    resp = []
    for i, r in enumerate(df["responses"]):
        if r is None or isinstance(r, (str, bytes)) or not hasattr(r, "__len__"):
            raise EvaluationError(f"{path}: row {i}: 'responses' must be a list of strings, got {type(r).__name__}")
        resp.append([("" if x is None else str(x)) for x in list(r)])
    df["responses"] = resp
    df = df.drop(columns=[c for c in GRADE_COLUMNS if c in df.columns])
    if "num_tokens" not in df.columns:
        if tokenizer is not None:
            df["num_tokens"] = [[len(tokenizer(x, add_special_tokens=False)["input_ids"]) for x in r]
                                for r in resp]
        else:
            df["num_tokens"] = [[None] * len(r) for r in resp]
    else:
        df["num_tokens"] = [list(x) for x in df["num_tokens"]]
    if "finish_reasons" not in df.columns:
        df["finish_reasons"] = [[None] * len(r) for r in resp]
    else:
        df["finish_reasons"] = [list(x) for x in df["finish_reasons"]]
    if "benchmark" not in df.columns:
        df["benchmark"] = benchmark or _benchmark_name(df, path)
    elif benchmark:
        df["benchmark"] = benchmark
    return df


def _benchmark_name(df: pd.DataFrame, path: Path) -> str:
    src = str(df["data_source"].iloc[0]) if len(df) else ""
    for name in ("aime24", "aime25", "amc23", "minerva", "olympiad", "synthetic"):
        if name in src or path.name.startswith(name):
            return name
    return path.stem.split("-")[0]


def grade_file(path: str | os.PathLike, *, mode: str = "boxed", benchmark: str | None = None,
               tokenizer: Any = None, math_verify: bool = True, resamples: int = 1000,
               seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Grade an official-layout file through our code: (graded frame, benchmark metrics)."""
    df = grade_responses(read_official(path, benchmark=benchmark, tokenizer=tokenizer), mode=mode,
                         math_verify=math_verify)
    return df, benchmark_metrics(df, resamples=resamples, seed=seed)


# =============================================================================================
# Results table


def _paired(a: pd.DataFrame, b: pd.DataFrame, *, resamples: int, seed: int) -> dict:
    """Paired difference a - b of per-question accuracy on the questions both have."""
    from . import metrics

    m = a[["index", "accuracy"]].merge(b[["index", "accuracy"]], on="index", suffixes=("_a", "_b"))
    if len(m) == 0:
        return {"diff": float("nan"), "se": float("nan"), "ci95": list(NO_INTERVAL), "questions": 0}
    d = (m["accuracy_a"] - m["accuracy_b"]).to_numpy()
    q = len(d)
    se = float(d.std(ddof=1) / math.sqrt(q)) if q > 1 else float("nan")
    if q > 1:
        res = metrics.paired_difference(m["accuracy_a"].to_numpy(), m["accuracy_b"].to_numpy(),
                                        n_resamples=resamples, seed=seed)
        ci = (res["ci_low"], res["ci_high"]) if isinstance(res, Mapping) else (res[1], res[2])
    else:
        ci = NO_INTERVAL
    return {"diff": float(d.mean()), "se": se, "ci95": [float(ci[0]), float(ci[1])], "questions": q}


def results_table(results: Sequence[ModelResult], *, base_label: str | None = None,
                  resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Long table, one row per (model, benchmark): our avg@n (percent) with its question-level 95 %
    interval, the report's number for the matching row, and the paired difference to the base
    model on the same questions (percent points, with its 95 % interval)."""
    if not results:
        return pd.DataFrame()
    base = next((r for r in results if r.label == base_label), None) if base_label else \
        next((r for r in results if r.spec.role == "base"), None)
    rows = []
    for r in results:
        for name, m in r.metrics["benchmarks"].items():
            row = {"model": r.label, "path": r.spec.path, "role": r.spec.role, "yarn": r.spec.yarn,
                   "benchmark": name, "n": m["n"], "questions": m["questions"],
                   "avg": 100 * m["avg@n"], "ci_low": 100 * m["avg@n_ci95"][0],
                   "ci_high": 100 * m["avg@n_ci95"][1], "se": 100 * m["avg@n_se"],
                   "pass@n": 100 * m["pass@k"][str(m["n"])], "maj@n": 100 * m["maj@n"],
                   "truncation_rate": None if m["truncation_rate"] is None else 100 * m["truncation_rate"],
                   "missing_box_rate": 100 * m["missing_box_rate"],
                   "mean_length": m["mean_length"], "grader_disagreements": m["grader_disagreements"],
                   "reported_row": r.spec.reported_as, "reported": ref.reported(r.spec.reported_as, name)}
            if base is not None and r is not base and name in base.frames:
                qa = r.questions[r.questions["benchmark"] == name]
                qb = base.questions[base.questions["benchmark"] == name]
                p = _paired(qa, qb, resamples=resamples, seed=seed)
                row.update({"vs": base.label, "diff_vs_base": 100 * p["diff"],
                            "diff_ci_low": 100 * p["ci95"][0], "diff_ci_high": 100 * p["ci95"][1],
                            "diff_se": 100 * p["se"], "paired_questions": p["questions"]})
            rows.append(row)
    return pd.DataFrame(rows)


def _cell(v: float | None, lo: float | None = None, hi: float | None = None, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    s = f"{v:+.1f}" if signed else f"{v:.1f}"
    if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
        s += f" [{lo:+.1f}, {hi:+.1f}]" if signed else f" [{lo:.1f}, {hi:.1f}]"
    return s


def results_markdown(table: pd.DataFrame, proto: Mapping, *, reported_rows: Iterable[str] | None = None) -> str:
    """Markdown: ours (avg@n, 95 % interval), the paired differences, the report's table, and the
    protocol."""
    benches = list(dict.fromkeys(table["benchmark"])) if len(table) else []
    head = lambda: "| model | " + " | ".join(  # noqa: E731
        f"{ref.BENCHMARK_TITLES.get(b, b)} avg@{int(table[table.benchmark == b]['n'].iloc[0])}"
        for b in benches) + " |\n|---|" + "---|" * len(benches)
    lines = ["## Ours (avg@n in %, question-level 95 % interval)", "", head()]
    for model, g in table.groupby("model", sort=False):
        cells = []
        for b in benches:
            r = g[g.benchmark == b]
            cells.append(_cell(*r[["avg", "ci_low", "ci_high"]].iloc[0].tolist()) if len(r) else "–")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if "diff_vs_base" in table.columns and table["diff_vs_base"].notna().any():
        vs = table["vs"].dropna().iloc[0]
        lines += ["", f"## Paired difference to `{vs}` on the same questions (points, 95 % interval)", "",
                  head()]
        for model, g in table.groupby("model", sort=False):
            if g["diff_vs_base"].isna().all():
                continue
            cells = []
            for b in benches:
                r = g[g.benchmark == b]
                cells.append(_cell(*r[["diff_vs_base", "diff_ci_low", "diff_ci_high"]].iloc[0].tolist(),
                                   signed=True) if len(r) else "–")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    rep = ref.main_table()
    rows = list(reported_rows) if reported_rows is not None else list(rep.index)
    lines += ["", f"## The report's table (§11.1, {ref.SOURCE})", "",
              "| model | " + " | ".join(f"{ref.BENCHMARK_TITLES[b]} avg@{ref.REPORTED_PROTOCOL['benchmarks'][b]}"
                                        for b in ref.BENCHMARK_ORDER) + " |",
              "|---|" + "---|" * len(ref.BENCHMARK_ORDER)]
    for name in rows:
        lines.append(f"| {name} | " + " | ".join(f"{rep.loc[name, b]:.1f}" for b in ref.BENCHMARK_ORDER) + " |")
    y = proto["yarn"]
    lines += ["", "## Protocol", "",
              f"T = {proto['temperature']}, top-p = {proto['top_p']}, top-k = {proto['top_k']}, "
              f"max new tokens = {proto['max_new_tokens']}, YaRN = "
              + (f"factor {y['factor']}, attn_factor {y['attn_factor']}" if y["enabled"] else "off")
              + f", thinking = {proto['thinking']}, grading = {proto['grading']['answer_extraction']} "
              f"(no </think> required), seed = {proto['seed']}, problems per benchmark = "
              f"{proto['num_problems'] or 'all'}, tier = {proto.get('tier')}."]
    mism = protocol_mismatches(proto)
    lines.append("Matches the report's protocol point by point." if not mism else
                 "Differs from the report's protocol: " + "; ".join(mism) + ".")
    return "\n".join(lines) + "\n"


def plot_results(table: pd.DataFrame):
    """Our avg@n with 95 % intervals per benchmark and model, the report's value as a hatched bar."""
    import matplotlib.pyplot as plt

    benches = list(dict.fromkeys(table["benchmark"]))
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, len(benches), figsize=(max(3.2, 2.2 + 0.9 * len(models)) * len(benches) / 1.4, 3.4),
                             squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    reported_drawn = False
    for ax, b in zip(axes[0], benches):
        g = table[table.benchmark == b].set_index("model")
        for i, m in enumerate(models):
            if m not in g.index:
                continue
            r = g.loc[m]
            err = [[max(0.0, r["avg"] - r["ci_low"])], [max(0.0, r["ci_high"] - r["avg"])]] \
                if not math.isnan(r["ci_low"]) else None
            ax.bar(i - 0.18, r["avg"], width=0.36, color=colors[i % len(colors)], yerr=err, capsize=3,
                   label="ours (95 % interval)" if i == 0 else None)
            ax.annotate(f"{r['avg']:.1f}", (i - 0.18, r["avg"]), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
            if r["reported"] is not None and not (isinstance(r["reported"], float) and math.isnan(r["reported"])):
                ax.bar(i + 0.18, r["reported"], width=0.36, color="#cccccc", hatch="//",
                       edgecolor="#555555", label=ref.SOURCE if not reported_drawn else None)
                reported_drawn = True
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{ref.BENCHMARK_TITLES.get(b, b)} avg@{int(g['n'].iloc[0])}", fontsize=10)
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy (%)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def write_results(table: pd.DataFrame, proto: Mapping, out_dir: str | os.PathLike,
                  *, reported_rows: Iterable[str] | None = None) -> dict[str, Path]:
    """Write ``results.md``, ``results.csv`` and ``results.png`` into ``out_dir``."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    paths = {"csv": out_dir / "results.csv", "md": out_dir / "results.md", "png": out_dir / "results.png"}
    with atomic_path(paths["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text(results_markdown(table, proto, reported_rows=reported_rows))
    if len(table):
        fig = plot_results(table)
        with atomic_path(paths["png"]) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    return paths


# =============================================================================================
# Length studies (no extra generation)


def token_label(x: int) -> str:
    return f"{x // 1024}K" if x >= 1024 and x % 1024 == 0 else str(x)


def bucket_labels(edges: Sequence[int]) -> list[str]:
    """``[16384, 32768]`` -> ``["<16K", "16K-32K", ">=32K"]``."""
    e = [token_label(x) for x in edges]
    return [f"<{e[0]}"] + [f"{a}-{b}" for a, b in zip(e[:-1], e[1:])] + [f">={e[-1]}"]


def length_buckets(df: pd.DataFrame, edges: Sequence[int]) -> pd.DataFrame:
    """Accuracy of responses grouped by their length in tokens (Figures 10-11): buckets
    [0, e0), [e0, e1), ..., [e_last, inf). ``df`` is a graded frame (one row per problem) or a
    long frame (one row per response)."""
    lr = df if "sample" in df.columns else long_responses(df)
    if not len(edges):
        raise EvaluationError("length_buckets: no bucket edges (evaluation.length_buckets)")
    toks = pd.to_numeric(lr["num_tokens"], errors="coerce")
    if toks.isna().any():
        raise EvaluationError("length_buckets: some responses have no token count")
    labels = bucket_labels(edges)
    idx = np.searchsorted(np.asarray(edges), toks.to_numpy(), side="right")
    rows = []
    for i, lab in enumerate(labels):
        sel = lr[idx == i]
        k = int(sel["correct"].astype(bool).sum())
        rows.append({"bucket": lab, "low": 0 if i == 0 else int(edges[i - 1]),
                     "high": int(edges[i]) if i < len(edges) else None,
                     "responses": int(len(sel)), "correct": k,
                     "accuracy": 100 * k / len(sel) if len(sel) else float("nan"),
                     "questions": int(sel[["benchmark", "index"]].drop_duplicates().shape[0]),
                     "truncated": int(sel["truncated"].fillna(False).astype(bool).sum())})
    return pd.DataFrame(rows)


def budget_curve(df: pd.DataFrame, budgets: Sequence[int], *, max_new_tokens: int | None = None) -> pd.DataFrame:
    """Inference-time scaling (Figure 12): avg@n (percent, mean over questions) when every response
    longer than the budget counts as truncated, i.e. wrong. Budgets above the run's
    ``max_new_tokens`` are marked: there the value is a lower bound (a truncated response might
    have finished correctly)."""
    lr = df if "sample" in df.columns else long_responses(df)
    toks = pd.to_numeric(lr["num_tokens"], errors="coerce")
    if toks.isna().any():
        raise EvaluationError("budget_curve: some responses have no token count")
    rows = []
    for b in budgets:
        ok = lr["correct"].astype(bool) & (toks <= b)
        per_q = ok.groupby([lr["benchmark"], lr["index"]]).mean()
        rows.append({"budget": int(b), "budget_label": token_label(int(b)),
                     "accuracy": 100 * float(per_q.mean()) if len(per_q) else float("nan"),
                     "over_budget": 100 * float((toks > b).mean()) if len(toks) else float("nan"),
                     "lower_bound": bool(max_new_tokens is not None and b > max_new_tokens)})
    return pd.DataFrame(rows)


def _frames_of(result: ModelResult, benchmarks: Iterable[str] | None) -> pd.DataFrame:
    names = [b for b in (benchmarks or result.frames) if b in result.frames]
    if not names:
        return pd.DataFrame()
    return pd.concat([long_responses(result.frames[b]) for b in names], ignore_index=True)


def length_study_pools(results: Sequence[ModelResult]) -> list[list[str]]:
    """Benchmark pools of the length-bucket study: every benchmark on its own, plus AIME24+25
    pooled as in the report (Figures 10-11: 60 problems x 32) when both were evaluated."""
    have = list(dict.fromkeys(b for r in results for b in r.frames))
    pools = [[b] for b in have]
    if "aime24" in have and "aime25" in have:
        pools.append(["aime24", "aime25"])
    return pools


def length_study(results: Sequence[ModelResult], proto: Mapping, *,
                 pools: Sequence[Sequence[str]] | None = None) -> dict[str, pd.DataFrame]:
    """Both length studies for every model from the responses already generated.

    Returns ``{"buckets": ..., "budget": ...}``: accuracy by response-length bucket per model and
    benchmark pool (model, yarn, pool, bucket, responses, correct, accuracy, ...), and the budget
    curve per model and benchmark (model, yarn, benchmark, budget, accuracy, ...).
    """
    pools = [list(p) for p in (pools or length_study_pools(results))]
    btabs, ctabs = [], []
    for r in results:
        for pool in pools:
            lr = _frames_of(r, pool)
            if not len(lr) or not set(pool) <= set(r.frames):
                continue
            t = length_buckets(lr, proto["length_buckets"])
            t.insert(0, "pool", "+".join(pool))
            t.insert(0, "yarn", r.spec.yarn)
            t.insert(0, "model", r.label)
            btabs.append(t)
        for name, df in r.frames.items():
            c = budget_curve(df, proto["budgets"], max_new_tokens=proto["max_new_tokens"])
            c.insert(0, "benchmark", name)
            c.insert(0, "yarn", r.spec.yarn)
            c.insert(0, "model", r.label)
            ctabs.append(c)
    return {"buckets": pd.concat(btabs, ignore_index=True) if btabs else pd.DataFrame(),
            "budget": pd.concat(ctabs, ignore_index=True) if ctabs else pd.DataFrame()}


def yarn_pairs(results: Sequence[ModelResult]) -> list[tuple[ModelResult, ModelResult]]:
    """(without YaRN, with YaRN) pairs of the same model path, for the with/without comparison."""
    out = []
    for a in results:
        for b in results:
            if a.spec.path == b.spec.path and not a.spec.yarn and b.spec.yarn:
                out.append((a, b))
    return out


def plot_length_buckets(buckets: pd.DataFrame, *, with_reference: bool = True):
    """Figures 10-11: accuracy per response-length bucket, one panel per benchmark pool, one bar
    per model (n = responses in the bucket), and the report's POLARIS-4B values (AIME24+25 x 32,
    without and with YaRN) in a last panel."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(buckets["model"]))
    labels = list(dict.fromkeys(buckets["bucket"]))
    pools = list(dict.fromkeys(buckets["pool"]))
    npanel = len(pools) + (1 if with_reference else 0)
    fig, axes = plt.subplots(1, npanel, figsize=(4.2 * npanel, 3.4), squeeze=False)
    w = 0.8 / max(1, len(models))
    for ax, pool in zip(axes[0], pools):
        for i, m in enumerate(models):
            g = buckets[(buckets.model == m) & (buckets.pool == pool)].set_index("bucket").reindex(labels)
            xs = np.arange(len(labels)) + (i - (len(models) - 1) / 2) * w
            bars = ax.bar(xs, g["accuracy"].fillna(0), width=w, label=m)
            for x, bar, cnt in zip(xs, bars, g["responses"].fillna(0)):
                ax.annotate(f"n={int(cnt)}", (x, bar.get_height()), ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(0, 108)
        ax.set_xlabel("response length (tokens)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"ours: {pool}", fontsize=10)
        ax.legend(fontsize=7)
    if with_reference:
        rb = ref.length_buckets()
        ax2 = axes[0][-1]
        settings = list(dict.fromkeys(rb["setting"]))
        rl = list(dict.fromkeys(rb["bucket"]))
        for i, s in enumerate(settings):
            g = rb[rb.setting == s].set_index("bucket").reindex(rl)
            xs = np.arange(len(rl)) + (i - 0.5) * 0.4
            ax2.bar(xs, g["accuracy"], width=0.4, label=s, hatch="//" if i == 0 else "..",
                    color="#cccccc" if i == 0 else "#999999", edgecolor="#555555")
        ax2.set_xticks(range(len(rl)), rl)
        ax2.set_ylim(0, 108)
        ax2.set_xlabel("response length (tokens)")
        ax2.set_title(f"POLARIS-4B, AIME24+25 x 32\n({ref.SOURCE})", fontsize=9)
        ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_budget_curve(curve: pd.DataFrame, *, training_length: int | None = None,
                      with_reference: bool = True):
    """Figure 12: avg@n against the token budget, one line per model and benchmark; budgets above
    the run's max new tokens drawn hollow (lower bounds)."""
    import matplotlib.pyplot as plt

    npanel = 2 if with_reference else 1
    fig, axes = plt.subplots(1, npanel, figsize=(4.8 * npanel, 3.4), squeeze=False)
    ax = axes[0][0]
    for (m, b), g in curve.groupby(["model", "benchmark"], sort=False):
        line, = ax.plot(g["budget"], g["accuracy"], marker="o", label=f"{m} · {b}")
        lb = g[g["lower_bound"]]
        if len(lb):
            ax.plot(lb["budget"], lb["accuracy"], "o", mfc="white", color=line.get_color())
    if training_length:
        ax.axvline(training_length, color="black", ls="--", lw=1, label=f"training length {training_length}")
    top = float(np.nanmax(curve["accuracy"])) if len(curve) and curve["accuracy"].notna().any() else 0.0
    ax.set_ylim(0, max(10.0, min(100.0, top * 1.15 + 2)))
    ax.set_xlabel("token budget (response tokens)")
    ax.set_ylabel("avg@n (%)")
    ax.set_title("ours: responses over the budget count as wrong", fontsize=9)
    ax.legend(fontsize=6)
    if with_reference:
        rc = ref.budget_curves()
        ax2 = axes[0][1]
        for (b, s), g in rc.groupby(["benchmark", "setting"], sort=False):
            ax2.plot(g["budget"] / 1024, g["accuracy"], marker="o", ls="-" if s == "with YaRN" else "--",
                     label=f"{b} {s}")
        ax2.axvline(52, color="black", ls=":", lw=1, label="training length 52K")
        ax2.set_xlabel("max context (K tokens)")
        ax2.set_title(f"POLARIS-4B mean@32 ({ref.SOURCE})", fontsize=9)
        ax2.legend(fontsize=6)
    fig.tight_layout()
    return fig


def plot_pass_at_k(results: Sequence[ModelResult]):
    """Unbiased pass@k for k = 1..n, one panel per benchmark, one line per model."""
    import matplotlib.pyplot as plt

    benches = list(dict.fromkeys(b for r in results for b in r.metrics["benchmarks"]))
    fig, axes = plt.subplots(1, len(benches), figsize=(3.6 * len(benches), 3.2), squeeze=False)
    for ax, b in zip(axes[0], benches):
        for r in results:
            m = r.metrics["benchmarks"].get(b)
            if not m:
                continue
            ks = [int(k) for k in m["pass@k"]]
            ax.plot(ks, [100 * v for v in m["pass@k"].values()], marker="o", label=r.label)
        ax.set_title(ref.BENCHMARK_TITLES.get(b, b), fontsize=10)
        ax.set_xlabel("k")
        ax.set_ylabel("pass@k (%)")
        ax.set_ylim(0, 100)
        if ks and max(ks) > 8:
            ax.set_xscale("log", base=2)
        elif ks:
            ax.set_xticks(ks)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def pass_at_k_table(results: Sequence[ModelResult]) -> pd.DataFrame:
    return pd.DataFrame([{"model": r.label, "benchmark": b, "k": int(k), "pass@k": 100 * v}
                         for r in results for b, m in r.metrics["benchmarks"].items()
                         for k, v in m["pass@k"].items()])


def disagreements(results: Sequence[ModelResult], *, max_examples: int = 10, tail: int = 300) -> pd.DataFrame:
    """Responses on which our grader and math-verify disagree, with the response's last characters."""
    rows = []
    for r in results:
        for name, df in r.frames.items():
            for row in df.to_dict("records"):
                mv = list(row["mv_correct"]) if row.get("mv_correct") is not None else []
                for j, (ours, theirs) in enumerate(zip(row["correct"], mv)):
                    if theirs is None or bool(ours) == bool(theirs):
                        continue
                    rows.append({"model": r.label, "benchmark": name, "index": int(row["index"]), "sample": j,
                                 "ground_truth": " | ".join(_answers_of(row)), "ours_pred": row["pred"][j],
                                 "ours": bool(ours), "math_verify": bool(theirs),
                                 "response_tail": str(row["responses"][j])[-tail:]})
                    if len(rows) >= max_examples:
                        return pd.DataFrame(rows)
    return pd.DataFrame(rows, columns=["model", "benchmark", "index", "sample", "ground_truth", "ours_pred",
                                       "ours", "math_verify", "response_tail"])


def summary(results: Sequence[ModelResult], table: pd.DataFrame, proto: Mapping) -> dict:
    """The compact JSON other sections and the claims check read (``04_evaluation/summary.json``)."""
    models = {}
    for r in results:
        models[r.label] = {"path": r.spec.path, "role": r.spec.role, "yarn": r.spec.yarn,
                           "benchmarks": {b: {k: m[k] for k in ("n", "questions", "avg@n", "avg@n_ci95",
                                                                "maj@n", "truncation_rate",
                                                                "missing_box_rate", "mean_length",
                                                                "grader_disagreements")}
                                          | {"pass@n": m["pass@k"][str(m["n"])]}
                                          for b, m in r.metrics["benchmarks"].items()}}
    paired = {}
    if "diff_vs_base" in table.columns:
        for row in table.dropna(subset=["diff_vs_base"]).to_dict("records"):
            paired.setdefault(row["model"], {})[row["benchmark"]] = {
                "vs": row["vs"], "diff_points": row["diff_vs_base"],
                "ci95_points": [row["diff_ci_low"], row["diff_ci_high"]], "questions": row["paired_questions"]}
    return {"protocol": dict(proto), "protocol_mismatches_vs_report": protocol_mismatches(proto),
            "models": models, "paired_vs_base": paired, "written": now()}


# =============================================================================================
# Notebook helpers


def protocol_frame(proto: Mapping) -> pd.DataFrame:
    """The protocol next to the report's (reference §10.1), one row per setting."""
    want = ref.REPORTED_PROTOCOL
    y, wy = proto["yarn"], want["yarn"]
    rows = [("temperature", proto["temperature"], want["temperature"]),
            ("top_p", proto["top_p"], want["top_p"]), ("top_k", proto["top_k"], want["top_k"]),
            ("max_new_tokens", proto["max_new_tokens"], want["max_new_tokens"]),
            ("YaRN", f"factor {y['factor']}, attn {y['attn_factor']}" if y["enabled"] else "off",
             f"factor {wy['factor']}, attn {wy['attn_factor']}"),
            ("thinking mode", proto["thinking"], want["thinking"]),
            ("benchmarks (avg@n)", ", ".join(f"{k}@{v}" for k, v in proto["benchmarks"].items()),
             ", ".join(f"{k}@{v}" for k, v in want["benchmarks"].items())),
            ("problems per benchmark", proto["num_problems"] or "all", "all"),
            ("answer extraction", proto["grading"]["answer_extraction"], want["grading"]["answer_extraction"]),
            ("</think> required", proto["grading"]["require_think"], want["grading"]["require_think"]),
            ("seed", proto["seed"], "not stated"),
            ("prompts beyond the context", proto["overlong_prompts"], "(all fit: 131K context)"),
            ("length buckets", ", ".join(token_label(x) for x in proto["length_buckets"]), "16K, 32K"),
            ("budgets", ", ".join(token_label(x) for x in proto["budgets"]), "32K .. 96K")]
    return pd.DataFrame([{"setting": a, "ours": str(b), "report": str(c)} for a, b, c in rows])


def evaluate_all(cfg: dict, specs: Sequence[ModelSpec], out_root: str | os.PathLike, *,
                 proto: Mapping | None = None, log: Callable[[str], None] | None = print,
                 **kwargs: Any) -> list[ModelResult]:
    """:func:`evaluate_model` for every spec, in order, with the wall time of each."""
    results = []
    for spec in specs:
        t0 = time.time()
        r = evaluate_model(cfg, spec, out_root, proto=proto, log=log, **kwargs)
        if log:
            log(f"[{spec.label}] done in {time.time() - t0:.1f} s -> {r.out_dir}")
        results.append(r)
    return results


def describe_paired(table: pd.DataFrame) -> str:
    """Plain sentences for every paired difference to the base model, whatever its sign."""
    if "diff_vs_base" not in table.columns or table["diff_vs_base"].isna().all():
        return "No paired comparison: only one model was evaluated."
    lines = []
    for r in table.dropna(subset=["diff_vs_base"]).to_dict("records"):
        lo, hi = r["diff_ci_low"], r["diff_ci_high"]
        if math.isnan(lo) or math.isnan(hi):
            verdict = "too few questions for an interval"
        elif lo > 0:
            verdict = "better than the base model beyond question-level noise"
        elif hi < 0:
            verdict = "worse than the base model beyond question-level noise"
        else:
            verdict = "the interval includes 0: no difference detectable at this size"
        lines.append(f"- **{r['model']}** vs **{r['vs']}** on {ref.BENCHMARK_TITLES.get(r['benchmark'], r['benchmark'])} "
                     f"({int(r['paired_questions'])} questions x {int(r['n'])} samples): {r['diff_vs_base']:+.1f} points, "
                     f"95 % interval [{lo:+.1f}, {hi:+.1f}] ({r['avg'] - r['diff_vs_base']:.1f} -> "
                     f"{r['avg']:.1f}); {verdict}.")
    return "\n".join(lines)


def format_table(results: Sequence[ModelResult]) -> pd.DataFrame:
    """Format and truncation per model and benchmark: truncation and missing-box rates, lengths."""
    rows = []
    for r in results:
        for b, m in r.metrics["benchmarks"].items():
            rows.append({"model": r.label, "benchmark": b, "avg@n (%)": 100 * m["avg@n"],
                         "truncated (%)": None if m["truncation_rate"] is None else 100 * m["truncation_rate"],
                         "no \\boxed (%)": 100 * m["missing_box_rate"], "mean length": m["mean_length"],
                         "max length": m["max_length"], "grader disagreements": m["grader_disagreements"]})
    return pd.DataFrame(rows)


def example_responses(results: Sequence[ModelResult], benchmark: str, *, chars: int = 240) -> pd.DataFrame:
    """The first response of the first problem of a benchmark for each model (head and tail)."""
    rows = []
    for r in results:
        df = r.frames.get(benchmark)
        if df is None or not len(df):
            continue
        row = df.iloc[0]
        text = str(row["responses"][0])
        rows.append({"model": r.label, "index": int(row["index"]), "num_tokens": row["num_tokens"][0],
                     "finish_reason": row["finish_reasons"][0], "pred": row["pred"][0],
                     "correct": bool(row["correct"][0]),
                     "response": text if len(text) <= 2 * chars else text[:chars] + " [...] " + text[-chars:]})
    return pd.DataFrame(rows)


def training_overlap(cfg: dict, results: Sequence[ModelResult]) -> pd.DataFrame | None:
    """How many evaluated questions also occur (same text) in the tier's training data; only for
    synthetic training data (the CPU tiers), where small arithmetic problems do repeat. None when
    the training data is not synthetic (loading the paper's sets is left to section 1)."""
    if cfg["data"]["train"].get("source") != "synthetic" or cfg["data"]["train"].get("path"):
        return None
    from .data import load_training_data

    train = set(load_training_data(cfg)["problem"].str.strip())
    rows = []
    seen: set[str] = set()
    for r in results:
        for name, df in r.frames.items():
            if name in seen:
                continue
            seen.add(name)
            probs = df["problem"].astype(str).str.strip() if "problem" in df.columns else pd.Series([], dtype=str)
            rows.append({"benchmark": name, "questions": int(len(probs)),
                         "also_in_training_data": int(probs.isin(train).sum())})
    return pd.DataFrame(rows)
