"""Value-level rules of issue 22 built on the evaluators: an exact prediction rounding to a
ground truth given as a rounded decimal (:func:`rounds_to`), and the coefficients of a linear
expression (:func:`linear_coefficients`, for inequalities such as ``-x > -1``).
"""
from __future__ import annotations

from fractions import Fraction

from .limits import Undefined
from .parser import has_inf, free_symbols
from .evaluator import mp_contexts, exact_or_none, numeric_value, sample_point
from .forms import literal_precision


MIN_GOLD_APPROX_DIGITS = 5


def rounds_to(pred, text: str, deadline: float) -> bool:
    """A ground truth written as a rounded decimal or in scientific notation with at least
    MIN_GOLD_APPROX_DIGITS significant digits (``2.3148\\times10^{-3}``) accepts an exact constant
    prediction (``\\frac1{432}``) that rounds to it: ``|pred - truth| <= half a unit in the truth's
    last place``.  A decimal prediction is not rounded (it must equal the decimal truth)."""
    lit = literal_precision(text)
    if lit is None or lit[2] < MIN_GOLD_APPROX_DIGITS or free_symbols(pred, set()) or has_inf(pred):
        return False
    value, half, _ = lit
    ex = exact_or_none(pred, deadline)
    if ex is not None:
        return abs(ex - value) <= half
    c80 = mp_contexts()[1]
    try:
        x = numeric_value(pred, c80, {}, deadline)
    except (Undefined, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError):
        return False
    return not isinstance(x, c80.mpc) and \
        abs(x - c80.mpf(value.numerator) / value.denominator) <= c80.mpf(half.numerator) / half.denominator


def linear_coefficients(ast, name: str, deadline: float):
    """``(a, b)`` with ``ast == a * name + b`` (exact rationals, ``a != 0``): read off at 0 and 1,
    then checked exactly at -3, 2/7 and 5 and numerically at two irrational-looking points."""
    f = [exact_or_none(ast, deadline, {name: Fraction(x)}) for x in (0, 1, -3, Fraction(2, 7), 5)]
    if any(v is None for v in f):
        return None
    b, a = f[0], f[1] - f[0]
    if a == 0 or any(f[j] != a * x + b for j, x in ((2, -3), (3, Fraction(2, 7)), (4, 5))):
        return None
    c50 = mp_contexts()[0]
    for k in range(2):
        x = sample_point([name], k)[name]
        try:
            y = numeric_value(ast, c50, {name: c50.mpf(x)}, deadline)
        except (Undefined, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError):
            return None
        if abs(y - (c50.mpf(a.numerator) / a.denominator * x + c50.mpf(b.numerator) / b.denominator)) > \
                c50.mpf(10) ** -30 * (1 + abs(y)):
            return None
    return a, b
