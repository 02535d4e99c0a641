"""The safe parser: a tokenizer and a recursive-descent parser that turn an answer into a tuple
AST (model text is never evaluated), and queries on that AST (free symbols, infinity,
piecewise-constant functions).

The module is longer than 500 lines because the tokenizer and the recursive-descent grammar are one
unit: every production calls the others, and splitting the grammar would split its mutual recursion
across modules.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from .limits import MAX_DEPTH, MAX_NUMBER_DIGITS, MAX_TOKENS, NotMath
from .normalisation import CMD_RE


GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
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
# two-letter roman numerals: a choice label, not a product (with i the imaginary unit, "ii" = -1)
_ROMAN2 = {"ii", "iv", "vi", "ix", "xi", "II", "IV", "VI", "IX", "XI", "XX", "XV", "VV"}
OPEN = {"(", "[", "{", "\\{", "\\lfloor", "\\lceil", "\\langle"}
CLOSE = {")", "]", "}", "\\}", "\\rfloor", "\\rceil", "\\rangle"}
_NUM_RE = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+(?![a-zA-Z]))?", re.ASCII)
_ONE = ("n", Fraction(1))


def tokenize(s: str) -> list[tuple[str, str]]:
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
            elif (len(word) >= 3 or word in _ROMAN2) and toks[-2:] != [("op", "_"), ("op", "{")]:
                raise NotMath(f"word {word!r}")
            else:
                toks.extend(("id", ch) for ch in word)
            i = j
        elif c == "\\":
            m = CMD_RE.match(s, i)
            if m:
                toks.append(("cmd", m.group(1)))
                i = m.end()
            elif i + 1 < n and s[i + 1] in "{}|":
                t = {"{": "\\{", "}": "\\}", "|": "|"}[s[i + 1]]
                toks.append(("op", t))
                i += 2
            else:
                raise NotMath("bad escape")
        elif c in "+-*/^_!()[]{}|,;:=<>":
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
        if v in OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise NotMath("too deeply nested")
        elif v in CLOSE:
            depth -= 1
        if len(toks) > MAX_TOKENS:
            raise NotMath("too many tokens")
    return toks


def token_key(t: tuple[str, str]) -> str:
    """Token as a bracket/operator key: ops as is, commands with a backslash."""
    return "\\" + t[1] if t[0] == "cmd" else t[1]


def is_rel(t) -> str | None:
    if t[0] == "op" and t[1] in ("=", "<", ">", "<=", ">=", "!="):
        return t[1]
    if t[0] == "cmd" and t[1] in _REL_CMDS:
        return _REL_CMDS[t[1]]
    return None


class Parser:
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
            return t[1] in (GREEK | _FUNCS | _MULTI_FUNCS | {"pi", "infty", "infin", "frac", "sqrt",
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
                if t[0] == "num" and self.peek(-1)[0] == "num" and not (
                        self.i >= 2 and self.peek(-2) == ("op", "^") and self.is_op("^", 1)):
                    raise NotMath("two adjacent numbers")   # allowed: 2^6 3^5 (a product of powers)
                if self.mixed_len():
                    raise NotMath("mixed number after a factor: ambiguous, not read")
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

    def mixed_len(self) -> int:
        """Tokens of a mixed number here: an integer directly followed by ``\\frac{p}{q}``
        (``1\\frac12``, ``3\\frac{3}{4}``) or by a space and ``p/q`` (``1 1/2``), p, q integers; else 0."""
        def is_int(k, one=False):
            t = self.peek(k)
            return t[0] == "num" and t[1].isdigit() and (not one or len(t[1]) == 1)
        if not is_int(0):
            return 0
        if is_int(1) and self.is_op("/", 2) and is_int(3):
            return 4
        if self.peek(1) != ("cmd", "frac"):
            return 0
        if is_int(2) and len(self.peek(2)[1]) == 2:
            return 3                                                  # \frac12
        k = 2
        for _ in range(2):
            k = k + 1 if is_int(k, True) else (k + 3 if self.is_op("{", k) and is_int(k + 1)
                                               and self.is_op("}", k + 2) else -1)
            if k < 0:
                return 0
        return k

    def mixed(self, n: int):
        """The mixed number at the cursor as ``a + p/q``; NotMath when something is juxtaposed to
        it (``1\\frac12 x``, ``1\\frac12^2``: ambiguous)."""
        a = Fraction(int(self.next()[1]))
        if self.peek() == ("cmd", "frac"):
            self.i += 1
            p, q = self.tex_arg()[1], self.tex_arg()[1]
        else:
            p, q = Fraction(int(self.next()[1])), Fraction(int(self.t[self.i + 1][1]))
            self.i += 2
        t = self.peek()
        if q == 0 or p >= q:
            raise NotMath("mixed number with a zero denominator or an improper fraction part: not read")
        if self.starts_atom() or (t[0] == "op" and t[1] in "^!_") or \
                (t[0] == "cmd" and t[1] in ("frac", "sqrt", "binom")):
            raise NotMath("mixed number followed by a factor: ambiguous, not read")
        return ("+", (("n", a), ("n", p / q)))

    def power(self):
        n = self.mixed_len()
        if n:
            return self.mixed(n)
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
        if t[0] == "id" or (t[0] == "cmd" and t[1] in (GREEK | {"pi", "infty"})):
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
        if free_symbols(arg, set()):
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
            if v in "ei" and not self.is_op("_"):
                r = ("c", v)            # Euler's number, the imaginary unit
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
            if v in GREEK:
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


def free_symbols(node, out: set) -> set:
    k = node[0]
    if k == "s":
        out.add(node[1])
    elif k in ("+", "*"):
        for x in node[1]:
            free_symbols(x, out)
    elif k in ("neg", "inv", "!"):
        free_symbols(node[1], out)
    elif k == "^":
        free_symbols(node[1], out)
        free_symbols(node[2], out)
    elif k in ("f", "fn"):
        for x in node[2]:
            free_symbols(x, out)
    return out


def has_inf(node) -> bool:
    k = node[0]
    if k == "c":
        return node[1] == "inf"
    if k in ("+", "*"):
        return any(has_inf(x) for x in node[1])
    if k in ("neg", "inv", "!"):
        return has_inf(node[1])
    if k == "^":
        return has_inf(node[1]) or has_inf(node[2])
    if k in ("f", "fn"):
        return any(has_inf(x) for x in node[2])
    return False


_DISCRETE = {"floor", "ceil", "gcd", "lcm"}


def has_discrete(node) -> bool:
    k = node[0]
    if k in ("f", "fn"):
        return node[1] in _DISCRETE or any(has_discrete(x) for x in node[2])
    if k in ("+", "*"):
        return any(has_discrete(x) for x in node[1])
    if k in ("neg", "inv", "!"):
        return has_discrete(node[1])
    if k == "^":
        return has_discrete(node[1]) or has_discrete(node[2])
    return False
