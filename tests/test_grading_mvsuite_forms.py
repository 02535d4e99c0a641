r"""Answer forms found by running math-verify's own test suite (issue 33 item 4,
``benchmarks/bench_mathverify_suite.py``): each accepted form with the near misses beside it that
must stay rejected.

* commands written with a doubled backslash (``\\frac``, a string escaped twice);
* ``or`` glued between brackets: ``(11,7)or(7,11)``;
* a ratio of segments as a label: ``\frac{NO}{BO} = \frac{1}{\sqrt6}``;
* an ``=`` chain whose sides after the label are one constant: ``x = 5+5+1 = 11`` (a chain with
  unequal sides stays a relation and is rejected);
* ``x \approx 11``: the decimal as written, labelled;
* groups of assignments separated by semicolons: ``p=5,q=2;p=7,q=2``;
* ``z \in A \cup B``: the label covers the whole union;
* ``0 < f(x) < 1``: a function value as the unknown of an inequality chain.
"""
from __future__ import annotations

import pytest

from polaris_repro.grading import equivalent, is_correct, prepare

ACCEPT = {
    "doubled backslashes": [
        ("\\\\frac{1}{5}", "\\frac15"),
        ("\\\\left(\\\\frac{1}{5},\\\\frac{1}{6}\\\\right)", "(\\frac15, \\frac16)"),
        ("\\left( 3, \\\\frac{\\\\pi}{2} \\\\right)", "(3, \\frac{\\pi}{2})"),
        ("2\\\\sqrt{3}", "\\sqrt{12}"),
    ],
    "glued or": [
        ("(7,11),\\ (11,7)", "(11,7)or(7,11)"),
        ("(11,7)or(7,11)", "(7,11), (11,7)"),
    ],
    "segment ratio label": [
        ("\\frac{1}{\\sqrt{6}}", "\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}"),
        ("\\frac{\\sqrt6}{6}", "\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}"),
        ("\\frac{NO}{BO}=2", "\\frac{NO}{BO}=2"),
    ],
    "consistent = chain": [
        ("x = 5+5+1 = 11", "11"),
        ("x = 5+5+1 = 11", "x = 11"),
        ("11", "x = 5+5+1 = 11"),
        ("x = \\sqrt{2}\\cdot\\sqrt{2} = 2", "2"),
        ("k = \\frac{6}{4} = \\frac32", "1.5"),
    ],
    "variable approx": [
        ("x\\approx11", "11"),
        ("x \\approx 11", "x = 11"),
        ("x \\approx 1.41421356", "\\sqrt{2}"),
    ],
    "semicolon groups": [
        ("(5,2),(7,2)", "p=5,q=2;p=7,q=2"),
        ("(7,2),(5,2)", "p=5,q=2;p=7,q=2"),
        ("p=7,q=2;p=5,q=2", "p=5,q=2;p=7,q=2"),
        ("(1,2,3),(4,5,6)", "a=1,b=2,c=3; a=4,b=5,c=6"),
    ],
    "labelled union": [
        ("z \\in \\left[-\\frac{3}{2}, -1\\right] \\cup \\left[1, \\frac{3}{2}\\right]",
         "1\\leq|z|\\leq \\frac{3}{2}"),
        ("z \\in [-3/2,-1] \\cup [1,3/2]", "[-\\frac32,-1]\\cup[1,\\frac32]"),
        ("x \\in (-\\infty, 0) \\cup (2, \\infty)", "x < 0 \\text{ or } x > 2"),
    ],
    "function chain": [
        ("(0,1)", "0<f(x)<1"),
        ("(0,1]", "0 < f(x) \\le 1"),
        ("0<y<1", "0<f(x)<1"),
        ("(2, \\infty)", "g(t) > 2"),
    ],
}

