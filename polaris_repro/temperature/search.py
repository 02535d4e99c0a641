"""The sweep (sampling ``n`` completions per problem at each temperature, grading them, the
resumable per-temperature cache) and what the notebook and the stage runner call:
:func:`search_for_stage` sweeps a model and writes the choice record."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..artifacts import append_jsonl, read_jsonl, write_json
from .rule import annotate, choose

CHOICE_FILE = "choice.json"     # the choice record search_for_stage writes (sections.output_record reads it)


def _mean_diversity(groups: Sequence[Sequence[str]], n: int = 4) -> float:
    """Distinct-n per problem (over its sampled responses), averaged over problems (§6.1)."""
    from ..metrics import distinct_n

    return float(distinct_n([list(g) for g in groups], n=n))


def _answers(df: pd.DataFrame) -> list:
    if "answers" in df.columns:
        return [list(a) if len(a) != 1 else a[0] for a in df["answers"]]
    return [rm["ground_truth"] for rm in df["reward_model"]]


def _prompts(df: pd.DataFrame) -> list:
    if "prompt" not in df.columns:
        raise ValueError("problems: missing column 'prompt' (verl row layout expected)")
    return [list(p) if not isinstance(p, str) else p for p in df["prompt"]]


def problems_key(df: pd.DataFrame) -> str:
    """A short hash of the problems (prompts and answers) to tie cached results to their inputs."""
    h = hashlib.sha256()
    for p, a in zip(_prompts(df), _answers(df)):
        h.update(json.dumps([p, a], sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def score_groups(groups, answers, *, mode: str, timeout_s: float = 2.0) -> dict:
    """Accuracy / diversity / length / truncation of sampled groups (one group per problem)."""
    from ..grading import is_correct

    correct, lengths, trunc, texts, per_problem = [], [], [], [], []
    for group, gt in zip(groups, answers):
        texts.append([c.text for c in group])
        ok = [bool(is_correct(c.text, gt, require_think=False, mode=mode, timeout_s=timeout_s))
              for c in group]
        correct += ok
        per_problem.append(int(sum(ok)))
        for c in group:
            lengths.append(c.num_tokens)
            trunc.append(c.finish_reason == "length")
    return {"accuracy": float(np.mean(correct)) if correct else float("nan"),
            "correct": per_problem,
            "diversity": _mean_diversity(texts),
            "mean_length": float(np.mean(lengths)) if lengths else float("nan"),
            "truncation_rate": float(np.mean(trunc)) if trunc else float("nan"),
            "num_samples": len(correct)}


def settings_tag(settings: Any) -> str:
    """A short hash of settings (any JSON-able value), for file names that must change with them."""
    if isinstance(settings, Mapping):
        settings = dict(settings)
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _samples_file(out_file: Path, temperature: float, settings: Mapping) -> Path:
    return out_file.parent / f"{out_file.stem}.samples" / f"T{temperature:.3f}-{settings_tag(settings)}.jsonl"


def sweep(cfg: dict, df: pd.DataFrame, temperatures: Sequence[float], *, model: Any = None,
          n: int | None = None, max_new_tokens: int | None = None, out_file: str | os.PathLike | None = None,
          seed: int | None = None, top_p: float | None = None, top_k: int | None = None,
          sampler: Any = None) -> pd.DataFrame:
    """Sample ``n`` completions per problem at each temperature and measure the curve.

    Returns one row per temperature: ``temperature, accuracy`` (avg@n), ``diversity`` (distinct-4
    per problem, averaged), ``mean_length`` (tokens), ``truncation_rate``, ``num_samples``,
    ``correct`` (correct samples per problem, in the problems' order: what the rule's paired
    bootstrap resamples), ``n``, ``num_problems``. Grading is evaluation-style (``require_think=False``) with
    ``cfg.grading.answer_extraction``.

    Resumable: with ``out_file`` (JSON lines, one per finished temperature) temperatures already
    measured with the same settings are read back instead of sampled, and each temperature's samples
    go to ``<out_file stem>.samples/T<t>.jsonl`` through the sampler, which resumes part-finished
    temperatures. The sampler (and the model) is only created if something is left to sample.
    """
    ts = cfg.temperature_search
    n = int(n or ts.n)
    max_new_tokens = int(max_new_tokens or ts.max_new_tokens)
    seed = int(cfg.seed if seed is None else seed)
    top_p = ts.top_p if top_p is None else top_p
    top_k = ts.top_k if top_k is None else top_k
    temperatures = [float(t) for t in temperatures]
    if not temperatures:
        raise ValueError("sweep: empty temperature grid")
    if len(set(temperatures)) != len(temperatures):
        raise ValueError(f"sweep: duplicate temperatures in the grid {temperatures}")
    for t in temperatures:
        if t < 0:
            raise ValueError(f"sweep: temperature must be >= 0, got {t}")
    mode = cfg.grading.answer_extraction
    prompts, answers = _prompts(df), _answers(df)
    settings = {"n": n, "max_new_tokens": max_new_tokens, "seed": seed, "top_p": top_p, "top_k": top_k,
                "problems": problems_key(df), "num_problems": len(df), "model": str(model or cfg.model.path),
                "answer_extraction": mode}
    done: dict[float, dict] = {}
    out_path = Path(out_file) if out_file else None
    if out_path is not None:
        for rec in read_jsonl(out_path):
            # records without per-problem counts predate the noise-aware rule: re-scored from the
            # cached samples (the sampler resumes them; nothing is generated again)
            if all(rec.get(k) == v for k, v in settings.items()) and "correct" in rec:
                done[round(float(rec["temperature"]), 6)] = rec
    from ..sampling.base import model_label

    rows, own = [], sampler is None
    try:
        for t in temperatures:
            rec = done.get(round(t, 6))
            if rec is None:
                if sampler is None:
                    from ..sampling import make_sampler

                    sampler = make_sampler(cfg, model=model)
                groups = sampler.generate(prompts, n=n, temperature=t, top_p=top_p, top_k=top_k,
                                          max_new_tokens=max_new_tokens, seed=seed,
                                          out_file=_samples_file(out_path, t, settings) if out_path else None,
                                          desc=f"sweep {model_label(settings['model'])} T={t:g}")
                rec = {"temperature": t, **score_groups(groups, answers, mode=mode,
                                                        timeout_s=cfg.grading.timeout_s),
                       **settings}
                if out_path is not None:
                    append_jsonl(out_path, rec)
            rows.append(rec)
    finally:
        if own and sampler is not None:
            sampler.close()
    cols = ["temperature", "accuracy", "diversity", "mean_length", "truncation_rate", "num_samples",
            "correct"]
    out = pd.DataFrame(rows)[cols]
    out["n"], out["num_problems"] = n, len(df)
    return out.sort_values("temperature").reset_index(drop=True)


def load_problems(cfg: dict, num_problems: int | None = None) -> pd.DataFrame:
    """The sweep's problems: ``temperature_search.benchmark`` (``synthetic`` on CPU tiers)."""
    from ..data import load_benchmark

    ts = cfg.temperature_search
    return load_benchmark(ts.benchmark, cfg.data.benchmarks_dir,
                          num_problems=num_problems or ts.num_problems, seed=cfg.seed)


