r"""Issue 33, item 3: the notations answer keys use (polaris_repro/grading/notations.py and
solution_sets.py), each with near misses that must still be rejected.

Each pair is (answer, ground truth).  Where a reading is arguable the pair is rejected (a false
accept teaches the policy a wrong answer); those choices are tested as rejections below."""
from __future__ import annotations

import time

import pytest

from polaris_repro.grading import equivalent, is_correct
from polaris_repro.grading.notations import comma_items, rewrite_notations, rewrite_qualifier, split_choice


FAMILY = "x = \\frac{\\pi}{4} + k\\pi, k \\in \\mathbb{Z}"
TWO_FAMILIES = "\\pm\\frac{\\pi}{3} + 2k\\pi, k \\in \\mathbb{Z}"

ACCEPT = [
    # 1. repeating decimals: the exact rational
    ("0.\\overline{3}", "\\frac{1}{3}"), ("\\frac{1}{3}", "0.\\overline{3}"), ("0.1\\overline{6}", "\\frac{1}{6}"),
    ("1.\\overline{27}", "\\frac{14}{11}"), ("0.(3)", "\\frac{1}{3}"), ("1.(27)", "\\frac{14}{11}"),
    ("0.\\bar{3}", "\\frac13"), ("0.\\overline3", "1/3"), ("-0.\\overline{3}", "-\\frac{1}{3}"),
    ("0.\\overline{9}", "1"), ("2.\\overline{142857}", "\\frac{15}{7}"), ("0.0\\overline{45}", "\\frac{1}{22}"),
    ("0.\\overline{3}", "0.\\overline{33}"), ("0.333333", "0.\\overline{3}"),    # 6 digits, correctly rounded
    # 2. the reals
    ("(-\\infty, \\infty)", "\\mathbb{R}"), ("(-\\infty,+\\infty)", "\\mathbb{R}"),
    ("\\text{all real numbers}", "\\mathbb{R}"), ("x \\in \\mathbb{R}", "\\mathbb{R}"), ("\\R", "\\mathbb{R}"),
    ("\\mathbf{R}", "\\mathbb{R}"), ("\\mathbb R", "\\mathbb{R}"), ("\\mathbb{R}", "(-\\infty, \\infty)"),
    ("\\text{All real numbers}", "(-\\infty,\\infty)"), ("\\text{all reals}", "x \\in \\mathbb{R}"),
    ("x \\in \\mathbf{R}", "(-\\infty, \\infty)"), ("\\text{the set of all real numbers}", "\\R"),
    # 3. x != a against the union of two rays and R \ {a}
    ("(-\\infty,2)\\cup(2,\\infty)", "x \\neq 2"), ("\\mathbb{R}\\setminus\\{2\\}", "x \\neq 2"),
    ("x \\neq 2", "(-\\infty,2)\\cup(2,\\infty)"), ("x \\ne 2", "\\mathbb{R}\\setminus\\{2\\}"),
    ("2 \\neq x", "x \\neq 2"), ("\\mathbb{R} \\backslash \\{2\\}", "(2,\\infty)\\cup(-\\infty,2)"),
    ("\\mathbb{R}\\setminus\\{3, 2\\}", "(-\\infty,2)\\cup(2,3)\\cup(3,\\infty)"),
    ("x \\neq \\sqrt{2}", "(-\\infty,\\sqrt2)\\cup(\\sqrt2,\\infty)"), ("[0, 1] \\setminus \\{0\\}", "(0, 1]"),
    ("x \\neq -\\frac{1}{2}", "\\mathbb{R}\\setminus\\{-0.5\\}"), ("x \\in \\mathbb{R}\\setminus\\{2\\}", "x \\neq 2"),
    # 4. angle-bracket vectors against tuples
    ("\\langle 1, 2, 3\\rangle", "(1,2,3)"), ("(1,2,3)", "\\langle 1, 2, 3\\rangle"), ("<1,2,3>", "(1,2,3)"),
    ("\\left\\langle 1, 2, 3 \\right\\rangle", "(1, 2, 3)"), ("\\langle \\frac12, -1\\rangle", "(0.5, -1)"),
    ("<1, 2, 3>", "\\langle 1,2,3\\rangle"), ("\\langle 1,2\\rangle, \\langle 3,4\\rangle", "(3,4), (1,2)"),
    # 5. a general solution with or without its qualifier
    ("\\frac{\\pi}{4} + k\\pi", FAMILY), ("\\frac{\\pi}{4}+n\\pi", FAMILY), ("x = \\frac{\\pi}{4} + k\\pi", FAMILY),
    ("x = \\frac{\\pi}{4} + k\\pi, k \\text{ integer}", FAMILY),
    ("\\frac{\\pi}{4} + k\\pi, k \\in \\mathbb{Z}", FAMILY),
    (FAMILY, "\\frac{\\pi}{4} + k\\pi"), ("\\frac{\\pi}{4} + n\\pi, n \\in \\mathbb{Z}", FAMILY),
    ("\\frac{\\pi}{4} + k\\pi \\quad (k \\in \\mathbb{Z})", FAMILY), ("\\frac{\\pi}{4} + k\\pi, k\\in\\Z", FAMILY),
    ("\\frac{\\pi}{4} + k\\pi \\text{ where } k \\text{ is an integer}", FAMILY),
    ("\\frac{\\pi}{4} + k\\pi \\text{ for any integer } k", FAMILY), ("k\\pi + \\frac{\\pi}{4}", FAMILY),
    # the same set: another representative, the parameter's sign
    ("\\frac{5\\pi}{4} + k\\pi", FAMILY), ("-\\frac{3\\pi}{4} + m\\pi", FAMILY), ("\\frac{\\pi}{4} - k\\pi", FAMILY),
    ("\\frac{\\pi(4k+1)}{4}", FAMILY),
    ("\\frac{\\pi}{3} + 2k\\pi, -\\frac{\\pi}{3} + 2k\\pi", TWO_FAMILIES),
    ("\\frac{5\\pi}{3} + 2n\\pi, \\frac{\\pi}{3} + 2n\\pi", TWO_FAMILIES),
    ("2n-1", "2k+1, k \\in \\mathbb{Z}"), ("2n", "x = 2k, k\\in\\mathbb{Z}"),
    # 6. a multiple-choice key with letter and value
    ("C", "\\text{(C)}\\ 12"), ("(C)", "\\text{(C)}\\ 12"), ("\\text{(C)}", "\\text{(C)}\\ 12"),
    ("12", "\\text{(C)}\\ 12"), ("C", "C: 12"), ("(C)", "(C) 12"), ("C", "(C) 12"), ("12", "(C) 12"),
    ("(C) 12", "(C) 12"), ("\\text{(C)}\\ 12", "(C) 12"), ("\\textbf{(C)}", "\\textbf{(C) }12"),
    ("12", "\\text{(C) 12}"), ("\\frac{1}{2}", "\\textbf{(E)}\\ 0.5"), ("C: 12", "(C)\\quad 12"),
    # item 1 leftovers: a whole quantity in one \text, units on each item of a list
    ("5\\text{ cm}", "\\text{5 cm}"), ("\\text{5 cm}", "5\\text{ cm}"), ("50\\text{ mm}", "\\text{5 cm}"),
    ("5", "\\text{5 cm}"), ("\\text{5 cm}", "5"),
    ("3, 4", "3\\text{ cm}, 4\\text{ cm}"), ("3\\text{ cm}, 4\\text{ cm}", "3, 4"),
    ("3\\text{ cm}, 4\\text{ cm}", "3\\text{ cm}, 4\\text{ cm}"),
    ("30\\text{ mm}, 4\\text{ cm}", "3\\text{ cm}, 4\\text{ cm}"),
    ("4\\text{ cm}, 3\\text{ cm}", "3\\text{ cm}, 4\\text{ cm}"), ("3\\,\\text{cm}, 4\\,\\text{cm}", "3, 4"),
    ("1,000\\text{ m}", "1\\text{ km}"),
]

