"""The length studies, from the responses already generated (no extra generation):
accuracy by response-length bucket (Figures 10-11, :func:`length_buckets`) and avg@n under a token
budget (Figure 12, :func:`budget_curve`), for every model (:func:`length_study`).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .protocol import EvaluationError, ModelResult
from .responses import long_responses


def token_label(x: int) -> str:
    return f"{x // 1024}K" if x >= 1024 and x % 1024 == 0 else str(x)


def bucket_labels(edges: Sequence[int]) -> list[str]:
    """``[16384, 32768]`` -> ``["<16K", "16K-32K", ">=32K"]``."""
    e = [token_label(x) for x in edges]
    return [f"<{e[0]}"] + [f"{a}-{b}" for a, b in zip(e[:-1], e[1:])] + [f">={e[-1]}"]


def length_buckets(df: pd.DataFrame, edges: Sequence[int]) -> pd.DataFrame:
    """Accuracy of responses grouped by their length in tokens (Figures 10-11): buckets
    [0, e0), [e0, e1), ..., [e_last, inf). ``df`` is a graded frame (one row per problem) or a
    long frame (one row per response)."""
    lr = df if "sample" in df.columns else long_responses(df)
    if not len(edges):
        raise EvaluationError("length_buckets: no bucket edges (evaluation.length_buckets)")
    toks = pd.to_numeric(lr["num_tokens"], errors="coerce")
    if toks.isna().any():
        raise EvaluationError("length_buckets: some responses have no token count")
    labels = bucket_labels(edges)
    idx = np.searchsorted(np.asarray(edges), toks.to_numpy(), side="right")
    rows = []
    for i, lab in enumerate(labels):
        sel = lr[idx == i]
        k = int(sel["correct"].astype(bool).sum())
        rows.append({"bucket": lab, "low": 0 if i == 0 else int(edges[i - 1]),
                     "high": int(edges[i]) if i < len(edges) else None,
                     "responses": int(len(sel)), "correct": k,
                     "accuracy": 100 * k / len(sel) if len(sel) else float("nan"),
                     "questions": int(sel[["benchmark", "index"]].drop_duplicates().shape[0]),
                     "truncated": int(sel["truncated"].fillna(False).astype(bool).sum())})
    return pd.DataFrame(rows)


def budget_curve(df: pd.DataFrame, budgets: Sequence[int], *, max_new_tokens: int | None = None) -> pd.DataFrame:
    """Inference-time scaling (Figure 12): avg@n (percent, mean over questions) when every response
    longer than the budget counts as truncated, i.e. wrong. Budgets above the run's
    ``max_new_tokens`` are marked: there the value is a lower bound (a truncated response might
    have finished correctly)."""
    lr = df if "sample" in df.columns else long_responses(df)
    toks = pd.to_numeric(lr["num_tokens"], errors="coerce")
    if toks.isna().any():
        raise EvaluationError("budget_curve: some responses have no token count")
    rows = []
    for b in budgets:
        ok = lr["correct"].astype(bool) & (toks <= b)
        per_q = ok.groupby([lr["benchmark"], lr["index"]]).mean()
        rows.append({"budget": int(b), "budget_label": token_label(int(b)),
                     "accuracy": 100 * float(per_q.mean()) if len(per_q) else float("nan"),
                     "over_budget": 100 * float((toks > b).mean()) if len(toks) else float("nan"),
                     "lower_bound": bool(max_new_tokens is not None and b > max_new_tokens)})
    return pd.DataFrame(rows)


def _frames_of(result: ModelResult, benchmarks: Iterable[str] | None) -> pd.DataFrame:
    names = [b for b in (benchmarks or result.frames) if b in result.frames]
    if not names:
        return pd.DataFrame()
    return pd.concat([long_responses(result.frames[b]) for b in names], ignore_index=True)


def length_study_pools(results: Sequence[ModelResult]) -> list[list[str]]:
    """Benchmark pools of the length-bucket study: every benchmark on its own, plus AIME24+25
    pooled as in the report (Figures 10-11: 60 problems x 32) when both were evaluated."""
    have = list(dict.fromkeys(b for r in results for b in r.frames))
    pools = [[b] for b in have]
    if "aime24" in have and "aime25" in have:
        pools.append(["aime24", "aime25"])
    return pools


def length_study(results: Sequence[ModelResult], proto: Mapping, *,
                 pools: Sequence[Sequence[str]] | None = None) -> dict[str, pd.DataFrame]:
    """Both length studies for every model from the responses already generated.

    Returns ``{"buckets": ..., "budget": ...}``: accuracy by response-length bucket per model and
    benchmark pool (model, yarn, pool, bucket, responses, correct, accuracy, ...), and the budget
    curve per model and benchmark (model, yarn, benchmark, budget, accuracy, ...).
    """
    pools = [list(p) for p in (pools or length_study_pools(results))]
    btabs, ctabs = [], []
    for r in results:
        for pool in pools:
            lr = _frames_of(r, pool)
            if not len(lr) or not set(pool) <= set(r.frames):
                continue
            t = length_buckets(lr, proto["length_buckets"])
            t.insert(0, "pool", "+".join(pool))
            t.insert(0, "yarn", r.spec.yarn)
            t.insert(0, "model", r.label)
            btabs.append(t)
        for name, df in r.frames.items():
            c = budget_curve(df, proto["budgets"], max_new_tokens=proto["max_new_tokens"])
            c.insert(0, "benchmark", name)
            c.insert(0, "yarn", r.spec.yarn)
            c.insert(0, "model", r.label)
            ctabs.append(c)
    return {"buckets": pd.concat(btabs, ignore_index=True) if btabs else pd.DataFrame(),
            "budget": pd.concat(ctabs, ignore_index=True) if ctabs else pd.DataFrame()}


def yarn_pairs(results: Sequence[ModelResult]) -> list[tuple[ModelResult, ModelResult]]:
    """(without YaRN, with YaRN) pairs of the same model path, for the with/without comparison."""
    out = []
    for a in results:
        for b in results:
            if a.spec.path == b.spec.path and not a.spec.yarn and b.spec.yarn:
                out.append((a, b))
    return out
