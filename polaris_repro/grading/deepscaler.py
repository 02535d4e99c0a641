r"""The recipe's reward: DeepScaleR's rule-based math checker (``grading.checker: deepscaler``).

This module restates the rules of reference §4 (DeepScaleR's math reward as called by POLARIS's
reward manager) and implements them here from that description; no DeepScaleR or POLARIS code is
copied.  The package's own checker (``grading.checker: polaris``, the default; see
:mod:`polaris_repro.grading`) accepts a superset of these answers.  The rules:

1. No ``</think>`` in the response: reward 0.  Otherwise only the text between the first and the
   second ``</think>`` is searched (usually everything after the first one).
2. No ``\boxed`` in that text: reward 0.  Otherwise the answer is the content of the last
   ``\boxed{...}`` or ``\fbox{...}``, braces matched (a last box that is never closed: reward 0).
   An answer boxed only with ``\fbox`` therefore scores 0 (the text has no ``\boxed``).
3. The ground truth is one value or a list of values (any may match); a float is cast to a string
   (``142.0`` -> ``"142.0"``, then rule 4b makes it ``142``); a ground truth that contains
   ``\boxed`` is replaced by its last box's content.
4. The answer is correct if, for some ground truth, check (a) or check (b) passes:

   (a) MATH-style string normalisation, then string equality: ``\text{}``-like wrappers dropped
       (their content kept), a trailing unit in ``\text{ unit}`` dropped, spaces, ``\left`` /
       ``\right``, degree signs (``^\circ``, ``^{\circ}``, ``°``), ``$`` and ``%`` dropped;
       ``\tfrac`` / ``\dfrac`` -> ``\frac``; ``\frac12`` -> ``\frac{1}{2}``, ``\sqrt3`` ->
       ``\sqrt{3}``; an integer ratio ``a/b`` -> ``\frac{a}{b}``; ``0.5`` -> ``\frac{1}{2}``;
       a short (at most 2 characters) left side ``k =`` dropped.
   (b) a more aggressive normalisation (also unit words such as ``cm`` or ``degrees``, thin
       spaces, thousands separators ``1,000``; integral numbers become integers, so ``025`` =
       ``25`` and ``142.0`` = ``142``; ``\frac{p}{q}`` of integers becomes ``p/q``), then:
       tuples and intervals (bracketed, comma-separated) are split and compared element by element
       with the same brackets and the same length; for each element pair, equal strings match;
       when either side is an integer or a fraction of integers the strings must be equal (no
       symbolic check: ``2/4`` != ``1/2``, ``\sqrt4`` != ``2``); otherwise the symbolic check is
       skipped (not equal) when the pair has more than 2 distinct unknown letters or a dangerous
       exponent (a power tower such as ``9^{9^9}``, or an exponent of 2 or more digits), and else
       the two expressions must be symbolically equal.

Where this differs from the original, and why: the original decides (b) with sympy
(``simplify(a - b) == 0`` after parsing the LaTeX).  Model output is untrusted and sympy's parsing
evaluates strings and cannot be interrupted inside verl's reward threads, so here the symbolic
equality is decided by the package's own safe parser (:class:`~polaris_repro.grading.parser.Parser`,
which never evaluates model text) and the identity test the package's own checker uses
(:func:`~polaris_repro.grading.identity.expr_equal`): exact rational arithmetic when both sides
are constants, else numeric identity testing at 80 significant digits at pseudo-random points
of both signs (integer points for floor/ceil/gcd) on the sides' real domain for the free symbols.  Every check shares one deadline (``timeout_s``,
default :data:`~polaris_repro.grading.limits.DEFAULT_TIMEOUT_S`) that the evaluators check at every
node, and answers longer than :data:`~polaris_repro.grading.limits.MAX_ANSWER_CHARS` get the string
checks only, so a call is bounded in time in any thread (no signals).  An expression the parser does
not read is not equal (a parse failure in the original also fails the check).
"""
from __future__ import annotations

import re
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from .limits import DEFAULT_TIMEOUT_S, MAX_ANSWER_CHARS, Deadline, NotMath, Undefined
from .equivalence import expr_equal
from .extraction import extract_answer, ground_truths, split_think
from .normalisation import unwrap_text
from .parser import Parser, tokenize
from .grader import GradeResult


MAX_UNKNOWN_LETTERS = 2   # rule 4b: more distinct unknown letters -> no symbolic check


# ---------------------------------------------------------------- rules 1-3: answer, ground truths

