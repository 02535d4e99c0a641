r"""Notations answer keys use (issue 33, item 3), read into forms the rest of the grader compares.

* repeating decimals ``0.\overline{3}``, ``0.1\overline{6}``, ``1.\bar{27}`` and ``0.(3)`` (the
  parenthesis right after the point) become the exact fraction (``{\frac{1}{3}}``); ``0.1(6)`` is
  left alone (it could be the product 0.1 * 6);
* the reals ``\mathbb{R}``, ``\mathbb R``, ``\R``, ``\Bbb R`` (and ``\mathbf{R}`` as a whole answer
  or after ``\in``) and the phrases ``all real numbers`` / ``all reals`` become ``(-\infty,
  \infty)``; ``\mathbb{R}^+``, ``\mathbb{R}_{>0}``, ``\mathbb{R}^2`` are left alone;
* an integer qualifier at the end (``, k \in \mathbb{Z}``, ``(k\in\mathbb Z)``, ``k \text{ is an
  integer}``, ``\text{ for any integer } k``, ``\text{ where } k \in \mathbb{Z}``) is written
  ``, k \in \mathbb{Z}`` (:func:`rewrite_qualifier`), before units and trailing words are read;
  such lists are families of solutions (:mod:`.solution_sets`).  Only ``\mathbb{Z}`` qualifies:
  ``k \in \mathbb{N}`` is another set and stays as written;
* a multiple-choice key with its value, ``(C) 12``, ``\text{(C)}\ 12``, ``C: 12``
  (:func:`split_choice`), matches the letter alone, the value alone, or both (:func:`choice_equal`).

Nothing here parses or evaluates: regular expressions with bounded repetition on the answer string.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Callable

# ------------------------------------------------------------------------------ repeating decimals

_OVERLINE = re.compile(r"(?<![\w.}])(\d{0,40})\.(\d{0,40})\s*\\(?:overline|bar)\s*"
                       r"(?:\{\s*(\d{1,40})\s*\}|(\d))(?![\d.])")
_PAREN_REPEAT = re.compile(r"(?<![\w.}])(\d{1,40})\.\((\d{1,40})\)(?![\d.])")


def _repeating(whole: str, fixed: str, period: str) -> str:
    """``whole.fixed(period)(period)...`` as the exact fraction ``{\\frac{p}{q}}``."""
    scale = 10 ** len(fixed)
    x = Fraction(int(whole or "0")) + Fraction(int(fixed or "0"), scale) \
        + Fraction(int(period), scale * (10 ** len(period) - 1))
    return "{\\frac{%d}{%d}}" % (x.numerator, x.denominator)


# ------------------------------------------------------------------------------ the reals

_REALS = re.compile(r"\\(?:mathbb|Bbb|mathbbm)\s*(?:\{\s*R\s*\}|R(?![a-zA-Z]))(?!\s*[\^_])"
                    r"|\\R(?![a-zA-Z])(?!\s*[\^_])")
# \mathbf{R} (bold R) is the reals only as a whole answer or after \in (elsewhere it may be a matrix)
_BOLD_WHOLE = re.compile(r"\A\s*\\mathbf\s*\{\s*R\s*\}\s*\Z")
_BOLD_IN = re.compile(r"(\\in(?![a-zA-Z])\s*)\\mathbf\s*\{\s*R\s*\}(?!\s*[\^_])")
_REALS_PHRASE = re.compile(r"(?:the\s+set\s+of\s+)?(?:all\s+)?real\s+numbers|all\s+reals"
                           r"|(?:every|any)\s+real\s+number", re.I)
REALS = "(-\\infty, \\infty)"


def rewrite_notations(s: str) -> str:
    """String rewrites before the ``\\text`` wrappers go: repeating decimals and the reals."""
    if "\\overline" in s or "\\bar" in s:
        s = _OVERLINE.sub(lambda m: _repeating(m.group(1), m.group(2), m.group(3) or m.group(4)), s)
    if ".(" in s:
        s = _PAREN_REPEAT.sub(lambda m: _repeating(m.group(1), "", m.group(2)), s)
    if "R" in s:
        s = _REALS.sub(lambda m: " " + REALS + " ", s)
        if "\\mathbf" in s:
            s = REALS if _BOLD_WHOLE.match(s) else _BOLD_IN.sub(lambda m: m.group(1) + REALS, s)
    return s


def reals_phrase(s: str) -> str:
    """A whole answer ``all real numbers`` (after the ``\\text`` wrappers are gone) -> the reals."""
    return REALS if _REALS_PHRASE.fullmatch(s.strip().rstrip(".").strip()) else s


# ------------------------------------------------------------------------------ integer qualifiers

_QUAL_LEAD = (r"(?:\s|,|;|\\quad|\\qquad|\\[,;: ]|~|\\forall"
              r"|\\(?:text|mbox|textrm)\s*\{\s*,?\s*(?:for|where)\s*(?:all|any|every|some)?\s*\})*")
_ZZ = r"(?:\\mathbb\s*(?:\{\s*Z\s*\}|Z(?![a-zA-Z]))|\\Z(?![a-zA-Z]))(?!\s*[\^_])"
_QUALIFIER = re.compile(
    r"(?P<lead>" + _QUAL_LEAD + r")(?:"
    r"\(\s*(?P<a>[a-zA-Z])\s*\\in\s*" + _ZZ + r"\s*\)"
    r"|(?P<b>[a-zA-Z])\s*\\in\s*" + _ZZ +
    r"|(?P<c>[a-zA-Z])\s*\\(?:text|mbox|textrm)\s*\{\s*(?:is\s+)?(?:an?\s+)?(?:arbitrary\s+|any\s+)?"
    r"integers?\s*\}"
    r"|\\(?:text|mbox|textrm)\s*\{\s*,?\s*(?:for|where)\s+(?:all\s+|any\s+|every\s+|some\s+)?(?:an?\s+)?"
    r"integers?\s*\}\s*(?P<d>[a-zA-Z])"
    r")\s*\.?\s*\Z")


def rewrite_qualifier(s: str) -> str:
    """An integer qualifier at the end of an answer, in any of the forms above, as ``, k \\in
    \\mathbb{Z}`` (so that units and trailing words do not take it); unchanged otherwise."""
    if "Z" not in s and "integer" not in s:
        return s
    m = _QUALIFIER.search(s, max(0, len(s) - 120))
    if not m or not s[:m.start()].strip(" ,;"):
        return s
    k = m.group("a") or m.group("b") or m.group("c") or m.group("d")
    if not (m.group("lead").strip() or m.group("a") or m.group("d")):
        return s           # "2k \in \mathbb{Z}": a relation; "2n \text{ integers}": a count of them
    return s[:m.start()].rstrip(" ,;") + ", " + k + " \\in \\mathbb{Z}"


# ------------------------------------------------------------------------------ multiple choice

_WRAP = r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\s*\{\s*"
_CHOICE = re.compile(r"\A\s*(?P<w>" + _WRAP + r")?\(\s*(?P<L>[A-E])\s*\)\s*(?P<c>\})?"
                     r"(?P<sep>(?:\s|\\[ ,;:!]|\\quad|\\qquad|~|:)*)(?P<v>.+?)\s*\Z", re.S)
_COLON_CHOICE = re.compile(r"\A\s*(?P<L>[A-E])\s*:\s*(?P<v>[^:]+?)\s*\Z", re.S)
_LETTER = re.compile(r"\A\s*(?:" + _WRAP + r")?\(?\s*([A-E])\s*\)?\s*\}?\s*\Z")
_NOT_A_VALUE = re.compile(r"\([A-E]\)|=|<|>|\\[lg]eq?(?![a-zA-Z])|\\neq?(?![a-zA-Z])|\b(?:and|or)\b", re.I)


def split_choice(s: str) -> tuple[str, str] | None:
    """``(letter, value)`` of a multiple-choice key with its value: ``(C) 12``, ``\\text{(C)}\\
    12``, ``\\textbf{(C) }12``, ``\\text{(C) 12}``, ``C: 12`` (the value must have a digit here);
    None for anything else (a value with another choice, a relation, ``and`` / ``or``)."""
    t = str(s).strip().strip("$").strip()
    if len(t) > 300:
        return None
    m = _CHOICE.match(t)
    if m:
        v = m.group("v")
        if m.group("w") and not m.group("c"):        # \text{(C) 12}: the value inside the wrapper
            if not v.endswith("}"):
                return None
            v = v[:-1].strip()
    else:
        m = _COLON_CHOICE.match(t)
        if not m or not any(ch.isdigit() for ch in m.group("v")):
            return None
        v = m.group("v")
    if not v or v[0] in "^_*/)!'.," or _NOT_A_VALUE.search(v) or v.count("{") != v.count("}"):
        return None
    return m.group("L"), v


def choice_letter(s: str) -> str | None:
    """The letter of an answer that is a choice letter alone (``C``, ``(C)``, ``\\text{(C)}``)."""
    m = _LETTER.match(str(s).strip().strip("$"))
    return m.group(1) if m else None


def choice_equal(pred: str, key: tuple[str, str], equal: Callable[[str, str], bool]) -> bool:
    """An answer against a key ``(letter, value)``: the letter alone, the value alone (``equal``),
    or both (``(C) 12``; both must match).  Nothing else: ``12C`` is not read as a product."""
    letter = choice_letter(pred)
    if letter is not None:
        return letter == key[0]
    both = split_choice(pred)
    if both is not None:
        return both[0] == key[0] and equal(both[1], key[1])
    return equal(pred, key[1])


# ------------------------------------------------------------------------------ lists of quantities

_RELATION = re.compile(r"[=<>]|\\(?:le|ge|leq|geq|ne|neq|in|lt|gt)(?![a-zA-Z])")
_THOUSANDS_AFTER = re.compile(r"(?:\s*\\!\s*)?\d{3}(?!\d)")


def comma_items(s: str) -> list[str]:
    """The items of a bare list (``3\\text{ cm}, 4\\text{ cm}``, also with semicolons), split at the
    commas and semicolons outside brackets and braces; a comma between a digit and exactly three
    digits (``1,000``, ``1,\\!000``), ``\\,`` and ``\\;`` are not separators.  ``[s]`` when there is
    one item, an empty item, or a relation."""
    if ("," not in s and ";" not in s) or len(s) > 2000 or _RELATION.search(s):
        return [s]
    items, depth, start = [], 0, 0
    for k, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c in ",;" and depth == 0 and not (k and s[k - 1] == "\\") and \
                not (c == "," and k and s[k - 1].isdigit() and _THOUSANDS_AFTER.match(s, k + 1)):
            items.append(s[start:k].strip())
            start = k + 1
    items.append(s[start:].strip())
    return [s] if len(items) < 2 or not all(items) else items


def match_items(xs: list, ys: list, equal: Callable) -> bool:
    """Whether the items (strings or ASTs) pair up one to one under ``equal(x, y)`` (a list is
    unordered): bipartite matching by augmenting paths."""
    if len(xs) != len(ys):
        return False
    adj = [[j for j, y in enumerate(ys) if equal(x, y)] for x in xs]
    owner = [-1] * len(ys)

    def augment(i: int, seen: set) -> bool:
        for j in adj[i]:
            if j not in seen:
                seen.add(j)
                if owner[j] < 0 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return all(augment(i, set()) for i in range(len(xs)))
