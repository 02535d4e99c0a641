r"""Identities are checked on the whole real domain of the expressions (issue 33, item 2): points of
both signs and of small and large magnitude; a side counts where its value is real; the sides must
agree wherever both are defined, and no point may have one side defined only.

Seeded property tests (hypothesis is not a dependency): pairs equal on a half-line (or half-plane)
and different elsewhere -- built from ``|u|``, ``\sqrt{u^2}``, ``\max``, ``\min``, ``u/|u|``,
``\ln(u^2)``... over random linear ``u`` -- are all rejected; pairs equal on the whole domain
(random algebraic rewrites of the same forms) are all accepted.
"""
from __future__ import annotations

import random
import time

import pytest

from polaris_repro import grading
from polaris_repro.grading import canonical_answer, equivalent, is_correct
from polaris_repro.grading.identity import N_POINTS, signed_int_point, signed_point


def box(s: str) -> str:
    return f"So the answer is $\\boxed{{{s}}}$."


# ------------------------------------------------------------------------------ fixed examples

ACCEPT = [
    ("\\sqrt{x^2}", "|x|"), ("\\sqrt{x}\\sqrt{x}", "x"), ("(\\sqrt{x})^2", "x"),
    ("\\frac{x^2-1}{x-1}", "x+1"), ("\\sqrt{x^2y^2}", "|x||y|"), ("\\ln(x^2)", "2\\ln|x|"),
    ("x^{1/3}", "\\sqrt[3]{x}"), ("x^{2/3}", "\\sqrt[3]{x^2}"), ("\\frac{x+|x|}{2}", "\\max(x,0)"),
    ("\\sin^2 x + \\cos^2 x", "1"), ("\\sin 2x", "2\\sin x\\cos x"),
    ("\\arcsin x", "\\frac{\\pi}{2}-\\arccos x"), ("\\sqrt{1-x^2}", "\\cos(\\arcsin x)"),
    ("\\frac{1}{\\sqrt{x}}", "\\frac{\\sqrt{x}}{x}"), ("\\sqrt{x^3}", "x\\sqrt{x}"),
    ("\\log_2 x", "\\frac{\\ln x}{\\ln 2}"), ("x^x", "e^{x\\ln x}"),
    ("\\binom{n}{2}", "\\frac{n(n-1)}{2}"), ("\\frac{n!}{(n-2)!}", "n(n-1)"),
    ("e^{i x}", "\\cos x + i \\sin x"), ("|x-y|", "|y-x|"), ("\\frac{|x|}{x}", "\\frac{x}{|x|}"),
    ("\\lfloor n/2 \\rfloor + \\lceil n/2 \\rceil", "n"), ("\\lfloor \\frac{n+1}{2} \\rfloor", "\\lceil n/2 \\rceil"),
    # a domain far from 0 (few points there): points where neither side is real count when the
    # complex values agree
    ("\\sqrt{x-30}", "(x-30)^{1/2}"), ("\\ln(x-40)", "\\ln(2x-80)-\\ln 2"),
    ("\\sqrt{-x^2-1}", "\\sqrt{-1-x^2}"), ("y = \\sqrt{x-10}", "2y = 2\\sqrt{x-10}"),
    ("y = |x|", "y - \\sqrt{x^2} = 0"), ("y = x^{1/3}", "y - \\sqrt[3]{x} = 0"),
]

REJECT = [
    ("|x|", "x"), ("x|x|", "x^2"), ("\\sqrt{x^2}", "x"), ("\\frac{x}{|x|}", "1"),
    ("\\ln(x^2)", "2\\ln x"), ("|xy|", "xy"), ("x|y|", "xy"), ("|x|y", "xy"),
    ("\\sqrt{x}\\sqrt{y}", "\\sqrt{xy}"), ("\\max(x,0)", "x"), ("|x+20|", "x+20"),
    ("\\sqrt{x}", "\\sqrt{|x|}"), ("(\\sqrt{x})^2", "|x|"), ("\\sqrt{x^2y^2}", "xy"),
    ("\\sqrt{x^4}", "x^2 \\cdot \\frac{x}{|x|}"), ("e^{i x}", "\\cos x - i \\sin x"),
    ("\\lfloor \\sqrt{n} \\rfloor", "\\lfloor \\sqrt{|n|} \\rfloor"), ("\\lfloor |n|/2 \\rfloor", "\\lfloor n/2 \\rfloor"),
    ("\\sqrt{n}\\sqrt{n+1}", "\\sqrt{n(n+1)}"), ("x^{1/3}", "\\sqrt[3]{|x|}"),
    ("\\sqrt{x-30}", "-\\sqrt{x-30}"), ("\\sqrt{x-30}", "\\sqrt{|x-30|}"), ("\\ln(x-40)", "\\ln|x-40|"),
]

