r"""String-level answer forms handled before parsing (issue 22): thousands separators written
``1,\! 000`` or ``1{,}000``, base subscripts ``4210_{7}``, degrees inside trigonometric functions,
a trailing ``\text{...}`` of words, a trailing ``\approx <decimal>``, matrices split into cells,
the precision of decimal / scientific literals, and (issue 33) commands written with a doubled
backslash (``\\frac``, an escaping slip) and ``or`` written without spaces between brackets.

Every rewrite here is conservative: where a reading is not unambiguous the text is left alone, so
that the answer is compared as written (and a parser failure is a string comparison, never a pass).
"""
from __future__ import annotations

import re
from fractions import Fraction

# ------------------------------------------------------------------------------ number forms

# "1,\! 000" / "1{,}000": a thin-space or braced comma followed by exactly three digits
_THIN_THOUSANDS = re.compile(r"(?<=\d)\s*(?:,\s*\\!\s*|\{\s*,\s*\}\s*)(?=\d{3}(?!\d))")
# "4210_{7}" -> "4210_7" (a base subscript on a digit run; "x_{12}" is left alone)
_BASE_SUB = re.compile(r"(?<=\d)_\{\s*(\d+)\s*\}")
# "... ^\circ" on a number inside a trigonometric function: degrees -> radians
TRIG_FUNCTION = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])")
_DEG_NUM = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|°|\\degree(?![a-zA-Z]))")


def rewrite_numbers(s: str) -> str:
    """Thousands separators ``,\\!`` (also followed by a space) and ``{,}`` before three digits,
    base subscripts ``_{7}`` -> ``_7``, and ``30^\\circ`` -> ``(\\frac{30\\pi}{180})`` when the answer
    contains a trigonometric function (elsewhere ``^\\circ`` is dropped as a unit)."""
    if "," in s:
        s = _THIN_THOUSANDS.sub("", s)
    if "_" in s:
        s = _BASE_SUB.sub(r"_\1", s)
    if TRIG_FUNCTION.search(s):
        s = _DEG_NUM.sub(lambda m: "(\\frac{" + m.group(1) + "\\pi}{180})", s)
    return s


# ------------------------------------------------------------------------------ escaping slips

# "\\frac{1}{2}" (a string escaped twice): two backslashes, not preceded by a third, directly before
# a command the parser reads.  In LaTeX "\\" is a line break, which never comes glued to one of
# these names in an answer; matrices (rows end in "\\") are left alone by the caller.
_DOUBLED_CMD = re.compile(
    r"(?<!\\)\\\\(?=(?:frac|dfrac|tfrac|cfrac|sqrt|left|right|pi|cdot|times|div|infty|pm|mp|cup|cap"
    r"|in|le|ge|leq|geq|lt|gt|ne|neq|approx|sin|cos|tan|cot|sec|csc|log|ln|exp|text|mathrm|mbox"
    r"|boxed|circ|binom|dbinom|alpha|beta|gamma|delta|theta|lambda|mu|sigma|phi|omega)(?![a-zA-Z]))")
# "(11,7)or(7,11)": "or" glued between a closing and an opening bracket
_GLUED_OR = re.compile(r"(?<=[)\]])or(?=[(\[])")


def undouble_backslashes(s: str) -> str:
    """``\\\\frac{1}{5}`` -> ``\\frac{1}{5}`` for the commands in :data:`_DOUBLED_CMD`; a string
    with a matrix (``\\begin``) or a ``&`` is returned as is."""
    if "\\\\" not in s or "\\begin" in s or "&" in s:
        return s
    return _DOUBLED_CMD.sub(r"\\", s)


def spaced_or(s: str) -> str:
    """``(11,7)or(7,11)`` -> ``(11,7) or (7,11)`` (then read as any ``or`` list)."""
    return _GLUED_OR.sub(" or ", s) if "or" in s else s


# ------------------------------------------------------------------------------ trailing words

_TAIL_TEXT = re.compile(r"(?<=[0-9}\s)])\s*\\(?:text|textrm|textnormal|mbox|textit|textbf)\s*"
                        r"\{\s*([A-Za-z][A-Za-z .'\-]*)\}\s*\.?\s*\Z")
# words that change the meaning of the value before them: such a tail is kept (and the answer
# then compares as a string)
MEANINGFUL_WORDS = {"or", "and", "not", "no", "none", "more", "less", "than", "least", "most", "except",
               "unless", "if", "only", "plus", "minus", "times", "over", "per", "each", "all", "any",
               "every", "but", "is", "are", "to", "at", "from", "between", "approximately", "about",
               "nearly", "almost", "roughly", "greater", "smaller", "larger", "fewer", "up", "down",
               "above", "below", "under", "after", "before", "until", "undefined", "infinite",
               "impossible", "never", "always", "when", "where", "for", "with", "without",
               # multipliers and mathematical words: dropping them would change the value
               "dozen", "dozens", "score", "hundred", "hundreds", "thousand", "thousands", "million",
               "millions", "billion", "billions", "trillion", "half", "halves", "quarter", "quarters",
               "third", "thirds", "tenths", "hundredths", "thousandths", "squared", "cubed", "pi",
               "sqrt", "root", "inf", "infinity", "log", "ln", "sin", "cos", "tan", "exp", "mod",
               "percent", "pct", "negative", "positive", "square", "cube", "power", "factorial"}


