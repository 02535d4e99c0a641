r"""Sets of real numbers and families of solutions, compared as sets (issue 33, item 3); the string
forms that lead here are read in :mod:`.notations`.

* ``x \neq a`` is the union of two open rays (:func:`excluded_point`), ``A \setminus \{a, b\}``
  the intervals of ``A`` with the points taken out (:func:`remove_points`): both compare with
  unions of intervals (``x \neq 2`` = ``(-\infty,2)\cup(2,\infty)`` = ``\mathbb{R}\setminus\{2\}``);
* a list with an integer qualifier ``k \in \mathbb{Z}`` whose other items are expressions in ``k``
  alone is a family of arithmetic progressions (:func:`as_family`); two families, or a family and
  the same expressions written without the qualifier in a letter ``k``, ``n``, ``m``, ``l``, ``j``,
  are equal iff the sets are (:func:`family_equal`): ``\frac{\pi}{4} + k\pi`` = ``\frac{5\pi}{4} +
  n\pi`` != ``\frac{\pi}{4} + 2k\pi``.  Without a qualifier on either side nothing changes (a
  formula in ``n`` is not a family).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

from .limits import Undefined
from .parser import free_symbols, has_inf
from .evaluator import exact_or_none, mp_contexts, numeric_value


# ------------------------------------------------------------------------------ x != a, A \ {a}

_INF, _NINF = ("c", "inf"), ("neg", ("c", "inf"))


def excluded_point(v):
    """``x \\neq a`` (or ``a \\neq x``), a constant ``a``: ``(x, [(-inf, a), (a, inf)])``; else None."""
    if v[0] != "rel" or v[1] != ("!=",):
        return None
    for x, a in (v[2], v[2][::-1]):
        if x[0] == "s" and not free_symbols(a, set()) and not has_inf(a):
            return x[1], [(_NINF, False, a, False), (a, False, _INF, False)]
    return None


def _point_value(ast, deadline: float):
    """An exact Fraction, or a 50-digit real, of a constant point; None when not real."""
    ex = exact_or_none(ast, deadline)
    if ex is not None:
        return ex
    c50 = mp_contexts()[0]
    try:
        x = numeric_value(ast, c50, {}, deadline)
    except (Undefined, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError):
        return None
    return None if isinstance(x, c50.mpc) else x


def _compare(p, end, deadline: float) -> int | None:
    """Sign of ``p - end`` (``end`` may be infinite); None when too close to tell exactly."""
    if end == _INF:
        return -1
    if end == _NINF:
        return 1
    a, b = _point_value(p, deadline), _point_value(end, deadline)
    if a is None or b is None:
        return None
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return (a > b) - (a < b)
    c50 = mp_contexts()[0]
    d = c50.mpf(a.numerator) / a.denominator if isinstance(a, Fraction) else a
    d -= c50.mpf(b.numerator) / b.denominator if isinstance(b, Fraction) else b
    if abs(d) < c50.mpf(10) ** -30:
        return None                       # equal or nearly: not decided by numerics
    return 1 if d > 0 else -1


def remove_points(intervals, points, deadline: float):
    """The intervals with the constant ``points`` taken out (an interior point splits an interval,
    a closed end equal to a point opens); None when a point is not a real constant or its position
    is not decided exactly."""
    out = list(intervals)
    for p in points:
        if free_symbols(p, set()) or has_inf(p):
            return None
        nxt = []
        for lo, lc, hi, hc in out:
            s_lo, s_hi = _compare(p, lo, deadline), _compare(p, hi, deadline)
            if s_lo is None or s_hi is None:
                return None
            if s_lo > 0 and s_hi < 0:
                nxt += [(lo, lc, p, False), (p, False, hi, hc)]
            elif s_lo == 0:
                nxt.append((lo, False, hi, hc))
            elif s_hi == 0:
                nxt.append((lo, lc, hi, False))
            else:
                nxt.append((lo, lc, hi, hc))
        out = nxt
    return out


def is_region(v) -> bool:
    """``x \\neq a`` or ``A \\setminus B``: compared as a set of intervals."""
    return v is not None and (v[0] == "diff" or (v[0] == "rel" and v[1] == ("!=",)))


# ------------------------------------------------------------------------------ integer families

_INTEGER_LETTERS = {"k", "n", "m", "l", "j"}


def _is_qualifier(v) -> bool:
    return v[0] == "named" and v[4] == "in" and v[5] and len(v[1]) == 1 and v[2] == ("expr", ("s", "Z"))


def _family_exprs(v, params: set[str]):
    """The expressions of ``v`` (an expression, ``x = expr``, or a list of them), each with exactly
    one free symbol, the same one, in ``params``; (symbol, exprs) or None."""
    items = v[1] if v[0] == "set" else (v,)
    exprs = []
    for it in items:
        while it[0] == "named" and it[5] and it[4] == "=":
            it = it[2]
        if it[0] != "expr":
            return None
        exprs.append(it[1])
    names = [free_symbols(e, set()) for e in exprs]
    if not exprs or any(len(n) != 1 for n in names) or len(set.union(*names)) != 1:
        return None
    p = names[0].pop()
    return (p, tuple(exprs)) if p in params else None


def as_family(v):
    """``("family", k, exprs)`` for a list with an integer qualifier ``k \\in \\mathbb{Z}`` whose
    other items are expressions in ``k`` alone; ``v`` otherwise."""
    if v is None or v[0] != "set" or not any(_is_qualifier(x) for x in v[1]):
        return v
    quals = {x[1] for x in v[1] if _is_qualifier(x)}
    rest = tuple(x for x in v[1] if not _is_qualifier(x))
    if len(quals) != 1 or not rest:
        return v
    fam = _family_exprs(("set", rest), quals)
    return v if fam is None else ("family", fam[0], fam[1])


def _subst(node, name: str, value: Fraction):
    k = node[0]
    if k == "s":
        return ("n", value) if node[1] == name else node
    if k in ("+", "*"):
        return (k, tuple(_subst(x, name, value) for x in node[1]))
    if k in ("neg", "inv", "!"):
        return (k, _subst(node[1], name, value))
    if k == "^":
        return (k, _subst(node[1], name, value), _subst(node[2], name, value))
    if k in ("f", "fn"):
        return (k, node[1], tuple(_subst(x, name, value) for x in node[2]))
    return node


def _progression(e, p: str, deadline: float, expr_equal):
    """``(a, b)`` with ``e = a + b p`` for all p (checked as an identity), b != 0; else None."""
    a, a1 = _subst(e, p, Fraction(0)), _subst(e, p, Fraction(1))
    b = ("+", (a1, ("neg", a)))
    if expr_equal(b, ("n", Fraction(0)), deadline):
        return None
    if not expr_equal(e, ("+", (a, ("*", (b, ("s", p))))), deadline):
        return None
    return a, b


def _is_integer(ast, deadline: float, expr_equal) -> bool:
    ex = exact_or_none(ast, deadline)
    if ex is not None:
        return ex.denominator == 1
    x = _point_value(ast, deadline)
    if x is None or isinstance(x, Fraction) or abs(x) > 10 ** 9:
        return False
    c50 = mp_contexts()[0]
    return expr_equal(ast, ("n", Fraction(int(c50.nint(x)))), deadline)


def _same_progression(f, g, deadline: float, expr_equal) -> bool:
    """``{a1 + b1 k}`` = ``{a2 + b2 k}`` over the integers: ``|b1| = |b2|`` and ``(a1 - a2) / b1``
    an integer."""
    if f is None or g is None:
        return False
    (a1, b1), (a2, b2) = f, g
    if not (expr_equal(b1, b2, deadline) or expr_equal(b1, ("neg", b2), deadline)):
        return False
    return _is_integer(("*", (("+", (a1, ("neg", a2))), ("inv", b1))), deadline, expr_equal)


def family_equal(a, b, deadline: float, expr_equal: Callable) -> bool:
    """A family against a family, or against expressions in one integer-like letter (``k``, ``n``,
    ``m``, ``l``, ``j`` or the family's own parameter): the same sets of arithmetic progressions
    (each progression matched once; the parameter's name does not matter)."""
    fa = a if a[0] == "family" else b
    other = b if fa is a else a
    if other[0] == "family":
        fb = other
    else:
        found = _family_exprs(other, _INTEGER_LETTERS | {fa[1]})
        if found is None:
            return False
        fb = ("family", found[0], found[1])
    if len(fa[2]) != len(fb[2]):
        return False
    try:
        pa = [_progression(e, fa[1], deadline, expr_equal) for e in fa[2]]
        pb = [_progression(e, fb[1], deadline, expr_equal) for e in fb[2]]
        left = list(pb)
        for f in pa:
            for j, g in enumerate(left):
                if _same_progression(f, g, deadline, expr_equal):
                    del left[j]
                    break
            else:
                return False
    except (Undefined, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError):
        return False
    return True


