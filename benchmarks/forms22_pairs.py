"""Answer forms of issue 22 for the forms benchmark and the property test: random-value generators
(each returns ``(truth, equal rendering, perturbed value)``) and pairs built from the five
benchmarks' ground truths (mixed numbers, matrices, thousands separators, scientific notation,
``\\approx``, trailing words and ``pct``, ``, and`` lists, negated inequalities), each correct and
wrong."""
from __future__ import annotations

import math
import random
from fractions import Fraction


def _frac(p: int, q: int) -> str:
    return f"\\frac{{{p}}}{{{q}}}"


def _dec(x: Fraction) -> str | None:
    """Exact decimal of x when it terminates."""
    q = x.denominator
    while q % 2 == 0:
        q //= 2
    while q % 5 == 0:
        q //= 5
    if q != 1:
        return None
    s = f"{float(x):.12f}".rstrip("0").rstrip(".")
    return s if Fraction(s) == x else None


def mixed(rng):
    a, q = rng.randint(1, 999), rng.randint(2, 12)
    p = rng.randint(1, q - 1)
    x = a + Fraction(p, q)
    ra = rng.choice([f"{a}\\frac{{{p}}}{{{q}}}", f"{a}\\frac{p}{q}" if p < 10 and q < 10 else f"{a} {p}/{q}",
                     f"{a} {p}/{q}"])
    rb = rng.choice([_frac(x.numerator, x.denominator), f"{x.numerator}/{x.denominator}"] +
                    ([_dec(x)] if _dec(x) else []))
    wrong = rng.choice([a * Fraction(p, q), a + Fraction(p + 1, q) if p + 1 < q else a - 1 + Fraction(p, q),
                        Fraction(int(f"{a}{p}"), q)])          # the product, another numerator, "ap/q"
    return ra, rb, _frac(wrong.numerator, wrong.denominator)


_ENVS = ("pmatrix", "bmatrix", "Bmatrix", "matrix")


def _matrix(cells, env, style, sep):
    def cell(v):
        if style == "frac" and v.denominator != 1:
            return _frac(v.numerator, v.denominator)
        if style == "slash" and v.denominator != 1:
            return f"{v.numerator}/{v.denominator}"
        return _dec(v) or _frac(v.numerator, v.denominator)
    return f"\\begin{{{env}}}" + sep.join(" & ".join(cell(v) for v in r) for r in cells) + f"\\end{{{env}}}"


def matrices(rng):
    rows, cols = rng.choice([(2, 2), (2, 3), (3, 1), (1, 3), (3, 3)])
    cells = [[Fraction(rng.randint(-20, 40), rng.choice([1, 1, 2, 4, 5])) for _ in range(cols)] for _ in range(rows)]
    ra = _matrix(cells, rng.choice(_ENVS), rng.choice(["frac", "slash", "dec"]), rng.choice(["\\\\", " \\\\ "]))
    rb = _matrix(cells, rng.choice(_ENVS), rng.choice(["frac", "slash", "dec"]), rng.choice(["\\\\", " \\\\ "]))
    w = [r[:] for r in cells]
    kind = rng.choice(["cell", "shape", "swap"])
    if kind == "cell":
        i, j = rng.randrange(rows), rng.randrange(cols)
        w[i][j] += 1
    elif kind == "shape" and rows > 1:
        w = rng.choice([[[v for r in cells for v in r]], cells[:-1]])     # flattened, a row missing
    elif kind == "shape":
        w = [[v] for v in cells[0]]
    else:
        flat = [v for r in cells for v in r]
        if len(set(flat)) == 1:
            w[0][0] += 1
        else:
            i, j = next((i, j) for i in range(len(flat)) for j in range(i + 1, len(flat)) if flat[i] != flat[j])
            flat[i], flat[j] = flat[j], flat[i]
            w = [flat[k * cols:(k + 1) * cols] for k in range(rows)]
    return ra, rb, _matrix(w, rng.choice(_ENVS), "frac", rng.choice(["\\\\", " \\\\ "]))


