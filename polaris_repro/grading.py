r"""Answer extraction and grading: the checker behind every reward and score in the package.

Public API
----------
``extract_answer(response)``
    content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (balanced, nested braces allowed);
    ``None`` when there is no box or the last one is unclosed (truncated output).
``grade(response, ground_truth, *, require_think=False, mode="boxed") -> GradeResult``
    verdict plus the extracted answer, for logging.
``is_correct(response, ground_truth, *, require_think=False, mode="boxed") -> bool``
``equivalent(pred, truth) -> bool``
    equivalence of two answer strings (the rules below).
``canonical_answer(answer) -> str | None``
    a key under which equivalent answers usually coincide (majority voting).
``math_verify_correct(response, ground_truth) -> bool | None``
    math-verify's verdict as a second opinion, run in a separate bounded worker process.

Rules (a superset of what the POLARIS / DeepScaleR checker accepts, see reference §4):

* ``require_think=True`` is the POLARIS training rule: no ``</think>`` means wrong, and only the text
  between the first and the second ``</think>`` (usually: everything after it) is searched.
  ``False`` (evaluation) searches the whole response.
* ``mode="boxed_or_last_number"``: when there is no complete box, the last number of the searched
  text is the answer (for CPU-tier models that rarely box).
* MATH-style normalisation: ``\\text{}``/``\\mathrm{}`` wrappers, spaces, ``\\left``/``\\right``,
  ``^\\circ``/``^{\\circ}``, ``$``, ``%``, ``\\dfrac``/``\\tfrac``, ``\\frac12``, trailing units,
  a short ``x =`` (or ``f(x) =``) prefix, a trailing ``.``.
* Values: numbers are exact rationals (``025`` = ``25``, ``142.0`` = ``142``, ``0.5`` = ``\\frac12``,
  ``4.5e33`` = ``4.5\\times10^{33}``); integers therefore match exactly, never within a tolerance.
* Expressions are compared by numeric identity testing: both sides are evaluated with mpmath at
  50 and 80 significant digits at the same pseudo-random points for their free symbols; equal iff
  they agree within the error estimated from the two precisions (so ``\\frac{\\sqrt3}{2}`` =
  ``\\sqrt3/2``, ``2^{1009}`` != ``2^{1009}+1``, ``1/2004!`` != ``1/2006!``).  Symbols are sampled
  in positive ranges from (0.35, 2.85) up to (10.3, 47.9), i.e. identities are checked for positive
  variables.  Expressions with ``\lfloor``/``\lceil``/gcd/lcm (piecewise constant, about integers)
  are instead compared at 12+ integer points, exactly with rationals where possible.
* Tuples and intervals ``(a,b]`` compare element by element with the same brackets; comma lists and
  ``\\{...\\}`` sets compare as multisets; ``a \\pm b`` is the set {a+b, a-b}; unions of intervals
  compare unordered; relations (``=``, ``<``, ``\\le``...) side by side (or mirrored).
* Anything the parser does not understand is compared as a normalised string only, so a parser
  failure can never make a wrong answer pass.

Safety: model text is never evaluated.  A small tokenizer and recursive-descent parser build a
tuple AST, and two evaluators (exact ``Fraction`` arithmetic, mpmath numerics) walk it with size
guards on every operation (bit length of exact numbers, magnitude of floating values, arguments of
trig/exp/factorial, exponent size) and a cooperative deadline checked at every node, so every check
is bounded in time in any thread (no signals).  Inputs beyond fixed limits (answer length, token
count, bracket depth) skip the symbolic path.  sympy is not used.
"""
from __future__ import annotations

import functools
import json
import math
import os
import random
import re
import select
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Sequence

import numpy as np

DEFAULT_TIMEOUT_S = 2.0
MODES = ("boxed", "boxed_or_last_number")

# size limits of the symbolic path (beyond them: normalised string comparison only)
MAX_ANSWER_CHARS = 2000
MAX_TOKENS = 600
MAX_DEPTH = 40            # bracket / recursion depth
MAX_EXACT_BITS = 200_000  # bit length of exact numerators/denominators
MAX_FACTORIAL = 3000
MAX_LOG2 = 1 << 20        # |log2| of any floating value
MAX_NUMBER_DIGITS = 1000
MAX_SYMBOLS = 12
MAX_SET_SIZE = 64


@dataclass(frozen=True)
class GradeResult:
    """Verdict for one response.  ``pred`` is the extracted answer (box content, or the last number
    in ``boxed_or_last_number`` mode), ``None`` when nothing was extracted."""

    correct: bool
    pred: str | None
    has_think: bool
    has_box: bool


# ============================================================================================
# Extraction


