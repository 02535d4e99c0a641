"""Diversity-based rollout temperature (reference polaris-recipe.md §6).

POLARIS picks the stage-1 rollout temperature from a sweep of accuracy and diversity against
temperature, and before each later stage raises it until the new checkpoint's rollouts are as
diverse as the previous stage's were. This module holds the sweep, the three-zone labelling, both
choice rules, the report's own curves, and :func:`search_for_stage` (what the training section
calls between stages).

A *curve* is a DataFrame (or a mapping of columns) with one row per temperature and at least the
columns ``temperature``, ``accuracy`` (avg@n in [0, 1]) and ``diversity`` (distinct-4 in [0, 1]).

The rules (thresholds are *relative* to the peak accuracy, so they mean the same for a model at
74 % and one at 20 %):

* ``rel_drop(T) = (peak - accuracy(T)) / peak`` where ``peak`` is the highest accuracy on the curve.
* **Zones** (:func:`zones`). *Performance Collapse* from the first temperature above the peak
  whose ``rel_drop`` exceeds ``collapse_drop``; *Robust Generation* from the peak up to the highest
  temperature below that whose ``rel_drop`` is within ``plateau_drop`` (a dip inside the band is
  noise; Qwen3-4B's Figure 4 dips 1.35 % at 1.2 and is back at 0.27 % at 1.4); *Controlled
  Exploration* in between. Below the peak the band extends down while ``rel_drop <=
  collapse_drop``; lower temperatures are *Low Temperature* (too greedy; the report leaves them
  unlabelled, e.g. T = 0.1 in its Figure 4).
* **Stage-1 choice** (:func:`choose_initial`): the start of the Controlled Exploration zone, i.e. the
  top of the Robust Generation band: among the robust temperatures at or above the peak, the one
  with the highest diversity (ties: the higher T). On a curve whose diversity rises with T (every
  curve in the report) this is the highest T whose accuracy has only just begun to fall. Chosen
  among the measured temperatures (the grid sets the resolution).
* **Later stages** (:func:`choose_matching`): the first temperature, scanning upward and
  interpolating diversity linearly between measured points, at which diversity reaches the target
  (the diversity the previous stage trained at), rounded to the nearest multiple of ``step`` (0.05)
  inside the measured range. If the curve never reaches the target the highest measured T is
  returned; if it starts above it, the lowest (``match_diversity`` reports which).

Default thresholds (``temperature_search.plateau_drop`` = 0.01, ``collapse_drop`` = 0.2 in
base.yaml), tuned on the report's curves (tests/test_temperature.py):

* Qwen3-4B, Figure 5: peak 74.2 at T = 0.8; 1.4 is 0.27 % below the peak, 1.45 1.35 %, 1.5 5.4 %.
  Any ``plateau_drop`` in (0.0027, 0.0135) picks exactly 1.4, the authors' choice; up to 0.054 it
  picks 1.45 (the figure's own bracket). 0.01 sits inside the exact range. The coarser Figure 3/4
  grid gives 1.4 as well.
* R1-Distill-7B, Figure 8 (before RL): peak 56 at T = 0.7, 0.8 is 5.4 % below: 0.7 for any
  ``plateau_drop`` < 0.054.
* ``collapse_drop`` = 0.2 puts Qwen3-4B's 1.45–1.55 (≤ 8.6 % below) in Controlled Exploration and
  1.6 (32.6 % below) in Performance Collapse, as the figure's brackets do, and R1-Distill-7B's 0.8–1.0
  (≤ 16 % below) in Controlled Exploration and 0.4–0.7 in Robust Generation, as Figure 7's "before"
  brackets (RGZ 0.4–0.7, CEZ 0.7–1.0) do.
* Later stages, Figure 8: target 0.59 (the "before" diversity at 0.7) on the after-400 curve crosses
  at 0.89 -> 0.9 (the authors trained at 1.0, where diversity read 0.64: they moved in a coarser step,
  which the blog says they did when diversity fell a lot); target 0.64 (after-400 at 1.0) on the
  after-800 curve crosses at 1.125 -> 1.1 (the authors' 1.1).

The report's own readings are not perfectly consistent (§6.2, §14 item 5). Its points average
~1,000 samples each; a CPU tier's sweep is far noisier, so the CPU tiers set wider thresholds of about
one standard error of their accuracy: smoke (12 problems x 8 at ~25 %: SE ~17 % of the accuracy)
plateau 0.15 / collapse 0.5; tiny (4 x 4) 0.3 / 0.6. A drop smaller than the noise is not a drop.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .artifacts import append_jsonl, read_jsonl, write_json

ZONES = ("Low Temperature", "Robust Generation", "Controlled Exploration", "Performance Collapse")
ROBUST, EXPLORE, COLLAPSE, LOW = ZONES[1], ZONES[2], ZONES[3], ZONES[0]
DEFAULT_PLATEAU_DROP = 0.01
DEFAULT_COLLAPSE_DROP = 0.2
SOURCE = "reported by the authors (read off the figure)"

# --------------------------------------------------------------------------------------------
# The report's curves (§6.2), in percent as read off the figures; converted to [0, 1] by
# reported_curve(). Figure 3 diversity and Figure 4 accuracy share the grid below.

FIG34_GRID = (0.1, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6)
FIG3_DIVERSITY = {
    "Qwen3-4B": (28, 37.5, 42, 45, 47, 55, 63, 84),
    "Qwen3-32B": (34, 39, 48, 60.5, 72.5, 74.5, 80, 99),
    "R1-Distill-7B": (24.5, 45, 57, 63, 80, 91, 99, 99.5),
    "R1-Distill-1.5B": (26, 45, 65, 75.5, 86, 99, 99, 99),
}
FIG4_ACCURACY = {
    "Qwen3-4B": (57, 74, 73.8, 74.2, 73.9, 73.2, 74, 50),
    "Qwen3-32B": (64, 79.8, 81.2, 81, 82.4, 79.2, 62.7, 10),
    "R1-Distill-7B": (40, 52.9, 55, 51.6, 42, 11.5, 0, 0),
    "R1-Distill-1.5B": (21.6, 30, 28.5, 25.6, 24, 0, 0, 0),
}
# Figure 5: Qwen3-4B on AIME24, mean@32, a finer grid around the chosen temperature
FIG5_GRID = (0.1, 0.6, 0.8, 1.4, 1.45, 1.5, 1.55, 1.6, 1.7)
FIG5_ACCURACY = (70.0, 73.8, 74.2, 74.0, 73.2, 70.2, 67.8, 50.0, 32.7)
# Figure 8: R1-Distill-7B before RL and after 400 / 800 RL steps
FIG8_GRID = (0.4, 0.6, 0.7, 0.8, 1.0, 1.2)
FIG8 = {
    "before": {"accuracy": (52, 55, 56, 53, 47, 11), "diversity": (48, 58, 59, 62, 80, 91)},
    "after 400 steps": {"accuracy": (57, 61, 60, 58, 55, 38), "diversity": (45, 50, 52, 55, 64, 83)},
    "after 800 steps": {"accuracy": (61, 64.5, 66, 63, 62, 54), "diversity": (40, 44, 47, 50, 54, 70)},
}
# The temperatures the authors trained each stage at (§6.4)
REPORTED_CHOICES = {"Qwen3-4B": (1.4, 1.45, 1.5), "R1-Distill-7B": (0.7, 1.0, 1.1),
                    "Qwen3-1.7B": (1.5, 1.55)}


def reported_curve(name: str) -> pd.DataFrame:
    """One of the report's curves as a curve DataFrame (fractions, not percent).

    Names: ``"Qwen3-4B"``, ``"Qwen3-32B"``, ``"R1-Distill-7B"``, ``"R1-Distill-1.5B"`` (Figures 3/4);
    ``"Qwen3-4B fig5"`` (Figure 5 accuracy on its finer grid with Figure 3 diversity interpolated
    linearly, held constant beyond 1.6); ``"R1-Distill-7B fig8 before"``, ``"... after 400 steps"``,
    ``"... after 800 steps"`` (Figure 8).
    """
    if name in FIG4_ACCURACY:
        t, acc, div = FIG34_GRID, FIG4_ACCURACY[name], FIG3_DIVERSITY[name]
        interp = [False] * len(t)
    elif name == "Qwen3-4B fig5":
        t, acc = FIG5_GRID, FIG5_ACCURACY
        div = np.interp(t, FIG34_GRID, FIG3_DIVERSITY["Qwen3-4B"])
        interp = [x not in FIG34_GRID for x in t]
    elif name.startswith("R1-Distill-7B fig8 ") and name[len("R1-Distill-7B fig8 "):] in FIG8:
        row = FIG8[name[len("R1-Distill-7B fig8 "):]]
        t, acc, div = FIG8_GRID, row["accuracy"], row["diversity"]
        interp = [False] * len(t)
    else:
        raise KeyError(f"unknown reported curve {name!r}; expected one of {reported_curve_names()}")
    return pd.DataFrame({"temperature": np.asarray(t, float), "accuracy": np.asarray(acc, float) / 100,
                         "diversity": np.asarray(div, float) / 100, "diversity_interpolated": interp,
                         "source": SOURCE})


def reported_curve_names() -> list[str]:
    return [*FIG4_ACCURACY, "Qwen3-4B fig5", *(f"R1-Distill-7B fig8 {k}" for k in FIG8)]


# --------------------------------------------------------------------------------------------
# Rules


def as_curve(curve: pd.DataFrame | Mapping[str, Sequence[float]], *, need: Iterable[str] = ("accuracy",)) -> pd.DataFrame:
    """Validate a curve and return it sorted by temperature (a copy)."""
    df = curve.copy() if isinstance(curve, pd.DataFrame) else pd.DataFrame(dict(curve))
    for col in ("temperature", *need):
        if col not in df.columns:
            raise ValueError(f"curve: missing column {col!r}; have {list(df.columns)}")
        vals = pd.to_numeric(df[col], errors="coerce")
        if vals.isna().any():
            raise ValueError(f"curve: column {col!r} has missing or non-numeric values")
        df[col] = vals.astype(float)
    if len(df) == 0:
        raise ValueError("curve: no rows")
    if df["temperature"].duplicated().any():
        dup = sorted(df.loc[df["temperature"].duplicated(), "temperature"].tolist())
        raise ValueError(f"curve: duplicate temperatures {dup}")
    if (df["temperature"] < 0).any():
        raise ValueError("curve: temperatures must be >= 0")
    return df.sort_values("temperature").reset_index(drop=True)


def _thresholds(plateau_drop, collapse_drop):
    p = DEFAULT_PLATEAU_DROP if plateau_drop is None else float(plateau_drop)
    c = DEFAULT_COLLAPSE_DROP if collapse_drop is None else float(collapse_drop)
    if not 0 <= p <= c:
        raise ValueError(f"need 0 <= plateau_drop <= collapse_drop, got {p} and {c}")
    return p, c


def relative_drop(curve) -> pd.Series:
    """``(peak - accuracy) / peak`` per row of the sorted curve (0 at the peak)."""
    df = as_curve(curve)
    peak = df["accuracy"].max()
    if peak <= 0:
        raise ValueError("curve: accuracy is zero at every temperature; no zone or choice is defined")
    return (peak - df["accuracy"]) / peak


def _edges(df: pd.DataFrame, p: float, c: float) -> tuple[int, int, int, int]:
    """Row positions (sorted curve) of: the lowest robust T, the peak, the highest robust T (the
    start of Controlled Exploration) and the first collapsed T above the peak (len(df) if none)."""
    acc = df["accuracy"].to_numpy()
    drop = relative_drop(df).to_numpy()
    eps = 1e-12
    ipeak = int(np.argmax(acc))  # first (lowest-T) maximum
    icol = next((i for i in range(ipeak + 1, len(df)) if drop[i] > c + eps), len(df))
    irob = max(i for i in range(ipeak, icol) if drop[i] <= p + eps)
    ilow = ipeak
    for i in range(ipeak - 1, -1, -1):
        if drop[i] > c + eps:
            break
        ilow = i
    return ilow, ipeak, irob, icol


def zones(curve, *, plateau_drop: float | None = None, collapse_drop: float | None = None) -> list[str]:
    """Zone label per row of ``curve`` (in the input's row order).

    With ``drop`` the accuracy's relative drop from the peak: *Performance Collapse* from the first
    temperature above the peak whose drop exceeds ``collapse_drop``; *Robust Generation* from the
    peak up to the highest temperature below that whose drop is within ``plateau_drop`` (a dip
    inside this band counts as noise); *Controlled Exploration* between the two. Below the peak,
    accuracy falls because decoding turns greedy rather than from exploration, and the report's
    brackets include temperatures several percent below the peak on that side (R1-Distill-7B's RGZ
    0.4-0.7 with 0.4 7 % below), so the band extends downward while the drop is within
    ``collapse_drop``; lower temperatures are *Low Temperature*.
    """
    p, c = _thresholds(plateau_drop, collapse_drop)
    raw = curve if isinstance(curve, pd.DataFrame) else pd.DataFrame(dict(curve))
    df = as_curve(raw)
    ilow, _, irob, icol = _edges(df, p, c)
    labels = [LOW if i < ilow else ROBUST if i <= irob else EXPLORE if i < icol else COLLAPSE
              for i in range(len(df))]
    by_t = dict(zip(df["temperature"], labels))
    return [by_t[float(t)] for t in pd.to_numeric(raw["temperature"])]


def choose_initial(curve, *, plateau_drop: float | None = None,
                   collapse_drop: float | None = None) -> float:
    """Stage-1 temperature: the start of the Controlled Exploration zone.

    The robust temperatures at or above the peak (see :func:`zones`) are candidates; the one with
    the highest diversity wins (ties: the higher T). On a curve whose diversity rises with T this is
    the highest temperature whose accuracy is still within ``plateau_drop`` of the peak, below any
    collapse: where accuracy "has only just begun to fall while diversity is higher".
    """
    p, c = _thresholds(plateau_drop, collapse_drop)
    df = as_curve(curve, need=("accuracy", "diversity"))
    _, ipeak, irob, _ = _edges(df, p, c)
    drop = relative_drop(df).to_numpy()
    band = [i for i in range(ipeak, irob + 1) if drop[i] <= p + 1e-12]
    div = df["diversity"].to_numpy()
    best = max(band, key=lambda i: (div[i], df["temperature"].iat[i]))
    return float(df["temperature"].iat[best])


def interpolate(curve, column: str, temperatures: Sequence[float] | float) -> np.ndarray | float:
    """Linear interpolation of ``column`` at ``temperatures`` (clamped at the measured ends)."""
    df = as_curve(curve, need=(column,))
    out = np.interp(np.asarray(temperatures, float), df["temperature"], df[column])
    return float(out) if np.ndim(out) == 0 else out


def match_diversity(curve, target_diversity: float, step: float = 0.05) -> dict:
    """Details of :func:`choose_matching`: ``temperature`` (on the ``step`` grid), ``exact`` (the
    interpolated crossing, or None), ``reached`` ("crossing" | "below_range" | "above_range"),
    ``diversity`` (interpolated diversity at ``temperature``)."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    target = float(target_diversity)
    if not 0 <= target <= 1:
        raise ValueError(f"target_diversity must be a distinct-4 ratio in [0, 1], got {target}")
    df = as_curve(curve, need=("diversity",))
    t, d = df["temperature"].to_numpy(), df["diversity"].to_numpy()
    lo_grid = math.ceil(t[0] / step - 1e-9) * step
    hi_grid = math.floor(t[-1] / step + 1e-9) * step
    exact, reached = None, "above_range"
    if d[0] >= target:
        exact, reached = t[0], "below_range" if d[0] > target else "crossing"
    else:
        for i in range(1, len(t)):
            if d[i] >= target:
                frac = (target - d[i - 1]) / (d[i] - d[i - 1])
                exact, reached = t[i - 1] + frac * (t[i] - t[i - 1]), "crossing"
                break
    if exact is None:
        chosen = hi_grid if hi_grid >= lo_grid else t[-1]
    else:
        chosen = round(exact / step) * step
        if hi_grid >= lo_grid:
            chosen = min(max(chosen, lo_grid), hi_grid)
    chosen = round(float(chosen), 6)
    return {"temperature": chosen, "exact": None if exact is None else float(exact),
            "reached": reached, "target_diversity": target,
            "diversity": float(np.interp(chosen, t, d)), "step": step}


def choose_matching(curve, target_diversity: float, step: float = 0.05) -> float:
    """Later-stage temperature: where diversity matches ``target_diversity`` (module docstring)."""
    return match_diversity(curve, target_diversity, step)["temperature"]


# --------------------------------------------------------------------------------------------
# Sweep


def _mean_diversity(groups: Sequence[Sequence[str]], n: int = 4) -> float:
    """Distinct-n per problem (over its sampled responses), averaged over problems (§6.1)."""
    from .metrics import distinct_n

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
    from .grading import is_correct

    correct, lengths, trunc, texts = [], [], [], []
    for group, gt in zip(groups, answers):
        texts.append([c.text for c in group])
        for c in group:
            correct.append(bool(is_correct(c.text, gt, require_think=False, mode=mode,
                                           timeout_s=timeout_s)))
            lengths.append(c.num_tokens)
            trunc.append(c.finish_reason == "length")
    return {"accuracy": float(np.mean(correct)) if correct else float("nan"),
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
    per problem, averaged), ``mean_length`` (tokens), ``truncation_rate``, ``num_samples``, ``n``,
    ``num_problems``. Grading is evaluation-style (``require_think=False``) with
    ``cfg["grading"]["answer_extraction"]``.

    Resumable: with ``out_file`` (JSON lines, one per finished temperature) temperatures already
    measured with the same settings are read back instead of sampled, and each temperature's samples
    go to ``<out_file stem>.samples/T<t>.jsonl`` through the sampler, which resumes part-finished
    temperatures. The sampler (and the model) is only created if something is left to sample.
    """
    ts = cfg["temperature_search"]
    n = int(n or ts["n"])
    max_new_tokens = int(max_new_tokens or ts["max_new_tokens"])
    seed = int(cfg.get("seed", 0) if seed is None else seed)
    top_p = ts["top_p"] if top_p is None else top_p
    top_k = ts["top_k"] if top_k is None else top_k
    temperatures = [float(t) for t in temperatures]
    if not temperatures:
        raise ValueError("sweep: empty temperature grid")
    if len(set(temperatures)) != len(temperatures):
        raise ValueError(f"sweep: duplicate temperatures in the grid {temperatures}")
    for t in temperatures:
        if t < 0:
            raise ValueError(f"sweep: temperature must be >= 0, got {t}")
    mode = cfg["grading"]["answer_extraction"]
    prompts, answers = _prompts(df), _answers(df)
    settings = {"n": n, "max_new_tokens": max_new_tokens, "seed": seed, "top_p": top_p, "top_k": top_k,
                "problems": problems_key(df), "num_problems": len(df), "model": str(model or cfg["model"]["path"]),
                "answer_extraction": mode}
    done: dict[float, dict] = {}
    out_path = Path(out_file) if out_file else None
    if out_path is not None:
        for rec in read_jsonl(out_path):
            if all(rec.get(k) == v for k, v in settings.items()):
                done[round(float(rec["temperature"]), 6)] = rec
    from .sampling.base import model_label

    rows, own = [], sampler is None
    try:
        for t in temperatures:
            rec = done.get(round(t, 6))
            if rec is None:
                if sampler is None:
                    from .sampling import make_sampler

                    sampler = make_sampler(cfg, model=model)
                groups = sampler.generate(prompts, n=n, temperature=t, top_p=top_p, top_k=top_k,
                                          max_new_tokens=max_new_tokens, seed=seed,
                                          out_file=_samples_file(out_path, t, settings) if out_path else None,
                                          desc=f"sweep {model_label(settings['model'])} T={t:g}")
                rec = {"temperature": t, **score_groups(groups, answers, mode=mode,
                                                        timeout_s=cfg["grading"].get("timeout_s", 2.0)),
                       **settings}
                if out_path is not None:
                    append_jsonl(out_path, rec)
            rows.append(rec)
    finally:
        if own and sampler is not None:
            sampler.close()
    cols = ["temperature", "accuracy", "diversity", "mean_length", "truncation_rate", "num_samples"]
    out = pd.DataFrame(rows)[cols]
    out["n"], out["num_problems"] = n, len(df)
    return out.sort_values("temperature").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# What the notebook and the training section call


def load_problems(cfg: dict, num_problems: int | None = None) -> pd.DataFrame:
    """The sweep's problems: ``temperature_search.benchmark`` (``synthetic`` on CPU tiers)."""
    from .data import load_benchmark

    ts = cfg["temperature_search"]
    return load_benchmark(ts["benchmark"], cfg["data"].get("benchmarks_dir"),
                          num_problems=num_problems or ts.get("num_problems"), seed=cfg.get("seed", 0))


def annotate(curve, *, plateau_drop: float | None = None, collapse_drop: float | None = None) -> pd.DataFrame:
    """The curve sorted by temperature with ``rel_drop`` and ``zone`` columns added."""
    df = as_curve(curve, need=("accuracy", "diversity"))
    df["rel_drop"] = relative_drop(df).round(6)
    df["zone"] = zones(df, plateau_drop=plateau_drop, collapse_drop=collapse_drop)
    return df


def choose(curve, target_diversity: float | None = None, *, plateau_drop: float | None = None,
           collapse_drop: float | None = None, step: float = 0.05) -> dict:
    """Apply the stage-1 rule (no target) or the matching rule (a target); returns the choice
    record written to choice.json: ``temperature``, ``diversity`` and ``accuracy`` at it (measured,
    or interpolated for an unmeasured grid point), ``rule``, thresholds and the zones."""
    df = annotate(curve, plateau_drop=plateau_drop, collapse_drop=collapse_drop)
    p, c = _thresholds(plateau_drop, collapse_drop)
    rec: dict[str, Any] = {"plateau_drop": p, "collapse_drop": c, "step": step}
    if target_diversity is None:
        t = choose_initial(df, plateau_drop=p, collapse_drop=c)
        rec.update(rule="initial: start of the Controlled Exploration zone", temperature=t,
                   target_diversity=None)
    else:
        m = match_diversity(df, target_diversity, step)
        t = m["temperature"]
        rec.update(rule="matching: diversity of the previous stage", temperature=t,
                   target_diversity=float(target_diversity), crossing=m["exact"], reached=m["reached"])
    rec["diversity"] = interpolate(df, "diversity", t)
    rec["accuracy"] = interpolate(df, "accuracy", t)
    rec["measured"] = bool(np.isclose(df["temperature"], t).any())
    rec["zones"] = {f"{tt:g}": z for tt, z in zip(df["temperature"], df["zone"])}
    return rec


def search_for_stage(cfg: dict, model_dir: str | os.PathLike | None = None,
                     target_diversity: float | None = None, *, out_dir: str | os.PathLike,
                     problems: pd.DataFrame | None = None, grid: Sequence[float] | None = None,
                     n: int | None = None, max_new_tokens: int | None = None, seed: int | None = None,
                     sampler: Any = None) -> dict:
    """Sweep ``model_dir`` (default: the tier's model) and choose the temperature for a stage.

    ``target_diversity=None`` applies the stage-1 rule; otherwise the matching rule with that target
    (the ``diversity`` of the previous stage's choice.json). Writes ``sweep.jsonl`` (resumable
    cache), ``sweep.csv`` and ``choice.json`` into ``out_dir`` and returns the choice record
    (which also holds the curve under ``curve``). Thresholds come from ``cfg["temperature_search"]``.
    """
    ts = cfg["temperature_search"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if problems is None:
        problems = load_problems(cfg)
    grid = list(grid if grid is not None else (ts["grid"] if target_diversity is not None else ts["wide_grid"]))
    curve = sweep(cfg, problems, grid, model=str(model_dir) if model_dir else None, n=n,
                  max_new_tokens=max_new_tokens, out_file=out_dir / "sweep.jsonl", seed=seed,
                  sampler=sampler)
    rec = choose(curve, target_diversity, plateau_drop=ts["plateau_drop"],
                 collapse_drop=ts["collapse_drop"], step=ts.get("step", 0.05))
    ann = annotate(curve, plateau_drop=ts["plateau_drop"], collapse_drop=ts["collapse_drop"])
    ann.to_csv(out_dir / "sweep.csv", index=False)
    rec.update(model=str(model_dir or cfg["model"]["path"]), grid=grid,
               n=int(curve["n"].iat[0]), num_problems=int(curve["num_problems"].iat[0]),
               max_new_tokens=int(max_new_tokens or ts["max_new_tokens"]),
               benchmark=ts["benchmark"], curve=ann.to_dict(orient="records"))
    write_json(out_dir / "choice.json", rec)
    return rec