def drop_trailing_text(s: str) -> str:
    """``28 \\text{ widgets}`` -> ``28``: a trailing ``\\text{...}`` of plain words after a value
    (a unit or a noun) is dropped.  Kept when it has a one-letter word only (``2\\text{ i}``), a
    word that changes the value (``or more``, ``only``, ``not``...), or nothing mathematical stands
    before it."""
    m = _TAIL_TEXT.search(s)
    if not m or not any(ch.isdigit() for ch in s[:m.start()]):
        return s
    words = re.split(r"[\s.'\-]+", m.group(1).lower())
    words = [w for w in words if w]
    if not words or max(len(w) for w in words) < 2 or any(w in MEANINGFUL_WORDS for w in words):
        return s
    return s[:m.start()].rstrip()


# ------------------------------------------------------------------------------ \approx

_DEC_LIT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:\s*(?:\\times|\\cdot)\s*10\s*\^\s*(?:\{\s*[+-]?\d+\s*\}|[+-]?\d))?"
_APPROX_TAIL = re.compile(r"\\(?:approx|thickapprox|simeq|sim)(?![a-zA-Z])\s*(" + _DEC_LIT + r")\s*\.?\s*\Z")


def split_approx(s: str) -> tuple[str, str] | None:
    """``A \\approx 0.577`` -> ``("A", "0.577")``: an answer followed by a decimal approximation
    of it; None when there is no such tail or nothing before it."""
    m = _APPROX_TAIL.search(s)
    if not m or not s[:m.start()].strip() or "\\approx" in s[:m.start()]:
        return None
    return s[:m.start()].strip(), m.group(1)


def literal_precision(text: str) -> tuple[Fraction, Fraction, int] | None:
    """``(value, half unit in the last place, significant digits)`` of a decimal or scientific
    literal as written (``2.3148e-3``, ``2.3148\\times10^{-3}``, ``-0.50``); None otherwise."""
    t = re.sub(r"\s+", "", text)
    m = re.fullmatch(r"([+-]?)(\d*\.?\d*)(?:(?:[eE]|\\times10\^|\\cdot10\^)\{?([+-]?\d+)\}?)?", t)
    if not m or not any(ch.isdigit() for ch in m.group(2)):
        return None
    mant, exp = m.group(2), int(m.group(3) or 0)
    if abs(exp) > 400:
        return None
    places = len(mant.split(".", 1)[1]) if "." in mant else 0
    digits = mant.replace(".", "").lstrip("0")
    value = Fraction(m.group(1) + (mant if mant[0] != "." else "0" + mant).rstrip(".")) * Fraction(10) ** exp
    half = Fraction(1, 2) * Fraction(10) ** (exp - places)
    return value, half, len(digits)


# ------------------------------------------------------------------------------ matrices

_MATRIX_ENVS = ("pmatrix", "bmatrix", "Bmatrix", "matrix", "smallmatrix", "array")
_MATRIX = re.compile(r"\\begin\s*\{(" + "|".join(_MATRIX_ENVS) + r")\}(.*)\\end\s*\{\1\}", re.S)


def split_matrix(s: str) -> list[list[str]] | None:
    """Cells of an answer that is one matrix (``pmatrix``, ``bmatrix``, ``Bmatrix``, ``matrix``,
    ``smallmatrix`` or ``array``, optionally in ``\\left( ... \\right)`` and after a one-letter
    label ``A =``): rows split at ``\\\\``, cells at ``&``.  None for anything else (nested
    environments, determinants ``vmatrix``, text around the matrix)."""
    t = s.strip().strip("$").strip()
    t = re.sub(r"^(?:\\mathbf\{[A-Za-z]\}|[A-Za-z])\s*=\s*", "", t)
    t = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr)\s*([()\[\]]|\\[{}])", r"\1", t).strip()
    while len(t) > 2 and t[0] + t[-1] in ("()", "[]"):
        t = t[1:-1].strip()
    m = _MATRIX.fullmatch(t)
    if not m or "\\begin" in m.group(2) or "\\end" in m.group(2):
        return None
    body = m.group(2)
    if m.group(1) == "array":
        spec = re.match(r"\s*\{[lcr|:\s]*\}", body)
        if not spec:
            return None
        body = body[spec.end():]
    body = re.sub(r"\\hline|\\\\\s*\[[^\]]*\]", lambda x: "\\\\" if x.group(0) != "\\hline" else " ", body)
    rows = [r for r in re.split(r"\\\\", body)]
    while rows and not rows[-1].strip():
        rows.pop()
    if not rows:
        return None
    return [[c.strip() for c in r.split("&")] for r in rows]

