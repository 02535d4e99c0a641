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

* ``drop(T) = (peak - accuracy(T)) / peak`` where ``peak`` is the highest accuracy on the curve.
* **A drop counts only when the sweep shows it.** A sweep records each problem's correct count at
  every temperature (``correct``). The rule resamples the problems with replacement
  (``temperature_search.bootstrap`` times; the same resample at every temperature, so the
  comparison is paired: a hard problem is hard at every T) and takes, per temperature, the
  one-sided lower bound of ``drop(T)`` at ``confidence`` (0.75): the drop the data support with
  75 % confidence. That bound, not the point estimate, is compared with the thresholds. A curve
  without per-problem results (the report's, read off figures) has no uncertainty: the bound is the
  point drop. Small sweeps (the CPU tiers') thus get wide robust bands from the same rule and the
  same thresholds; no tier sets its own.
* **Zones** (:func:`zones`). *Performance Collapse* from the first temperature above the peak
  whose bound exceeds ``collapse_drop``; *Robust Generation* from the peak up to the highest
  temperature below that whose bound is within ``plateau_drop`` (a dip inside the band is
  noise; Qwen3-4B's Figure 4 dips 1.35 % at 1.2 and is back at 0.27 % at 1.4); *Controlled
  Exploration* in between. Below the peak the band extends down while the bound is within
  ``collapse_drop``; lower temperatures are *Low Temperature* (too greedy; the report leaves them
  unlabelled, e.g. T = 0.1 in its Figure 4).
* **Stage-1 choice** (:func:`choose_initial`): the start of the Controlled Exploration zone, i.e. the
  top of the Robust Generation band: among the robust temperatures at or above the peak, the one
  with the highest diversity (ties: the higher T). On a curve whose diversity rises with T (every
  curve in the report) this is the highest T whose accuracy has not demonstrably fallen. Chosen
  among the measured temperatures (the grid sets the resolution).
* **How firm the choice is** (:func:`choice_distribution`): the whole rule re-run on
  ``DEFAULT_RESAMPLES`` resamples of the problems; the share of resamples choosing each
  temperature goes to choice.json. When no temperature wins more than half, the sweep is too
  small to decide (the notebook says so).
* **Later stages** (:func:`choose_matching`): the first temperature, scanning upward and
  interpolating diversity linearly between measured points, at which diversity reaches the target
  (the diversity the previous stage trained at), rounded to the nearest multiple of ``step`` (0.05)
  inside the measured range. If the curve never reaches the target the highest measured T is
  returned; if it starts above it, the lowest (``match_diversity`` reports which).

Thresholds (``plateau_drop`` 0.01, ``collapse_drop`` 0.2, ``confidence`` 0.75 in base.yaml):

* On the report's curves (no noise): Qwen3-4B, Figure 5: peak 74.2 at T = 0.8; 1.4 is 0.27 % below
  the peak, 1.45 1.35 %, 1.5 5.4 %. Any ``plateau_drop`` in (0.0027, 0.0135) picks exactly 1.4, the
  authors' choice; up to 0.054 it picks 1.45 (the figure's own bracket). R1-Distill-7B, Figure 8
  (before RL): peak 56 at T = 0.7, 0.8 is 5.4 % below: 0.7 for any ``plateau_drop`` < 0.054.
* ``collapse_drop`` = 0.2 puts Qwen3-4B's 1.45-1.55 (<= 8.6 % below) in Controlled Exploration and
  1.6 (32.6 % below) in Performance Collapse, as the figure's brackets do, and R1-Distill-7B's
  0.8-1.0 (<= 16 % below) in Controlled Exploration and 0.4-0.7 in Robust Generation, as Figure 7's
  "before" brackets (RGZ 0.4-0.7, CEZ 0.7-1.0) do.
* With noise (:func:`simulate_sweeps`: 30 problems, per-problem logit offsets with spread 3.0,
  binomial samples; 1,000 sweeps; tests/test_temperature.py): at the released search script's 16
  samples per problem the rule picks 1.4 or 1.45 on Figure 5 in 79-82 % of sweeps (over simulation
  seeds; the fixed 1 % rule without the bound: ~58 %), and within 0.05 of 0.7 on Figure 8 read onto
  the paper-7b tier's grid (0.6, 0.65, 0.7, 0.75, 0.8: refined around the peak as Figure 5 refines
  4B's around 1.4) in 80-85 %. On Figure 8's own 0.1-step grid the 7B call is 0.7 vs 0.8, which lies
  3 points lower, 1.4 standard errors of a paired difference at 30 x 16: ~70 %, whatever the
  confidence level (0.6-0.8 tried). At 32 samples (the report's mean@32 curves; the paper tiers'
  ``temperature_search.n``): 86-88 % and 89-92 %. ``confidence`` 0.75 balances the two curves (0.8:
  7B falls below 80 %; 0.65: 4B does).
* Later stages, Figure 8: target 0.59 (the "before" diversity at 0.7) on the after-400 curve crosses
  at 0.89 -> 0.9 (the authors trained at 1.0, where diversity read 0.64: they moved in a coarser step,
  which the blog says they did when diversity fell a lot); target 0.64 (after-400 at 1.0) on the
  after-800 curve crosses at 1.125 -> 1.1 (the authors' 1.1).

The report's own readings are not perfectly consistent (§6.2, §14 item 5).

The module is longer than 500 lines because it holds the whole temperature method of section 2: the
report's reference curves, the sweep, the zone labels with their bootstrap, and the two choice
rules, which the notebook, the stage runner and the tests use together.
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
DEFAULT_CONFIDENCE = 0.75
DEFAULT_BOOTSTRAP = 1000
DEFAULT_RESAMPLES = 200
DEFAULT_SPREAD = 3.0
MAJORITY = 0.5
SOURCE = "reported by the authors (read off the figure)"
CHOICE_FILE = "choice.json"     # the choice record search_for_stage writes (sections.output_record reads it)

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


def _thresholds(plateau_drop, collapse_drop, confidence=None):
    p = DEFAULT_PLATEAU_DROP if plateau_drop is None else float(plateau_drop)
    c = DEFAULT_COLLAPSE_DROP if collapse_drop is None else float(collapse_drop)
    if not 0 <= p <= c:
        raise ValueError(f"need 0 <= plateau_drop <= collapse_drop, got {p} and {c}")
    q = DEFAULT_CONFIDENCE if confidence is None else float(confidence)
    if not 0.5 <= q < 1:
        raise ValueError(f"confidence must lie in [0.5, 1), got {q}")
    return p, c, q


def relative_drop(curve) -> pd.Series:
    """``(peak - accuracy) / peak`` per row of the sorted curve (0 at the peak)."""
    df = as_curve(curve)
    peak = df["accuracy"].max()
    if peak <= 0:
        raise ValueError("curve: accuracy is zero at every temperature; no zone or choice is defined")
    return (peak - df["accuracy"]) / peak


# ---- per-problem results and the paired bootstrap ------------------------------------------


def per_problem_rates(curve) -> np.ndarray | None:
    """The sweep's per-problem pass rates as a (problems x temperatures) array in the sorted
    curve's temperature order, from its ``correct`` column (one list of correct counts per problem
    at each temperature) and ``n`` (samples per problem); None when the curve has no per-problem
    results (e.g. the report's curves, read off figures)."""
    df = as_curve(curve)
    if "correct" not in df.columns or df["correct"].isna().any():
        return None
    rows = [json.loads(c) if isinstance(c, str) else list(c) for c in df["correct"]]
    lens = {len(r) for r in rows}
    if len(lens) != 1 or 0 in lens:
        raise ValueError(f"curve: column 'correct' must hold one count per problem at every temperature "
                         f"(the same problems), got lengths {sorted(lens)}")
    if "n" not in df.columns:
        raise ValueError("curve: per-problem 'correct' counts need the 'n' column (samples per problem)")
    n = pd.to_numeric(df["n"]).to_numpy(float)
    counts = np.asarray(rows, float).T  # problems x temperatures
    if (counts < 0).any() or (counts > n[None, :]).any():
        raise ValueError("curve: per-problem correct counts must lie in [0, n]")
    return counts / n[None, :]


def bootstrap_weights(num_problems: int, bootstrap: int, seed: int = 0) -> np.ndarray:
    """(bootstrap x problems) resampling weights: each row is a resample of the problems with
    replacement, as multiplicities divided by the number of problems (rows sum to 1)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(num_problems, np.full(num_problems, 1 / num_problems), size=bootstrap) / num_problems


def _rule_arrays(rates: np.ndarray | None, acc: np.ndarray, div: np.ndarray, weights: np.ndarray | None,
                 p: float, c: float, q: float) -> dict:
    """The stage-1 rule on S sweeps at once (module docstring).

    ``rates``: (S, problems, K) per-problem pass rates or None (no uncertainty: point drops);
    ``acc``, ``div``: (S, K); ``weights``: (B, problems) bootstrap weights. Returns arrays of
    shape (S,) -- ``ipeak``, ``ilow``, ``irob``, ``icol``, ``ichoice`` -- and (S, K) ``drop``
    (point estimate) and ``drop_bound`` (the lower confidence bound the rule uses)."""
    S, K = acc.shape
    eps = 1e-12
    ipeak = np.argmax(acc, axis=1)  # first (lowest-T) maximum
    peak = acc[np.arange(S), ipeak]
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(peak[:, None] > 0, (peak[:, None] - acc) / peak[:, None], 0.0)
    if rates is None or weights is None:
        bound = drop
    else:
        P = rates.shape[1]
        boot = (weights @ rates.transpose(1, 0, 2).reshape(P, S * K)).reshape(-1, S, K)  # B, S, K
        ref = np.take_along_axis(boot, ipeak[None, :, None], axis=2)  # B, S, 1
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(ref > 0, (ref - boot) / ref, 0.0)
        bound = np.quantile(rel, 1 - q, axis=0)
        bound[np.arange(S), ipeak] = 0.0
    idx = np.arange(K)[None, :]
    collapsed = bound > c + eps
    above = collapsed & (idx > ipeak[:, None])
    icol = np.where(above.any(1), np.argmax(above, axis=1), K)
    band = (idx >= ipeak[:, None]) & (idx < icol[:, None]) & (bound <= p + eps)
    irob = K - 1 - np.argmax(band[:, ::-1], axis=1)
    below = collapsed & (idx < ipeak[:, None])
    ilow = np.where(below.any(1), K - np.argmax(below[:, ::-1], axis=1), 0)
    score = np.where(band, div + idx * 1e-9, -np.inf)  # highest diversity, ties: higher T
    ichoice = np.argmax(score, axis=1)
    return {"ipeak": ipeak, "ilow": ilow, "irob": irob, "icol": icol, "ichoice": ichoice,
            "drop": drop, "drop_bound": bound}


def _single(curve, p, c, q, bootstrap, seed) -> tuple[pd.DataFrame, dict, np.ndarray | None]:
    df = as_curve(curve)
    if df["accuracy"].max() <= 0:
        raise ValueError("curve: accuracy is zero at every temperature; no zone or choice is defined")
    rates = per_problem_rates(df)
    div = df["diversity"].to_numpy(float) if "diversity" in df.columns else np.zeros(len(df))
    w = bootstrap_weights(rates.shape[0], bootstrap, seed) if rates is not None and bootstrap else None
    acc = df["accuracy"].to_numpy(float)
    out = _rule_arrays(None if rates is None else rates[None], acc[None], div[None], w, p, c, q)
    return df, {k: v[0] for k, v in out.items()}, rates


def zones(curve, *, plateau_drop: float | None = None, collapse_drop: float | None = None,
          confidence: float | None = None, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> list[str]:
    """Zone label per row of ``curve`` (in the input's row order).

    With ``drop`` the accuracy's relative drop from the peak -- taken at its lower confidence
    bound when the curve carries per-problem results (module docstring): *Performance Collapse*
    from the first temperature above the peak whose drop exceeds ``collapse_drop``; *Robust
    Generation* from the peak up to the highest temperature below that whose drop does not
    exceed ``plateau_drop`` (a dip inside this band counts as noise); *Controlled Exploration*
    between the two. Below the peak, accuracy falls because decoding turns greedy rather than from
    exploration, and the report's brackets include temperatures several percent below the peak on
    that side (R1-Distill-7B's RGZ 0.4-0.7 with 0.4 7 % below), so the band extends downward while
    the drop is within ``collapse_drop``; lower temperatures are *Low Temperature*.
    """
    p, c, q = _thresholds(plateau_drop, collapse_drop, confidence)
    raw = curve if isinstance(curve, pd.DataFrame) else pd.DataFrame(dict(curve))
    df, r, _ = _single(raw, p, c, q, bootstrap, seed)
    labels = [LOW if i < r["ilow"] else ROBUST if i <= r["irob"] else EXPLORE if i < r["icol"] else COLLAPSE
              for i in range(len(df))]
    by_t = dict(zip(df["temperature"], labels))
    return [by_t[float(t)] for t in pd.to_numeric(raw["temperature"])]


def choose_initial(curve, *, plateau_drop: float | None = None, collapse_drop: float | None = None,
                   confidence: float | None = None, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> float:
    """Stage-1 temperature: the start of the Controlled Exploration zone.

    The robust temperatures at or above the peak (see :func:`zones`) are candidates; the one with
    the highest diversity wins (ties: the higher T). On a curve whose diversity rises with T this is
    the highest temperature whose accuracy has not demonstrably fallen more than ``plateau_drop``
    below the peak, below any collapse: where accuracy "has only just begun to fall while
    diversity is higher".
    """
    p, c, q = _thresholds(plateau_drop, collapse_drop, confidence)
    df, r, _ = _single(as_curve(curve, need=("accuracy", "diversity")), p, c, q, bootstrap, seed)
    return float(df["temperature"].iat[int(r["ichoice"])])


def choice_distribution(curve, *, plateau_drop: float | None = None, collapse_drop: float | None = None,
                        confidence: float | None = None, bootstrap: int = DEFAULT_BOOTSTRAP,
                        resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, float] | None:
    """How often each temperature would be chosen if the sweep's problems were drawn again:
    the stage-1 rule (with its own paired bootstrap) applied to ``resamples`` resamples of the
    problems. Returns ``{"<T>": share}`` over the curve's temperatures (shares sum to 1), or None
    for a curve without per-problem results. Diversity is held at the full sweep's values (it is
    measured far more precisely than accuracy and only orders the robust band)."""
    p, c, q = _thresholds(plateau_drop, collapse_drop, confidence)
    df = as_curve(curve, need=("accuracy", "diversity"))
    rates = per_problem_rates(df)
    if rates is None:
        return None
    P, K = rates.shape
    rng = np.random.default_rng(seed + 1)
    res = rates[rng.integers(0, P, size=(resamples, P))]  # resamples, P, K
    w = bootstrap_weights(P, bootstrap, seed)
    div = np.broadcast_to(df["diversity"].to_numpy(float), (resamples, K))
    picks = _rule_arrays(res, res.mean(1), div, w, p, c, q)["ichoice"]
    share = np.bincount(picks, minlength=K) / resamples
    return {f"{t:g}": round(float(s), 4) for t, s in zip(df["temperature"], share)}


def accuracy_intervals(curve, *, level: float = 0.95, bootstrap: int = DEFAULT_BOOTSTRAP,
                       seed: int = 0) -> pd.DataFrame | None:
    """Question-level ``level`` intervals of each temperature's accuracy (percentile bootstrap
    over problems), as columns ``accuracy_lo``, ``accuracy_hi`` in sorted-curve order; None for a
    curve without per-problem results."""
    df = as_curve(curve)
    rates = per_problem_rates(df)
    if rates is None:
        return None
    boot = bootstrap_weights(rates.shape[0], bootstrap, seed) @ rates
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return pd.DataFrame({"temperature": df["temperature"], "accuracy_lo": lo, "accuracy_hi": hi})


# ---- simulated sweeps on a known curve (how reliable the rule is at a sample size) ------------


def simulated_pick_rates(cases: Mapping[str, tuple], *, ns: Sequence[int] = (16, 32), num_problems: int = 30,
                         sweeps: int = 1000, spread: float = DEFAULT_SPREAD, seed: int = 13,
                         **rule_kw) -> pd.DataFrame:
    """How often the stage-1 rule recovers a known curve's temperature at a given sweep size.

    ``cases`` maps a name to ``(curve, accepted temperatures)``; for each case and each ``n`` in
    ``ns``, :func:`simulate_sweeps` draws ``sweeps`` sweeps of ``num_problems`` problems and the
    rule (``rule_kw``: thresholds, confidence, bootstrap) chooses in each. One row per case and n:
    ``share`` of sweeps choosing an accepted temperature and ``picks`` (share per temperature)."""
    rows = []
    for name, (curve, accepted) in cases.items():
        for n in ns:
            rates = simulate_sweeps(curve, num_problems=num_problems, n=n, sweeps=sweeps, spread=spread, seed=seed)
            picks = np.round(choose_many(curve, rates, **rule_kw), 6)
            ok = np.isin(picks, np.round(np.asarray(accepted, float), 6))
            vals, counts = np.unique(picks, return_counts=True)
            rows.append({"curve": name, "problems x samples": f"{num_problems} x {n}",
                         "accepted": ", ".join(f"{a:g}" for a in accepted), "share": float(ok.mean()),
                         "picks": ", ".join(f"{v:g}: {c / sweeps:.0%}" for v, c in zip(vals, counts))})
    return pd.DataFrame(rows)


def _base_logits(acc: np.ndarray, spread: float) -> np.ndarray:
    """Per temperature, the logit b with E[sigmoid(b + spread * Z)] = acc (Z standard normal), so
    that the simulated problems' mean pass rate is the curve's value."""
    x, w = np.polynomial.hermite_e.hermegauss(64)
    w = w / w.sum()
    lo, hi = np.full(acc.shape, -40.0), np.full(acc.shape, 40.0)
    for _ in range(80):  # bisection, vectorised over temperatures
        mid = (lo + hi) / 2
        mean = (w[None, :] / (1 + np.exp(-(mid[:, None] + spread * x[None, :])))).sum(1)
        lo, hi = np.where(mean < acc, mid, lo), np.where(mean < acc, hi, mid)
    return (lo + hi) / 2


def simulate_sweeps(curve, *, num_problems: int = 30, n: int = 16, sweeps: int = 1000,
                    spread: float = DEFAULT_SPREAD, seed: int = 0) -> np.ndarray:
    """Per-problem pass rates of ``sweeps`` simulated sweeps of a known accuracy curve, shape
    (sweeps, num_problems, temperatures) in sorted-curve order.

    Each sweep draws ``num_problems`` problems with a fixed logit offset ~ N(0, ``spread``^2)
    (problems differ in difficulty, the same problem is hard at every temperature); a problem's
    pass rate at T is the curve's accuracy shifted by that offset on the logit scale (calibrated
    so the mean over problems is the curve's value), and its ``n`` samples are binomial draws.
    ``spread`` 3.0 is the smallest of the logit-normal fits to the report's own per-problem
    pass-rate histograms (R1-Distill-7B/1.5B on DeepScaleR, Qwen3-4B/POLARIS-4B on its 30K:
    3.0-4.3); a smaller spread is noisier."""
    df = as_curve(curve)
    acc = np.clip(df["accuracy"].to_numpy(float), 0.0, 1.0)
    b = _base_logits(np.clip(acc, 1e-6, 1 - 1e-6), spread)
    b = np.where(acc <= 0, -np.inf, np.where(acc >= 1, np.inf, b))
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0.0, spread, size=(sweeps, num_problems, 1))
    with np.errstate(over="ignore"):
        prob = 1 / (1 + np.exp(-(b[None, None, :] + offsets)))
    return rng.binomial(n, prob) / n


def choose_many(curve, rates: np.ndarray, *, plateau_drop: float | None = None,
                collapse_drop: float | None = None, confidence: float | None = None,
                bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0, chunk: int = 100) -> np.ndarray:
    """The stage-1 choice for each of many sweeps' per-problem pass rates (sweeps, problems, K) on
    ``curve``'s temperatures (its diversity orders the robust band) -- e.g. :func:`simulate_sweeps`."""
    p, c, q = _thresholds(plateau_drop, collapse_drop, confidence)
    df = as_curve(curve, need=("diversity",))
    rates = np.asarray(rates, float)
    if rates.ndim != 3 or rates.shape[2] != len(df):
        raise ValueError(f"rates must be (sweeps, problems, {len(df)}), got {rates.shape}")
    w = bootstrap_weights(rates.shape[1], bootstrap, seed) if bootstrap else None
    t = df["temperature"].to_numpy(float)
    out = []
    for i in range(0, len(rates), chunk):
        r = rates[i:i + chunk]
        div = np.broadcast_to(df["diversity"].to_numpy(float), (len(r), len(df)))
        out.append(t[_rule_arrays(r, r.mean(1), div, w, p, c, q)["ichoice"]])
    return np.concatenate(out) if out else np.zeros(0)


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
            # records without per-problem counts predate the noise-aware rule: re-scored from the
            # cached samples (the sampler resumes them; nothing is generated again)
            if all(rec.get(k) == v for k, v in settings.items()) and "correct" in rec:
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
    cols = ["temperature", "accuracy", "diversity", "mean_length", "truncation_rate", "num_samples",
            "correct"]
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


def rule_settings(cfg: dict) -> dict:
    """The rule's settings from ``cfg["temperature_search"]`` as keyword arguments."""
    ts = cfg["temperature_search"]
    return {"plateau_drop": ts["plateau_drop"], "collapse_drop": ts["collapse_drop"],
            "confidence": ts["confidence"], "bootstrap": ts["bootstrap"], "seed": int(cfg.get("seed", 0))}


def annotate(curve, *, plateau_drop: float | None = None, collapse_drop: float | None = None,
             confidence: float | None = None, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """The curve sorted by temperature with ``rel_drop`` (point estimate), ``drop_bound`` (the
    lower confidence bound the rule compares with the thresholds; equal to ``rel_drop`` without
    per-problem results), ``accuracy_lo``/``accuracy_hi`` (question-level 95 % interval; NaN
    without per-problem results) and ``zone`` columns added."""
    p, c, q = _thresholds(plateau_drop, collapse_drop, confidence)
    df, r, _ = _single(as_curve(curve, need=("accuracy", "diversity")), p, c, q, bootstrap, seed)
    df["rel_drop"] = np.round(r["drop"], 6)
    df["drop_bound"] = np.round(r["drop_bound"], 6)
    ci = accuracy_intervals(df, bootstrap=bootstrap, seed=seed)
    df["accuracy_lo"] = np.nan if ci is None else ci["accuracy_lo"].to_numpy()
    df["accuracy_hi"] = np.nan if ci is None else ci["accuracy_hi"].to_numpy()
    df["zone"] = zones(df, plateau_drop=p, collapse_drop=c, confidence=q, bootstrap=bootstrap, seed=seed)
    return df


def choose(curve, target_diversity: float | None = None, *, plateau_drop: float | None = None,
           collapse_drop: float | None = None, confidence: float | None = None,
           bootstrap: int = DEFAULT_BOOTSTRAP, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
           step: float = 0.05) -> dict:
    """Apply the stage-1 rule (no target) or the matching rule (a target); returns the choice
    record written to choice.json: ``temperature``, ``diversity`` and ``accuracy`` at it (measured,
    or interpolated for an unmeasured grid point), ``rule``, thresholds, the zones and -- for the
    stage-1 rule on a sweep with per-problem results -- its uncertainty: ``choice_distribution``
    (share of problem resamples choosing each temperature), ``choice_share`` (that of the chosen
    one), ``top_share`` and ``clear_majority`` (whether some temperature wins more than half)."""
    p, c, q = _thresholds(plateau_drop, collapse_drop, confidence)
    kw = {"plateau_drop": p, "collapse_drop": c, "confidence": q, "bootstrap": bootstrap, "seed": seed}
    df = annotate(curve, **kw)
    rec: dict[str, Any] = {"plateau_drop": p, "collapse_drop": c, "confidence": q, "bootstrap": bootstrap,
                           "step": step}
    dist = None
    if target_diversity is None:
        t = choose_initial(df, **kw)
        rec.update(rule="initial: start of the Controlled Exploration zone", temperature=t,
                   target_diversity=None)
        dist = choice_distribution(df, resamples=resamples, **kw)
    else:
        m = match_diversity(df, target_diversity, step)
        t = m["temperature"]
        rec.update(rule="matching: diversity of the previous stage", temperature=t,
                   target_diversity=float(target_diversity), crossing=m["exact"], reached=m["reached"])
    rec["diversity"] = interpolate(df, "diversity", t)
    rec["accuracy"] = interpolate(df, "accuracy", t)
    rec["measured"] = bool(np.isclose(df["temperature"], t).any())
    rec["zones"] = {f"{tt:g}": z for tt, z in zip(df["temperature"], df["zone"])}
    rec["choice_distribution"] = dist
    rec["resamples"] = resamples if dist else None
    if dist:
        top = max(dist.values())
        rec["choice_share"] = dist.get(f"{t:g}", 0.0)
        rec["top_share"] = top
        rec["clear_majority"] = bool(top > MAJORITY)
    else:
        rec["choice_share"] = rec["top_share"] = rec["clear_majority"] = None
    return rec


def uncertainty_note(rec: Mapping) -> str:
    """One sentence on how firm a stage-1 choice is (for the notebook and the report)."""
    dist = rec.get("choice_distribution")
    if not dist:
        return "No per-problem results: the choice carries no resampling uncertainty."
    ranked = sorted(dist.items(), key=lambda kv: -kv[1])
    shares = ", ".join(f"T = {t} in {s:.0%}" for t, s in ranked if s >= 0.05)
    if rec.get("clear_majority"):
        return (f"Resampling the problems, the rule picks {shares} of {rec['resamples']} resamples: "
                f"T = {ranked[0][0]} wins a clear majority.")
    return (f"No temperature wins a clear majority: resampling the problems, the rule picks {shares} "
            f"of {rec['resamples']} resamples. The sweep is too small to decide between these; "
            f"the choice {rec['temperature']:g} is one of them, not a measured optimum.")


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
    kw = rule_settings(cfg)
    rec = choose(curve, target_diversity, step=ts.get("step", 0.05), **kw)
    ann = annotate(curve, **kw)
    ann.to_csv(out_dir / "sweep.csv", index=False)
    rec.update(model=str(model_dir or cfg["model"]["path"]), grid=grid,
               n=int(curve["n"].iat[0]), num_problems=int(curve["num_problems"].iat[0]),
               max_new_tokens=int(max_new_tokens or ts["max_new_tokens"]),
               benchmark=ts["benchmark"], curve=ann.to_dict(orient="records"))
    write_json(out_dir / CHOICE_FILE, rec)
    return rec
