"""Grading generated responses: our grader and math-verify on every response of a frame
(:func:`grade_responses`), and the long one-row-per-response view (:func:`long_responses`).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from .protocol import EvaluationError, GRADE_COLUMNS


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


def answers_of(row: Mapping) -> list[str]:
    from ..grading import ground_truths

    return ground_truths(_ground_truth(row))


def grade_responses(df: pd.DataFrame, *, mode: str = "boxed", math_verify: bool = True,
                    timeout_s: float = 2.0, desc: str | None = None) -> pd.DataFrame:
    """Grade every response (our grader, ``require_think=False`` as in evaluation) and, as a second
    opinion, math-verify. Adds list columns ``correct``, ``pred``, ``has_box``, ``mv_correct``
    (None where math-verify could not decide). ``desc``: show a progress bar (problems) named so."""
    from .. import grading
    from ..sampling.base import progress_bar

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