def deepscaler_truths(ground_truth: Any) -> list[str]:
    """Rule 3: the candidate ground-truth strings (a list, or one value; floats cast to strings as
    they are, ``142.0`` -> ``"142.0"``; ground truths containing ``\\boxed`` extracted; blanks dropped)."""
    return ground_truths(ground_truth, integral_floats=False, box_markers=("\\boxed",))


def deepscaler_grade(response: str | None, ground_truth: Any, *,
                     timeout_s: float = DEFAULT_TIMEOUT_S) -> GradeResult:
    """Grade one response by DeepScaleR's rules (module docstring); bounded by ``timeout_s``."""
    deadline = time.monotonic() + float(timeout_s)
    has_think, text = split_think(response)                  # rule 1
    if not has_think:
        return GradeResult(False, None, False, False, "no </think>: DeepScaleR's reward is 0")
    if "\\boxed" not in text:                                 # rule 2
        return GradeResult(False, None, True, False, "no \\boxed after </think>: reward 0")
    pred = extract_answer(text)
    if pred is None:
        return GradeResult(False, None, True, False, "the last box is never closed: reward 0")
    truths = deepscaler_truths(ground_truth)                  # rule 3
    for truth in truths:                                      # rule 4
        if time.monotonic() > deadline:
            return GradeResult(False, pred, True, True, "the time bound was reached (counted wrong)")
        if math_string_equal(pred, truth):
            return GradeResult(True, pred, True, True, "equal after MATH normalisation")
        if symbolic_equal(pred, truth, deadline):
            return GradeResult(True, pred, True, True, "equal after the aggressive normalisation")
    return GradeResult(False, pred, True, True, "not equivalent" if truths else "no ground truth")


