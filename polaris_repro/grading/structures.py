r"""Answer structures built from the tokens; :func:`prepare` caches the structure and string key
of an answer.

* ``("expr", ast)``, or ``("expr", ast, text)`` for a plain decimal literal (``text`` is the
  literal with its sign, for the decimal-approximation rule);
* ``("seq", open, close, items)``: tuples and intervals ``(a, b]``, items separated by commas (or
  semicolons: ``(1;2;0)``), and ratios ``5 : 9`` as ``("seq", ":", ":", items)``;
* ``("set", items)``: comma or semicolon lists, ``\{...\}`` and bare ``{...}`` braces, ``\pm``;
* ``("union", items)``: ``\cup``; ``("diff", a, b)``: ``a \setminus b`` (or ``\backslash``);
* vectors ``\langle 1, 2\rangle`` and (a whole answer) ``<1, 2>``: ``("seq", "<", ">", items)``,
  equal to the tuple ``(1, 2)`` but never an interval;
* ``("family", k, exprs)``: a list with an integer qualifier ``k \in \mathbb{Z}``
  (:func:`.solution_sets.as_family`);
* ``("rel", ops, asts)``: relation chains ``a < x \le b``, equations;
* ``("named", label, value, lhs, op, simple)``: ``label = value`` or ``label \in value``.
  ``simple`` labels are a variable or function (``x``, ``x_1``, ``\alpha``, ``f(x)``: their name
  is ignored at the top level, MATH's short-prefix rule); the other labels name the parts of an
  answer (a tuple of variables ``(a,b)``, a segment ``PQ`` or ``|XY|``, a ratio ``A_1 : A_2``) and
  must match when both sides have one.  ``lhs`` is the label's AST when it is an expression
  (``x``, ``PQ``), so that ``label = value`` can also be compared as an equation.  Issue 33
  adds: a ratio of segments ``\frac{NO}{BO} = v`` is a label; a chain ``x = 5+5+1 = 11`` whose
  sides after the label are constants of one value is ``x = 11`` (a chain with unequal sides stays
  a relation); ``x \approx 11`` is ``x = 11`` (the decimal as written); ``p=5,q=2;p=7,q=2`` (groups
  of the same variables, separated by semicolons) is the list of ``(p,q) = (5,2)``, ``(7,2)``;
  ``z \in A \cup B`` labels the whole union;
* ``("text", string)`` for what the parser does not read.
"""
from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any

from .limits import MAX_ANSWER_CHARS, MAX_SET_SIZE, NotMath, Deadline, Undefined
from .normalisation import THOUSANDS, basic_normalize, normalize_answer
from .parser import CLOSE, GREEK, OPEN, Parser, is_rel, tokenize, token_key, free_symbols
from .forms import literal_precision, split_approx, split_matrix, spaced_or, undouble_backslashes
from .evaluator import exact_or_none, mp_contexts, numeric_value
from .solution_sets import as_family


def _split_top(toks, pred, seps: list | None = None) -> list[list]:
    """Split ``toks`` at the top-level (bracket depth 0) tokens for which ``pred`` holds; the
    separator tokens themselves are appended to ``seps`` when it is given."""
    parts: list[list] = [[]]
    depth = 0
    for t in toks:
        v = token_key(t)
        if v in OPEN:
            depth += 1
        elif v in CLOSE:
            depth -= 1
        if depth == 0 and pred(t):
            parts.append([])
            if seps is not None:
                seps.append(t)
        else:
            parts[-1].append(t)
    return parts


def _outer_span_closes_at_end(toks) -> bool:
    depth = 0
    for k, t in enumerate(toks):
        v = token_key(t)
        if v in OPEN:
            depth += 1
        elif v in CLOSE:
            depth -= 1
            if depth == 0 and k != len(toks) - 1:
                return False
    return depth == 0


