"""verl custom reward function (``custom_reward_function.path`` = this file, ``name`` = compute_score).

The POLARIS training rule (reference §4): reward 1 if the response has ``</think>`` and the last
``\\boxed{}`` after it matches the ground truth, else 0; no format bonus, no length penalty.
``require_think``, ``mode`` and ``checker`` come from ``custom_reward_function.reward_kwargs`` (our
configs set them from ``cfg.grading``).  ``checker="polaris"`` (default) is the package's own
checker (:mod:`polaris_repro.grading`); ``checker="deepscaler"`` is DeepScaleR's rule-based reward,
the one POLARIS trained with (:mod:`polaris_repro.grading.deepscaler`).  verl calls this from
executor threads: grading is bounded without signals (see :mod:`polaris_repro.grading`).
"""
from __future__ import annotations

import os
import sys
from typing import Any

# verl loads this file by path (not as part of the package), so imports must be absolute
try:
    from polaris_repro.grading import DEFAULT_TIMEOUT_S, MODES, grade
    from polaris_repro.grading.deepscaler import deepscaler_grade
    from polaris_repro.config import CHECKERS   # grading.checker: the package's checker | DeepScaleR's rules
except ImportError:  # package not installed: fall back to the checkout this file lives in
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from polaris_repro.grading import DEFAULT_TIMEOUT_S, MODES, grade
    from polaris_repro.grading.deepscaler import deepscaler_grade
    from polaris_repro.config import CHECKERS

PRED_LOG_CHARS = 200  # extracted answers are logged; keep a runaway box from bloating the logs
DEFAULT_CHECKER = "polaris"


def compute_score(data_source: str | None, solution_str: str | None, ground_truth: Any,
                  extra_info: dict | None = None, *, require_think: bool = True, mode: str | None = None,
                  answer_extraction: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                  checker: str = DEFAULT_CHECKER, **kw: Any) -> dict:
    """Return ``{"score": 0.0|1.0, "acc": bool, "pred": str, "has_think": bool}``.

    ``data_source`` and ``extra_info`` are accepted for verl's signature and not used (every
    source goes to the same math checker, as in POLARIS).  ``answer_extraction`` is an alias of
    ``mode`` (the config key's name).  ``checker`` picks the checker (:data:`CHECKERS`):
    ``deepscaler`` always requires ``</think>`` and a ``\\boxed`` answer (DeepScaleR's rules), so
    it refuses ``require_think=False`` and ``mode="boxed_or_last_number"``.  Other keyword
    arguments verl may add (e.g. reward-router settings) are ignored.
    """
    if mode is not None and answer_extraction is not None and mode != answer_extraction:
        raise ValueError(f"compute_score: conflicting mode={mode!r} and answer_extraction="
                         f"{answer_extraction!r}")
    mode = mode or answer_extraction or "boxed"
    if mode not in MODES:
        raise ValueError(f"compute_score: mode/answer_extraction must be one of {MODES}, got {mode!r}")
    if checker not in CHECKERS:
        raise ValueError(f"compute_score: checker must be one of {CHECKERS}, got {checker!r}")
    if checker == "deepscaler":
        if not require_think or mode != "boxed":
            raise ValueError("compute_score: checker='deepscaler' always requires </think> and a boxed "
                             f"answer; got require_think={require_think!r}, mode={mode!r}")
        r = deepscaler_grade(solution_str, ground_truth, timeout_s=float(timeout_s))
    else:
        r = grade(solution_str, ground_truth, require_think=bool(require_think), mode=mode,
                  timeout_s=float(timeout_s))
    pred = r.pred or ""
    if len(pred) > PRED_LOG_CHARS:
        pred = pred[:PRED_LOG_CHARS] + "..."
    return {"score": 1.0 if r.correct else 0.0, "acc": bool(r.correct), "pred": pred,
            "has_think": bool(r.has_think)}


def reward_kwargs(cfg: "Config | Mapping") -> dict:
    """``custom_reward_function.reward_kwargs`` for a resolved tier config (training rule).

    ``checker`` is included only when it is not the default (``polaris``), so the default kwargs
    are those of runs made before the option existed."""
    from .config import as_config

    g = as_config(cfg).grading
    kw = {"require_think": bool(g.require_think), "mode": g.answer_extraction, "timeout_s": float(g.timeout_s)}
    checker = g.checker
    if checker != DEFAULT_CHECKER:
        kw["checker"] = checker
    return kw