def thousands(rng):
    n = rng.randint(1000, 10 ** 9)
    groups = f"{n:,}".split(",")
    ra = rng.choice([",\\! ", ",\\!", "{,}"]).join(groups)
    rb = rng.choice([str(n), f"{n:,}"])
    return ra, rb, str(rng.choice([n + 10 ** rng.randint(0, 3), n * 10, n // 10]))


def scientific(rng):
    x = Fraction(rng.randint(1, 999), rng.randint(1001, 99999))
    exp = math.floor(math.log10(x))
    digits = rng.choice([5, 6, 7])
    mant = round(x / Fraction(10) ** exp, digits - 1)
    mtxt = f"{float(mant):.{digits - 1}f}"
    gold = rng.choice([f"{mtxt}\\times10^{{{exp}}}", f"{mtxt} \\times 10^{{{exp}}}", f"{mtxt}e{exp}"])
    pred = _frac(x.numerator, x.denominator)
    w = x * Fraction(1001, 1000)                         # 0.1 % off: outside the 5-digit rounding
    return gold, pred, _frac(w.numerator, w.denominator)


def bases(rng):
    b = rng.randint(2, 9)
    digits = "".join(str(rng.randrange(b)) for _ in range(rng.randint(2, 6))).lstrip("0") or "1"
    k = rng.randrange(len(digits))
    other = digits[:k] + str((int(digits[k]) + 1) % b) + digits[k + 1:]
    wrong = rng.choice([f"{digits}_{{{b + 1}}}", f"{other}_{b}" if other.lstrip("0") else f"{digits}0_{b}", digits])
    return f"{digits}_{b}", f"{digits}_{{{b}}}", wrong


def imaginary(rng):
    c, d, e, f = (rng.randint(-9, 9) or 1 for _ in range(4))
    re_, im_ = c * e - d * f, c * f + d * e
    expanded = f"{re_} {'+' if im_ >= 0 else '-'} {abs(im_)}i"
    ra = rng.choice([f"({c}{'+' if d >= 0 else '-'}{abs(d)}i)({e}{'+' if f >= 0 else '-'}{abs(f)}i)"])
    wrong = f"{re_} {'-' if im_ >= 0 else '+'} {abs(im_)}i" if im_ else f"{re_ + 1}"
    return ra, expanded, wrong


_TRIG = [("\\sin", 30, "\\frac12"), ("\\cos", 60, "\\frac12"), ("\\sin", 60, "\\frac{\\sqrt3}{2}"),
         ("\\cos", 30, "\\frac{\\sqrt{3}}{2}"), ("\\tan", 45, "1"), ("\\tan", 60, "\\sqrt3"),
         ("\\sin", 45, "\\frac{\\sqrt2}{2}"), ("\\cos", 120, "-\\frac12"), ("\\sin", 150, "0.5")]


def degrees(rng):
    fn, deg, val = rng.choice(_TRIG)
    k = rng.randint(1, 5)
    ra = rng.choice([f"{fn} {deg}^\\circ", f"{fn}({deg}^{{\\circ}})", f"{fn}\\left({deg}^\\circ\\right)"])
    ra = f"{k}{ra}" if k > 1 else ra
    rb = f"{k}\\cdot {val}" if k > 1 else val
    wrong = rng.choice([f"{k}{fn} {deg}" if k > 1 else f"{fn} {deg}", f"{k + 1}\\cdot{val}"])  # radians
    return ra, rb, wrong


_PRIMES = (2, 3, 5, 7, 11)


def powers(rng):
    ps = sorted(rng.sample(_PRIMES, rng.randint(2, 3)))
    es = [rng.randint(1, 9) for _ in ps]
    ra = " ".join(f"{p}^{e}" if e < 10 else f"{p}^{{{e}}}" for p, e in zip(ps, es))
    rb = rng.choice([" \\cdot ".join(f"{p}^{{{e}}}" for p, e in zip(ps, es)),
                     str(math.prod(p ** e for p, e in zip(ps, es)))])
    k = rng.randrange(len(ps))
    wrong = " \\cdot ".join(f"{p}^{{{e + (1 if i == k else 0)}}}" for i, (p, e) in enumerate(zip(ps, es)))
    return ra, rb, wrong


def inequalities(rng):
    a = rng.choice([-5, -3, -2, -1, 1, 2, 3, 4])
    b, c = rng.randint(-9, 9), rng.randint(-9, 9)
    op = rng.choice(["<", "\\le", ">", "\\ge"])
    end = Fraction(c - b, a)
    lhs = f"{ {1: '', -1: '-'}.get(a, str(a)) }x {'+' if b >= 0 else '-'} {abs(b)}"
    closed = op in ("\\le", "\\ge")
    upper = (op in ("<", "\\le")) == (a > 0)             # x below the end
    et = _frac(end.numerator, end.denominator) if end.denominator != 1 else str(end)
    below = f"(-\\infty, {et}" + ("]" if closed else ")")
    above = ("[" if closed else "(") + f"{et}, \\infty)"
    iv, flipped = (below, above) if upper else (above, below)
    wrong_iv = (f"(-\\infty, {et}" + (")" if closed else "]")) if upper else \
        (("(" if closed else "[") + f"{et}, \\infty)")
    return f"{lhs} {op} {c}", iv, rng.choice([wrong_iv, flipped])


def and_lists(rng):
    items = rng.sample(range(-30, 60), rng.randint(3, 5))
    ra = ", ".join(map(str, items[:-1])) + rng.choice([", and ", " and ", ", or "]) + str(items[-1])
    rb = ", ".join(map(str, rng.sample(items, len(items))))
    w = list(items)
    if rng.random() < 0.5:
        w[rng.randrange(len(w))] += 100
    else:
        w.pop()
    return ra, rb, ", ".join(map(str, w))


def approx(rng):
    k, m = rng.choice([2, 3, 5, 6, 7, 10, 11]), rng.randint(2, 9)
    v = math.sqrt(k) / m
    d = rng.choice([3, 4])
    ra = f"\\frac{{\\sqrt{{{k}}}}}{{{m}}} \\approx {v:.{d}f}"
    rb = rng.choice([f"\\frac{{\\sqrt{{{k}}}}}{{{m}}}", f"\\sqrt{{{k}}}/{m}", f"{v:.{d}f}"])
    wrong = rng.choice([f"\\frac{{\\sqrt{{{k}}}}}{{{m + 1}}}", f"{v + 3 * 10 ** -d:.{d}f}"])
    return ra, rb, wrong


def functions(rng):
    a, b, c = (rng.randint(-9, 9) or 2 for _ in range(3))
    var = rng.choice(["x", "t"])
    body = f"{a}{var}^2 {'+' if b >= 0 else '-'} {abs(b)}{var} {'+' if c >= 0 else '-'} {abs(c)}"
    ra = f"{rng.choice(['f', 'g', 'p'])}({var}) = {body}"
    rb = f"y = {body}"
    wrong = f"y = {body} + 1"
    return ra, rb, wrong


def percent(rng):
    n = rng.randint(1, 99)
    ra = rng.choice([f"{n} pct", f"{n} per cent", f"{n}\\text{{ percent}}", f"{n}\\%", f"{n} \\text{{ marbles}}"])
    return ra, str(n), rng.choice([str(n + 1), f"0.{n:02d}" if n != 10 else "0.1", f"{n} \\text{{ or more}}"])


GENERATORS = {f.__name__: f for f in (mixed, matrices, thousands, scientific, bases, imaginary, degrees, powers,
                                 inequalities, and_lists, approx, functions, percent)}




# ------------------------------------------------------------------ pairs from benchmark ground truths
# (form, variant, answer, ground truth, expected)

def _mixed_text(x: Fraction) -> str | None:
    if x.denominator == 1 or abs(x) < 1 or x.denominator > 999:
        return None
    a, r = divmod(abs(x.numerator), x.denominator)
    return ("-" if x < 0 else "") + f"{a}\\frac{{{r}}}{{{x.denominator}}}"


def _sci(x, digits: int) -> str:
    m, e = f"{x:.{digits - 1}e}".split("e")
    return f"{m}\\times10^{{{int(e)}}}"


def bench_pairs(by: dict, exact, value, split_items, rng: random.Random) -> list[tuple]:
    """Pairs from the benchmarks' ground truths.  ``by``: answers by structure (``int``,
    ``number``, ``seq``, ``set``, ``interval``); ``exact(g)``: the exact rational value or None;
    ``value(g)``: the float value or None; ``split_items``: top-level comma items."""
    out = []
    for _, g in by["number"] + by["int"]:
        x = exact(g)
        mt = _mixed_text(x) if x is not None else None
        if mt:
            a, r = divmod(abs(x.numerator), x.denominator)
            prod = Fraction(a * r, x.denominator) * (1 if x > 0 else -1)
            out += [("mixed", "bench-as-mixed", g, mt, True)]
            if prod != x:
                out += [("mixed", "bench-product-reading", _frac(prod.numerator, prod.denominator), mt, False)]
            out += [("mixed", "bench-fraction-part-only", _frac(r, x.denominator), mt, False)]
    for _, g in by["int"]:
        n = int(g)
        if abs(n) >= 1000:
            sep = rng.choice([",\\! ", "{,}", ",\\!"])
            t = sep.join(f"{abs(n):,}".split(","))
            t = ("-" if n < 0 else "") + t
            out += [("thousands", "bench-separators", str(n), t, True),
                    ("thousands", "bench-off-by-1000", str(n + 1000), t, False)]
        w = rng.choice(["widgets", "marbles", "handshakes", "sq. units"])
        out += [("words", "bench-trailing-text", g, f"{g} \\text{{ {w}}}", True),
                ("words", "bench-pct", g, f"{g} pct", True),
                ("words", "bench-or-more", f"{g} \\text{{ or more}}", g, False),
                ("words", "bench-wrong-value", str(n + 1), f"{g} \\text{{ {w}}}", False)]
    for _, g in by["number"]:
        v = value(g)
        if v is None or v == int(v) or not 1e-6 < abs(v) < 1e9:
            continue
        out += [("scientific", "bench-sci-truth", g, _sci(v, 6), True),
                ("scientific", "bench-sci-off", f"\\frac{{1001}}{{1000}}\\left({g}\\right)", _sci(v, 6), False),
                ("approx", "bench-approx-truth", g, f"{g} \\approx {v:.3f}", True),
                ("approx", "bench-approx-inconsistent", g, f"{g} \\approx {v + 0.1:.3f}", False),
                ("approx", "bench-approx-answer", f"{g} \\approx {v:.4f}", g, True),
                ("approx", "bench-approx-wrong", f"{g} + 1 \\approx {v + 1:.4f}", g, False)]
    for _, g in by["set"]:
        items = split_items(g)
        if not 2 <= len(items) <= 8:
            continue
        joined = ", ".join(items[:-1]) + rng.choice([", and ", " and "]) + items[-1]
        out += [("and_lists", "bench-and-list", ", ".join(rng.sample(items, len(items))), joined, True),
                ("and_lists", "bench-and-list-missing", ", ".join(items[:-1]), joined, False)]
    for _, g in by["seq"]:
        items = split_items(g[1:-1])
        if not 2 <= len(items) <= 6:
            continue
        def env(name, cells, sep):
            return f"\\begin{{{name}}}" + sep.join(cells) + f"\\end{{{name}}}"
        col = env("pmatrix", items, " \\\\ ")
        out += [("matrices", "bench-column-vector", env("bmatrix", items, "\\\\"), col, True),
                ("matrices", "bench-row-vs-column", env("bmatrix", items, " & "), col, False)]
        if items[0] != items[1]:
            sw = [items[1], items[0]] + items[2:]
            out += [("matrices", "bench-swapped-cells", env("pmatrix", sw, "\\\\"), col, False)]
    return out


def synthetic_pairs(n: int, seed: int) -> list[tuple]:
    """``n`` random values per generator: the equal rendering (expected True) and the perturbed
    value (expected False) against the truth."""
    out = []
    for name, fn in GENERATORS.items():
        rng = random.Random(f"{seed}|{name}")
        for _ in range(n):
            a, b, w = fn(rng)
            out += [(name, "synthetic-equal", b, a, True), (name, "synthetic-perturbed", w, a, False)]
    return out
