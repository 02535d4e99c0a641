"""The public grading entry points: :func:`grade` / :func:`is_correct` (one response against a
ground truth), :func:`grade_many` (a table) and :func:`canonical_answer` (majority-vote key).
"""
from __future__ import annotations

import re
import time
from fractions import Fraction
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..config import ANSWER_EXTRACTIONS
from .limits import DEFAULT_TIMEOUT_S, MAX_SYMBOLS, Deadline, Undefined
from .extraction import extract_answer, final_boxes, ground_truths, last_number, split_think
from .parser import has_inf, free_symbols
from .structures import prepare
from .evaluator import mp_contexts, exact_or_none, numeric_value
from .identity import real_odd_roots, signed_point
from .equivalence import any_equivalent
from .units import split_unit


MODES = ANSWER_EXTRACTIONS   # grading.answer_extraction (defined in polaris_repro.config)


@dataclass(frozen=True)
class GradeResult:
    """Verdict for one response.  ``pred`` is the extracted answer (box content, or the last number
    in ``boxed_or_last_number`` mode), ``None`` when nothing was extracted.  ``reason`` says why in
    words (what matched, or: no answer, the time bound, an answer or ground truth the parser does
    not read and why -- such answers are compared as strings only); it is not part of equality."""

    correct: bool
    pred: str | None
    has_think: bool
    has_box: bool
    reason: str = field(default="", compare=False)   # why, in words (logging; not compared)


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
    combined list.  The whole check, both attempts, stays within ``timeout_s``.

    Numeric equality and its tolerance: numbers are exact rationals, so integers and fractions
    match exactly (no tolerance: ``1000001`` != ``1000000``).  Other constant expressions are
    compared by value at 50 and 80 significant digits and must agree within the error estimated
    from the two precisions (about 1e-70 relative); expressions with symbols likewise at 3 to 12
    points.  The only rounding accepted: a decimal answer of at least 6 significant digits equal
    to a non-integer exact value correctly rounded (``0.0909091`` = ``1/11``), and an exact answer
    that rounds to a ground truth written as a decimal or in scientific notation with at least 5
    significant digits (``\\frac1{432}`` = ``2.3148\\times10^{-3}``; ``\\sqrt5`` != ``2.236``).

    Forms and the choices made where the verdict is arguable (when in doubt the answer is rejected):

    * mixed numbers: an integer directly followed by ``\\frac{p}{q}`` (``1\\frac12``) or by a space
      and ``p/q`` (``1 1/2``), p and q integers, is ``a + p/q``; with anything juxtaposed after it
      (``1\\frac12 x``) it is not read at all, and ``2\\frac{\\pi}{3}`` stays a product;
    * matrices (``pmatrix``, ``bmatrix``, ``Bmatrix``, ``matrix``, ``smallmatrix``, ``array``; the
      environment does not matter) compare cell by cell as values; the shape must match, and a
      matrix never equals a tuple or a list; ``vmatrix`` (a determinant) compares as a string;
    * lists and sets are unordered (``3, 1, 2`` = ``1, 2, 3``), tuples and intervals ordered; a
      final ``, and`` / ``and`` / ``or`` joins list items; ``or`` between inequalities is a union;
    * decimal comma: ``1,5`` is the list of 1 and 5, never 1.5; ``1{,}5`` is not read as a number
      at all; ``,\\!`` and ``{,}`` followed by exactly three digits are thousands separators;
    * clock times ``h:mm`` compare as ratios, term by term (``9:05`` = ``9:5``, ``12:00`` !=
      ``1:00``);
    * ``i`` is the imaginary unit (``i(2-i)`` = ``1+2i``, ``i^2`` = ``-1``), never a variable;
    * ``^\\circ`` inside a trigonometric function is degrees (``\\sin 30^\\circ`` = ``1/2``);
      elsewhere it is the unit degree (``30^\\circ`` = ``30``, not ``\\pi/6``);
    * units are part of the value (:mod:`.units`): quantities with units of different dimensions
      never match (``6\\text{ inches}`` != ``6\\text{ feet}``), the same dimension matches after
      an exact conversion (``1\\text{ m}`` = ``100\\text{ cm}``, ``2\\text{ hours}`` =
      ``120\\text{ minutes}``), unknown units match only themselves; a bare number matches a
      ground truth with a unit (``5600`` = ``5600\\text{ K}``), and an answer's known unit (or
      noun) is dropped against a bare ground truth (``3\\text{ m}`` = ``3``); ``2m`` is a product
      (``m`` in math mode is a variable), not ``2\\text{ m}``;
    * ``A \\approx d``: the answer is ``A`` (or the decimal ``d`` itself) when ``d`` agrees with
      ``A`` within one unit in its last place; an inconsistent approximation is compared as a
      string only;
    * a trailing ``\\text{...}`` of plain words (a unit or noun) and ``pct`` / ``per cent`` are
      dropped, unless a word changes the value (``or more``, ``only``, ``not``...);
    * base subscripts compare as written (``4210_7`` = ``4210_{7}`` != ``4210``);
    * ``f(x) = 2x + 3`` = ``y = 2x + 3`` when the value's symbols are the function's arguments;
      inequalities linear in one variable are solved (``-x > -1`` = ``x < 1``)."""
    if mode not in MODES:
        raise ValueError(f"grading mode must be one of {MODES}, got {mode!r}")
    text = "" if response is None else str(response)
    has_think = "</think>" in text
    if require_think:
        has_think, text = split_think(text)
        if not has_think:
            return GradeResult(False, None, False, False, "no </think>: the training rule scores 0")
    pred = extract_answer(text)
    has_box = pred is not None
    if pred is None and mode == "boxed_or_last_number":
        pred = last_number(text)
    deadline = time.monotonic() + timeout_s
    truths = ground_truths(ground_truth)
    ok = any_equivalent(pred, truths, timeout_s)
    combined_ok = False
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
            if any_equivalent(combined, lists, left):
                ok, pred, combined_ok = True, combined, True
    return GradeResult(ok, pred, has_think, has_box, _reason(ok, combined_ok, pred, truths, deadline))


def _reason(ok: bool, combined: bool, pred: str | None, truths: list[str], deadline: float) -> str:
    """The verdict in words: what matched, or why nothing did (no answer, the time bound, or an
    answer the parser does not read -- compared as a string only, so a doubtful form is rejected)."""
    if ok:
        return "equivalent (the final boxes combined)" if combined else "equivalent"
    if pred is None or not str(pred).strip():
        return "no answer extracted (no box, or the last box is unclosed)"
    if not truths:
        return "no ground truth"
    if time.monotonic() > deadline:
        return "not equivalent: the time bound was reached (counted wrong)"
    why = [f"{side} read as a string only ({p.why})" for side, p in
           (("answer", prepare(str(pred))), ("ground truth", prepare(truths[0]))) if p.why]
    return "not equivalent" + (": " + "; ".join(why) if why else "")


def _is_list(truth: str) -> bool:
    """A ground truth that is a list or set of several answers (or several families of solutions)."""
    v = prepare(truth).value
    return v is not None and ((v[0] == "set" and len(v[1]) > 1) or (v[0] == "family" and len(v[2]) > 1))


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
    head, unit = split_unit(str(answer))
    if unit is not None and not unit.noun:
        # a quantity: its value in the SI base when exact, else the value's key, and the dimension
        # (so "1 m" and "100 cm" share a key and "5 cm", "5 m" do not)
        hk = canonical_answer(head, timeout_s=timeout_s)
        dims = "*".join(f"{b}^{p}" for b, p in unit.dims)
        if hk is not None and hk.startswith("q:"):
            x = Fraction(hk[2:]) * unit.factor
            return f"q:{x.numerator}/{x.denominator}|{dims}"
        return f"{hk}|{dims}@{unit.factor}"
    prep = prepare(str(answer))
    v = prep.value
    while v is not None and (v[0] in ("named", "approx") or (v[0] == "set" and len(v[1]) == 1)):
        v = v[2] if v[0] == "named" else v[1] if v[0] == "approx" else v[1][0]
    if v is not None and v[0] == "expr" and not has_inf(v[1]):
        deadline = time.monotonic() + timeout_s
        try:
            ex = exact_or_none(v[1], deadline)
            if ex is not None:
                return f"q:{ex.numerator}/{ex.denominator}"
            names = sorted(free_symbols(v[1], set()))
            if len(names) <= MAX_SYMBOLS:
                c50 = mp_contexts()[0]
                vals = []
                ast = real_odd_roots(v[1], deadline)
                for k in range(2):      # a positive and a negative point (|x| and x differ)
                    pt = signed_point(names, k)
                    x = numeric_value(ast, c50, {n: c50.mpf(val) for n, val in pt.items()}, deadline)
                    vals.append(c50.nstr(x, 25))
                return "v:" + "|".join(vals)
        except (Undefined, Deadline, KeyError, ZeroDivisionError, ValueError, OverflowError,
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
