"""Equivalence of two answers: expressions by exact value or numeric identity testing,
structures element by element (tuples, intervals), as multisets (lists, sets, unions) or side by
side (relations); :func:`equivalent` is the bounded entry point.  The identity test of two
expressions on their real domain (:func:`expr_equal`, :func:`proportional`) is in :mod:`.identity`,
the unit table in :mod:`.units`.
"""
from __future__ import annotations

import re
import time
from fractions import Fraction

from .limits import DEFAULT_TIMEOUT_S, Deadline, Undefined
from .parser import has_inf, free_symbols
from .structures import prepare
from .evaluator import mp_contexts, exact_or_none, numeric_value
from .identity import expr_equal, proportional  # noqa: F401 (expr_equal: also imported from here)
from .forms import literal_precision
from .units import split_unit
from .notations import choice_equal, comma_items, match_items, rewrite_qualifier, split_choice
from .solution_sets import excluded_point, family_equal, is_region, remove_points
from .values import MIN_GOLD_APPROX_DIGITS, linear_coefficients, rounds_to  # noqa: F401


def _canon_rel(ops, sides):
    flip = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}
    return tuple(flip[o] for o in reversed(ops)), tuple(reversed(sides))


def _match_all(xs, ys, deadline: float) -> bool:
    """Multiset equality under ``_value_equal`` (bipartite matching, :func:`.notations.match_items`)."""
    return match_items(list(xs), list(ys), lambda x, y: _value_equal(x, y, deadline, top=False))


def _name_key(name: str, top: bool) -> str:
    """At the top level a variable's name is ignored (``k = 1`` ~ ``q = 1``, like MATH's short-prefix
    rule) and a function's letter too, but not its arguments (``f(n) = n^2`` !~ ``f(x) = n^2``);
    inside lists the whole name counts (``x=1, y=2`` !~ ``y=1, x=2``)."""
    if not top:
        return name
    return name[name.index("("):] if "(" in name else ""


def _label_key(v, top: bool) -> str:
    """Key of a ``named`` structure's label: simple labels (variables) as in :func:`_name_key`; the
    labels that name an answer's parts (``(a,b)``, ``PQ``, ``A_1:A_2``) always count."""
    return _name_key(v[1], top) if v[5] else "label:" + v[1]


def _function_vs_variable(a, b) -> bool:
    """``f(x) = 2x + 3`` against ``y = 2x + 3`` at the top level: a function label on one side, a
    variable on the other, and the value's symbols are the function's arguments."""
    fa, fb = "(" in a[1], "(" in b[1]
    if fa == fb:
        return False
    f, other = (a, b) if fa else (b, a)
    args = set(f[1][f[1].index("(") + 1:-1].split(","))
    vals = [v for v in (f[2], other[2]) if v[0] == "expr"]
    if other[1] in args or len(vals) != 2:
        return False
    used = free_symbols(vals[0][1], set()) | free_symbols(vals[1][1], set())
    return bool(used) and used <= args


def _value_equal(a, b, deadline: float, top: bool = True) -> bool:
    """Structure equality (a ``name =`` prefix missing on one side is ignored; see _name_key), then
    the relation forms: inequalities as intervals, equations up to a non-zero multiple."""
    if a is None or b is None:
        return False
    return _structure_equal(a, b, deadline, top) or _relation_forms_equal(a, b, deadline, top)


