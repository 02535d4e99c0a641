"""Evaluation statistics: avg@k, unbiased pass@k, maj@k, distinct-n diversity, question-level
bootstrap intervals and paired differences (see shared/reference/eval-reporting.md).

Inputs are "ragged tables": one sequence per problem (its samples), e.g. ``correct[i][j]`` is
whether sample j of problem i is correct.  Every estimator averages per-problem values with equal
weight per problem.
"""
from __future__ import annotations

import math
from collections import Counter
from statistics import NormalDist
from typing import Any, Callable, Hashable, NamedTuple, Sequence

import numpy as np


def _rows(table: Any, name: str) -> list[np.ndarray]:
    """A 2-D array or a list of per-problem sequences -> list of 1-D arrays."""
    if isinstance(table, np.ndarray) and table.ndim == 2:
        return [np.asarray(r) for r in table]
    try:
        rows = [np.asarray(list(r)) for r in table]
    except TypeError as e:
        raise ValueError(f"{name}: expected one sequence of samples per problem") from e
    return rows


def _first_k(row: np.ndarray, k: int | None, name: str) -> np.ndarray:
    if k is None:
        return row
    if k < 1 or k > len(row):
        raise ValueError(f"{name}: k={k} must be between 1 and the problem's sample count {len(row)}")
    return row[:k]


def per_problem_accuracy(correct: Any, k: int | None = None) -> np.ndarray:
    """p̂_i = c_i / n_i (using the first ``k`` samples if given)."""
    rows = _rows(correct, "correct")
    out = []
    for r in rows:
        r = _first_k(r, k, "correct")
        if len(r) == 0:
            raise ValueError("correct: a problem has no samples")
        out.append(float(np.mean(r.astype(float))))
    return np.asarray(out)


def avg_at_k(correct: Any, k: int | None = None) -> float:
    """avg@k: mean over problems of the accuracy of the first ``k`` samples (all if ``None``).

    With all n samples this is the unbiased pass@1 estimate POLARIS reports as avg@n."""
    p = per_problem_accuracy(correct, k)
    return float(p.mean()) if len(p) else float("nan")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``c`` correct out of ``n`` samples (Chen et al. 2021):
    1 - C(n-c, k) / C(n, k), computed as 1 - prod_{j=n-c+1}^{n} (1 - k/j)."""
    n, c, k = int(n), int(c), int(k)
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass_at_k: need n >= 1 and 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k: k={k} must be between 1 and n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for j in range(n - c + 1, n + 1):
        prod *= 1.0 - k / j
    return 1.0 - prod


def pass_at_k_array(n: Any, c: Any, k: int) -> np.ndarray:
    """Vectorised :func:`pass_at_k` over problems (``n`` scalar or per problem, ``c`` per problem)."""
    c = np.asarray(c, dtype=np.int64)
    n = np.broadcast_to(np.asarray(n, dtype=np.int64), c.shape)
    k = int(k)
    if c.size and (n.min() < 1 or c.min() < 0 or (c > n).any()):
        raise ValueError("pass_at_k_array: need n >= 1 and 0 <= c <= n")
    if c.size and (k < 1 or k > n.min()):
        raise ValueError(f"pass_at_k_array: k={k} must be between 1 and min(n)={int(n.min())}")
    out = np.ones(c.shape, dtype=float)
    for nv in np.unique(n):
        sel = (n == nv)
        # log S[m] = sum_{j=m}^{n} log(1 - k/j) for m > k (suffix sums); 1 - exp(S[n-c+1])
        j = np.arange(1, nv + 1, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            logt = np.where(j > k, np.log1p(-k / j), -np.inf)
        suffix = np.concatenate([np.cumsum(logt[::-1])[::-1], [0.0]])  # suffix[m-1] = sum_{j>=m}
        cs = c[sel]
        start = nv - cs + 1  # first j in the product
        vals = np.where(nv - cs < k, 1.0, 1.0 - np.exp(suffix[np.clip(start - 1, 0, nv)]))
        out[sel] = vals
    return out


def pass_at_k_mean(correct: Any, k: int) -> float:
    """Mean unbiased pass@k over problems of a correctness table."""
    rows = _rows(correct, "correct")
    n = np.array([len(r) for r in rows])
    c = np.array([int(np.sum(r.astype(bool))) for r in rows])
    return float(pass_at_k_array(n, c, k).mean()) if len(rows) else float("nan")


def default_ks(n: int) -> list[int]:
    """k = 1, 2, 4, ... up to n, plus n itself."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if n >= 1 and ks[-1] != n:
        ks.append(n)
    return ks


