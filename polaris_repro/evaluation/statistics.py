"""Statistics of graded responses: the per-question table, avg@n with its question-level
interval, pass@k and maj@n per benchmark (:func:`benchmark_metrics`), and the long results table
with the paired difference to the base model (:func:`results_table`).
"""
from __future__ import annotations

import json
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import reference_results as ref
from .protocol import EvaluationError, ModelResult, NO_INTERVAL
from .responses import answers_of, long_responses


def _majority(preds: Sequence[str | None], correct: Sequence[bool]) -> tuple[str | None, bool]:
    """Majority vote over the extracted answers, equivalent answers pooled under
    ``grading.canonical_answer``; ties go to the answer seen first; missing answers do not vote.
    The question counts as solved by maj@n when the winning answer was graded correct."""
    from ..grading import canonical_answer
    from ..metrics import majority_vote

    keys = [canonical_answer(p) if p is not None else None for p in preds]
    j = majority_vote(keys)
    if j is None:
        return None, False
    ok = any(bool(c) for k, c in zip(keys, correct) if k == keys[j])
    return preds[j], ok


def question_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per question: correct count, accuracy, lengths, truncations, missing boxes, the
    grader/math-verify disagreements and the extracted answers (JSON list)."""
    rows = []
    for i, row in enumerate(df.to_dict("records")):
        correct = [bool(x) for x in row["correct"]]
        n = len(correct)
        toks = [x for x in (row.get("num_tokens") if row.get("num_tokens") is not None else [])
                if x is not None]
        fins = list(row.get("finish_reasons")) if row.get("finish_reasons") is not None else []
        mv = list(row.get("mv_correct")) if row.get("mv_correct") is not None else [None] * n
        preds = list(row["pred"])
        maj, maj_ok = _majority(preds, correct)
        rows.append({
            "benchmark": row.get("benchmark"), "index": int(row.get("index", i)),
            "ground_truth": " | ".join(answers_of(row)), "n": n, "correct": sum(correct),
            "accuracy": sum(correct) / n if n else float("nan"),
            "mean_length": float(np.mean(toks)) if toks else float("nan"),
            "min_length": int(min(toks)) if toks else None, "max_length": int(max(toks)) if toks else None,
            "truncated": sum(f == "length" for f in fins) if fins else None,
            "missing_box": sum(not bool(b) for b in row["has_box"]),
            "mv_correct": sum(bool(x) for x in mv if x is not None),
            "mv_undecided": sum(x is None for x in mv),
            "disagreements": sum(1 for a, b in zip(correct, mv) if b is not None and a != b),
            "majority_answer": maj, "majority_correct": maj_ok,
            "answers": json.dumps(preds, ensure_ascii=False),
            "problem": str(row.get("problem", ""))[:200],
        })
    return pd.DataFrame(rows)


def mean_ci(values: Sequence[float], *, resamples: int = 1000, seed: int = 0) -> dict:
    """Mean of per-question values with its question-level standard error (CLT, Miller 2024) and a
    95 % question-level bootstrap interval."""
    from .. import metrics

    v = np.asarray(list(values), dtype=float)
    q = len(v)
    if q == 0:
        return {"mean": float("nan"), "se": float("nan"), "ci95": list(NO_INTERVAL), "questions": 0}
    se = metrics.question_se(v)
    ci = metrics.bootstrap_ci(v, n_resamples=resamples, seed=seed) if q > 1 else NO_INTERVAL
    return {"mean": float(v.mean()), "se": se, "ci95": [float(ci[0]), float(ci[1])], "questions": q}


def benchmark_metrics(df: pd.DataFrame, *, resamples: int = 1000, seed: int = 0,
                      texts: bool = True) -> dict:
    """Metrics of one graded benchmark frame (all questions with the same n)."""
    from .. import metrics

    qt = question_table(df)
    ns = set(qt["n"])
    if len(ns) != 1:
        raise EvaluationError(f"benchmark {set(qt['benchmark'])}: questions have different sample "
                              f"counts {sorted(ns)}; avg@n needs one n")
    n = ns.pop()
    c = qt["correct"].to_numpy()
    acc = mean_ci(qt["accuracy"], resamples=resamples, seed=seed)
    lr = long_responses(df)
    toks = pd.to_numeric(lr["num_tokens"], errors="coerce")
    trunc = lr["truncated"].dropna()
    mv_known = lr["mv_correct"].dropna()
    out = {
        "benchmark": str(qt["benchmark"].iloc[0]) if len(qt) else None,
        "n": int(n), "questions": int(len(qt)), "responses": int(len(lr)),
        "avg@n": acc["mean"], "avg@n_se": acc["se"], "avg@n_ci95": acc["ci95"],
        "interval": "question-level: SE = sd(p_i)/sqrt(Q); 95% bootstrap over questions",
        "pass@k": {str(k): float(metrics.pass_at_k_array(n, c, k).mean()) for k in range(1, n + 1)},
        "maj@n": float(qt["majority_correct"].mean()),
        "solve_none": int((c == 0).sum()), "solve_all": int((c == n).sum()),
        "truncation_rate": float(trunc.astype(bool).mean()) if len(trunc) else None,
        "missing_box_rate": float((~lr["has_box"].astype(bool)).mean()) if len(lr) else None,
        "mean_length": float(toks.mean()) if toks.notna().any() else None,
        "median_length": float(toks.median()) if toks.notna().any() else None,
        "max_length": int(toks.max()) if toks.notna().any() else None,
        "grader_disagreements": int(qt["disagreements"].sum()),
        "ours_true_mv_false": int(((lr["correct"] == True) & (lr["mv_correct"] == False)).sum()),  # noqa: E712
        "ours_false_mv_true": int(((lr["correct"] == False) & (lr["mv_correct"] == True)).sum()),  # noqa: E712
        "math_verify_undecided": int(lr["mv_correct"].isna().sum()),
        "math_verify_avg@n": float(mv_known.astype(bool).sum() / len(lr)) if len(lr) else None,
    }
    if texts and n > 1:
        out["distinct_4"] = float(metrics.distinct_n([list(r) for r in df["responses"]], n=4))
    return out


def _paired(a: pd.DataFrame, b: pd.DataFrame, *, resamples: int, seed: int) -> dict:
    """Paired difference a - b of per-question accuracy on the questions both have."""
    from .. import metrics

    m = a[["index", "accuracy"]].merge(b[["index", "accuracy"]], on="index", suffixes=("_a", "_b"))
    if len(m) == 0:
        return {"diff": float("nan"), "se": float("nan"), "ci95": list(NO_INTERVAL), "questions": 0}
    d = (m["accuracy_a"] - m["accuracy_b"]).to_numpy()
    q = len(d)
    se = float(d.std(ddof=1) / math.sqrt(q)) if q > 1 else float("nan")
    if q > 1:
        res = metrics.paired_difference(m["accuracy_a"].to_numpy(), m["accuracy_b"].to_numpy(),
                                        n_resamples=resamples, seed=seed)
        ci = (res["ci_low"], res["ci_high"]) if isinstance(res, Mapping) else (res[1], res[2])
    else:
        ci = NO_INTERVAL
    return {"diff": float(d.mean()), "se": se, "ci95": [float(ci[0]), float(ci[1])], "questions": q}


def rope_entry(ext: Mapping | None) -> str:
    """The rope entry and context limit a model ran with, as one line for the report (from the
    ``context_extension`` its metrics.json records)."""
    if not ext:
        return "not recorded"
    rs = ext.get("rope_scaling")
    mpe = ext.get("max_position_embeddings")
    lim = f"max_position_embeddings {mpe}" if mpe else "the checkpoint's max_position_embeddings"
    if not rs:
        return f"the checkpoint's own rope settings; {lim}"
    return json.dumps(dict(rs), sort_keys=True) + f"; {lim}"


def results_table(results: Sequence[ModelResult], *, base_label: str | None = None,
                  resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Long table, one row per (model, benchmark): our avg@n (percent) with its question-level 95 %
    interval, the report's number for the matching row, and the paired difference to the base
    model on the same questions (percent points, with its 95 % interval)."""
    if not results:
        return pd.DataFrame()
    base = next((r for r in results if r.label == base_label), None) if base_label else \
        next((r for r in results if r.spec.role == "base"), None)
    rows = []
    for r in results:
        for name, m in r.metrics["benchmarks"].items():
            row = {"model": r.label, "path": r.spec.path, "role": r.spec.role, "yarn": r.spec.yarn,
                   "benchmark": name, "n": m["n"], "questions": m["questions"],
                   "avg": 100 * m["avg@n"], "ci_low": 100 * m["avg@n_ci95"][0],
                   "ci_high": 100 * m["avg@n_ci95"][1], "se": 100 * m["avg@n_se"],
                   "pass@n": 100 * m["pass@k"][str(m["n"])], "maj@n": 100 * m["maj@n"],
                   "truncation_rate": None if m["truncation_rate"] is None else 100 * m["truncation_rate"],
                   "missing_box_rate": 100 * m["missing_box_rate"],
                   "mean_length": m["mean_length"], "grader_disagreements": m["grader_disagreements"],
                   "reported_row": r.spec.reported_as, "reported": ref.reported(r.spec.reported_as, name),
                   "rope": rope_entry(r.metrics.get("context_extension"))}
            if base is not None and r is not base and name in base.frames:
                qa = r.questions[r.questions["benchmark"] == name]
                qb = base.questions[base.questions["benchmark"] == name]
                p = _paired(qa, qb, resamples=resamples, seed=seed)
                row.update({"vs": base.label, "diff_vs_base": 100 * p["diff"],
                            "diff_ci_low": 100 * p["ci95"][0], "diff_ci_high": 100 * p["ci95"][1],
                            "diff_se": 100 * p["se"], "paired_questions": p["questions"]})
            rows.append(row)
    return pd.DataFrame(rows)