def _structure_equal(a, b, deadline: float, top: bool) -> bool:
    ka, kb = a[0], b[0]
    if ka == "approx" or kb == "approx":    # "A \approx 0.577": the exact A (or the same decimal)
        x, y = (a, b) if ka == "approx" else (b, a)
        return _value_equal(x[1], y, deadline, top) or (
            y[0] == "expr" and len(y) > 2 and literal_precision(y[2]) is not None
            and literal_precision(y[2])[0] == literal_precision(x[2])[0])
    if ka == "family" or kb == "family":    # solutions with an integer parameter (solution_sets)
        return family_equal(a, b, deadline, expr_equal)
    if ka == "named" and kb == "named":
        if top and a[5] and b[5] and a[4] == b[4] == "=" and _function_vs_variable(a, b):
            return _value_equal(a[2], b[2], deadline, top)
        return _label_key(a, top) == _label_key(b, top) and _value_equal(a[2], b[2], deadline, top)
    if (ka == "named" and a[4] == "in" and b[1:2] == ("<",)) or \
            (kb == "named" and b[4] == "in" and a[1:2] == ("<",)):
        return False                    # "x \in (1, 2)" is an interval, never the vector <1, 2>
    if ka == "named":
        return _value_equal(a[2], b, deadline, top)
    if kb == "named":
        return _value_equal(a, b[2], deadline, top)
    if ka == "set" and len(a[1]) == 1 and kb != "set":
        return _value_equal(a[1][0], b, deadline, top)
    if kb == "set" and len(b[1]) == 1 and ka != "set":
        return _value_equal(a, b[1][0], deadline, top)
    if {ka, kb} == {"set", "union"} and all(x[0] == "rel" for x in a[1] + b[1]):
        return _match_all(a[1], b[1], deadline)      # "x<1, x>2" for "x<1 or x>2" (as before)
    if ka != kb:
        return False
    if ka == "expr":
        return expr_equal(a[1], b[1], deadline) or (len(a) > 2 and _decimal_matches(a[2], b[1], deadline)) \
            or (len(a) == 2 and len(b) > 2 and rounds_to(a[1], b[2], deadline))
    if ka in ("set", "union"):
        return _match_all(a[1], b[1], deadline)
    if ka == "matrix":                 # same shape, cells as values (pmatrix = bmatrix = array)
        return len(a[1]) == len(b[1]) and all(
            len(r) == len(q) and all(_value_equal(x, y, deadline, top=False) for x, y in zip(r, q))
            for r, q in zip(a[1], b[1]))
    if ka == "seq":
        brackets = {a[1] + a[2], b[1] + b[2]}     # a vector <1, 2> is the tuple (1, 2)
        return ((a[1] == b[1] and a[2] == b[2] or brackets == {"<>", "()"}) and len(a[3]) == len(b[3])
                and all(_value_equal(x, y, deadline, top=False) for x, y in zip(a[3], b[3])))
    if ka == "rel":
        for ops, sides in ((b[1], b[2]), _canon_rel(b[1], b[2])):
            if ops == a[1] and len(sides) == len(a[2]) and all(
                    expr_equal(x, y, deadline) for x, y in zip(a[2], sides)):
                return True
        return False
    if ka == "text":
        return a[1] == b[1]
    return False


# ------------------------------------------------------------------ decimal approximations

MIN_DECIMAL_DIGITS = 6


def _decimal_matches(text: str, truth, deadline: float) -> bool:
    """A decimal prediction ``text`` (the literal as written, also in scientific notation)
    approximates a non-integer exact value ``truth`` (an AST without symbols): it has at least
    MIN_DECIMAL_DIGITS significant digits and equals the value rounded to its own number of decimal
    places, i.e. ``|text - truth| <= 0.5 * 10**-places``.  Integers stay exact; a decimal ground
    truth is itself the exact value for a decimal prediction (see :func:`rounds_to` for exact
    predictions)."""
    lit = literal_precision(text)
    if lit is None or lit[2] < MIN_DECIMAL_DIGITS or lit[1] >= Fraction(1, 2):
        return False
    if free_symbols(truth, set()) or has_inf(truth):
        return False
    p, half, _ = lit
    ex = exact_or_none(truth, deadline)
    if ex is not None:
        return ex.denominator != 1 and abs(p - ex) <= half
    if half < Fraction(1, 10 ** 60):
        return False
    c80 = mp_contexts()[1]
    try:
        t = numeric_value(truth, c80, {}, deadline)
    except (Undefined, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError):
        return False
    if isinstance(t, c80.mpc) or abs(t - c80.nint(t)) < c80.mpf(10) ** -60:
        return False   # complex, or an integer (integers are matched exactly only)
    return abs(c80.mpf(p.numerator) / p.denominator - t) <= c80.mpf(half.numerator) / half.denominator


# ------------------------------------------------------------------ inequalities and intervals

_INF, _NINF = ("c", "inf"), ("neg", ("c", "inf"))


def is_inequality(v) -> bool:
    return (v[0] == "rel" and all(o in ("<", "<=", ">", ">=") for o in v[1])) or \
        (v[0] == "named" and v[4] == "in")


def _endpoint(ast):
    """An interval end: a constant AST or +-infinity (markers), None for anything else."""
    if ast == _INF or ast == _NINF:
        return ast
    if has_inf(ast) or free_symbols(ast, set()):
        return None
    return ast


def seq_interval(v):
    if v[0] != "seq" or v[1] not in "([" or v[2] not in ")]" or len(v[3]) != 2 or \
            any(x[0] != "expr" for x in v[3]):
        return None
    lo, hi = _endpoint(v[3][0][1]), _endpoint(v[3][1][1])
    if lo is None or hi is None or lo == _INF or hi == _NINF:
        return None
    return (lo, v[1] == "[", hi, v[2] == "]")


def _sign(ast, deadline: float) -> int | None:
    ex = exact_or_none(ast, deadline)
    if ex is not None:
        return (ex > 0) - (ex < 0)
    try:
        c50 = mp_contexts()[0]
        x = numeric_value(ast, c50, {}, deadline)
    except (Undefined, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError):
        return None
    if isinstance(x, c50.mpc):
        return None
    return (x > 0) - (x < 0)