def _is_name(toks) -> bool:
    """``x``, ``x_1``, ``\\alpha``, ``f(x)``, ``f(x, y)``: a left-hand side to drop."""
    if not toks:
        return False
    if toks[0][0] == "id" or (toks[0][0] == "cmd" and toks[0][1] in GREEK):
        rest = toks[1:]
        if not rest:
            return True
        if rest[0] == ("op", "_"):
            return len(rest) == 2 or (rest[1] == ("op", "{") and rest[-1] == ("op", "}")
                                      and all(x[0] != "op" or x[1] not in "{}" for x in rest[2:-1]))
        if rest[0] == ("op", "(") and rest[-1] == ("op", ")"):
            inner = rest[1:-1]
            return bool(inner) and all(x[0] == "id" or x == ("op", ",") for x in inner)
    return False


def _is_letters(toks) -> bool:
    """``PQ``, ``XY``, ``ABC``: two to four capital letters (a segment's label; ``xy = 6`` stays an
    equation)."""
    return 2 <= len(toks) <= 4 and all(t[0] == "id" and t[1].isupper() for t in toks)


def _segment_ratio(toks) -> str | None:
    """``\\frac{NO}{BO}`` (two segment names of one to four capitals) -> ``"NO/BO"``, else None."""
    if len(toks) < 7 or toks[0] != ("cmd", "frac") or toks[1] != ("op", "{") or toks[-1] != ("op", "}"):
        return None
    try:
        mid = toks.index(("op", "}"))
    except ValueError:
        return None
    num, den = toks[2:mid], toks[mid + 2:-1]
    if toks[mid + 1] != ("op", "{") or not all(
            1 <= len(q) <= 4 and all(t[0] == "id" and t[1].isupper() for t in q) for q in (num, den)):
        return None
    return "".join(t[1] for t in num) + "/" + "".join(t[1] for t in den)


def _label(toks, op: str):
    """``(label, lhs_ast, simple)`` when ``toks`` (left of ``=`` / ``\\in``) is a label, else None."""
    if _is_name(toks):
        name = "".join(x[1] for x in toks)
        lhs = None
        if "(" not in name:
            try:
                lhs = _parse_expr(toks)
            except (NotMath, RecursionError):
                lhs = None
        return name, lhs, True
    if op != "=" or len(toks) < 2:
        return None
    if _is_letters(toks):
        return "".join(x[1] for x in toks), _parse_expr(toks), False
    if toks[0] == ("op", "|") and toks[-1] == ("op", "|") and _is_letters(toks[1:-1]):
        return "".join(x[1] for x in toks[1:-1]), None, False    # |XY| = XY (a length)
    frac = _segment_ratio(toks)
    if frac is not None:
        return frac, None, False                                 # \frac{NO}{BO} = ... (a ratio)
    if toks[0] == ("op", "(") and toks[-1] == ("op", ")") and _outer_span_closes_at_end(toks):
        parts = _split_top(toks[1:-1], lambda t: t == ("op", ","))
        if len(parts) > 1 and all(_is_name(q) for q in parts):
            return "(" + ",".join("".join(x[1] for x in q) for q in parts) + ")", None, False
    parts = _split_top(toks, lambda t: t == ("op", ":"))
    if len(parts) > 1 and all(_is_name(q) or _is_letters(q) for q in parts):
        return ":".join("".join(x[1] for x in q) for q in parts), None, False
    return None


def _decimal_text(toks) -> str | None:
    """The literal of a plain decimal answer (``0.0909``, ``-1.25``) or of a number in scientific
    notation (``2.3148\\times10^{-3}`` -> ``2.3148e-3``, ``4.5e33``), else None."""
    sign = ""
    if len(toks) >= 2 and toks[0] == ("op", "-"):
        sign, toks = "-", toks[1:]
    if len(toks) == 1 and toks[0][0] == "num" and toks[0][1][-1].isdigit():
        t = toks[0][1]
        return sign + t if "." in t or "e" in t.lower() else None
    if len(toks) >= 5 and toks[0][0] == "num" and toks[0][1][-1].isdigit() and "e" not in toks[0][1].lower() \
            and toks[1] in (("cmd", "times"), ("cmd", "cdot")) and toks[2] == ("num", "10") \
            and toks[3] == ("op", "^"):
        exp = [t[1] for t in toks[4:] if t not in (("op", "{"), ("op", "}"))]
        braced = toks[4] == ("op", "{") and toks[-1] == ("op", "}")
        if (braced or len(toks) <= 6) and "".join(exp).lstrip("+-").isdigit() and len(exp) <= 2:
            return f"{sign}{toks[0][1]}e{''.join(exp)}"
    return None


