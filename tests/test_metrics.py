"""Evaluation statistics against direct computations."""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from polaris_repro import metrics
from polaris_repro.metrics import (avg_at_k, bootstrap_ci, distinct_n, maj_at_k, majority_vote,
                                   paired_difference, pass_at_k, pass_at_k_array, summarize)


def _pass_at_k_direct(n: int, c: int, k: int) -> float:
    """Fraction of k-subsets of the n samples that contain at least one correct sample."""
    samples = [1] * c + [0] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 11))
def test_pass_at_k_matches_direct_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            want = _pass_at_k_direct(n, c, k)
            assert pass_at_k(n, c, k) == pytest.approx(want, abs=1e-12), (n, c, k)
            assert pass_at_k_array(n, [c], k)[0] == pytest.approx(want, abs=1e-12), (n, c, k)


def test_pass_at_k_edge_cases_and_large_n():
    assert pass_at_k(32, 0, 1) == 0.0 and pass_at_k(32, 0, 32) == 0.0       # c = 0
    assert pass_at_k(32, 32, 1) == 1.0 and pass_at_k(32, 32, 7) == 1.0      # c = n
    assert pass_at_k(32, 1, 32) == 1.0 and pass_at_k(32, 5, 32) == 1.0      # k = n, c > 0
    assert pass_at_k(32, 5, 1) == pytest.approx(5 / 32)                     # pass@1 = c/n
    # stable for large n (the closed form with binomials overflows floats)
    n, c, k = 2000, 3, 100
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k), rel=1e-9)
    for bad in [(0, 0, 1), (4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_pass_at_k_array_ragged_matches_scalar():
    rng = np.random.default_rng(0)
    n = rng.integers(4, 40, size=200)
    c = np.array([rng.integers(0, x + 1) for x in n])
    for k in (1, 2, 3, 4):
        got = pass_at_k_array(n, c, k)
        want = [pass_at_k(a, b, k) for a, b in zip(n, c)]
        np.testing.assert_allclose(got, want, atol=1e-12)
    with pytest.raises(ValueError):
        pass_at_k_array(4, [1, 2], 5)


def test_avg_at_k_and_pass1_agree():
    table = [[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]]
    assert avg_at_k(table) == pytest.approx((0.5 + 0 + 0.75) / 3)
    assert avg_at_k(table, k=2) == pytest.approx((0.5 + 0 + 1) / 3)
    assert metrics.pass_at_k_mean(table, 1) == pytest.approx(avg_at_k(table))
    # ragged rows are averaged per problem, not per response
    assert avg_at_k([[1], [0, 0, 0]]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        avg_at_k(table, k=5)


def test_majority_vote_and_ties():
    assert majority_vote(["a", "b", "b"]) == 1
    assert majority_vote(["a", "b", "b", "a"]) == 0          # tie: first seen wins
    assert majority_vote(["b", "a", "a", "b"]) == 0
    assert majority_vote([None, None, "c"]) == 2              # missing answers do not vote
    assert majority_vote([None, None]) is None
    answers = [["a", "b", "b", None], ["x", "y", "x", "y"], [None, None, None, None]]
    correct = [[0, 1, 1, 0], [0, 1, 0, 1], [0, 0, 0, 0]]
    assert maj_at_k(answers, correct) == pytest.approx(1 / 3)
    assert maj_at_k(answers, correct, k=1) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        maj_at_k(answers[:2], correct)


def test_distinct_n():
    # one problem: 2 samples, 5 words each -> 2 four-grams each; "a b c d" is shared
    assert distinct_n(["a b c d e", "a b c d f"], n=4) == pytest.approx(3 / 4)
    assert distinct_n(["a b c d e", "a b c d e"], n=4) == pytest.approx(2 / 4)
    # n-grams never cross sample boundaries; whitespace of any kind splits words
    assert distinct_n(["a b", "c d"], n=2) == pytest.approx(1.0)
    assert distinct_n(["a\tb\n c"], n=2) == pytest.approx(1.0)
    # per-problem values are averaged over problems; problems without n-grams are left out
    assert distinct_n([["a b c d e", "a b c d e"], ["w x y z"], ["too short"]], n=4) == pytest.approx(0.75)
    assert math.isnan(distinct_n(["short text"], n=4))
    assert math.isnan(distinct_n([], n=4))
    with pytest.raises(ValueError):
        distinct_n(["a"], n=0)


def test_bootstrap_ci_properties():
    rng = np.random.default_rng(1)
    v = rng.random(60)
    lo, hi = bootstrap_ci(v, n_resamples=4000, seed=0)
    assert lo < v.mean() < hi
    assert bootstrap_ci(v, n_resamples=4000, seed=0) == (lo, hi)           # seeded
    # roughly mean ± 1.96·SE for a sample of 60
    se = v.std(ddof=1) / math.sqrt(len(v))
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.2)
    # more questions -> narrower; a custom statistic works
    w_small = np.subtract(*bootstrap_ci(v[:15], n_resamples=2000)[::-1])
    w_big = np.subtract(*bootstrap_ci(np.tile(v, 4), n_resamples=2000)[::-1])
    assert w_big < w_small
    mlo, mhi = bootstrap_ci(v, np.median, n_resamples=500)
    assert mlo <= np.median(v) <= mhi
    assert bootstrap_ci([0.5, 0.5, 0.5], n_boot=100) == (0.5, 0.5)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_paired_difference():
    a = np.array([1.0, 0.75, 0.5, 1.0, 0.0, 0.25])
    b = np.array([0.5, 0.75, 0.25, 0.5, 0.0, 0.0])
    r = paired_difference(a, b, n_resamples=3000, seed=0)
    d = a - b
    assert r["mean_diff"] == pytest.approx(d.mean())
    assert r["se"] == pytest.approx(d.std(ddof=1) / math.sqrt(len(d)))
    assert r["normal_low"] == pytest.approx(d.mean() - 1.959964 * r["se"], rel=1e-5)
    assert r["ci_low"] == r["boot_low"] and r["ci_method"] == "bootstrap"
    assert r["boot_low"] <= d.mean() <= r["boot_high"] and r["questions"] == 6
    # pairing removes shared difficulty: the paired SE is far below the unpaired one
    hard = np.linspace(0, 1, 30)
    rp = paired_difference(hard + 0.05, hard, n_resamples=0)
    assert rp["se"] == pytest.approx(0.0, abs=1e-12) and rp["ci_method"] == "normal"
    with pytest.raises(ValueError):
        paired_difference([1, 2], [1])


def test_summarize():
    correct = [[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]]
    s = summarize(correct, answers=[["a", "b", "a", "a"], ["x", "y", "z", "w"], ["q"] * 4],
                  texts=[["a b c d e"] * 4] * 3, truncated=[[0, 0, 1, 0]] * 3,
                  has_box=[[1, 1, 0, 1]] * 3, n_resamples=200)
    assert s["problems"] == 3 and s["n"] == 4 and s["responses"] == 12
    assert s["avg@n"] == pytest.approx((0.75 + 0 + 1) / 3)
    assert list(s["pass@k"]) == [1, 2, 4]
    assert s["pass@k"][1] == pytest.approx(s["avg@n"])
    assert s["pass@k"][4] == pytest.approx(2 / 3)
    assert s["solve_none"] == 1 and s["solve_all"] == 1
    assert s["maj@n"] == pytest.approx(1 / 3 + 1 / 3)
    assert s["distinct_4"] == pytest.approx(2 / 8)
    assert s["truncation_rate"] == pytest.approx(0.25) and s["missing_box_rate"] == pytest.approx(0.25)
    assert s["avg@n_ci"][0] <= s["avg@n"] <= s["avg@n_ci"][1]
    assert metrics.default_ks(6) == [1, 2, 4, 6] and metrics.default_ks(8) == [1, 2, 4, 8]
