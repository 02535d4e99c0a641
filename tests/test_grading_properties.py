"""Property test of the issue-22 answer forms with a seeded generator (hypothesis is not a
dependency): for random values of each form, two renderings of the same value grade as equal and a
perturbed value (a near miss: the misreading the form invites, a changed term, a swapped cell...)
grades as different (generators in ``benchmarks/forms22_pairs.py``, shared with the forms
benchmark).  Every case is also graded through :func:`grade` as a boxed response."""
from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from polaris_repro.grading import equivalent, is_correct

_spec = importlib.util.spec_from_file_location(
    "forms22_pairs", Path(__file__).resolve().parent.parent / "benchmarks" / "forms22_pairs.py")
forms22 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(forms22)

N = 25          # random values per form


def _cases():
    out = []
    for name, fn in forms22.GENERATORS.items():
        rng = random.Random(f"issue22|{name}")
        for k in range(N):
            a, b, w = fn(rng)
            out.append(pytest.param(a, b, w, name != "scientific", id=f"{name}-{k}"))
    return out


@pytest.mark.parametrize("render_a,render_b,perturbed,symmetric", _cases())
def test_two_renderings_equal_perturbed_differs(render_a, render_b, perturbed, symmetric):
    """``render_a`` is the ground truth.  Symmetric except for scientific notation: a rounded
    ground truth accepts the exact value, but a 5-digit answer does not match an exact truth."""
    assert equivalent(render_b, render_a), (render_b, render_a)
    assert not symmetric or equivalent(render_a, render_b), (render_a, render_b)
    assert not equivalent(perturbed, render_a), (perturbed, render_a)
    assert is_correct(f"Hence $\\boxed{{{render_b}}}$.", render_a)
    assert not is_correct(f"Hence $\\boxed{{{perturbed}}}$.", render_a)
