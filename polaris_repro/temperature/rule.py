"""The temperature rules (the package docstring states them): relative drops from the peak, their
paired-bootstrap lower bound, the zones, the stage-1 choice and its distribution over resamples,
and the later stages' diversity matching."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import base_setting

ZONES = ("Low Temperature", "Robust Generation", "Controlled Exploration", "Performance Collapse")
ROBUST, EXPLORE, COLLAPSE, LOW = ZONES[1], ZONES[2], ZONES[3], ZONES[0]
# the rule's defaults are base.yaml's temperature_search settings (the one place they are set)
DEFAULT_PLATEAU_DROP = float(base_setting("temperature_search.plateau_drop"))
DEFAULT_COLLAPSE_DROP = float(base_setting("temperature_search.collapse_drop"))
DEFAULT_CONFIDENCE = float(base_setting("temperature_search.confidence"))
DEFAULT_BOOTSTRAP = int(base_setting("temperature_search.bootstrap"))
DEFAULT_RESAMPLES = 200
MAJORITY = 0.5


@dataclass(frozen=True)
class Rule:
    """The stage-1 rule's settings as one value: the thresholds ``plateau_drop`` and
    ``collapse_drop`` (relative drops from the peak), the ``confidence`` of the drop's lower bound,
    and the paired bootstrap's ``bootstrap`` resamples and ``seed``. The public functions take them
    as keyword arguments (``rule_settings(cfg)`` gives them) and build one :meth:`of` them."""
    plateau_drop: float = DEFAULT_PLATEAU_DROP
    collapse_drop: float = DEFAULT_COLLAPSE_DROP
    confidence: float = DEFAULT_CONFIDENCE
    bootstrap: int = DEFAULT_BOOTSTRAP
    seed: int = 0

    def __post_init__(self):
        for name, cast in (("plateau_drop", float), ("collapse_drop", float), ("confidence", float),
                           ("bootstrap", int), ("seed", int)):
            object.__setattr__(self, name, cast(getattr(self, name)))
        if not 0 <= self.plateau_drop <= self.collapse_drop:
            raise ValueError(f"need 0 <= plateau_drop <= collapse_drop, got {self.plateau_drop} and {self.collapse_drop}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must lie in [0.5, 1), got {self.confidence}")

    @classmethod
    def of(cls, plateau_drop: float | None = None, collapse_drop: float | None = None,
           confidence: float | None = None, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> "Rule":
        """The settings with None meaning the default (the keyword arguments' convention)."""
        return cls(DEFAULT_PLATEAU_DROP if plateau_drop is None else plateau_drop,
                   DEFAULT_COLLAPSE_DROP if collapse_drop is None else collapse_drop,
                   DEFAULT_CONFIDENCE if confidence is None else confidence, bootstrap, seed)

    def kwargs(self) -> dict:
        return asdict(self)


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


def relative_drop(curve) -> pd.Series:
    """``(peak - accuracy) / peak`` per row of the sorted curve (0 at the peak)."""
    df = as_curve(curve)
    peak = df["accuracy"].max()
    if peak <= 0:
        raise ValueError("curve: accuracy is zero at every temperature; no zone or choice is defined")
    return (peak - df["accuracy"]) / peak


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
                 rule: Rule) -> dict:
    """The stage-1 rule on S sweeps at once (module docstring).

    ``rates``: (S, problems, K) per-problem pass rates or None (no uncertainty: point drops);
    ``acc``, ``div``: (S, K); ``weights``: (B, problems) bootstrap weights. Returns arrays of
    shape (S,) -- ``ipeak``, ``ilow``, ``irob``, ``icol``, ``ichoice`` -- and (S, K) ``drop``
    (point estimate) and ``drop_bound`` (the lower confidence bound the rule uses)."""
    S, K = acc.shape
    p, c, q = rule.plateau_drop, rule.collapse_drop, rule.confidence
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


