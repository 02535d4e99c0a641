"""Equivalence of two answers: expressions by exact value or numeric identity testing,
structures element by element (tuples, intervals), as multisets (lists, sets, unions) or side by
side (relations); :func:`equivalent` is the bounded entry point.
"""
from __future__ import annotations

import re
import time
from fractions import Fraction

from .limits import DEFAULT_TIMEOUT_S, MAX_SYMBOLS, _Deadline, _Undefined
from .parser import _has_discrete, _has_inf, _symbols
from .structures import _prepare
from .evaluator import _contexts, _exact_or_none, _int_point, _num, _point


def _expr_equal(a, b, deadline: float) -> bool:
    if a == b:
        return True
    if _has_inf(a) or _has_inf(b):
        return False
    ea, eb = _exact_or_none(a, deadline), _exact_or_none(b, deadline)
    if ea is not None and eb is not None:
        return ea == eb
    names = sorted(_symbols(a, set()) | _symbols(b, set()))
    if len(names) > MAX_SYMBOLS:
        return False
    c50, c80 = _contexts()
    discrete = bool(names) and (_has_discrete(a) or _has_discrete(b))
    if discrete:
        # floor/ceil/gcd/lcm are piecewise constant: random real points can miss a difference, and
        # such answers are about integers -> test at integer points, exactly where possible
        need, tries = 12, 30
    else:
        need, tries = (1 if not names else 3), (4 if not names else 6)
    good = 0
    for k in range(tries):
        pt = _int_point(names, k) if discrete else _point(names, k)
        if discrete:
            env = {n: Fraction(v) for n, v in pt.items()}
            ea, eb = _exact_or_none(a, deadline, env), _exact_or_none(b, deadline, env)
            if ea is not None and eb is not None:
                if ea != eb:
                    return False
                good += 1
                if good >= need:
                    return True
                continue
        try:
            a50 = _num(a, c50, {n: c50.mpf(v) for n, v in pt.items()}, deadline)
            b50 = _num(b, c50, {n: c50.mpf(v) for n, v in pt.items()}, deadline)
            env80 = {n: c80.mpf(v) for n, v in pt.items()}
            a80 = _num(a, c80, env80, deadline)
            b80 = _num(b, c80, env80, deadline)
        except (_Undefined, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError):
            continue
        # the 50-digit results' error, scaled to 80 digits, bounds the 80-digit error
        err80 = (abs(c80.convert(a50) - a80) + abs(c80.convert(b50) - b80)) * c80.mpf(10) ** -30
        tol = 1000 * err80 + c80.mpf(10) ** -70 * max(abs(a80), abs(b80))
        if abs(a80 - b80) > tol:
            return False
        good += 1
        if good >= need:
            return True
    return False


def _canon_rel(ops, sides):
    flip = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}
    return tuple(flip[o] for o in reversed(ops)), tuple(reversed(sides))


def _match_all(xs, ys, deadline: float) -> bool:
    """Multiset equality under ``_value_equal`` (bipartite matching)."""
    if len(xs) != len(ys):
        return False
    n = len(xs)
    adj = [[j for j in range(n) if _value_equal(xs[i], ys[j], deadline, top=False)] for i in range(n)]
    match_y = [-1] * n

    def augment(i, seen):
        for j in adj[i]:
            if j not in seen:
                seen.add(j)
                if match_y[j] < 0 or augment(match_y[j], seen):
                    match_y[j] = i
                    return True
        return False

    return all(augment(i, set()) for i in range(n))


def _name_key(name: str, top: bool) -> str:
    """At the top level a variable's name is ignored (``k = 1`` ~ ``q = 1``, like MATH's short-prefix
    rule) and a function's letter too, but not its arguments (``f(n) = n^2`` !~ ``f(x) = n^2``);
    inside lists the whole name counts (``x=1, y=2`` !~ ``y=1, x=2``)."""
    if not top:
        return name
    return name[name.index("("):] if "(" in name else ""


def _value_equal(a, b, deadline: float, top: bool = True) -> bool:
    """Structure equality (a ``name =`` prefix missing on one side is ignored; see _name_key)."""
    if a is None or b is None:
        return False
    ka, kb = a[0], b[0]
    if ka == "named" and kb == "named":
        return _name_key(a[1], top) == _name_key(b[1], top) and _value_equal(a[2], b[2], deadline, top)
    if ka == "named":
        return _value_equal(a[2], b, deadline, top)
    if kb == "named":
        return _value_equal(a, b[2], deadline, top)
    if ka == "set" and len(a[1]) == 1 and kb != "set":
        return _value_equal(a[1][0], b, deadline, top)
    if kb == "set" and len(b[1]) == 1 and ka != "set":
        return _value_equal(a, b[1][0], deadline, top)
    if ka != kb:
        return False
    if ka == "expr":
        return _expr_equal(a[1], b[1], deadline)
    if ka in ("set", "union"):
        return _match_all(a[1], b[1], deadline)
    if ka == "seq":
        return (a[1] == b[1] and a[2] == b[2] and len(a[3]) == len(b[3])
                and all(_value_equal(x, y, deadline, top=False) for x, y in zip(a[3], b[3])))
    if ka == "rel":
        for ops, sides in ((b[1], b[2]), _canon_rel(b[1], b[2])):
            if ops == a[1] and len(sides) == len(a[2]) and all(
                    _expr_equal(x, y, deadline) for x, y in zip(a[2], sides)):
                return True
        return False
    if ka == "text":
        return a[1] == b[1]
    return False


_INT_RE = re.compile(r"\s*([+-]?\d{1,400})\s*", re.ASCII)
_INTLIKE_RE = re.compile(r"\s*([+-]?\d{1,400})(?:\.0*)?\s*", re.ASCII)


def equivalent(pred: str | None, truth: str | None, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Whether answer string ``pred`` is equivalent to ``truth`` (rules in the module docstring).

    Bounded by ``timeout_s`` in any thread; on timeout the answer counts as wrong."""
    if pred is None or truth is None:
        return False
    pred, truth = str(pred), str(truth)
    mt = _INT_RE.fullmatch(truth)
    if mt:  # fast path for integer ground truths
        mp_ = _INTLIKE_RE.fullmatch(pred)
        if mp_:
            return int(mp_.group(1)) == int(mt.group(1))
    deadline = time.monotonic() + timeout_s
    try:
        pp, pt = _prepare(pred), _prepare(truth)
        if pp.key and pp.key == pt.key:
            return True
        return _value_equal(pp.value, pt.value, deadline)
    except (_Deadline, RecursionError):
        return False


def _any_equivalent(pred: str | None, truths: list[str], timeout_s: float) -> bool:
    if pred is None or not pred.strip():
        return False
    deadline = time.monotonic() + timeout_s
    for t in truths:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if equivalent(pred, t, timeout_s=left):
            return True
    return False
