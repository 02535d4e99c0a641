r"""Numeric identity testing on the real domain of two expressions: :func:`expr_equal` (two
expressions have the same value) and :func:`proportional` (two expressions are constant non-zero
multiples of each other, for equations).

The rule (issue 33).  Expressions with symbols are evaluated at seeded pseudo-random points of
both signs and of small and large magnitude (:func:`signed_point`; integers of both signs,
:func:`signed_int_point`, when floor/ceil/gcd/lcm make them piecewise constant): exactly with
rationals where a side allows it (the points are exact binary fractions), else in mpmath at 50 and
80 digits.  Intermediate values may be complex, but a side counts as *defined* at a point only
when its value is real (``(\sqrt x)^2`` is ``x`` for every real ``x``; ``2\ln x`` is not defined for
``x < 0``) -- unless either side mentions the imaginary unit ``i``, when complex values are
compared as they are.  Odd rational powers are real roots (``x^{1/3}`` = ``\sqrt[3]{x}``, also for
``x < 0``).  Two expressions are equal when

* at every sampled point where both are defined, their values agree (within the error estimated
  from the two precisions);
* they agree at enough of the points (:data:`MIN_COMMON`), counting points where neither side is
  real but their complex values agree (``\sqrt{x-30}`` = ``(x-30)^{1/2}``, although few points
  lie beyond 30; where neither is real and the values differ, the point is skipped);
* no sampled point has exactly one side defined, so ``\ln(x^2)`` != ``2\ln x`` (the first is
  defined for ``x < 0`` too) and ``\sqrt{x}\sqrt{y}`` != ``\sqrt{xy}`` (which is real also when
  ``x, y < 0``).  The points are random non-special numbers, so isolated poles and removable
  points (``\frac{x^2-1}{x-1}`` = ``x+1``) are missed rather than counted.

A point where a side hits a size guard of the evaluator (overflow, an argument too large for a
trigonometric function...) says nothing about the domain and is skipped.  Every evaluation runs
under the caller's deadline.
"""
from __future__ import annotations

import random
import zlib
from fractions import Fraction
from typing import NamedTuple, Sequence

from .limits import MAX_SYMBOLS, NotReal, Undefined
from .parser import has_discrete, has_inf, free_symbols
from .evaluator import exact_or_none, mp_contexts, numeric_value

# magnitude ranges of the points (each taken with both signs): around 1, small, and large, so that
# a difference beyond a threshold (|x + 20| vs x + 20) and inside [-1, 1] (arcsin) is sampled
_RANGES = ((0.35, 2.85), (3.1, 9.7), (0.02, 0.33), (10.3, 47.9), (0.55, 1.95), (2.2, 6.8),
           (0.4, 0.97), (5.3, 23.1))
N_POINTS = 2 * len(_RANGES)   # real points of an identity test
MIN_COMMON = 4                # points where both sides must be defined
N_INT_POINTS = 40             # integer points (floor, ceil, gcd, lcm): +-1 .. +-20 in one variable
MIN_COMMON_INT = 12

_ERRORS = (Undefined, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError)
_UNKNOWN = "unknown"    # a size guard or a pole: skip the point


class _Value(NamedTuple):
    """A side's value at a point: an exact Fraction (error 0) or mpmath's at 80 digits with its
    error; ``real`` False when it is not defined on the reals (then ``value`` is the complex
    value, or None when a real-only function such as floor met a complex argument)."""
    value: object
    err: object
    real: bool