def _build(toks, depth: int = 0):
    if depth > 8:
        raise NotMath("structure too deep")
    if not toks:
        raise NotMath("empty")
    vec = _vector_items(toks, depth)
    if vec is not None:
        return vec
    seps: list = []
    parts = _split_top(toks, lambda t: (t[0] == "op" and t[1] in (",", ";")) or t == ("cmd", "lor"), seps)
    if len(parts) > 1:
        if len(parts) > MAX_SET_SIZE:
            raise NotMath("list too long")
        groups = _assignment_groups(toks, depth) if ";" in [t[1] for t in seps] else None
        if groups is not None:
            return ("set", groups)
        items = _items(parts, depth)
        if all(t == ("cmd", "lor") for t in seps) and all(_is_condition(x) for x in items):
            return ("union", items)        # x < 1 or x > 2: the union of the solution sets
        return ("set", items)
    parts = _split_top(toks, lambda t: t == ("cmd", "cup"))
    if len(parts) > 1 and not _labels_union(parts[0]):
        return ("union", tuple(_build(p, depth + 1) for p in parts))
    parts = _split_top(toks, lambda t: t in (("cmd", "setminus"), ("cmd", "backslash")))
    if len(parts) == 2 and parts[0] and parts[1]:
        return ("diff", _build(parts[0], depth + 1), _build(parts[1], depth + 1))
    first, last = token_key(toks[0]), token_key(toks[-1])
    if len(toks) >= 2 and _outer_span_closes_at_end(toks):
        inner = toks[1:-1]
        if first == "\\{" and last == "\\}":
            items = _split_top(inner, lambda t: t[0] == "op" and t[1] in (",", ";"))
            return ("set", _items(items, depth)) if inner else ("set", ())
        if first in ("(", "[") and last in (")", "]"):
            items = _split_top(inner, lambda t: t[0] == "op" and t[1] == ",")
            if len(items) == 1:   # (1;2;0): semicolons as separators
                items = _split_top(inner, lambda t: t[0] == "op" and t[1] == ";")
            if len(items) > 1:
                return ("seq", first, last, tuple(_build(p, depth + 1) for p in items))
        if first == "{" and last == "}":
            return _build(inner, depth + 1)
    # relations
    rels: list = []
    sides = _split_top(toks, lambda t: bool(is_rel(t)), rels)
    ops = [is_rel(t) for t in rels]
    if ops:
        lab = _label(sides[0], ops[0]) if len(ops) == 1 and ops[0] in ("=", "in") and sides[1] else None
        if lab is not None:
            name, lhs, simple = lab
            return ("named", name, _build(sides[1], depth + 1), lhs, ops[0], simple)
        if any(not s for s in sides) or "in" in ops:
            raise NotMath("bad relation")
        if len(ops) > 1 and all(o == "=" for o in ops):
            lab = _label(sides[0], "=")
            if lab is not None and _same_constants([_parse_expr(s) for s in sides[1:]]):
                return ("named", lab[0], _build(sides[-1], depth + 1), lab[1], "=", lab[2])
        if all(o in ("<", "<=", ">", ">=") for o in ops):
            return ("rel", tuple(ops), tuple(_inequality_side(s) for s in sides))
        return ("rel", tuple(ops), tuple(_parse_expr(s) for s in sides))
    # ratios a : b (: c)
    parts = _split_top(toks, lambda t: t == ("op", ":"))
    if len(parts) > 1:
        return ("seq", ":", ":", tuple(_build(p, depth + 1) for p in parts))
    # \pm / \mp -> set of the sign choices
    pm = [k for k, t in enumerate(toks) if t in (("cmd", "pm"), ("cmd", "mp"))]
    if pm:
        if len(pm) > 3:
            raise NotMath("too many \\pm")
        variants = []
        for signs in range(1 << len(pm)):
            tt = list(toks)
            for b, k in enumerate(pm):
                plus = not (signs >> b) & 1
                if toks[k][1] == "mp":
                    plus = not plus
                tt[k] = ("op", "+" if plus else "-")
            variants.append(("expr", _parse_expr(tt)))
        return ("set", tuple(variants))
    dec = _decimal_text(toks)
    return ("expr", _parse_expr(toks)) if dec is None else ("expr", _parse_expr(toks), dec)


