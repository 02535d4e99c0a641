r"""MATH-style normalisation of answer strings: ``\text{}`` wrappers, sizes, degrees, spaces,
units, ``$``/``%``; :func:`normalize_answer` is the string key (fast equality check and the
comparison of answers the parser cannot read).
"""
from __future__ import annotations

import re

from .forms import drop_trailing_text, rewrite_numbers
from .notations import reals_phrase, rewrite_notations


_TEXT_CMDS = {"text", "textbf", "textit", "textrm", "texttt", "textnormal", "mathrm", "mathbf",
              "mathit", "mathsf", "mathtt", "mathbb", "mathcal", "mbox", "hbox", "operatorname",
              "boldsymbol", "bm", "emph", "mathnormal", "displaystyle"}
CMD_RE = re.compile(r"\\([a-zA-Z]+)")
_SIZE_CMDS = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|bigg|Bigg|big|Big)"
                        r"(?![a-zA-Z])\.?")
_DEGREE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\^\s*\{\s*\\degree\s*\}|\\degree|°|\\circ(?![a-zA-Z])")
_THIN_SPACES = re.compile(r"\\[,!]")  # "1\,000" is one number
_SPACES_CMD = re.compile(r"\\[;: ]|\\quad|\\qquad|~")
_UNITS = sorted("""square units|sq units|cubic units|units|unit|degrees|degree|cm|centimeters|centimeter
|meters|meter|mm|millimeters|km|kilometers|inches|inch|feet|foot|ft|yards|yard|miles|mile|mph|seconds
|second|sec|minutes|minute|mins|hours|hour|hrs|days|day|weeks|week|months|month|years|year|dollars
|dollar|cents|cent|pounds|lbs|grams|gram|kg|liters|liter|litres|ml|percent|ways|people|students
|points|radians|rad|sq ft|square feet|square meters|square inches|square centimeters|pct|per cent|percentage points|percentage""".replace("\n", "")
                .split("|"), key=len, reverse=True)
_UNIT_TAIL = re.compile(r"(?<=[0-9}\s.)])\s*(?:" + "|".join(re.escape(u) for u in _UNITS)
                        + r")(?:\^\{?[23]\}?|\s*squared|\s*cubed)?\s*\.?\s*\Z", re.I)
_OR_AND = re.compile(r"\s*,?\s+(?:or|and)\s+")
_WORDS = re.compile(r"[A-Za-z]{3,}")
THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", re.ASCII)
_UNICODE = {"−": "-", "–": "-", "×": "\\times ", "·": "\\cdot ", "÷": "/", "π": "\\pi ", "∞": "\\infty ",
            "√": "\\sqrt ", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "±": "\\pm ", "∪": "\\cup "}


def unwrap_text(s: str, cmds: frozenset[str] | set[str] = _TEXT_CMDS) -> str:
    """Drop ``\\text{...}``-like wrappers, the commands ``cmds`` (keeping their content), in one
    linear pass."""
    out: list[str] = []
    stack: list[bool] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            m = CMD_RE.match(s, i)
            if m:
                if m.group(1) in cmds:
                    j = m.end()
                    while j < n and s[j] == " ":
                        j += 1
                    if j < n and s[j] == "{":
                        stack.append(True)
                        i = j + 1
                    else:
                        out.append(" ")
                        i = m.end()
                    continue
                out.append(m.group(0))
                i = m.end()
                continue
            out.append(s[i:i + 2])
            i += 2
            continue
        if c == "{":
            stack.append(False)
            out.append(c)
        elif c == "}":
            if not (stack and stack.pop()):
                out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def basic_normalize(s: str) -> str:
    """Normalisation that keeps spaces (the parser's input)."""
    s = str(s).strip()
    for k, v in _UNICODE.items():
        if k in s:
            s = s.replace(k, v)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    s = drop_trailing_text(rewrite_notations(rewrite_numbers(s)))
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\dbinom", "\\binom").replace("\\tbinom", "\\binom")
    s = s.replace("\\leqslant", "\\le").replace("\\geqslant", "\\ge")
    s = _SIZE_CMDS.sub("", s)
    s = _DEGREE.sub("", s)
    s = _THIN_SPACES.sub("", s)
    s = _SPACES_CMD.sub(" ", s)
    s = s.replace("\\\\", " ").replace("\n", " ").replace("\t", " ")
    if "\\" in s:
        s = unwrap_text(s)
    if "eal" in s:
        s = reals_phrase(s)               # "all real numbers" (notations)
    if _OR_AND.search(s) and not _WORDS.search(_OR_AND.sub(" ", CMD_RE.sub(" ", s))):
        # "x=1 or x=2" -> "x=1, x=2", "1, 2, and 3" -> "1, 2, 3" (not inside prose answers); "or"
        # between inequalities is their union: kept as \lor for the structure builder
        s = _OR_AND.sub(lambda m: " \\lor " if m.group(0).strip(" ,") == "or" else ",", s)
    s = s.strip()
    if s.startswith("\\(") and s.endswith("\\)") or s.startswith("\\[") and s.endswith("\\]"):
        s = s[2:-2].strip()
    for _ in range(2):
        m = _UNIT_TAIL.search(s)
        if m and m.start() > 0 and any(ch.isdigit() for ch in s[:m.start()]):
            s = s[:m.start()].rstrip()
    s = s.rstrip(" .")
    while s.endswith("\\"):
        s = s[:-1].rstrip()
    return s


def normalize_answer(s: str) -> str:
    """MATH-style string normalisation (whitespace removed): the string-equality fast check and the
    comparison used for answers the parser cannot read.  ``1,000`` is one number; with a space after
    the comma (``20, 184``) it is a list."""
    s = basic_normalize(str(s).replace("\\\\", "\x1e")).replace("\x1e", "\\\\")
    s = s.replace(" \\lor ", ", ")        # in the string key "or" joins items like "," (as before)
    listed = re.search(r",\s", s) is not None
    # "1 000" is one number; "1 1/2" is not "11/2": digits apart stay apart
    s = re.sub(r"(?<=\d)\s+(?=\d{3}(?![\d/.]))", "", s)
    s = re.sub(r"(?<=\d)\s+(?=\d)", "~", s)
    s = re.sub(r"\s+", "", s)
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\d)\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\sqrt(\d)", r"\\sqrt{\1}", s)
    m = re.fullmatch(r"(-?\d+)/(\d+)", s)
    if m:
        s = f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}"
    if s.count("=") == 1:
        lhs, rhs = s.split("=")
        if re.fullmatch(r"[A-Za-z][0-9]?", lhs) and rhs:  # "x=", "k1=" (not "x<="; "PQ=" is a label)
            s = rhs
    if not listed and THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if s.startswith("."):
        s = "0" + s
    return s.rstrip(".")
