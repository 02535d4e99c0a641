"""Simulated sweeps of a known curve: how often the stage-1 rule recovers its temperature at a given
sweep size (problems x samples), the numbers the package docstring and the notebook quote."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .rule import as_curve, choose_many

DEFAULT_SPREAD = 3.0


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