def _rel_intervals(v, deadline: float):
    """``a < x <= b``, ``x >= a``, ``a <= |x| < b`` (x real) -> (variable, [intervals])."""
    ops, sides = v[1], v[2]
    if all(o in (">", ">=") for o in ops):
        ops, sides = _canon_rel(ops, sides)
    if not all(o in ("<", "<=") for o in ops) or len(sides) not in (2, 3):
        return None
    var = [k for k, x in enumerate(sides) if free_symbols(x, set())]
    if len(var) != 1 or (len(sides) == 3 and var[0] != 1):
        return None
    k = var[0]
    x = sides[k]
    is_abs = x[0] == "f" and x[1] == "abs" and x[2][0][0] == "s"
    if x[0] != "s" and not is_abs:
        return _linear_intervals(sides, ops, k, deadline)
    name = x[1] if x[0] == "s" else x[2][0][1]
    lower = (_endpoint(sides[k - 1]), ops[k - 1] == "<=") if k > 0 else None
    upper = (_endpoint(sides[k + 1]), ops[k] == "<=") if k + 1 < len(sides) else None
    if (lower and lower[0] is None) or (upper and upper[0] is None):
        return None
    if not is_abs:
        lo, lc = lower if lower else (_NINF, False)
        hi, hc = upper if upper else (_INF, False)
        return name, [(lo, lc, hi, hc)]
    if lower is not None:   # a lower bound <= 0 on |x| (closed at 0) constrains nothing
        sg = _sign(lower[0], deadline) if lower[0] not in (_INF, _NINF) else None
        if sg is None:
            return None
        if sg < 0 or (sg == 0 and lower[1]):
            lower = None
    if lower is None:
        if upper is None or upper[0] == _INF:
            return None
        return name, [(("neg", upper[0]), upper[1], upper[0], upper[1])]
    lo, lc = lower
    if upper is None or upper[0] == _INF:
        return name, [(_NINF, False, ("neg", lo), lc), (lo, lc, _INF, False)]
    hi, hc = upper
    return name, [(("neg", hi), hc, ("neg", lo), lc), (lo, lc, hi, hc)]


def _linear_intervals(sides, ops, k: int, deadline: float):
    """``-x > -1``, ``2 < 3t + 1 \\le 7``: a chain whose middle is ``a x + b`` (exact rationals,
    ``a != 0``) is solved for ``x`` (the chain flips when ``a < 0``)."""
    names = free_symbols(sides[k], set())
    if len(names) != 1:
        return None
    name = names.pop()
    ab = linear_coefficients(sides[k], name, deadline)
    if ab is None:
        return None
    a, b = ab

    def solve(end):
        if end is None:
            return None
        c, closed = end
        if c is None:
            return None
        if c in (_INF, _NINF):
            return (c if a > 0 else (_NINF if c == _INF else _INF)), closed
        return ("*", (("+", (c, ("n", -b))), ("n", 1 / a))), closed

    lower = solve((_endpoint(sides[k - 1]), ops[k - 1] == "<=")) if k > 0 else None
    upper = solve((_endpoint(sides[k + 1]), ops[k] == "<=")) if k + 1 < len(sides) else None
    if (k > 0 and lower is None) or (k + 1 < len(sides) and upper is None):
        return None
    if a < 0:
        lower, upper = upper, lower
    lo, lc = lower if lower else (_NINF, False)
    hi, hc = upper if upper else (_INF, False)
    return name, [(lo, lc, hi, hc)]


def intervals_of(v, deadline: float):
    """(variable or None, [(lo, lo_closed, hi, hi_closed), ...]) of an inequality, an interval, a
    union of intervals or ``x \\in`` one of those; None when ``v`` is none of these."""
    k = v[0]
    if k == "seq":
        iv = seq_interval(v)
        return None if iv is None else (None, [iv])
    if k == "union":
        ivs = [seq_interval(x) for x in v[1]]
        return None if any(iv is None for iv in ivs) else (None, ivs)
    if k == "named" and v[4] == "in" and v[5]:
        inner = intervals_of(v[2], deadline)
        return None if inner is None or inner[0] is not None else (v[1], inner[1])
    if k == "rel":
        return _rel_intervals(v, deadline) if v[1] != ("!=",) else excluded_point(v)
    if k == "diff" and v[2][0] == "set" and all(x[0] == "expr" for x in v[2][1]):   # A \setminus {a}
        inner = intervals_of(v[1], deadline)
        out = None if inner is None else remove_points(inner[1], [x[1] for x in v[2][1]], deadline)
        return None if out is None else (inner[0], out)
    return None


def _end_equal(x, y, deadline: float) -> bool:
    if x in (_INF, _NINF) or y in (_INF, _NINF):
        return x == y
    return expr_equal(x, y, deadline)


