"""The public grading entry points: :func:`grade` / :func:`is_correct` (one response against a
ground truth), :func:`grade_many` (a table) and :func:`canonical_answer` (majority-vote key).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable

from .limits import DEFAULT_TIMEOUT_S, MAX_SYMBOLS, _Deadline, _Undefined
from .extraction import extract_answer, ground_truths, last_number, split_think
from .parser import _has_inf, _symbols
from .structures import _prepare
from .evaluator import _contexts, _exact_or_none, _num, _point
from .equivalence import _any_equivalent


MODES = ("boxed", "boxed_or_last_number")


@dataclass(frozen=True)
class GradeResult:
    """Verdict for one response.  ``pred`` is the extracted answer (box content, or the last number
    in ``boxed_or_last_number`` mode), ``None`` when nothing was extracted."""

    correct: bool
    pred: str | None
    has_think: bool
    has_box: bool


def grade(response: str | None, ground_truth: Any, *, require_think: bool = False, mode: str = "boxed",
          timeout_s: float = DEFAULT_TIMEOUT_S) -> GradeResult:
    """Grade one response against a ground truth (str, number, or list of them: any match)."""
    if mode not in MODES:
        raise ValueError(f"grading mode must be one of {MODES}, got {mode!r}")
    text = "" if response is None else str(response)
    has_think = "</think>" in text
    if require_think:
        has_think, text = split_think(text)
        if not has_think:
            return GradeResult(False, None, False, False)
    pred = extract_answer(text)
    has_box = pred is not None
    if pred is None and mode == "boxed_or_last_number":
        pred = last_number(text)
    ok = _any_equivalent(pred, ground_truths(ground_truth), timeout_s)
    return GradeResult(ok, pred, has_think, has_box)


def is_correct(response: str | None, ground_truth: Any, *, require_think: bool = False,
               mode: str = "boxed", timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True iff the response's answer matches any ground truth (see :func:`grade`)."""
    return grade(response, ground_truth, require_think=require_think, mode=mode,
                 timeout_s=timeout_s).correct


def canonical_answer(answer: str | None, *, timeout_s: float = 0.5) -> str | None:
    """Key for majority voting: equal keys -> equivalent answers (the converse usually holds).

    Exact rationals map to ``q:p/q``; other single expressions to their value at fixed points
    rounded to 25 digits; everything else to the normalised string."""
    if answer is None or not str(answer).strip():
        return None
    prep = _prepare(str(answer))
    v = prep.value
    while v is not None and (v[0] == "named" or (v[0] == "set" and len(v[1]) == 1)):
        v = v[2] if v[0] == "named" else v[1][0]
    if v is not None and v[0] == "expr" and not _has_inf(v[1]):
        deadline = time.monotonic() + timeout_s
        try:
            ex = _exact_or_none(v[1], deadline)
            if ex is not None:
                return f"q:{ex.numerator}/{ex.denominator}"
            names = sorted(_symbols(v[1], set()))
            if len(names) <= MAX_SYMBOLS:
                c50 = _contexts()[0]
                vals = []
                for k in range(2):
                    pt = _point(names, k)
                    x = _num(v[1], c50, {n: c50.mpf(val) for n, val in pt.items()}, deadline)
                    vals.append(c50.nstr(x, 25))
                return "v:" + "|".join(vals)
        except (_Undefined, _Deadline, KeyError, ZeroDivisionError, ValueError, OverflowError,
                TypeError):
            pass
    return "s:" + prep.key


def grade_many(responses: Iterable[Iterable[str]], ground_truths_: Iterable[Any], *,
               require_think: bool = False, mode: str = "boxed",
               timeout_s: float = DEFAULT_TIMEOUT_S) -> list[list[GradeResult]]:
    """Grade a table: one list of responses per problem, one ground truth per problem."""
    out = []
    for resp, gt in zip(responses, ground_truths_):
        out.append([grade(r, gt, require_think=require_think, mode=mode, timeout_s=timeout_s)
                    for r in resp])
    return out