def _assignment_groups(toks, depth: int):
    """``p=5,q=2;p=7,q=2`` -> the items ``(p,q) = (5,2)``, ``(p,q) = (7,2)``: every
    semicolon-separated group assigns the same variables (at least two, in the same order) with
    commas; None for anything else."""
    out, names = [], None
    for group in _split_top(toks, lambda t: t == ("op", ";")):
        pairs = []
        for part in _split_top(group, lambda t: t == ("op", ",")):
            eq = [k for k, t in enumerate(part) if t == ("op", "=")]
            if len(eq) != 1 or not _is_name(part[:eq[0]]) or ("op", "(") in part[:eq[0]] \
                    or not part[eq[0] + 1:]:
                return None
            pairs.append(("".join(x[1] for x in part[:eq[0]]), part[eq[0] + 1:]))
        if len(pairs) < 2 or (names is not None and [n for n, _ in pairs] != names):
            return None
        names = [n for n, _ in pairs]
        out.append(("named", "(" + ",".join(names) + ")",
                    ("seq", "(", ")", tuple(_build(v, depth + 1) for _, v in pairs)), None, "=", False))
    return tuple(out) if len(out) > 1 else None


def _labels_union(first) -> bool:
    """``z \\in [a, b] \\cup ...``: the first part of a union starts with ``name \\in`` (the
    label is then the whole union's)."""
    rels: list = []
    sides = _split_top(first, lambda t: bool(is_rel(t)), rels)
    return len(rels) == 1 and is_rel(rels[0]) == "in" and _is_name(sides[0])


def _inequality_side(toks):
    """A side of an inequality chain; ``f(x)`` (a function of its arguments) is one unknown, so
    ``0 < f(x) < 1`` describes the interval (0, 1) like ``0 < y < 1``."""
    if _is_name(toks) and ("op", "(") in toks:
        return ("s", "".join(x[1] for x in toks))
    return _parse_expr(toks)


def _same_constants(asts) -> bool:
    """Whether the ASTs are constants of one value (exactly, else within 1e-40 at 50 digits)."""
    if any(free_symbols(a, set()) for a in asts):
        return False
    deadline = time.monotonic() + 0.5
    try:
        exact = [exact_or_none(a, deadline) for a in asts]
        if all(e is not None for e in exact):
            return len(set(exact)) == 1
        c50 = mp_contexts()[0]
        vals = [numeric_value(a, c50, {}, deadline) for a in asts]
    except (Undefined, Deadline, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError):
        return False
    return all(abs(v - vals[0]) <= c50.mpf(10) ** -40 * max(1, abs(vals[0])) for v in vals[1:])


def _vector_items(toks, depth: int):
    """``\\langle a, b, ...\\rangle`` (closing at the end), or a whole answer ``<a, b, ...>`` with no
    other relation in it, as ``("seq", "<", ">", items)``; None for anything else."""
    if len(toks) < 4:
        return None
    if toks[0] == ("cmd", "langle") and toks[-1] == ("cmd", "rangle") and _outer_span_closes_at_end(toks):
        inner = toks[1:-1]
    elif depth == 0 and toks[0] == ("op", "<") and toks[-1] == ("op", ">") and \
            not any(is_rel(t) for t in toks[1:-1]):
        inner = toks[1:-1]
    else:
        return None
    parts = _split_top(inner, lambda t: t == ("op", ","))
    if len(parts) < 2 or any(not p for p in parts) or len(parts) > MAX_SET_SIZE:
        return None
    return ("seq", "<", ">", tuple(_build(p, depth + 1) for p in parts))


def _items(parts, depth: int) -> tuple:
    """The items of a list; an item ``a \\pm b`` stands for its two values (``\\{1\\pm\\sqrt5, -2\\}``
    has three elements)."""
    out: list = []
    for p in parts:
        v = _build(p, depth + 1)
        pm = v[0] == "set" and token_key(p[0]) != "\\{" and any(t in (("cmd", "pm"), ("cmd", "mp")) for t in p)
        out.extend(v[1] if pm else (v,))
    if len(out) > MAX_SET_SIZE:
        raise NotMath("list too long")
    return tuple(out)