REJECT = [
    # 1. repeating decimals: another period, another place
    ("0.\\overline{6}", "\\frac{1}{3}"), ("0.\\overline{34}", "\\frac{1}{3}"), ("0.1\\overline{6}", "\\frac{1}{3}"),
    ("0.\\overline{3}", "0.3"), ("0.3", "0.\\overline{3}"), ("1.\\overline{27}", "\\frac{14}{10}"),
    ("0.(3)", "0"), ("0.1\\overline{6}", "0.16"), ("0.\\overline{3}", "\\frac{3}{10}"),
    # "0.1(6)" could be the product 0.1 * 6: not read as a repeating decimal
    ("0.1(6)", "\\frac{1}{6}"),
    # 2. the reals: a half-line, the positive reals, the integers, the reals without 0
    ("[0,\\infty)", "\\mathbb{R}"), ("\\mathbb{R}^+", "\\mathbb{R}"), ("\\mathbb{Z}", "\\mathbb{R}"),
    ("(-\\infty, 0) \\cup (0, \\infty)", "\\mathbb{R}"), ("\\mathbb{R}", "\\mathbb{R}^+"),
    ("\\mathbb{R}_{>0}", "(-\\infty,\\infty)"), ("\\mathbb{C}", "\\mathbb{R}"), ("\\mathbb{R}^2", "\\mathbb{R}"),
    ("\\text{all real numbers}", "(0, \\infty)"), ("\\text{all positive real numbers}", "\\mathbb{R}"),
    ("R", "\\mathbb{R}"),                      # a plain R is a variable (before: it was the unwrapped \mathbb{R})
    ("(-\\infty, \\infty)", "\\mathbb{R}\\setminus\\{0\\}"),
    # 3. another point left out as well, the wrong point, an inequality
    ("(-\\infty,2)\\cup(2,3)\\cup(3,\\infty)", "x\\neq 2"), ("(-\\infty,3)\\cup(3,\\infty)", "x\\neq 2"),
    ("\\mathbb{R}\\setminus\\{3\\}", "x \\neq 2"), ("x \\neq -2", "x \\neq 2"), ("x < 2", "x \\neq 2"),
    ("x \\neq 2", "2"), ("x \\neq 2", "x = 2"), ("\\mathbb{R}\\setminus\\{2, 3\\}", "x \\neq 2"),
    ("(-\\infty,2]\\cup[2,\\infty)", "x \\neq 2"), ("(-\\infty, 2) \\cup (2, \\infty)", "\\mathbb{R}"),
    # 4. vectors: an entry changed, another length, a set, an interval, a matrix (never a tuple)
    ("\\langle 1, 2, 4\\rangle", "(1,2,3)"), ("\\langle 1, 2\\rangle", "(1,2,3)"), ("<1,2,4>", "(1,2,3)"),
    ("\\langle 3, 2, 1\\rangle", "(1,2,3)"), ("\\langle 1, 2, 3\\rangle", "\\{1, 2, 3\\}"),
    ("\\langle 1, 2\\rangle", "1 < x < 2"), ("\\langle 1, 2\\rangle", "x \\in (1, 2)"),
    ("\\langle 1, 2, 3\\rangle", "[1, 2, 3]"), ("\\begin{pmatrix}1\\\\2\\\\3\\end{pmatrix}", "\\langle 1,2,3\\rangle"),
    ("\\langle 1, 2, 3, 0\\rangle", "(1,2,3)"),
    # 5. another step, another set of k, another offset, a non-integer parameter letter, one value
    ("\\frac{\\pi}{4} + 2k\\pi", FAMILY), ("\\frac{\\pi}{4}+k\\pi, k\\in\\mathbb{N}", FAMILY),
    ("\\frac{\\pi}{2}+k\\pi", FAMILY), ("\\frac{\\pi}{4}", FAMILY), ("\\frac{\\pi}{4} + t\\pi", FAMILY),
    ("\\frac{\\pi}{4} + k^2\\pi", FAMILY), ("\\frac{\\pi}{4} + \\frac{k\\pi}{2}", FAMILY),
    ("\\frac{\\pi}{4} + k\\pi, \\frac{3\\pi}{4} + k\\pi", FAMILY), (FAMILY, "\\frac{\\pi}{4} + 2k\\pi"),
    ("\\frac{\\pi}{3} + 2k\\pi", TWO_FAMILIES), ("\\frac{\\pi}{3} + k\\pi, -\\frac{\\pi}{3} + k\\pi", TWO_FAMILIES),
    ("2n", "2k+1, k \\in \\mathbb{Z}"), ("\\frac{\\pi}{4} + k\\pi + n", FAMILY),
    # no qualifier on either side: nothing is a family (a formula in n stays a formula)
    ("\\frac{\\pi}{4}+n\\pi", "\\frac{\\pi}{4} + k\\pi"), ("\\frac{5\\pi}{4}+k\\pi", "\\frac{\\pi}{4} + k\\pi"),
    ("2n+3", "2n+1"),
    # 6. a wrong letter with the right value, the right letter with a wrong value, a wrong letter alone
    ("(B) 12", "(C) 12"), ("(C) 13", "(C) 12"), ("B", "(C) 12"), ("(B)", "\\text{(C)}\\ 12"), ("13", "(C) 12"),
    ("12C", "(C) 12"), ("\\text{(B)}\\ 12", "\\text{(C)}\\ 12"), ("D", "C: 12"), ("C: 13", "C: 12"),
    ("\\text{(B)}", "\\textbf{(C) }12"),
    # item 1 leftovers: another unit in the quantity, a changed unit on one item, an item missing
    ("\\text{5 km}", "5\\text{ cm}"), ("5\\text{ km}", "\\text{5 cm}"), ("\\text{5 cm}", "5\\text{ m}"),
    ("3\\text{ cm}, 4\\text{ km}", "3\\text{ cm}, 4\\text{ cm}"),
    ("3\\text{ cm}, 4\\text{ cm}", "3\\text{ cm}, 4\\text{ m}"),
    ("3\\text{ cm}", "3\\text{ cm}, 4\\text{ cm}"), ("3, 5", "3\\text{ cm}, 4\\text{ cm}"),
    ("3\\text{ cm}, 4\\text{ cm}, 5\\text{ cm}", "3\\text{ cm}, 4\\text{ cm}"), ("\\text{5 or more}", "5"),
    ("3\\text{ cm}, 4\\text{ s}", "3\\text{ cm}, 4\\text{ cm}"),
]