def majority_vote(answers: Sequence[Hashable | None]) -> int | None:
    """Index of the first sample carrying the majority answer; ``None`` answers do not vote.

    Ties go to the answer whose first occurrence comes first; ``None`` if nobody voted."""
    counts: Counter = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    top = max(counts.values())
    for i, a in enumerate(answers):
        if a is not None and counts[a] == top:
            return i
    return None  # pragma: no cover


def maj_at_k(answers: Any, correct: Any, k: int | None = None) -> float:
    """maj@k: fraction of problems whose majority answer among the first ``k`` samples is correct.

    ``answers[i][j]`` is a canonical answer (e.g. ``grading.canonical_answer``) or ``None`` (no
    answer: does not vote); ``correct[i][j]`` the sample's verdict.  Ties: see
    :func:`majority_vote`.  A problem with no votes counts as wrong."""
    arows, crows = _rows(answers, "answers"), _rows(correct, "correct")
    if len(arows) != len(crows):
        raise ValueError(f"maj_at_k: {len(arows)} answer rows but {len(crows)} correctness rows")
    if not arows:
        return float("nan")
    hits = []
    for a, c in zip(arows, crows):
        if len(a) != len(c):
            raise ValueError("maj_at_k: answers and correct differ in sample count for a problem")
        a, c = list(_first_k(a, k, "answers")), _first_k(c, k, "correct")
        a = [None if (x is None or (isinstance(x, float) and math.isnan(x))) else x for x in a]
        w = majority_vote(a)
        hits.append(bool(c[w]) if w is not None else False)
    return float(np.mean(hits))


def _ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    w = str(text).split()
    return [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]


def distinct_n_problem(texts: Sequence[str], n: int = 4) -> float:
    """Unique n-grams / total n-grams over all samples of one problem (whitespace words, n-grams
    never cross sample boundaries).  ``nan`` if the samples have no n-gram (all shorter than n
    words)."""
    total, uniq = 0, set()
    for t in texts:
        g = _ngrams(t, n)
        total += len(g)
        uniq.update(g)
    return len(uniq) / total if total else float("nan")