def _is_condition(v) -> bool:
    """An inequality chain or ``x \\in`` a set: an item of a union joined by "or"."""
    return (v[0] == "rel" and all(o in ("<", "<=", ">", ">=") for o in v[1])) or \
        (v[0] == "named" and v[4] == "in")


def _parse_expr(toks):
    return Parser(toks).parse()


@dataclass(frozen=True)
class _Prepared:
    key: str          # normalised string (whitespace removed)
    value: Any        # structure, or None when only the string can be compared
    why: str = ""     # why the answer is compared as a string only (the parser's reason)


def prepare(answer: str) -> _Prepared:
    if len(answer) > MAX_ANSWER_CHARS:  # too long for the parser (and not worth caching)
        return _Prepared(re.sub(r"\s+", "", answer), None)
    return prepare_cached(answer)


def _approx_value(head, tail: str):
    """``("approx", value, tail)`` for ``head \\approx tail`` when the decimal ``tail`` agrees with
    the exact ``head`` to within one unit in its last place; None when it does not (or when
    ``head`` is not a constant)."""
    v = head.value
    while v is not None and (v[0] == "named" or (v[0] == "set" and len(v[1]) == 1)):
        v = v[2] if v[0] == "named" else v[1][0]
    lit = literal_precision(tail)
    if v is None or v[0] != "expr" or lit is None or free_symbols(v[1], set()):
        return None
    c50 = mp_contexts()[0]
    try:
        x = numeric_value(v[1], c50, {}, time.monotonic() + 0.5)
    except (Undefined, Deadline, KeyError, ZeroDivisionError, ValueError, OverflowError, TypeError):
        return None
    if isinstance(x, c50.mpc) or abs(x - c50.mpf(lit[0].numerator) / lit[0].denominator) > \
            2 * c50.mpf(lit[1].numerator) / lit[1].denominator:
        return None
    return ("approx", head.value, tail)


def _matrix_value(rows):
    """``("matrix", rows of cell values)``, None when a cell is empty or rows are ragged."""
    cells = tuple(tuple(prepare_cached(c).value for c in r) for r in rows)
    if len({len(r) for r in cells}) != 1 or any(c is None for r in cells for c in r):
        return None
    return ("matrix", cells)


@functools.lru_cache(maxsize=16384)
def prepare_cached(answer: str) -> _Prepared:
    answer = spaced_or(undouble_backslashes(answer))
    key = normalize_answer(answer)
    if "\\begin" in answer:
        rows = split_matrix(answer)
        if rows is not None:
            m = _matrix_value(rows)
            return _Prepared(key, m) if m else _Prepared(key, ("text", key.lower()),
                                                            "matrix with ragged rows or an unreadable cell")
    if "\\approx" in answer or "\\sim" in answer:
        ap = split_approx(answer.replace("$", ""))
        if ap is not None:
            head = prepare_cached(ap[0])
            if head.value is not None and head.value[0] == "expr" and head.value[1][0] == "s":
                # "x \approx 11": the answer is the decimal as written, labelled x
                tail = prepare_cached(ap[1]).value
                if tail is not None:
                    return _Prepared(key, ("named", head.value[1][1], tail, head.value[1], "=", True))
            value = _approx_value(head, ap[1])
            return _Prepared(head.key, value) if value is not None else _Prepared(
                key, ("text", key.lower()), "the approximation after \\approx does not match the value before it")
    basic = basic_normalize(answer)
    if THOUSANDS.fullmatch(basic.strip()):      # "1,000" (but "20, 184" is a list)
        basic = basic.replace(",", "").strip()
    m = re.fullmatch(r"\(\s*([A-Za-z]|[ivx]{2,5}|[IVX]{2,5})\s*\)", basic)  # choice "(C)", "(iv)" -> "C", "iv"
    if m:
        basic = key = m.group(1)
    try:
        value = as_family(_build(tokenize(basic)))
    except (NotMath, RecursionError) as e:
        return _Prepared(key, ("text", key.lower()) if key else None, str(e) or type(e).__name__)
    return _Prepared(key, value)