def signed_point(names: Sequence[str], k: int) -> dict[str, float]:
    """The k-th real sample point: magnitudes from ``_RANGES[(k // 2) % 8]``; the first variable
    alternates its sign with k, the others take seeded random signs."""
    lo, hi = _RANGES[(k // 2) % len(_RANGES)]
    out = {}
    for j, nm in enumerate(names):
        rng = random.Random(zlib.crc32(f"{nm}|signed|{k}".encode()))
        x = rng.uniform(lo, hi)
        neg = (k & 1) == 1 if j == 0 else rng.random() < 0.5
        out[nm] = -x if neg else x
    return out


def signed_int_point(names: Sequence[str], k: int) -> dict[str, int]:
    """The k-th integer sample point, never 0: 1, -1, 2, -2, ... in one variable; seeded random
    integers 1..40 with random signs in several."""
    if len(names) == 1:
        m = k // 2 + 1
        return {names[0]: -m if k & 1 else m}
    out = {}
    for nm in names:
        rng = random.Random(zlib.crc32(f"{nm}|signed-int|{k}".encode()))
        out[nm] = rng.randint(1, 40) * (-1 if rng.random() < 0.5 else 1)
    return out


def _has_imaginary(node) -> bool:
    k = node[0]
    if k == "c":
        return node[1] == "i"
    if k in ("+", "*"):
        return any(_has_imaginary(x) for x in node[1])
    if k in ("neg", "inv", "!"):
        return _has_imaginary(node[1])
    if k == "^":
        return _has_imaginary(node[1]) or _has_imaginary(node[2])
    if k in ("f", "fn"):
        return any(_has_imaginary(x) for x in node[2])
    return False


def real_odd_roots(node, deadline: float):
    """``b^{p/q}`` with a constant exponent ``p/q`` in lowest terms, ``q > 1`` odd, as
    ``(\\sqrt[q]{b})^p`` with the real root, so ``x^{1/3}`` = ``\\sqrt[3]{x}`` also for ``x < 0``
    (mpmath's power is the principal, complex, value there)."""
    k = node[0]
    if k in ("+", "*"):
        return (k, tuple(real_odd_roots(x, deadline) for x in node[1])) + node[2:]
    if k in ("neg", "inv", "!"):
        return (k, real_odd_roots(node[1], deadline)) + node[2:]
    if k in ("f", "fn"):
        return node[:2] + (tuple(real_odd_roots(x, deadline) for x in node[2]),) + node[3:]
    if k == "^":
        base, ex = real_odd_roots(node[1], deadline), real_odd_roots(node[2], deadline)
        e = exact_or_none(ex, deadline) if not free_symbols(ex, set()) else None
        if e is not None and e.denominator > 1 and e.denominator % 2 == 1:
            return ("^", ("f", "root", (base, ("n", Fraction(e.denominator)))), ("n", Fraction(e.numerator)))
        return ("^", base, ex) + node[3:]
    return node


def _side(ast, pt: dict, complex_ok: bool, exact_first: bool, deadline: float):
    """The :class:`_Value` of ``ast`` at ``pt``, or ``_UNKNOWN``; with ``complex_ok`` every
    finite value counts as real (defined)."""
    if exact_first:
        ex = exact_or_none(ast, deadline, {n: Fraction(v) for n, v in pt.items()})
        if ex is not None:
            return _Value(ex, 0, True)
    c50, c80 = mp_contexts()
    try:
        v50 = numeric_value(ast, c50, {n: c50.mpf(v) for n, v in pt.items()}, deadline)
        v80 = numeric_value(ast, c80, {n: c80.mpf(v) for n, v in pt.items()}, deadline)
    except NotReal:
        return _UNKNOWN if complex_ok else _Value(None, None, False)
    except _ERRORS:
        return _UNKNOWN
    # the 50-digit value's error, scaled to 80 digits, bounds the 80-digit error
    err = 1000 * abs(c80.convert(v50) - v80) * c80.mpf(10) ** -30 + c80.mpf(10) ** -70 * abs(v80)
    if complex_ok:
        return _Value(v80, err, True)
    if abs(c80.im(v80)) > err:
        return _Value(v80, err, False)
    return _Value(c80.re(v80), err, True)


def _mpf(x):
    if isinstance(x, Fraction):
        c80 = mp_contexts()[1]
        return c80.mpf(x.numerator) / x.denominator
    return x


def _agree(va: _Value, vb: _Value) -> bool:
    if va.value is None or vb.value is None:
        return False
    if isinstance(va.value, Fraction) and isinstance(vb.value, Fraction):
        return va.value == vb.value
    return abs(_mpf(va.value) - _mpf(vb.value)) <= va.err + vb.err


def _constants_equal(a, b, deadline: float) -> bool:
    """Two expressions without symbols (complex values allowed): the same value within the error
    estimated from 50 and 80 digits."""
    va, vb = _side(a, {}, True, False, deadline), _side(b, {}, True, False, deadline)
    return va is not _UNKNOWN and vb is not _UNKNOWN and _agree(va, vb)


def expr_equal(a, b, deadline: float) -> bool:
    """Whether expressions ``a`` and ``b`` (ASTs) are equal: exactly for rational constants,
    numerically for other constants, and on the real domain for expressions with symbols (the
    rule in the module docstring)."""
    if a == b:
        return True
    if has_inf(a) or has_inf(b):
        return False
    ea, eb = exact_or_none(a, deadline), exact_or_none(b, deadline)
    if ea is not None and eb is not None:
        return ea == eb
    names = sorted(free_symbols(a, set()) | free_symbols(b, set()))
    if len(names) > MAX_SYMBOLS:
        return False
    if not names:
        return _constants_equal(a, b, deadline)
    a, b = real_odd_roots(a, deadline), real_odd_roots(b, deadline)
    complex_ok = _has_imaginary(a) or _has_imaginary(b)
    # floor/ceil/gcd/lcm are piecewise constant: random real points can miss a difference, and
    # such answers are about integers -> test at integer points, exactly where possible
    discrete = has_discrete(a) or has_discrete(b)
    n_points, need = (N_INT_POINTS, MIN_COMMON_INT) if discrete else (N_POINTS, MIN_COMMON)
    common = 0
    for k in range(n_points):
        pt = signed_int_point(names, k) if discrete else signed_point(names, k)
        va = _side(a, pt, complex_ok, True, deadline)
        if va is _UNKNOWN:
            continue
        vb = _side(b, pt, complex_ok, True, deadline)
        if vb is _UNKNOWN:
            continue
        if va.real != vb.real:
            return False                # defined on one side only
        if _agree(va, vb):
            common += 1                 # (where neither is real, the same complex value counts)
        elif va.real:
            return False
    return common >= need


def proportional(f, g, deadline: float) -> bool:
    """Whether ``f = c * g`` for a constant ``c != 0`` (so ``f = 0`` and ``g = 0`` have the same
    solutions), on the real domain as in :func:`expr_equal`: the ratio f/g is the same non-zero
    number at every point where both are real (where neither is, a point counts if its ratio is
    that number), at four points or more, and no point has exactly one side defined."""
    names = free_symbols(f, set())
    if not names or names != free_symbols(g, set()) or len(names) > MAX_SYMBOLS:
        return False
    names = sorted(names)
    f, g = real_odd_roots(f, deadline), real_odd_roots(g, deadline)
    complex_ok = _has_imaginary(f) or _has_imaginary(g)
    real_ratios, other_ratios = [], []
    for k in range(N_POINTS):
        pt = signed_point(names, k)
        vf = _side(f, pt, complex_ok, True, deadline)
        if vf is _UNKNOWN:
            continue
        vg = _side(g, pt, complex_ok, True, deadline)
        if vg is _UNKNOWN:
            continue
        if vf.real != vg.real:
            return False
        if vf.value is None or vg.value is None:
            continue
        if isinstance(vf.value, Fraction) and isinstance(vg.value, Fraction):
            fz, gz = vf.value == 0, vg.value == 0
            ratio = _Value(None if gz else vf.value / vg.value, 0, vf.real)
        else:
            fv, gv = _mpf(vf.value), _mpf(vg.value)
            fz, gz = abs(fv) <= vf.err, abs(gv) <= vg.err
            ratio = _Value(None if gz else fv / gv,
                           0 if gz else vf.err / abs(gv) + abs(fv) * vg.err / abs(gv) ** 2, vf.real)
        if fz and gz:
            continue            # both vanish here: no information
        if fz or gz:
            if vf.real:
                return False    # one vanishes, the other does not
            continue
        if ratio.real and real_ratios and not _agree(ratio, real_ratios[0]):
            return False
        (real_ratios if ratio.real else other_ratios).append(ratio)
    return bool(real_ratios) and \
        len(real_ratios) + sum(_agree(r, real_ratios[0]) for r in other_ratios) >= 4