EQUATIONS_REJECT = [("y = |x|", "y = x"), ("y = \\sqrt{x^2}", "y = x"), ("y|x| = x", "y = 1"),
                    ("y = \\sqrt{x-10}", "y = -\\sqrt{x-10}"), ("y = \\ln(x^2)", "y = 2\\ln x")]


@pytest.mark.parametrize("pred,truth", ACCEPT)
def test_equal_on_the_whole_domain_is_accepted(pred, truth):
    assert equivalent(pred, truth), (pred, truth)
    assert equivalent(truth, pred), (truth, pred)


@pytest.mark.parametrize("pred,truth", REJECT + EQUATIONS_REJECT)
def test_equal_for_positive_values_only_is_rejected(pred, truth):
    assert not equivalent(pred, truth), (pred, truth)
    assert not equivalent(truth, pred), (truth, pred)
    assert not is_correct(box(pred), truth)


def test_the_points_cover_both_signs_and_magnitudes():
    xs = [signed_point(["x"], k)["x"] for k in range(N_POINTS)]
    assert sum(x < 0 for x in xs) == sum(x > 0 for x in xs) == N_POINTS // 2
    assert min(abs(x) for x in xs) < 0.35 and max(abs(x) for x in xs) > 10
    assert sum(abs(x) < 1 for x in xs if x < 0) >= 2       # arcsin's domain, negative side
    pts = [signed_point(["x", "y"], k) for k in range(N_POINTS)]
    assert {(p["x"] > 0, p["y"] > 0) for p in pts} == {(True, True), (True, False), (False, True),
                                                         (False, False)}
    ns = [signed_int_point(["n"], k)["n"] for k in range(40)]
    assert sorted(ns) == sorted(list(range(-20, 0)) + list(range(1, 21)))
    assert signed_point(["x"], 3) == signed_point(["x"], 3)                  # seeded


def test_canonical_answer_separates_abs_from_identity():
    assert canonical_answer("|x|") != canonical_answer("x")
    assert canonical_answer("|x|") == canonical_answer("\\sqrt{x^2}")
    assert canonical_answer("x^{1/3}") == canonical_answer("\\sqrt[3]{x}")


# ------------------------------------------------------------------------------ property tests

N = 8   # random pairs per family: half with forms positive for positive variables


def _lin(rng: random.Random, two: bool, positive: bool) -> tuple[str, tuple[int, int]]:
    """A random linear form ``a x + c y + b`` (``c y`` only when ``two``, a, c != 0) and its
    slopes (a, c).  ``positive``: a, c > 0 and b >= 0, so the form is positive for positive
    variables (the pairs built on it agree wherever all variables are positive)."""
    a = rng.choice([1, 2, 3, 4] if positive else [-4, -3, -2, -1, 1, 2, 3, 4])
    c = (rng.choice([1, 2, 3] if positive else [-3, -2, -1, 1, 2, 3])) if two else 0
    s = ""
    for v, m in (("x", a), ("y", c)):
        if m:
            coef = "" if m == 1 else "-" if m == -1 else str(m)
            s += (coef if not s or m < 0 else "+" + coef) + v
    b = rng.randint(0 if positive else -15, 15)
    return s + (f"{b:+d}" if b else ""), (a, c)


def _two_lins(rng: random.Random, two: bool, positive: bool) -> tuple[str, str]:
    """Two linear forms whose difference is not constant (so they cross on a line)."""
    while True:
        (u, su), (w, sw) = _lin(rng, two, positive), _lin(rng, two, positive)
        if su != sw:
            return u, w


# f == g on the half-line (half-plane) where u >= 0 (or u <= 0, or u >= w) and f != g elsewhere,
# or f defined on a larger set than g
HALF_LINE = {
    "abs": lambda u, w: (f"|{u}|", f"{u}"),
    "sqrt-square": lambda u, w: (f"\\sqrt{{({u})^2}}", f"{u}"),
    "max0": lambda u, w: (f"\\max({u}, 0)", f"{u}"),
    "min0": lambda u, w: (f"\\min({u}, 0)", f"{u}"),
    "sign": lambda u, w: (f"\\frac{{{u}}}{{|{u}|}}", "1"),
    "sign-neg": lambda u, w: (f"\\frac{{|{u}|}}{{{u}}}", "-1"),
    "u-abs-u": lambda u, w: (f"({u})|{u}|", f"({u})^2"),
    "half-sum": lambda u, w: (f"\\frac{{|{u}|+({u})}}{{2}}", f"{u}"),
    "abs-times": lambda u, w: (f"\\sqrt{{({u})^2}} \\cdot ({w})", f"({u})({w})"),
    "abs-cube": lambda u, w: (f"|{u}|^3", f"({u})^3"),
    "log-square": lambda u, w: (f"\\ln(({u})^2)", f"2\\ln({u})"),
    "sqrt-abs": lambda u, w: (f"\\sqrt{{{u}}}", f"\\sqrt{{|{u}|}}"),
    "sqrt-squared": lambda u, w: (f"(\\sqrt{{{u}}})^2", f"|{u}|"),
    "max-uw": lambda u, w: (f"\\max({u}, {w})", f"{u}"),
    "sqrt-product": lambda u, w: (f"\\sqrt{{({u})^2 ({w})^2}}", f"({u})|{w}|"),
}