def _intervals_equal(xs, ys, deadline: float) -> bool:
    if len(xs) != len(ys):
        return False
    left = list(ys)
    for a in xs:
        for j, b in enumerate(left):
            if a[1] == b[1] and a[3] == b[3] and _end_equal(a[0], b[0], deadline) \
                    and _end_equal(a[2], b[2], deadline):
                del left[j]
                break
        else:
            return False
    return True


# ------------------------------------------------------------------ equations up to a multiple

def equation_of(v):
    """``lhs - rhs`` of an equation with symbols: a relation ``l = r``, or ``label = value`` whose
    value has symbols (``y = x/2 + 3/2``; ``x = 3`` is a value answer, compared as a value)."""
    if v[0] == "rel" and v[1] == ("=",):
        lhs, rhs = v[2]
    elif v[0] == "named" and v[4] == "=" and v[3] is not None and v[2][0] == "expr" \
            and free_symbols(v[2][1], set()):
        lhs, rhs = v[3], v[2][1]
    else:
        return None
    if has_inf(lhs) or has_inf(rhs):
        return None
    return ("+", (lhs, ("neg", rhs)))


def _relation_forms_equal(a, b, deadline: float, top: bool) -> bool:
    """Inequalities against intervals (``0 < t < 2`` = ``(0, 2)``, ``2 <= |w| <= 3`` =
    ``[-3,-2] \\cup [2,3]``; open and closed ends must match) and equations up to a non-zero
    multiple (``3x - 6y + 9 = 0`` = ``y = x/2 + 3/2``)."""
    if is_inequality(a) or is_inequality(b) or is_region(a) or is_region(b):
        ia, ib = intervals_of(a, deadline), intervals_of(b, deadline)
        if ia is not None and ib is not None:
            if not top and ia[0] is not None and ib[0] is not None and ia[0] != ib[0]:
                return False
            return _intervals_equal(ia[1], ib[1], deadline)
        return False
    ea = equation_of(a)
    if ea is None:
        return False
    eb = equation_of(b)
    return eb is not None and proportional(ea, eb, deadline)


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
        key = split_choice(truth)
        if key is not None:       # "(C) 12": the letter, the value, or both (notations)
            return choice_equal(pred, key,
                                lambda p, t: equivalent(p, t, timeout_s=deadline - time.monotonic()))
        pred, truth = rewrite_qualifier(pred), rewrite_qualifier(truth)
        lp, lt = comma_items(pred), comma_items(truth)
        if len(lp) > 1 and len(lt) > 1 and any(split_unit(x)[1] for x in lp + lt):
            # two lists with units on their items: item by item, each with its own unit
            return match_items(lp, lt, lambda p, t: equivalent(p, t, timeout_s=deadline - time.monotonic()))
        hp, up = split_unit(pred)
        ht, ut = split_unit(truth)
        if up is None and ut is None:
            return _plain_equivalent(pred, truth, deadline)
        if up is None:
            # a unit left off the answer's number: the ground truth's unit is clearly a unit (or a
            # noun, as before), so the number alone is compared
            return _plain_equivalent(pred, ht, deadline)
        if ut is None:
            # a unit the ground truth does not have: accepted only for a known unit (or a noun, as
            # before: "14 apples" = 14); "10^{33}\text{ foo/s}" against a bare number is rejected
            return (up.known or up.noun) and _plain_equivalent(hp, truth, deadline)
        return _quantities_equal(hp, up, ht, ut, deadline)
    except (Deadline, RecursionError):
        return False


def _plain_equivalent(pred: str, truth: str, deadline: float) -> bool:
    """Equivalence of two answers without units (the rules in the module docstring)."""
    pp, pt = prepare(pred), prepare(truth)
    if pp.key and pp.key == pt.key:
        return True
    return _value_equal(pp.value, pt.value, deadline)


def _single_expr(v):
    """The expression AST of a single value (through labels and one-element sets), else None."""
    while v is not None and (v[0] == "named" or (v[0] == "set" and len(v[1]) == 1)):
        v = v[2] if v[0] == "named" else v[1][0]
    return v[1] if v is not None and v[0] == "expr" else None


def _quantities_equal(hp: str, up, ht: str, ut, deadline: float) -> bool:
    """Two quantities: the same dimension, and the values equal after the exact conversion
    (``1\text{ m}`` = ``100\text{ cm}``); units of different dimensions never match, and unknown
    units only themselves."""
    if up.dims != ut.dims:
        return False
    if up.factor == ut.factor:
        return _plain_equivalent(hp, ht, deadline)
    a, b = _single_expr(prepare(hp).value), _single_expr(prepare(ht).value)
    if a is None or b is None or has_inf(a) or has_inf(b):
        return False
    return expr_equal(("*", (a, ("n", up.factor))), ("*", (b, ("n", ut.factor))), deadline)


def any_equivalent(pred: str | None, truths: list[str], timeout_s: float) -> bool:
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