REJECT = {
    "doubled backslashes": [
        ("\\\\frac{1}{5}", "\\frac16"),
        ("\\\\left(\\\\frac{1}{5},\\\\frac{1}{6}\\\\right)", "(\\frac16, \\frac15)"),
        ("\\\\sqrt{3}", "3"),
        # a line break stays a line break: matrices are not touched
        ("\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}"),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}12\\end{pmatrix}"),
    ],
    "glued or": [
        ("(7,11),\\ (11,8)", "(11,7)or(7,11)"),
        ("(11,7)", "(11,7)or(7,11)"),
        ("(7,11)", "(11,7)or(7,11)"),
    ],
    "segment ratio label": [
        ("\\sqrt{6}", "\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}"),
        ("\\frac{AB}{CD}=2", "\\frac{NO}{BO}=2"),        # both labelled: the labels must match
        ("2", "\\frac{a}{b}=2"),                           # lower-case: an equation, not a label
        ("\\frac{NO}{BO}=3", "\\frac{NO}{BO}=2"),
    ],
    "consistent = chain": [
        ("x = 5+5+1 = 7 = 11", "11"),                      # a false equation in the chain
        ("x = 5+5+1 = 7 = 11", "x = 11"),
        ("x = 2+2 = 5", "5"),
        ("x = 2+2 = 5", "4"),
        ("z = 3+3 = 2", "z = 1 + 1 = 2"),
        ("x = 5+5+1 = 11", "12"),
        ("x = y + 1 = 3", "3"),                            # a side with a symbol: not a value
    ],
    "variable approx": [
        ("x \\approx 11", "11.2"),
        ("x \\approx 11", "\\frac{34}{3}"),
        ("x \\approx 1.41", "\\sqrt{2}"),                  # too few digits for an irrational value
        ("x = \\frac13 \\approx 1.3", "\\frac13"),         # inconsistent approximation: a string
    ],
    "semicolon groups": [
        ("(5,2),(7,3)", "p=5,q=2;p=7,q=2"),
        ("(2,5),(2,7)", "p=5,q=2;p=7,q=2"),
        ("(5,2)", "p=5,q=2;p=7,q=2"),
        ("(5,2),(7,2)", "p=5,q=2;q=7,p=2"),                # the groups name different orders
        ("5, 2, 7, 2", "p=5,q=2;p=7,q=2"),
    ],
    "labelled union": [
        ("z \\in [-3/2,-1) \\cup [1,3/2]", "1\\leq|z|\\leq \\frac{3}{2}"),
        ("z \\in [-3/2,-1] \\cup [1,2]", "1\\leq|z|\\leq \\frac{3}{2}"),
        ("z \\in [1,3/2]", "1\\leq|z|\\leq \\frac{3}{2}"),
    ],
    "function chain": [
        ("[0,1)", "0<f(x)<1"),
        ("(0,2)", "0<f(x)<1"),
        ("(0,1)", "0<f(x)<x"),                             # two unknowns: not an interval
        ("(0,1)", "0 < f(x) + x < 1"),
    ],
}


def _cases(table):
    return [pytest.param(p, t, id=f"{k}:{p}~{t}") for k, rows in table.items() for p, t in rows]


@pytest.mark.parametrize("pred,truth", _cases(ACCEPT))
def test_accepted(pred, truth):
    assert equivalent(pred, truth), (pred, truth)
    assert is_correct(f"The answer is $\\boxed{{{pred}}}$.", truth), (pred, truth)


@pytest.mark.parametrize("pred,truth", _cases(REJECT))
def test_rejected(pred, truth):
    assert not equivalent(pred, truth), (pred, truth)
    assert not is_correct(f"The answer is $\\boxed{{{pred}}}$.", truth), (pred, truth)


def test_forms_are_structures_not_strings():
    """The new forms are parsed (a string comparison would be a false reject, not a pass)."""
    assert prepare("p=5,q=2;p=7,q=2").value[0] == "set"
    assert [x[1] for x in prepare("p=5,q=2;p=7,q=2").value[1]] == ["(p,q)", "(p,q)"]
    assert prepare("x = 5+5+1 = 11").value[0] == "named"
    assert prepare("x = 5+5+1 = 7 = 11").value[0] == "rel"          # kept as the false chain it is
    assert prepare("z \\in [1,2] \\cup [3,4]").value[:2] == ("named", "z")
    assert prepare("\\frac{NO}{BO}=2").value[1] == "NO/BO"
    assert prepare("x\\approx11").value[:2] == ("named", "x")