@pytest.mark.parametrize("pred,truth", [pytest.param(p, t, id=f"{p}|{t}") for p, t in ACCEPT])
def test_notation_accepted(pred, truth):
    assert equivalent(pred, truth)
    assert is_correct(f"So the answer is $\\boxed{{{pred}}}$.", truth)


@pytest.mark.parametrize("pred,truth", [pytest.param(p, t, id=f"{p}|{t}") for p, t in REJECT])
def test_notation_rejected(pred, truth):
    assert not equivalent(pred, truth)
    assert not is_correct(f"So the answer is $\\boxed{{{pred}}}$.", truth)


def test_repeating_decimals_are_exact():
    assert rewrite_notations("0.\\overline{3}") == "{\\frac{1}{3}}"
    assert rewrite_notations("0.1\\overline{6}") == "{\\frac{1}{6}}"
    assert rewrite_notations("1.\\overline{27}") == "{\\frac{14}{11}}"
    # a long period stays exact: 0.(0588235294117647) = 1/17, and 1/17 + 10^-40 is not it
    assert equivalent("0.\\overline{0588235294117647}", "\\frac{1}{17}")
    assert not equivalent("0.\\overline{0588235294117647}", "\\frac{1}{17} + 10^{-40}")
    # a segment's bar and other overlines are not numbers
    assert rewrite_notations("\\overline{AB}") == "\\overline{AB}"
    assert rewrite_notations("x.\\overline{3}") == "x.\\overline{3}"