def rule_settings(cfg: dict) -> dict:
    """The rule's settings from ``cfg.temperature_search`` as keyword arguments."""
    ts = cfg.temperature_search
    return {"plateau_drop": ts.plateau_drop, "collapse_drop": ts.collapse_drop,
            "confidence": ts.confidence, "bootstrap": ts.bootstrap, "seed": int(cfg.seed)}


def search_for_stage(cfg: dict, model_dir: str | os.PathLike | None = None,
                     target_diversity: float | None = None, *, out_dir: str | os.PathLike,
                     problems: pd.DataFrame | None = None, grid: Sequence[float] | None = None,
                     n: int | None = None, max_new_tokens: int | None = None, seed: int | None = None,
                     sampler: Any = None) -> dict:
    """Sweep ``model_dir`` (default: the tier's model) and choose the temperature for a stage.

    ``target_diversity=None`` applies the stage-1 rule; otherwise the matching rule with that target
    (the ``diversity`` of the previous stage's choice.json). Writes ``sweep.jsonl`` (resumable
    cache), ``sweep.csv`` and ``choice.json`` into ``out_dir`` and returns the choice record
    (which also holds the curve under ``curve``). Thresholds come from ``cfg.temperature_search``.
    """
    ts = cfg.temperature_search
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if problems is None:
        problems = load_problems(cfg)
    grid = list(grid if grid is not None else (ts.grid if target_diversity is not None else ts.wide_grid))
    curve = sweep(cfg, problems, grid, model=str(model_dir) if model_dir else None, n=n,
                  max_new_tokens=max_new_tokens, out_file=out_dir / "sweep.jsonl", seed=seed,
                  sampler=sampler)
    kw = rule_settings(cfg)
    rec = choose(curve, target_diversity, step=ts.step, **kw)
    ann = annotate(curve, **kw)
    ann.to_csv(out_dir / "sweep.csv", index=False)
    rec.update(model=str(model_dir or cfg.model.path), grid=grid,
               n=int(curve["n"].iat[0]), num_problems=int(curve["num_problems"].iat[0]),
               max_new_tokens=int(max_new_tokens or ts.max_new_tokens),
               benchmark=ts.benchmark, curve=ann.to_dict(orient="records"))
    write_json(out_dir / CHOICE_FILE, rec)
    return rec