# f == g wherever both are defined, and defined at the same points
WHOLE_DOMAIN = {
    "abs-sqrt": lambda u, w: (f"|{u}|", f"\\sqrt{{({u})^2}}"),
    "abs-product": lambda u, w: (f"|({u})({w})|", f"|{u}| \\cdot |{w}|"),
    "removable": lambda u, w: (f"\\frac{{({u})^2-({w})^2}}{{({u})-({w})}}", f"({u})+({w})"),
    "max": lambda u, w: (f"\\max({u}, {w})", f"\\frac{{({u})+({w})+|({u})-({w})|}}{{2}}"),
    "min": lambda u, w: (f"\\min({u}, {w})", f"\\frac{{({u})+({w})-|({u})-({w})|}}{{2}}"),
    "log-abs": lambda u, w: (f"\\ln(({u})^2)", f"2\\ln|{u}|"),
    "sqrt-squared": lambda u, w: (f"(\\sqrt{{{u}}})^2", f"{u}"),
    "cube-root": lambda u, w: (f"\\sqrt[3]{{{u}}}", f"({u})^{{1/3}}"),
    "exp": lambda u, w: (f"e^{{{u}}} e^{{{w}}}", f"e^{{({u})+({w})}}"),
    "pythagoras": lambda u, w: (f"\\sin^2({u}) + \\cos^2({u})", "1"),
    "fractions": lambda u, w: (f"\\frac{{1}}{{{u}}}+\\frac{{1}}{{{w}}}", f"\\frac{{({u})+({w})}}{{({u})({w})}}"),
    "abs-square": lambda u, w: (f"|{u}|^2", f"({u})^2"),
    "u-abs-u": lambda u, w: (f"({u})|{u}|", f"\\frac{{({u})^3}}{{|{u}|}}"),
    "sign": lambda u, w: (f"\\frac{{{u}}}{{|{u}|}}", f"\\frac{{|{u}|}}{{{u}}}"),
}


def _pairs(families: dict, tag: str):
    out = []
    for name, fn in families.items():
        rng = random.Random(f"issue33-domains|{tag}|{name}")
        for k in range(N):
            two, positive = k % 2 == 1, k % 4 < 2
            u, w = _two_lins(rng, two, positive)
            f, g = fn(u, w)
            out.append(pytest.param(f, g, id=f"{name}-{k}"))
    return out


@pytest.mark.parametrize("f,g", _pairs(HALF_LINE, "half"))
def test_pairs_equal_on_a_half_line_are_rejected(f, g):
    assert not equivalent(f, g), (f, g)
    assert not equivalent(g, f), (g, f)


@pytest.mark.parametrize("f,g", _pairs(WHOLE_DOMAIN, "whole"))
def test_pairs_equal_on_the_whole_domain_are_accepted(f, g):
    assert equivalent(f, g), (f, g)
    assert equivalent(g, f), (g, f)


def test_generated_forms_parse():
    """The property tests above are about the identity test, not the parser: every generated form
    is read as an expression (a parse failure would make a rejection vacuous)."""
    for fam, tag in ((HALF_LINE, "half"), (WHOLE_DOMAIN, "whole")):
        for p in _pairs(fam, tag):
            for s in p.values:
                v = grading.prepare(s).value
                assert v is not None and v[0] == "expr", s


# ------------------------------------------------------------------------------ time bound

SLOW = [
    (" + ".join(f"\\sqrt{{x_{k}^2}} \\sin(x_{k})" for k in range(1, 12)),
     " + ".join(f"|x_{k}| \\sin(x_{k})" for k in range(1, 12))),
    ("\\sqrt{" * 30 + "x^2" + "}" * 30, "|x|^{1/1073741824}"),
    (" + ".join(f"\\lfloor \\sqrt{{{k} n}} \\rfloor" for k in range(1, 40)),
     " + ".join(f"\\lfloor \\sqrt{{{k} |n|}} \\rfloor" for k in range(1, 40))),
]


@pytest.mark.parametrize("pred,truth", SLOW)
def test_domain_checks_are_time_bounded(pred, truth):
    t = time.perf_counter()
    equivalent(pred, truth, timeout_s=0.2)
    assert time.perf_counter() - t < 1.5