def test_qualifier_rewrite():
    assert rewrite_qualifier("2k\\pi \\text{ for any integer } k") == "2k\\pi, k \\in \\mathbb{Z}"
    assert rewrite_qualifier("2k\\pi, k \\text{ is an integer}") == "2k\\pi, k \\in \\mathbb{Z}"
    # a relation, not a qualifier; the integers themselves; another set
    assert rewrite_qualifier("2k \\in \\mathbb{Z}") == "2k \\in \\mathbb{Z}"
    assert rewrite_qualifier("x \\in \\mathbb{Z}") == "x \\in \\mathbb{Z}"
    assert rewrite_qualifier("2k, k \\in \\mathbb{Z}^+") == "2k, k \\in \\mathbb{Z}^+"


def test_split_choice():
    assert split_choice("\\text{(C)}\\ 12") == ("C", "12")
    assert split_choice("\\text{(C) 12}") == ("C", "12")
    assert split_choice("C: 12") == ("C", "12")
    # not a choice with a value: a ratio of labels, two choices, a relation, a lone letter
    for s in ("A:B = 2:3", "A : B", "(A) and (C)", "(A) = 5", "(C)", "C", "(A) 2 (B) 3", "(C)^2"):
        assert split_choice(s) is None, s


def test_comma_items():
    assert comma_items("3\\text{ cm}, 4\\text{ cm}") == ["3\\text{ cm}", "4\\text{ cm}"]
    assert comma_items("1,000\\text{ m}") == ["1,000\\text{ m}"]
    assert comma_items("(1, 2)\\text{ cm}") == ["(1, 2)\\text{ cm}"]
    assert comma_items("3\\,\\text{cm}") == ["3\\,\\text{cm}"]