def extract_answer(response: str | None) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` in ``response``.

    Found with ``rfind`` from the end and brace-matched forward, so the work is linear in the text
    after the last box.  ``\\boxed 5`` (no braces) yields ``5``.  Escaped braces ``\\{``/``\\}``
    do not count.  Returns ``None`` when there is no box or the last box is never closed.
    """
    if not response:
        return None
    text = str(response)
    i = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if i < 0:
        return None
    j = i + (6 if text.startswith("\\boxed", i) else 5)
    n = len(text)
    k = j
    while k < n and text[k] in " \t":
        k += 1
    if k < n and text[k] == "{":
        depth = 0
        p = k
        while p < n:
            c = text[p]
            if c == "\\":
                p += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[k + 1:p].strip()
            p += 1
        return None
    if k > j and k < n:  # "\boxed 5": up to whitespace or '$'
        m = re.compile(r"[^\s$]+").match(text, k)
        return m.group(0).rstrip(".") if m else None
    return None


def split_think(response: str | None) -> tuple[bool, str]:
    """``(has_think, text)``: the text between the first and second ``</think>`` (usually: all of
    the text after it), as in the POLARIS training reward; ``(False, "")`` without ``</think>``."""
    if not response:
        return False, ""
    text = str(response)
    i = text.find("</think>")
    if i < 0:
        return False, ""
    rest = text[i + len("</think>"):]
    j = rest.find("</think>")
    return True, rest if j < 0 else rest[:j]


_DIGITS = "0123456789"


def last_number(text: str | None) -> str | None:
    """The last number in ``text`` (sign, decimals and thousands separators kept), found from the
    end; ``None`` if there is no digit."""
    if not text:
        return None
    text = str(text)
    end = -1
    hi = len(text)
    while hi > 0 and end < 0:  # look back in chunks so the work is proportional to the tail
        lo = max(0, hi - 4096)
        chunk = text[lo:hi]
        pos = max(chunk.rfind(d) for d in _DIGITS)
        if pos >= 0:
            end = lo + pos
        hi = lo
    if end < 0:
        return None
    start = end
    while start > 0 and (text[start - 1] in _DIGITS or text[start - 1] in ".,") and end - start < 200:
        start -= 1
    seg = text[start:end + 1]
    seg_start = start + (len(seg) - len(seg.lstrip(",")))
    num = seg.lstrip(",").rstrip(".,")
    if "," in num:
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", num):
            num = num.replace(",", "")
        else:
            num = num.rsplit(",", 1)[1]
            seg_start = end + 1 - len(num)
    if num.count(".") > 1:
        num = num.rsplit(".", 1)[1]
        seg_start = end + 1 - len(num)
    if num.startswith("."):
        num = "0" + num
    if seg_start > 0 and text[seg_start - 1] == "-":
        num = "-" + num
    return num or None


# ============================================================================================
# Ground truths


def ground_truths(ground_truth: Any) -> list[str]:
    """Ground truth (str, number, list/array of those) -> list of candidate answer strings.

    Integral floats become integers (``142.0`` -> ``"142"``); a ground truth with a ``\\boxed`` is
    itself extracted; blanks are dropped."""
    out: list[str] = []

    def add(g: Any) -> None:
        if g is None:
            return
        if isinstance(g, (list, tuple, np.ndarray)):
            for x in g:
                add(x)
            return
        if isinstance(g, (bool, np.bool_)):
            s = str(g)
        elif isinstance(g, (float, np.floating)):
            f = float(g)
            if math.isnan(f):
                return
            s = str(int(f)) if f.is_integer() else repr(f)
        elif isinstance(g, (int, np.integer)):
            s = str(int(g))
        elif isinstance(g, bytes):
            s = g.decode("utf-8", "replace")
        else:
            s = str(g)
        if "\\boxed" in s or "\\fbox" in s:
            s = extract_answer(s) or s
        s = s.strip()
        if s:
            out.append(s)

    add(ground_truth)
    return out


# ============================================================================================
# Normalisation

_TEXT_CMDS = {"text", "textbf", "textit", "textrm", "texttt", "textnormal", "mathrm", "mathbf",
              "mathit", "mathsf", "mathtt", "mathbb", "mathcal", "mbox", "hbox", "operatorname",
              "boldsymbol", "bm", "emph", "mathnormal", "displaystyle"}
_CMD_RE = re.compile(r"\\([a-zA-Z]+)")
_SIZE_CMDS = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|bigg|Bigg|big|Big)"
                        r"(?![a-zA-Z])\.?")
_DEGREE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\^\s*\{\s*\\degree\s*\}|\\degree|°|\\circ(?![a-zA-Z])")
_THIN_SPACES = re.compile(r"\\[,!]")  # "1\,000" is one number
_SPACES_CMD = re.compile(r"\\[;: ]|\\quad|\\qquad|~")
_UNITS = sorted("""square units|sq units|cubic units|units|unit|degrees|degree|cm|centimeters|centimeter
|meters|meter|mm|millimeters|km|kilometers|inches|inch|feet|foot|ft|yards|yard|miles|mile|mph|seconds
|second|sec|minutes|minute|mins|hours|hour|hrs|days|day|weeks|week|months|month|years|year|dollars
|dollar|cents|cent|pounds|lbs|grams|gram|kg|liters|liter|litres|ml|percent|ways|people|students
|points|radians|rad|sq ft|square feet|square meters|square inches|square centimeters""".replace("\n", "")
                .split("|"), key=len, reverse=True)
_UNIT_TAIL = re.compile(r"(?<=[0-9}\s.)])\s*(?:" + "|".join(re.escape(u) for u in _UNITS)
                        + r")(?:\^\{?[23]\}?|\s*squared|\s*cubed)?\s*\.?\s*\Z", re.I)
_OR_AND = re.compile(r"\s+(?:or|and)\s+")
_WORDS = re.compile(r"[A-Za-z]{3,}")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", re.ASCII)
_UNICODE = {"−": "-", "–": "-", "×": "\\times ", "·": "\\cdot ", "÷": "/", "π": "\\pi ", "∞": "\\infty ",
            "√": "\\sqrt ", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "±": "\\pm ", "∪": "\\cup "}


def _unwrap_text(s: str) -> str:
    """Drop ``\\text{...}``-like wrappers (keeping their content) in one linear pass."""
    out: list[str] = []
    stack: list[bool] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            m = _CMD_RE.match(s, i)
            if m:
                if m.group(1) in _TEXT_CMDS:
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


def _basic_normalize(s: str) -> str:
    """Normalisation that keeps spaces (the parser's input)."""
    s = str(s).strip()
    for k, v in _UNICODE.items():
        if k in s:
            s = s.replace(k, v)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\dbinom", "\\binom").replace("\\tbinom", "\\binom")
    s = s.replace("\\leqslant", "\\le").replace("\\geqslant", "\\ge")
    s = _SIZE_CMDS.sub("", s)
    s = _DEGREE.sub("", s)
    s = _THIN_SPACES.sub("", s)
    s = _SPACES_CMD.sub(" ", s)
    s = s.replace("\\\\", " ").replace("\n", " ").replace("\t", " ")
    if "\\" in s:
        s = _unwrap_text(s)
    if _OR_AND.search(s) and not _WORDS.search(_OR_AND.sub(" ", _CMD_RE.sub(" ", s))):
        s = _OR_AND.sub(",", s)  # "x=1 or x=2" -> "x=1, x=2" (not inside prose answers)
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
    comparison used for answers the parser cannot read."""
    s = _basic_normalize(s)
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
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9]?", lhs) and rhs:  # "x=", "k1=" (not "x<=")
            s = rhs
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if s.startswith("."):
        s = "0" + s
    return s.rstrip(".")


# ============================================================================================
# Tokenizer and parser (no eval: builds a tuple AST)


class NotMath(Exception):
    """The parser does not understand the answer; it is compared as a string."""


class _Undefined(Exception):
    """Evaluation undefined at a point (division by zero, pole, overflow guard...)."""


class _Deadline(Exception):
    pass


_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
          "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "rho", "varrho",
          "sigma", "varsigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma",
          "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega", "ell",
          "hbar"}
_FUNCS = {"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh",
          "tanh", "ln", "exp", "log", "lg"}
_MULTI_FUNCS = {"max", "min", "gcd", "lcm"}
_PLAIN_WORDS = _FUNCS | _MULTI_FUNCS | {"sqrt"}
_REL_CMDS = {"le": "<=", "leq": "<=", "ge": ">=", "geq": ">=", "ne": "!=", "neq": "!=", "lt": "<",
             "gt": ">", "in": "in"}
_OPEN = {"(", "[", "{", "\\{", "\\lfloor", "\\lceil"}
_CLOSE = {")", "]", "}", "\\}", "\\rfloor", "\\rceil"}
_NUM_RE = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+(?![a-zA-Z]))?", re.ASCII)
_ONE = ("n", Fraction(1))


def _tokenize(s: str) -> list[tuple[str, str]]:
    toks: list[tuple[str, str]] = []
    i, n = 0, len(s)
    depth = 0
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
            continue
        if "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= s[i + 1] <= "9"):
            m = _NUM_RE.match(s, i)
            tok = m.group(0)
            if len(tok) > MAX_NUMBER_DIGITS:
                raise NotMath("number too long")
            toks.append(("num", tok))
            i = m.end()
        elif c.isascii() and c.isalpha():
            j = i
            while j < n and s[j].isascii() and s[j].isalpha():
                j += 1
            word = s[i:j]
            if word in _PLAIN_WORDS:
                toks.append(("cmd", word))
            elif len(word) >= 3:
                raise NotMath(f"word {word!r}")
            else:
                toks.extend(("id", ch) for ch in word)
            i = j
        elif c == "\\":
            m = _CMD_RE.match(s, i)
            if m:
                toks.append(("cmd", m.group(1)))
                i = m.end()
            elif i + 1 < n and s[i + 1] in "{}|":
                t = {"{": "\\{", "}": "\\}", "|": "|"}[s[i + 1]]
                toks.append(("op", t))
                i += 2
            else:
                raise NotMath("bad escape")
        elif c in "+-*/^_!()[]{}|,;=<>":
            if c in "<>!" and i + 1 < n and s[i + 1] == "=":
                toks.append(("op", c + "="))
                i += 2
            else:
                toks.append(("op", c))
                i += 1
        else:
            raise NotMath(f"character {c!r}")
        t = toks[-1]
        v = t[1] if t[0] == "op" else ("\\" + t[1] if t[0] == "cmd" else None)
        if v in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise NotMath("too deeply nested")
        elif v in _CLOSE:
            depth -= 1
        if len(toks) > MAX_TOKENS:
            raise NotMath("too many tokens")
    return toks


def _tv(t: tuple[str, str]) -> str:
    """Token as a bracket/operator key: ops as is, commands with a backslash."""
    return "\\" + t[1] if t[0] == "cmd" else t[1]


def _is_rel(t) -> str | None:
    if t[0] == "op" and t[1] in ("=", "<", ">", "<=", ">=", "!="):
        return t[1]
    if t[0] == "cmd" and t[1] in _REL_CMDS:
        return _REL_CMDS[t[1]]
    return None


class _Parser:
    def __init__(self, toks: list[tuple[str, str]]):
        self.t = list(toks)
        self.i = 0
        self.depth = 0
        self.abs_depth = 0

    # -- helpers
    def peek(self, k: int = 0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else ("eof", "")

    def next(self):
        t = self.peek()
        if t[0] == "eof":
            raise NotMath("unexpected end")
        self.i += 1
        return t

    def is_op(self, v: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t[0] == "op" and t[1] == v

    def is_cmd(self, *names: str) -> bool:
        t = self.peek()
        return t[0] == "cmd" and t[1] in names

    def expect_op(self, v: str):
        if not self.is_op(v):
            raise NotMath(f"expected {v!r}")
        self.i += 1

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise NotMath("too deep")

    def parse(self):
        if not self.t:
            raise NotMath("empty")
        e = self.sum()
        if self.i != len(self.t):
            raise NotMath(f"unexpected {self.peek()[1]!r}")
        return e

    # -- grammar
    def sum(self):
        self.enter()
        terms = [self.product()]
        while self.is_op("+") or self.is_op("-"):
            op = self.next()[1]
            t = self.product()
            terms.append(t if op == "+" else ("neg", t))
        self.depth -= 1
        return terms[0] if len(terms) == 1 else ("+", tuple(terms))

    def starts_atom(self) -> bool:
        t = self.peek()
        if t[0] in ("num", "id"):
            return True
        if t[0] == "op":
            return t[1] in ("(", "[", "{") or (t[1] == "|" and self.abs_depth == 0)
        if t[0] == "cmd":
            return t[1] in (_GREEK | _FUNCS | _MULTI_FUNCS | {"pi", "infty", "infin", "frac", "sqrt",
                                                                "binom", "lfloor", "lceil"})
        return False

    def product(self):
        self.enter()
        factors = [self.unary()]
        while True:
            t = self.peek()
            if (t[0] == "op" and t[1] == "*") or (t[0] == "cmd" and t[1] in ("cdot", "times", "ast")):
                self.i += 1
                factors.append(self.unary())
            elif (t[0] == "op" and t[1] == "/") or (t[0] == "cmd" and t[1] == "div"):
                self.i += 1
                factors.append(("inv", self.unary()))
            elif self.starts_atom():
                if t[0] == "num" and self.peek(-1)[0] == "num":
                    raise NotMath("two adjacent numbers")
                factors.append(self.power())
            else:
                break
        self.depth -= 1
        return factors[0] if len(factors) == 1 else ("*", tuple(factors))

    def unary(self):
        self.enter()
        if self.is_op("-"):
            self.i += 1
            r = ("neg", self.unary())
        elif self.is_op("+"):
            self.i += 1
            r = self.unary()
        else:
            r = self.power()
        self.depth -= 1
        return r

    def power(self):
        base = self.postfix()
        if self.is_op("^"):
            self.i += 1
            exp = self.sup_arg()
            if self.is_op("^"):
                raise NotMath("double superscript")
            base = ("^", base, exp)
            while self.is_op("!"):
                self.i += 1
                base = ("!", base)
        return base

    def sup_arg(self):
        """Argument of ``^`` or ``_``: a braced group, a whole number, a signed atom, an atom."""
        self.enter()
        t = self.peek()
        if t[0] == "op" and t[1] == "{":
            r = self.group("{", "}")
        elif t[0] == "op" and t[1] in ("-", "+"):
            self.i += 1
            a = self.postfix()
            r = ("neg", a) if t[1] == "-" else a
        else:
            r = self.postfix()
        self.depth -= 1
        return r

    def postfix(self):
        a = self.atom()
        while self.is_op("!"):
            self.i += 1
            if self.is_op("!"):
                raise NotMath("double factorial")
            a = ("!", a)
        return a

    def group(self, open_: str, close: str):
        self.expect_op(open_)
        self.enter()
        saved = self.abs_depth
        self.abs_depth = 0
        e = self.sum()
        self.abs_depth = saved
        self.expect_op(close)
        self.depth -= 1
        return e

    def tex_arg(self):
        """One TeX macro argument: ``{...}``, a single digit, a letter or a symbol command."""
        t = self.peek()
        if t[0] == "op" and t[1] == "{":
            return self.group("{", "}")
        if t[0] == "num":
            self.i += 1
            if len(t[1]) > 1:  # \frac12 -> \frac{1}{2}: split off the first digit
                self.t.insert(self.i, ("num", t[1][1:]))
            d = t[1][0]
            if d == ".":
                raise NotMath("bad macro argument")
            return ("n", Fraction(int(d)))
        if t[0] == "id" or (t[0] == "cmd" and t[1] in (_GREEK | {"pi", "infty"})):
            return self.atom()
        raise NotMath("bad macro argument")

    def subscript_name(self) -> str:
        """Raw text of a subscript (becomes part of a symbol's name)."""
        t = self.next()
        if t[0] == "op" and t[1] == "{":
            parts = []
            depth = 1
            while True:
                u = self.next()
                if u[0] == "op" and u[1] == "{":
                    depth += 1
                elif u[0] == "op" and u[1] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                parts.append(u[1])
            return "".join(parts)
        return t[1]

    def func_arg(self):
        """Argument of ``\\sin`` etc.: a parenthesised/braced group or an implicit product that
        stops at the next function."""
        if self.is_op("("):
            return self.group("(", ")")
        if self.is_op("{"):
            return self.group("{", "}")
        factors = [self.power()]
        while self.starts_atom() and not (self.peek()[0] == "cmd" and self.peek()[1] in (_FUNCS | _MULTI_FUNCS)):
            if self.peek()[0] == "num":
                break
            factors.append(self.power())
        return factors[0] if len(factors) == 1 else ("*", tuple(factors))

    def maybe_application(self, name: str):
        """``I(0)``, ``\\theta(\\pi/2)``: a letter applied to a constant is a function value (an
        uninterpreted function), not a product -- otherwise ``I(0)e^{-t}`` would collapse to 0 and
        equal ``y(0)e^{t}``.  With symbols inside, ``n(n+1)`` stays a product."""
        if not self.is_op("("):
            return ("s", name)
        save = self.i
        arg = self.group("(", ")")
        if _symbols(arg, set()):
            self.i = save  # product: the group is parsed again as the next implicit factor
            return ("s", name)
        return ("fn", name, (arg,))

    def atom(self):
        self.enter()
        t = self.next()
        kind, v = t
        r: Any
        if kind == "num":
            txt = v.rstrip(".") or "0"
            m = re.fullmatch(r"([0-9.]+)[eE]([+-]?\d+)", txt)
            if m and abs(int(m.group(2))) > 1000:
                raise NotMath("exponent too large")
            try:
                r = ("n", Fraction(txt))
            except (ValueError, ZeroDivisionError) as e:
                raise NotMath(str(e)) from e
            if self.is_op("_"):
                raise NotMath("subscripted number")
        elif kind == "id":
            if v == "e" and not self.is_op("_"):
                r = ("c", "e")
            else:
                name = v
                if self.is_op("_"):
                    self.i += 1
                    name += "_" + self.subscript_name()
                r = self.maybe_application(name)
        elif kind == "op":
            if v in ("(", "["):
                self.i -= 1
                r = self.group(v, ")" if v == "(" else "]")
            elif v == "{":
                self.i -= 1
                r = self.group("{", "}")
            elif v == "|":
                self.abs_depth += 1
                e = self.sum()
                self.expect_op("|")
                self.abs_depth -= 1
                r = ("f", "abs", (e,))
            else:
                raise NotMath(f"unexpected {v!r}")
        else:  # command
            if v in _GREEK:
                name = v
                if self.is_op("_"):
                    self.i += 1
                    name += "_" + self.subscript_name()
                r = self.maybe_application(name)
            elif v == "pi":
                r = ("c", "pi")
            elif v in ("infty", "infin"):
                r = ("c", "inf")
            elif v == "frac":
                a = self.tex_arg()
                b = self.tex_arg()
                r = ("*", (a, ("inv", b)))
            elif v == "binom":
                a = self.tex_arg()
                b = self.tex_arg()
                r = ("f", "binom", (a, b))
            elif v == "sqrt":
                if self.is_op("["):
                    self.i += 1
                    self.enter()
                    idx = self.sum()
                    self.depth -= 1
                    self.expect_op("]")
                    r = ("f", "root", (self.tex_arg(), idx))
                else:
                    t2 = self.peek()
                    r = ("f", "sqrt", (self.group("(", ")") if t2 == ("op", "(") else self.tex_arg(),))
            elif v in ("lfloor", "lceil"):
                self.enter()
                e = self.sum()
                self.depth -= 1
                close = self.next()
                if close != ("cmd", "rfloor" if v == "lfloor" else "rceil"):
                    raise NotMath("unclosed floor/ceil")
                r = ("f", "floor" if v == "lfloor" else "ceil", (e,))
            elif v in _FUNCS:
                base = None
                if v == "log" and self.is_op("_"):
                    self.i += 1
                    base = self.sup_arg()
                power = None
                if self.is_op("^"):
                    self.i += 1
                    power = self.sup_arg()
                arg = self.func_arg()
                name = "ln" if v in ("ln", "log") else ("log10" if v == "lg" else v)
                r = ("f", "logb", (arg, base)) if base is not None else ("f", name, (arg,))
                if power is not None:
                    r = ("^", r, power)
            elif v in _MULTI_FUNCS:
                self.expect_op("(")
                self.enter()
                args = [self.sum()]
                while self.is_op(","):
                    self.i += 1
                    args.append(self.sum())
                self.depth -= 1
                self.expect_op(")")
                r = ("f", v, tuple(args))
            else:
                raise NotMath(f"unknown command \\{v}")
        self.depth -= 1
        return r


# ============================================================================================
# Answer structures: ("expr", ast) | ("seq", open, close, items) | ("set", items) |
# ("union", items) | ("rel", ops, asts) | ("named", name, value) | ("text", string)


def _split_top(toks, pred) -> list[list]:
    parts: list[list] = [[]]
    depth = 0
    for t in toks:
        v = _tv(t)
        if v in _OPEN:
            depth += 1
        elif v in _CLOSE:
            depth -= 1
        if depth == 0 and pred(t):
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


def _outer_span_closes_at_end(toks) -> bool:
    depth = 0
    for k, t in enumerate(toks):
        v = _tv(t)
        if v in _OPEN:
            depth += 1
        elif v in _CLOSE:
            depth -= 1
            if depth == 0 and k != len(toks) - 1:
                return False
    return depth == 0


def _is_name(toks) -> bool:
    """``x``, ``x_1``, ``\\alpha``, ``f(x)``, ``f(x, y)``: a left-hand side to drop."""
    if not toks:
        return False
    if toks[0][0] == "id" or (toks[0][0] == "cmd" and toks[0][1] in _GREEK):
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


def _build(toks, depth: int = 0):
    if depth > 8:
        raise NotMath("structure too deep")
    if not toks:
        raise NotMath("empty")
    parts = _split_top(toks, lambda t: t[0] == "op" and t[1] in (",", ";"))
    if len(parts) > 1:
        if len(parts) > MAX_SET_SIZE:
            raise NotMath("list too long")
        return ("set", tuple(_build(p, depth + 1) for p in parts))
    parts = _split_top(toks, lambda t: t == ("cmd", "cup"))
    if len(parts) > 1:
        return ("union", tuple(_build(p, depth + 1) for p in parts))
    first, last = _tv(toks[0]), _tv(toks[-1])
    if len(toks) >= 2 and _outer_span_closes_at_end(toks):
        inner = toks[1:-1]
        if first == "\\{" and last == "\\}":
            items = _split_top(inner, lambda t: t[0] == "op" and t[1] in (",", ";"))
            return ("set", tuple(_build(p, depth + 1) for p in items)) if inner else ("set", ())
        if first in ("(", "[") and last in (")", "]"):
            items = _split_top(inner, lambda t: t[0] == "op" and t[1] == ",")
            if len(items) > 1:
                return ("seq", first, last, tuple(_build(p, depth + 1) for p in items))
        if first == "{" and last == "}":
            return _build(inner, depth + 1)
    # relations
    ops: list[str] = []
    sides: list[list] = [[]]
    d = 0
    for t in toks:
        v = _tv(t)
        if v in _OPEN:
            d += 1
        elif v in _CLOSE:
            d -= 1
        r = _is_rel(t) if d == 0 else None
        if r:
            ops.append(r)
            sides.append([])
        else:
            sides[-1].append(t)
    if ops:
        if len(ops) == 1 and ops[0] in ("=", "in") and _is_name(sides[0]) and sides[1]:
            name = "".join(x[1] for x in sides[0])
            return ("named", name, _build(sides[1], depth + 1))
        if any(not s for s in sides) or "in" in ops:
            raise NotMath("bad relation")
        return ("rel", tuple(ops), tuple(_parse_expr(s) for s in sides))
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
    return ("expr", _parse_expr(toks))


def _parse_expr(toks):
    return _Parser(toks).parse()


@dataclass(frozen=True)
class _Prepared:
    key: str          # normalised string (whitespace removed)
    value: Any        # structure, or None when only the string can be compared


def _prepare(answer: str) -> _Prepared:
    if len(answer) > MAX_ANSWER_CHARS:  # too long for the parser (and not worth caching)
        return _Prepared(re.sub(r"\s+", "", answer), None)
    return _prepare_cached(answer)


@functools.lru_cache(maxsize=16384)
def _prepare_cached(answer: str) -> _Prepared:
    key = normalize_answer(answer)
    basic = _basic_normalize(answer)
    if _THOUSANDS.fullmatch(basic.replace(" ", "")):
        basic = basic.replace(",", "").replace(" ", "")
    m = re.fullmatch(r"\(\s*([A-Za-z])\s*\)", basic)  # multiple choice "(C)" -> "C"
    if m:
        basic = m.group(1)
    try:
        value = _build(_tokenize(basic))
    except (NotMath, RecursionError):
        value = ("text", key.lower()) if key else None
    return _Prepared(key, value)


# ============================================================================================
# Exact evaluation (Fractions)


class _NotExact(Exception):
    pass


def _chk_frac(x: Fraction) -> Fraction:
    if x.numerator.bit_length() > MAX_EXACT_BITS or x.denominator.bit_length() > MAX_EXACT_BITS:
        raise _NotExact
    return x


def _iroot(n: int, q: int) -> int | None:
    """Exact integer q-th root of n >= 0, or None."""
    if n < 2:
        return n
    if q == 2:
        r = math.isqrt(n)
        return r if r * r == n else None
    x = 1 << ((n.bit_length() + q - 1) // q)
    while True:
        y = ((q - 1) * x + n // x ** (q - 1)) // q
        if y >= x:
            break
        x = y
    for c in (x - 1, x, x + 1):
        if c >= 0 and c ** q == n:
            return c
    return None


def _exact_pow(b: Fraction, e: Fraction) -> Fraction:
    if b == 1:
        return b
    if b == 0:
        if e > 0:
            return b
        raise _NotExact
    if b == -1 and e.denominator == 1:
        return Fraction(1 if e.numerator % 2 == 0 else -1)
    p, q = e.numerator, e.denominator
    if q > 1:
        if b < 0 or q > 64 or max(b.numerator.bit_length(), b.denominator.bit_length()) > 4000:
            raise _NotExact
        rn, rd = _iroot(b.numerator, q), _iroot(b.denominator, q)
        if rn is None or rd is None:
            raise _NotExact
        b = Fraction(rn, rd)
    bits = max(b.numerator.bit_length(), b.denominator.bit_length())
    if abs(p) * bits > MAX_EXACT_BITS:
        raise _NotExact
    return _chk_frac(b ** p)


def _exact(node, deadline: float, env: dict | None = None) -> Fraction:
    if time.monotonic() > deadline:
        raise _Deadline
    k = node[0]
    if k == "n":
        return node[1]
    if k == "s" and env is not None:
        return env[node[1]]
    if k == "+":
        return _chk_frac(sum((_exact(x, deadline, env) for x in node[1]), Fraction(0)))
    if k == "*":
        acc = Fraction(1)
        for x in node[1]:
            acc = _chk_frac(acc * _exact(x, deadline, env))
        return acc
    if k == "neg":
        return -_exact(node[1], deadline, env)
    if k == "inv":
        v = _exact(node[1], deadline, env)
        if v == 0:
            raise _NotExact
        return 1 / v
    if k == "^":
        return _exact_pow(_exact(node[1], deadline, env), _exact(node[2], deadline, env))
    if k == "!":
        v = _exact(node[1], deadline, env)
        if v.denominator != 1 or not 0 <= v <= MAX_FACTORIAL:
            raise _NotExact
        return Fraction(math.factorial(int(v)))
    if k == "f":
        name, args = node[1], node[2]
        if name in ("abs", "floor", "ceil", "sqrt", "root", "binom"):
            vals = [_exact(a, deadline, env) for a in args]
            v = vals[0]
            if name == "abs":
                return abs(v)
            if name == "floor":
                return Fraction(math.floor(v))
            if name == "ceil":
                return Fraction(math.ceil(v))
            if name == "sqrt":
                return _exact_pow(v, Fraction(1, 2))
            if name == "root":
                if vals[1].denominator != 1 or vals[1] <= 0:
                    raise _NotExact
                return _exact_pow(v, 1 / vals[1])
            if name == "binom":
                n_, k_ = vals
                if n_.denominator != 1 or k_.denominator != 1 or not (0 <= n_ <= 20000):
                    raise _NotExact
                return Fraction(math.comb(int(n_), int(k_)) if k_ >= 0 else 0)
        if name in ("max", "min", "gcd", "lcm"):
            vals = [_exact(a, deadline, env) for a in args]
            if name == "max":
                return max(vals)
            if name == "min":
                return min(vals)
            if any(v.denominator != 1 for v in vals):
                raise _NotExact
            ints = [int(v) for v in vals]
            return Fraction(math.gcd(*ints) if name == "gcd" else math.lcm(*ints))
    raise _NotExact


def _exact_or_none(node, deadline: float, env: dict | None = None) -> Fraction | None:
    try:
        return _exact(node, deadline, env)
    except (_NotExact, OverflowError, ValueError, ZeroDivisionError, KeyError):
        return None


# ============================================================================================
# Numeric evaluation (mpmath, private per-thread contexts)

_LOCAL = threading.local()


def _contexts():
    ctxs = getattr(_LOCAL, "ctxs", None)
    if ctxs is None:
        from mpmath.ctx_mp import MPContext

        ctxs = []
        for dps in (50, 80):
            c = MPContext()
            c.dps = dps
            ctxs.append(c)
        _LOCAL.ctxs = ctxs
    return ctxs


def _num_chk(ctx, v):
    if isinstance(v, ctx.mpc):
        re_, im_ = v.real, v.imag
        if not (ctx.isfinite(re_) and ctx.isfinite(im_)):
            raise _Undefined
        if im_ == 0:
            v = re_
    elif not ctx.isfinite(v):
        raise _Undefined
    if v != 0 and abs(ctx.mag(v)) > MAX_LOG2:
        raise _Undefined
    return v


def _num(node, ctx, env: dict, deadline: float):
    if time.monotonic() > deadline:
        raise _Deadline
    k = node[0]
    if k == "n":
        f = node[1]
        return ctx.mpf(f.numerator) / f.denominator if f.denominator != 1 else ctx.mpf(f.numerator)
    if k == "s":
        return env[node[1]]
    if k == "c":
        if node[1] == "pi":
            return +ctx.pi
        if node[1] == "e":
            return +ctx.e
        raise _Undefined  # infinity
    if k == "+":
        acc = ctx.mpf(0)
        for x in node[1]:
            acc = acc + _num(x, ctx, env, deadline)
        return _num_chk(ctx, acc)
    if k == "*":
        acc = ctx.mpf(1)
        for x in node[1]:
            acc = _num_chk(ctx, acc * _num(x, ctx, env, deadline))
        return acc
    if k == "neg":
        return -_num(node[1], ctx, env, deadline)
    if k == "inv":
        v = _num(node[1], ctx, env, deadline)
        if v == 0:
            raise _Undefined
        return _num_chk(ctx, 1 / v)
    if k == "^":
        b = _num(node[1], ctx, env, deadline)
        e = _num(node[2], ctx, env, deadline)
        if b == 0:
            if ctx.re(e) > 0:
                return ctx.mpf(0)
            raise _Undefined
        if b == 1:
            return ctx.mpf(1)
        if abs(e) > 10 ** 6:
            raise _Undefined
        if abs(e) * (abs(ctx.log(abs(b), 2)) + 1) > MAX_LOG2:
            raise _Undefined
        return _num_chk(ctx, ctx.power(b, e))
    if k == "!":
        v = _num(node[1], ctx, env, deadline)
        if abs(v) > 50_000:
            raise _Undefined
        if ctx.im(v) == 0 and v < 0 and ctx.isint(v):
            raise _Undefined
        return _num_chk(ctx, ctx.gamma(v + 1))
    if k == "fn":  # uninterpreted function: a fixed smooth function chosen by its name
        v = _num(node[2][0], ctx, env, deadline)
        if abs(v) > 10 ** 5:
            raise _Undefined
        h = zlib.crc32(("fn|" + node[1]).encode())
        a_, b_, c_ = 1 + (h % 997) / 997, (h // 997 % 991) / 991, 1.5 + (h // 988027 % 983) / 983
        return _num_chk(ctx, ctx.sin(ctx.mpf(a_) * v + ctx.mpf(b_)) + ctx.mpf(c_))
    if k == "f":
        name, args = node[1], node[2]
        vals = [_num(a, ctx, env, deadline) for a in args]
        v = vals[0]
        if name in ("sin", "cos", "tan", "cot", "sec", "csc", "sinh", "cosh", "tanh", "exp"):
            if abs(v) > 10 ** 5:
                raise _Undefined
        try:
            if name == "abs":
                r = abs(v)
            elif name in ("floor", "ceil"):
                if ctx.im(v) != 0:
                    raise _Undefined
                r = ctx.floor(v) if name == "floor" else ctx.ceil(v)
            elif name == "sqrt":
                r = ctx.sqrt(v)
            elif name == "root":
                if vals[1] == 0:
                    raise _Undefined
                r = ctx.power(v, 1 / vals[1]) if not (ctx.im(v) == 0 and v < 0) else \
                    (-ctx.power(-v, 1 / vals[1]) if ctx.isint(vals[1]) and int(vals[1]) % 2 == 1
                     else ctx.power(v, 1 / vals[1]))
            elif name == "binom":
                if abs(vals[0]) > 50_000 or abs(vals[1]) > 50_000:
                    raise _Undefined
                r = ctx.binomial(vals[0], vals[1])
            elif name in ("ln", "log10", "logb"):
                if v == 0:
                    raise _Undefined
                r = ctx.ln(v)
                if name == "log10":
                    r = r / ctx.ln(10)
                elif name == "logb":
                    lb = ctx.ln(vals[1]) if vals[1] != 0 else 0
                    if lb == 0:
                        raise _Undefined
                    r = r / lb
            elif name in ("max", "min"):
                if any(ctx.im(x) != 0 for x in vals):
                    raise _Undefined
                r = max(vals) if name == "max" else min(vals)
            elif name in ("gcd", "lcm"):
                if not all(ctx.im(x) == 0 and ctx.isint(x) and abs(x) < 10 ** 30 for x in vals):
                    raise _Undefined
                ints = [int(x) for x in vals]
                r = ctx.mpf(math.gcd(*ints) if name == "gcd" else math.lcm(*ints))
            else:
                fn = {"sin": ctx.sin, "cos": ctx.cos, "tan": ctx.tan, "cot": ctx.cot, "sec": ctx.sec,
                      "csc": ctx.csc, "arcsin": ctx.asin, "arccos": ctx.acos, "arctan": ctx.atan,
                      "sinh": ctx.sinh, "cosh": ctx.cosh, "tanh": ctx.tanh, "exp": ctx.exp}[name]
                r = fn(v)
        except (ZeroDivisionError, ValueError, OverflowError) as e:
            raise _Undefined from e
        return _num_chk(ctx, r)
    raise _Undefined


def _symbols(node, out: set) -> set:
    k = node[0]
    if k == "s":
        out.add(node[1])
    elif k in ("+", "*"):
        for x in node[1]:
            _symbols(x, out)
    elif k in ("neg", "inv", "!"):
        _symbols(node[1], out)
    elif k == "^":
        _symbols(node[1], out)
        _symbols(node[2], out)
    elif k in ("f", "fn"):
        for x in node[2]:
            _symbols(x, out)
    return out


def _has_inf(node) -> bool:
    k = node[0]
    if k == "c":
        return node[1] == "inf"
    if k in ("+", "*"):
        return any(_has_inf(x) for x in node[1])
    if k in ("neg", "inv", "!"):
        return _has_inf(node[1])
    if k == "^":
        return _has_inf(node[1]) or _has_inf(node[2])
    if k in ("f", "fn"):
        return any(_has_inf(x) for x in node[2])
    return False


# sample ranges of the k-th evaluation point: small values first, then larger ones so that
# piecewise-constant functions (floor, ceil) cannot hide a difference
_RANGES = ((0.35, 2.85), (3.1, 9.7), (10.3, 47.9), (0.55, 1.95), (2.2, 6.8), (5.3, 23.1))


def _point(names: Sequence[str], k: int) -> dict[str, float]:
    lo, hi = _RANGES[k % len(_RANGES)]
    return {nm: random.Random(zlib.crc32(f"{nm}|{k}".encode())).uniform(lo, hi) for nm in names}


_DISCRETE = {"floor", "ceil", "gcd", "lcm"}


def _has_discrete(node) -> bool:
    k = node[0]
    if k in ("f", "fn"):
        return node[1] in _DISCRETE or any(_has_discrete(x) for x in node[2])
    if k in ("+", "*"):
        return any(_has_discrete(x) for x in node[1])
    if k in ("neg", "inv", "!"):
        return _has_discrete(node[1])
    if k == "^":
        return _has_discrete(node[1]) or _has_discrete(node[2])
    return False


def _int_point(names: Sequence[str], k: int) -> dict[str, int]:
    if len(names) == 1:
        return {names[0]: k + 1}
    return {nm: random.Random(zlib.crc32(f"{nm}|int|{k}".encode())).randint(1, 40) for nm in names}


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


# ============================================================================================
# Public grading entry points


def grade(response: str | None, ground_truth: Any, *, require_think: bool = False, mode: str = "boxed",
          timeout_s: float = DEFAULT_TIMEOUT_S) -> GradeResult:
    """Grade one response against a ground truth (str, number, or list of them: any match)."""
    if mode not in MODES:
        raise ValueError(f"grading mode must be one of {MODES}, got {mode!r}")
    text = "" if response is None else str(response)
    has_think = "</think>" in text
    if require_think:
        has_think, text = split_think(text)
        if not has_think:
            return GradeResult(False, None, False, False)
    pred = extract_answer(text)
    has_box = pred is not None
    if pred is None and mode == "boxed_or_last_number":
        pred = last_number(text)
    ok = _any_equivalent(pred, ground_truths(ground_truth), timeout_s)
    return GradeResult(ok, pred, has_think, has_box)


def is_correct(response: str | None, ground_truth: Any, *, require_think: bool = False,
               mode: str = "boxed", timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True iff the response's answer matches any ground truth (see :func:`grade`)."""
    return grade(response, ground_truth, require_think=require_think, mode=mode,
                 timeout_s=timeout_s).correct


def canonical_answer(answer: str | None, *, timeout_s: float = 0.5) -> str | None:
    """Key for majority voting: equal keys -> equivalent answers (the converse usually holds).

    Exact rationals map to ``q:p/q``; other single expressions to their value at fixed points
    rounded to 25 digits; everything else to the normalised string."""
    if answer is None or not str(answer).strip():
        return None
    prep = _prepare(str(answer))
    v = prep.value
    while v is not None and (v[0] == "named" or (v[0] == "set" and len(v[1]) == 1)):
        v = v[2] if v[0] == "named" else v[1][0]
    if v is not None and v[0] == "expr" and not _has_inf(v[1]):
        deadline = time.monotonic() + timeout_s
        try:
            ex = _exact_or_none(v[1], deadline)
            if ex is not None:
                return f"q:{ex.numerator}/{ex.denominator}"
            names = sorted(_symbols(v[1], set()))
            if len(names) <= MAX_SYMBOLS:
                c50 = _contexts()[0]
                vals = []
                for k in range(2):
                    pt = _point(names, k)
                    x = _num(v[1], c50, {n: c50.mpf(val) for n, val in pt.items()}, deadline)
                    vals.append(c50.nstr(x, 25))
                return "v:" + "|".join(vals)
        except (_Undefined, _Deadline, KeyError, ZeroDivisionError, ValueError, OverflowError,
                TypeError):
            pass
    return "s:" + prep.key


# ============================================================================================
# math-verify second opinion, in a worker process (its timeouts use signals: main thread only)

_MV_LOCK = threading.Lock()
_MV_PROC: subprocess.Popen | None = None


def _mv_gold_text(gt: str) -> str:
    return "$" + gt.replace("$", "").strip() + "$"


def _mv_verify_inprocess(text: str, golds: list[str], timeout_s: float | None) -> bool:
    """math-verify's verdict in this process (signal timeouts only in the main thread)."""
    from math_verify import parse, verify

    t = None
    if timeout_s and threading.current_thread() is threading.main_thread():
        t = max(1, int(math.ceil(timeout_s)))
    pred = parse(text, parsing_timeout=t)
    for g in golds:
        gold = parse(_mv_gold_text(g), parsing_timeout=t)
        if verify(gold, pred, timeout_seconds=t):
            return True
    return False


def _mv_worker_main() -> None:  # pragma: no cover - runs in the worker process
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    out = sys.stdout
    sys.stdout = sys.stderr
    import math_verify  # noqa: F401  (import before signalling readiness)

    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            r = _mv_verify_inprocess(req["p"], req["g"], req.get("t") or DEFAULT_TIMEOUT_S)
        except Exception:  # math-verify errors and its own timeouts -> None
            r = None
        out.write(json.dumps({"r": r}) + "\n")
        out.flush()


def _mv_start() -> subprocess.Popen:
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-c", "from polaris_repro.grading import _mv_worker_main;"
                             " _mv_worker_main()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, bufsize=1, env=env)
    if _mv_readline(proc, 120.0) is None:
        _mv_kill(proc)
        raise RuntimeError("math-verify worker did not start (is math-verify installed?)")
    return proc


def _mv_readline(proc: subprocess.Popen, timeout: float) -> str | None:
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            line = proc.stdout.readline()
            return line or None


def _mv_kill(proc: subprocess.Popen) -> None:
    try:
        proc.kill()
        proc.wait(timeout=5)
    except Exception:
        pass


def math_verify_correct(response: str | None, ground_truth: Any, *, require_think: bool = False,
                        timeout_s: float = DEFAULT_TIMEOUT_S) -> bool | None:
    """math-verify's verdict on the same input (``None`` if it errored or ran past the bound).

    math-verify parses the searched text itself (it is not given our extracted answer).  It runs in
    a persistent worker process where its signal-based timeouts work; the worker is killed and
    restarted if it does not answer within ``timeout_s`` + 1 s, so this is bounded in any thread."""
    global _MV_PROC
    text = "" if response is None else str(response)
    if require_think:
        ok, text = split_think(text)
        if not ok:
            return False
    golds = ground_truths(ground_truth)
    if not golds:
        return False
    req = json.dumps({"p": text, "g": golds, "t": timeout_s}) + "\n"
    with _MV_LOCK:
        for _attempt in range(2):
            if _MV_PROC is None or _MV_PROC.poll() is not None:
                _MV_PROC = _mv_start()
            try:
                _MV_PROC.stdin.write(req)
                _MV_PROC.stdin.flush()
            except (BrokenPipeError, OSError):
                _mv_kill(_MV_PROC)
                _MV_PROC = None
                continue
            per_op = max(1, int(math.ceil(timeout_s)))
            line = _mv_readline(_MV_PROC, per_op * (1 + 2 * len(golds)) + 2.0)
            if line is None:
                _mv_kill(_MV_PROC)
                _MV_PROC = None
                return None
            try:
                return json.loads(line)["r"]
            except (ValueError, KeyError):
                return None
    return None


def close_math_verify() -> None:
    """Stop the math-verify worker process (it is restarted on demand)."""
    global _MV_PROC
    with _MV_LOCK:
        if _MV_PROC is not None:
            try:
                _MV_PROC.stdin.close()
            except OSError:
                pass
            _mv_kill(_MV_PROC)
            _MV_PROC = None


def grade_many(responses: Iterable[Iterable[str]], ground_truths_: Iterable[Any], *,
               require_think: bool = False, mode: str = "boxed",
               timeout_s: float = DEFAULT_TIMEOUT_S) -> list[list[GradeResult]]:
    """Grade a table: one list of responses per problem, one ground truth per problem."""
    out = []
    for resp, gt in zip(responses, ground_truths_):
        out.append([grade(r, gt, require_think=require_think, mode=mode, timeout_s=timeout_s)
                    for r in resp])
    return out
