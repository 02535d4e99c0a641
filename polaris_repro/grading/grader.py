"""The public grading entry points: :func:`grade` / :func:`is_correct` (one response against a
ground truth), :func:`grade_many` (a table) and :func:`canonical_answer` (majority-vote key).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Iterable

from .limits import DEFAULT_TIMEOUT_S, MAX_SYMBOLS, _Deadline, _Undefined
from .extraction import extract_answer, final_boxes, ground_truths, last_number, split_think
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
    """Grade one response against a ground truth (str, number, or list of them: any match).

    The answer is the last box.  Several boxes: when a ground truth is a list or set (``-3, 2``,
    ``(1,2), (3,4)``, ``m = 12, n = 5``) and the last box alone does not match it, the boxes of the
    final answer are combined into one list and compared again.  Which boxes form the final
    answer is decided by :func:`final_boxes`: the last box and the boxes chained to it, each
    ending at most ``BOX_GAP`` (60) characters before the next one starts (``\\boxed{2}`` and
    ``\\boxed{-3}``).  A box further back is an intermediate value: a response that boxes one
    and later its final answer is graded on the final answer alone.  A chain that states the same
    boxes twice in a row (an answer, then its restatement) counts once.  ``pred`` is then the
    combined list.  The whole check, both attempts, stays within ``timeout_s``."""
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
    deadline = time.monotonic() + timeout_s
    truths = ground_truths(ground_truth)
    ok = _any_equivalent(pred, truths, timeout_s)
    if not ok and has_box:
        lists = [t for t in truths if _is_list(t)]
        boxes = final_boxes(text) if lists else []
        left = deadline - time.monotonic()
        h = len(boxes) // 2
        if h and len(boxes) % 2 == 0 and [re.sub(r"\s+", "", b) for b in boxes[:h]] == \
                [re.sub(r"\s+", "", b) for b in boxes[h:]]:
            boxes = boxes[:h]        # the list stated, then restated right after: one answer
        if len(boxes) > 1 and left > 0:
            combined = ", ".join(boxes)
            if _any_equivalent(combined, lists, left):
                ok, pred = True, combined
    return GradeResult(ok, pred, has_think, has_box)


def _is_list(truth: str) -> bool:
    """A ground truth that is a list or set of several answers."""
    v = _prepare(truth).value
    return v is not None and v[0] == "set" and len(v[1]) > 1


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