def test_grade_with_a_choice_key_in_a_list_of_truths():
    assert is_correct("\\boxed{\\textbf{(C)}}", ["\\text{(C)}\\ 12"])
    assert not is_correct("\\boxed{\\textbf{(D)}}", ["\\text{(C)}\\ 12"])


def test_notations_are_bounded():
    t = time.monotonic()
    hostile = ["0." + "1" * 40 + "\\overline{" + "9" * 40 + "}", "\\mathbb{R}\\setminus\\{" + ",".join(
        str(k) for k in range(60)) + "\\}", ", ".join(["\\frac{\\pi}{4} + k\\pi"] * 60) + ", k \\in \\mathbb{Z}",
        "\\frac{\\pi}{4} + k^{9^{9^{9}}}\\pi, k\\in\\mathbb{Z}", "(C) " + "9^{" * 30 + "9" + "}" * 30,
        ", ".join(["1\\text{ cm}"] * 64), "\\langle " + ", ".join(["1"] * 70) + "\\rangle"]
    for s in hostile:
        for other in (FAMILY, "x \\neq 2", "(C) 12", "\\text{5 cm}", s):
            equivalent(s, other, timeout_s=1.0)
            equivalent(other, s, timeout_s=1.0)
    assert time.monotonic() - t < 20.0


def test_families_in_several_boxes():
    two = "so $x = \\boxed{\\frac{\\pi}{3} + 2k\\pi}$ or $x = \\boxed{-\\frac{\\pi}{3} + 2k\\pi}$."
    assert is_correct(two, TWO_FAMILIES)
    assert not is_correct(two.replace("-\\frac{\\pi}{3}", "\\frac{2\\pi}{3}"), TWO_FAMILIES)
    assert not is_correct("$\\boxed{\\frac{\\pi}{3} + 2k\\pi}$", TWO_FAMILIES)


def test_unit_lists_with_semicolons_and_single_items():
    assert equivalent("90^{\\circ}; 60^{\\circ}", "90^{\\circ}, 60^{\\circ}")
    assert equivalent("3\\text{ cm}; 4\\text{ cm}", "3, 4")
    assert not equivalent("90^{\\circ}; 50^{\\circ}", "90^{\\circ}, 60^{\\circ}")
    assert comma_items("(1;2;0)") == ["(1;2;0)"] and comma_items("3\\;\\text{cm}") == ["3\\;\\text{cm}"]