def deepscaler_correct(response: str | None, ground_truth: Any, *,
                       timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True iff DeepScaleR's rules accept the response (see :func:`deepscaler_grade`)."""
    return deepscaler_grade(response, ground_truth, timeout_s=timeout_s).correct


# ---------------------------------------------------------------- shared string helpers

_WRAPPERS = {"text", "textbf", "textit", "textrm", "textnormal", "mathrm", "mathbf", "mbox"}
_CMD = re.compile(r"\\([a-zA-Z]+)")


def _unwrap(s: str) -> str:
    """``\\text{abc}`` (and the other wrappers) -> ``abc``, in one pass over the string."""
    return unwrap_text(s, _WRAPPERS)


_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree")
_FRAC_SHORT = (
    (re.compile(r"\\frac([0-9a-zA-Z])([0-9a-zA-Z])"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac([0-9a-zA-Z])\{"), r"\\frac{\1}{"),
    (re.compile(r"\\frac\{([^{}]*)\}([0-9a-zA-Z])"), r"\\frac{\1}{\2}"),
)
_SQRT_SHORT = re.compile(r"\\sqrt([0-9a-zA-Z])")


def _fix_fracs(s: str) -> str:
    for rx, rep in _FRAC_SHORT:
        s = rx.sub(rep, s)
    return _SQRT_SHORT.sub(r"\\sqrt{\1}", s)


# ---------------------------------------------------------------- check (a)

_UNIT_TEXT = re.compile(r"\\(?:text|mbox)\{\s[^{}]*\}\s*$")   # "5\text{ cm}": MATH's unit form


def math_normalize(s: str) -> str:
    """Check (a)'s MATH-style normalisation of one answer string (module docstring, rule 4a)."""
    s = str(s).replace("\n", "").replace("\\!", "").strip()
    s = s.replace("\\\\", "\\").replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = _DEGREES.sub("", s)
    s = s.replace("\\$", "").replace("$", "")
    s = _UNIT_TEXT.sub("", s)
    s = _unwrap(s)
    s = s.replace("\\%", "").replace("%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if s.startswith("."):
        s = "0" + s
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0].strip()) <= 2:      # "k = 5" -> "5"
        s = sides[1]
    s = _fix_fracs(s.replace(" ", ""))
    if s == "0.5":
        s = "\\frac{1}{2}"
    m = re.fullmatch(r"(-?\d+)/(\d+)", s)
    if m:
        s = f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}"
    return s


def math_string_equal(pred: str, truth: str) -> bool:
    """Check (a): equal after :func:`math_normalize`."""
    return math_normalize(pred) == math_normalize(truth)


# ---------------------------------------------------------------- check (b)

_UNIT_WORDS = re.compile(r"(?<![A-Za-z\\])(?:degree|centimeter|cm|meter|mile|second|minute|hour|day|week"
                         r"|month|year|foot|feet|inch|yard)(?:e?s)?(?:\^\{?\d\}?)?(?![A-Za-z])")
_SPACING = re.compile(r"\\[,;:! ]|\\q?quad(?![a-zA-Z])|~")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_INT_FRAC = re.compile(r"\\frac\{(-?\d+)\}\{(-?\d+)\}")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_INT = re.compile(r"-?\d+")
_FRAC = re.compile(r"-?\d+/\d+")


def _number_form(s: str) -> str:
    """Integral numbers as integers (``025`` -> ``25``, ``142.0`` -> ``142``); others unchanged."""
    s = s.rstrip(".") if _NUMBER.fullmatch(s.rstrip(".") or "x") else s
    if s.startswith("."):
        s = "0" + s
    if len(s) <= 400 and _NUMBER.fullmatch(s):
        try:
            d = Decimal(s)
        except InvalidOperation:
            return s
        if d == d.to_integral_value():
            return str(int(d))
    return s


def aggressive_normalize(s: str) -> str:
    """Check (b)'s normalisation of one answer string (module docstring, rule 4b), before tuple
    splitting; see :func:`symbolic_equal`."""
    s = _unwrap(str(s).strip())
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _DEGREES.sub("", s)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    s = _SPACING.sub(" ", s)
    s = _UNIT_WORDS.sub("", s).strip()
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    s = re.sub(r"\s+", "", s)
    s = _fix_fracs(s)
    s = _INT_FRAC.sub(r"\1/\2", s)
    return _number_form(s)


def _split_top(s: str) -> list[str]:
    """Split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return parts


def _elements(s: str) -> tuple[str, list[str]]:
    """``(brackets, elements)``: a bracketed comma list ``(a,b]`` is a tuple / interval split into
    its elements; anything else is one element with no brackets."""
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        inner = _split_top(s[1:-1])
        if len(inner) > 1:
            return s[0] + s[-1], [_number_form(x) for x in inner]
    return "", [s]


def _unknown_letters(a: str, b: str) -> int:
    return len(set(re.findall(r"[A-Za-z]", _CMD.sub("", a + b))))


_BIG_EXPONENT = re.compile(r"\^\s*\{?\s*[-+]?\d{2,}")
_BARE_TOWER = re.compile(r"\^\s*(?:\d+|[A-Za-z]|\\[A-Za-z]+)\s*\^")


def _dangerous(s: str) -> bool:
    """A power tower (``9^{9^9}``, ``2^3^4``) or an exponent starting with 2 or more digits
    (``2^{100}``); one pass over the string."""
    if _BIG_EXPONENT.search(s) or _BARE_TOWER.search(s):
        return True
    groups: list[bool] = []     # per open brace: is it an exponent's group
    open_exponents = 0
    prev = ""
    for c in s:
        if c == "{":
            groups.append(prev == "^")
            open_exponents += prev == "^"
        elif c == "}" and groups:
            open_exponents -= groups.pop()
        elif c == "^" and open_exponents:
            return True
        if not c.isspace():
            prev = c
    return False


def _parse(s: str):
    return Parser(tokenize(s)).parse()


def _expressions_equal(a: str, b: str, deadline: float) -> bool:
    """Symbolic equality of two expressions by the package's safe parser and its bounded identity
    test (:func:`~polaris_repro.grading.equivalence.expr_equal`: exact rationals for constants,
    numeric identity at 80 digits otherwise); False when either side does not parse or the
    deadline passes."""
    try:
        return expr_equal(_parse(a), _parse(b), deadline)
    except (NotMath, Undefined, Deadline, KeyError, ZeroDivisionError, ValueError, OverflowError,
            TypeError, RecursionError):
        return False


def _element_equal(a: str, b: str, deadline: float) -> bool:
    if a == b:
        return True
    if any(_INT.fullmatch(x) or _FRAC.fullmatch(x) for x in (a, b)):
        return False                     # integers and fractions: exact string match only
    if _unknown_letters(a, b) > MAX_UNKNOWN_LETTERS or _dangerous(a) or _dangerous(b):
        return False
    return _expressions_equal(a, b, deadline)


def symbolic_equal(pred: str, truth: str, deadline: float) -> bool:
    """Check (b): aggressive normalisation, tuples/intervals element by element, exact match for
    integers and fractions, else symbolic equality (bounded by ``deadline``, a
    :func:`time.monotonic` time)."""
    if len(pred) > MAX_ANSWER_CHARS or len(truth) > MAX_ANSWER_CHARS:
        return False                     # too long for the symbolic path (check (a) still ran)
    pb, pe = _elements(aggressive_normalize(pred))
    tb, te = _elements(aggressive_normalize(truth))
    if pb != tb or len(pe) != len(te):
        return False
    return all(_element_equal(p, t, deadline) for p, t in zip(pe, te))