def distinct_n(texts: Any, n: int = 4) -> float:
    """POLARIS's diversity (reference §6.1): distinct-n of each problem's samples, averaged over
    problems.

    ``texts`` is either one problem's samples (a sequence of strings) or one sequence of samples
    per problem.  Problems whose samples have no n-gram (all shorter than ``n`` words) are left
    out of the average; ``nan`` if no problem has one.  In [0, 1] (the blog plots x100)."""
    if n < 1:
        raise ValueError(f"distinct_n: n must be >= 1, got {n}")
    if isinstance(texts, str):
        texts = [texts]
    items = list(texts)
    if not items:
        return float("nan")
    if all(isinstance(t, str) for t in items):
        return distinct_n_problem(items, n)
    vals = [distinct_n_problem([str(t) for t in (p if not isinstance(p, str) else [p])], n)
            for p in items]
    vals = [v for v in vals if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


class CI(NamedTuple):
    """A confidence interval (indexable as ``ci[0]``, ``ci[1]``)."""

    low: float
    high: float


def _is_mean(stat) -> bool:
    return stat is None or stat is np.mean or stat is np.average


def bootstrap_ci(values: Any, stat: Callable | None = None, *, n_resamples: int = 10_000,
                 alpha: float = 0.05, seed: int = 0, n_boot: int | None = None) -> CI:
    """Percentile bootstrap interval of ``stat`` (default: mean) over questions.

    Resamples the per-question values (e.g. p̂_i) with replacement, so the interval includes the
    between-question variance (the one that matters for "is model A better on AIME-style
    problems").  ``n_boot`` is an alias of ``n_resamples``."""
    if n_boot is not None:
        n_resamples = n_boot
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError("bootstrap_ci: need a non-empty 1-D sequence of per-question values")
    if not 0 < alpha < 1:
        raise ValueError(f"bootstrap_ci: alpha must be in (0, 1), got {alpha}")
    if n_resamples < 1:
        raise ValueError(f"bootstrap_ci: n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    q = len(v)
    stats = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // q)
    for s in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - s)
        idx = rng.integers(0, q, size=(m, q))
        sample = v[idx]
        if _is_mean(stat):
            stats[s:s + m] = sample.mean(axis=1)
        else:
            stats[s:s + m] = [float(stat(row)) for row in sample]
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return CI(float(lo), float(hi))


def question_se(values: Any) -> float:
    """Question-level standard error sd(p̂_i)/sqrt(Q) (Miller 2024); ``nan`` for Q < 2."""
    v = np.asarray(list(values), dtype=float)
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def paired_difference(a_per_q: Any, b_per_q: Any, *, alpha: float = 0.05, n_resamples: int = 10_000,
                      seed: int = 0) -> dict:
    """Paired difference of two models on the same questions (in the same order).

    d_i = a_i - b_i; mean(d), SE = sd(d)/sqrt(Q), a normal interval mean ± z·SE and a percentile
    bootstrap interval over questions.  ``ci_low``/``ci_high`` are the bootstrap interval (the
    normal one when ``n_resamples`` is 0)."""
    a = np.asarray(list(a_per_q), dtype=float)
    b = np.asarray(list(b_per_q), dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_difference: need two 1-D sequences of equal length, got "
                         f"{a.shape} and {b.shape}")
    if len(a) == 0:
        raise ValueError("paired_difference: no questions")
    d = a - b
    q = len(d)
    mean = float(d.mean())
    se = question_se(d)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    nlo, nhi = (mean - z * se, mean + z * se) if q > 1 else (float("nan"), float("nan"))
    out = {"mean_diff": mean, "se": se, "questions": q, "normal_low": nlo, "normal_high": nhi,
           "alpha": alpha}
    if n_resamples > 0:
        blo, bhi = bootstrap_ci(d, n_resamples=n_resamples, alpha=alpha, seed=seed)
        out.update(boot_low=blo, boot_high=bhi, ci_low=blo, ci_high=bhi, ci_method="bootstrap")
    else:
        out.update(ci_low=nlo, ci_high=nhi, ci_method="normal")
    return out


def summarize(correct: Any, *, answers: Any = None, texts: Any = None, truncated: Any = None,
              has_box: Any = None, ks: Sequence[int] | None = None, n_resamples: int = 1000,
              seed: int = 0, alpha: float = 0.05) -> dict:
    """Summary of a graded responses table (one row of samples per problem).

    Keys: problems, responses, n (samples per problem; min if ragged), avg@n with its
    question-level SE and bootstrap interval, pass@k for ``ks`` (default 1, 2, 4, ..., n),
    solve_none / solve_all counts, and when given: maj@n (``answers``: canonical answers),
    distinct-4 (``texts``), truncation_rate (``truncated``), missing_box_rate (``has_box``)."""
    rows = _rows(correct, "correct")
    if not rows:
        raise ValueError("summarize: no problems")
    ns = [len(r) for r in rows]
    if min(ns) == 0:
        raise ValueError("summarize: a problem has no samples")
    n = min(ns)
    p = per_problem_accuracy(rows)
    cs = np.array([int(np.sum(r.astype(bool))) for r in rows])
    out: dict[str, Any] = {"problems": len(rows), "responses": int(sum(ns)), "n": n,
                           "ragged": len(set(ns)) > 1}
    out["avg@n"] = float(p.mean())
    out["avg@n_se"] = question_se(p)
    ci = bootstrap_ci(p, n_resamples=n_resamples, alpha=alpha, seed=seed) if len(p) > 1 else \
        CI(float("nan"), float("nan"))
    out["avg@n_ci"] = [ci.low, ci.high]
    out["pass@k"] = {int(k): float(pass_at_k_array(np.array(ns), cs, k).mean())
                     for k in (ks or default_ks(n)) if 1 <= k <= n}
    out["solve_none"] = int((cs == 0).sum())
    out["solve_all"] = int((cs == np.array(ns)).sum())
    if answers is not None:
        out["maj@n"] = maj_at_k(answers, rows)
    if texts is not None:
        out["distinct_4"] = distinct_n([list(t) for t in texts], n=4)
    if truncated is not None:
        flat = [bool(x) for r in truncated for x in r]
        out["truncation_rate"] = float(np.mean(flat)) if flat else float("nan")
    if has_box is not None:
        flat = [bool(x) for r in has_box for x in r]
        out["missing_box_rate"] = float(1 - np.mean(flat)) if flat else float("nan")
    return out