def _single(curve, rule: Rule) -> tuple[pd.DataFrame, dict, np.ndarray | None]:
    df = as_curve(curve)
    if df["accuracy"].max() <= 0:
        raise ValueError("curve: accuracy is zero at every temperature; no zone or choice is defined")
    rates = per_problem_rates(df)
    div = df["diversity"].to_numpy(float) if "diversity" in df.columns else np.zeros(len(df))
    w = bootstrap_weights(rates.shape[0], rule.bootstrap, rule.seed) if rates is not None and rule.bootstrap else None
    acc = df["accuracy"].to_numpy(float)
    out = _rule_arrays(None if rates is None else rates[None], acc[None], div[None], w, rule)
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
    rule = Rule.of(plateau_drop, collapse_drop, confidence, bootstrap, seed)
    raw = curve if isinstance(curve, pd.DataFrame) else pd.DataFrame(dict(curve))
    df, r, _ = _single(raw, rule)
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
    rule = Rule.of(plateau_drop, collapse_drop, confidence, bootstrap, seed)
    df, r, _ = _single(as_curve(curve, need=("accuracy", "diversity")), rule)
    return float(df["temperature"].iat[int(r["ichoice"])])


def choice_distribution(curve, *, plateau_drop: float | None = None, collapse_drop: float | None = None,
                        confidence: float | None = None, bootstrap: int = DEFAULT_BOOTSTRAP,
                        resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, float] | None:
    """How often each temperature would be chosen if the sweep's problems were drawn again:
    the stage-1 rule (with its own paired bootstrap) applied to ``resamples`` resamples of the
    problems. Returns ``{"<T>": share}`` over the curve's temperatures (shares sum to 1), or None
    for a curve without per-problem results. Diversity is held at the full sweep's values (it is
    measured far more precisely than accuracy and only orders the robust band)."""
    rule = Rule.of(plateau_drop, collapse_drop, confidence, bootstrap, seed)
    df = as_curve(curve, need=("accuracy", "diversity"))
    rates = per_problem_rates(df)
    if rates is None:
        return None
    P, K = rates.shape
    rng = np.random.default_rng(seed + 1)
    res = rates[rng.integers(0, P, size=(resamples, P))]  # resamples, P, K
    w = bootstrap_weights(P, bootstrap, seed)
    div = np.broadcast_to(df["diversity"].to_numpy(float), (resamples, K))
    picks = _rule_arrays(res, res.mean(1), div, w, rule)["ichoice"]
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


def choose_many(curve, rates: np.ndarray, *, plateau_drop: float | None = None,
                collapse_drop: float | None = None, confidence: float | None = None,
                bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0, chunk: int = 100) -> np.ndarray:
    """The stage-1 choice for each of many sweeps' per-problem pass rates (sweeps, problems, K) on
    ``curve``'s temperatures (its diversity orders the robust band) -- e.g. :func:`simulate_sweeps`."""
    rule = Rule.of(plateau_drop, collapse_drop, confidence, bootstrap, seed)
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
        out.append(t[_rule_arrays(r, r.mean(1), div, w, rule)["ichoice"]])
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


def annotate(curve, *, plateau_drop: float | None = None, collapse_drop: float | None = None,
             confidence: float | None = None, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """The curve sorted by temperature with ``rel_drop`` (point estimate), ``drop_bound`` (the
    lower confidence bound the rule compares with the thresholds; equal to ``rel_drop`` without
    per-problem results), ``accuracy_lo``/``accuracy_hi`` (question-level 95 % interval; NaN
    without per-problem results) and ``zone`` columns added."""
    rule = Rule.of(plateau_drop, collapse_drop, confidence, bootstrap, seed)
    df, r, _ = _single(as_curve(curve, need=("accuracy", "diversity")), rule)
    df["rel_drop"] = np.round(r["drop"], 6)
    df["drop_bound"] = np.round(r["drop_bound"], 6)
    ci = accuracy_intervals(df, bootstrap=bootstrap, seed=seed)
    df["accuracy_lo"] = np.nan if ci is None else ci["accuracy_lo"].to_numpy()
    df["accuracy_hi"] = np.nan if ci is None else ci["accuracy_hi"].to_numpy()
    df["zone"] = zones(df, **rule.kwargs())
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
    rule = Rule.of(plateau_drop, collapse_drop, confidence, bootstrap, seed)
    kw = rule.kwargs()
    df = annotate(curve, **kw)
    rec: dict[str, Any] = {"plateau_drop": rule.plateau_drop, "collapse_drop": rule.collapse_drop,
                           "confidence": rule.confidence, "bootstrap": bootstrap, "step": step}
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
