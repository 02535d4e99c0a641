"""``polaris-repro grade FILE.parquet``: grade a file of responses and print the report.

The file has one row per problem: a list column of responses (``responses``, the layout of POLARIS'
evaluation output) next to the benchmark columns (``reward_model.ground_truth``).  Optional:
``finish_reasons`` (list of "stop"/"length" per row) or ``truncated`` (list of bools) for the
truncation rate.

Printed: avg@n (question-level SE and 95 % bootstrap interval), pass@k for k = 1, 2, 4, ..., n,
maj@n, solve-none / solve-all counts, distinct-4, truncation and missing-box rates, and the number
of responses on which our checker and math-verify disagree; ``--disagreements OUT.csv`` writes
examples of both kinds of disagreement.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import grading, metrics
from .artifacts import atomic_path, write_json


class GradeInputError(ValueError):
    """The responses file or one of its columns is missing or malformed (message names it)."""


def _column_values(df: pd.DataFrame, spec: str, path: Path) -> list:
    """Values of a column; ``a.b`` reads key ``b`` of struct column ``a``."""
    if spec in df.columns:
        return list(df[spec])
    head, _, key = spec.partition(".")
    if key and head in df.columns:
        out = []
        for i, v in enumerate(df[head]):
            if not isinstance(v, dict) or key not in v:
                raise GradeInputError(f"{path}: row {i}: column {head!r} has no field {key!r} "
                                      f"(needed for {spec!r})")
            out.append(v[key])
        return out
    raise GradeInputError(f"{path}: no column {spec!r}; columns are {list(df.columns)}")


def _default_gt_column(df: pd.DataFrame) -> str:
    if "reward_model" in df.columns:
        return "reward_model.ground_truth"
    for c in ("answers", "ground_truth", "answer"):
        if c in df.columns:
            return c
    return "reward_model.ground_truth"


def _as_list(v: Any, what: str, i: int, path: Path) -> list:
    if isinstance(v, str):
        return [v]
    if v is None:
        raise GradeInputError(f"{path}: row {i}: column {what!r} is empty")
    try:
        return list(v)
    except TypeError as e:
        raise GradeInputError(f"{path}: row {i}: column {what!r} holds {type(v).__name__}, "
                              f"expected a list") from e


def grade_frame(df: pd.DataFrame, *, path: str | Path = "<frame>", column: str = "responses",
                gt_column: str | None = None, finish_column: str | None = None,
                require_think: bool = False, mode: str = "boxed",
                timeout_s: float = grading.DEFAULT_TIMEOUT_S, math_verify: bool = True,
                n_resamples: int = 1000, seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """Grade every response of a frame; return ``(summary, per_response)``.

    ``per_response`` has one row per response: problem, sample, ground_truth, pred, correct,
    has_box, has_think, math_verify (True/False/None), truncated, response."""
    path = Path(path)
    if column not in df.columns:
        raise GradeInputError(f"{path}: no responses column {column!r}; columns are "
                              f"{list(df.columns)} (use --column)")
    gt_column = gt_column or _default_gt_column(df)
    gts = _column_values(df, gt_column, path)
    responses = [_as_list(v, column, i, path) for i, v in enumerate(df[column])]
    for i, (r, g) in enumerate(zip(responses, gts)):
        if not r:
            raise GradeInputError(f"{path}: row {i}: column {column!r} has no responses")
        if not grading.ground_truths(g):
            raise GradeInputError(f"{path}: row {i}: ground truth ({gt_column!r}) is empty")
        bad = [j for j, x in enumerate(r) if x is not None and not isinstance(x, str)]
        if bad:
            raise GradeInputError(f"{path}: row {i}: response {bad[0]} in {column!r} is "
                                  f"{type(r[bad[0]]).__name__}, expected str")
    truncated: list[list[bool]] | None = None
    fcol = finish_column
    if fcol is None:
        fcol = next((c for c in ("finish_reasons", "truncated") if c in df.columns), None)
    elif fcol not in df.columns:
        raise GradeInputError(f"{path}: no finish-reason column {fcol!r}; columns are {list(df.columns)}")
    if fcol is not None:
        truncated = []
        for i, (v, r) in enumerate(zip(df[fcol], responses)):
            vals = _as_list(v, fcol, i, path)
            if len(vals) != len(r):
                raise GradeInputError(f"{path}: row {i}: {len(vals)} entries in {fcol!r} but "
                                      f"{len(r)} responses")
            truncated.append([bool(x) if isinstance(x, (bool, np.bool_)) else str(x) == "length"
                              for x in vals])

    rows = []
    for i, (resp, gt) in enumerate(zip(responses, gts)):
        gt_list = grading.ground_truths(gt)
        for j, text in enumerate(resp):
            g = grading.grade(text, gt, require_think=require_think, mode=mode, timeout_s=timeout_s)
            mv = (grading.math_verify_correct(text, gt, require_think=require_think, timeout_s=timeout_s)
                  if math_verify else None)
            rows.append({"problem": i, "sample": j, "ground_truth": " | ".join(gt_list),
                         "pred": g.pred, "correct": g.correct, "has_box": g.has_box,
                         "has_think": g.has_think, "math_verify": mv,
                         "truncated": truncated[i][j] if truncated is not None else None,
                         "response": text or ""})
    per = pd.DataFrame(rows)
    correct = [list(per.loc[per["problem"] == i, "correct"]) for i in range(len(responses))]
    answers = [[grading.canonical_answer(p) for p in per.loc[per["problem"] == i, "pred"]]
               for i in range(len(responses))]
    has_box = [list(per.loc[per["problem"] == i, "has_box"]) for i in range(len(responses))]
    summary = metrics.summarize(correct, answers=answers, texts=responses, truncated=truncated,
                                has_box=has_box, n_resamples=n_resamples, seed=seed)
    summary.update({"file": str(path), "column": column, "gt_column": gt_column,
                    "require_think": require_think, "mode": mode})
    if math_verify:
        mv = per["math_verify"]
        known = mv.notna()
        ours = per["correct"].astype(bool)
        mvb = mv.where(known, False).astype(bool)
        summary["math_verify"] = {
            "agree": int((known & (ours == mvb)).sum()),
            "ours_true_mv_false": int((known & ours & ~mvb).sum()),
            "ours_false_mv_true": int((known & ~ours & mvb).sum()),
            "undecided": int((~known).sum()),
            "avg@n": float(np.mean([np.mean([x is True for x in per.loc[per["problem"] == i, "math_verify"]])
                                    for i in range(len(responses))])),
        }
        summary["disagreements"] = (summary["math_verify"]["ours_true_mv_false"]
                                    + summary["math_verify"]["ours_false_mv_true"])
    return summary, per


def grade_file(path: str | Path, **kw: Any) -> tuple[dict, pd.DataFrame]:
    """Read a parquet of responses and :func:`grade_frame` it."""
    path = Path(path)
    if not path.exists():
        raise GradeInputError(f"{path}: file not found")
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types
        raise GradeInputError(f"{path}: not a readable parquet file ({e})") from e
    return grade_frame(df, path=path, **kw)


def disagreement_examples(per: pd.DataFrame, max_per_kind: int = 50, tail_chars: int = 600) -> pd.DataFrame:
    """Responses where our checker and math-verify disagree (up to ``max_per_kind`` of each kind)."""
    known = per["math_verify"].notna()
    ours = per["correct"].astype(bool)
    mv = per["math_verify"].where(known, False).astype(bool)
    parts = []
    for kind, sel in (("ours_true_mv_false", known & ours & ~mv), ("ours_false_mv_true", known & ~ours & mv)):
        d = per[sel].head(max_per_kind).copy()
        d.insert(0, "kind", kind)
        parts.append(d)
    out = pd.concat(parts, ignore_index=True) if parts else per.head(0)
    out["response_tail"] = out["response"].map(lambda s: s[-tail_chars:])
    return out.drop(columns=["response"])


def format_summary(s: dict) -> str:
    def pct(x):
        return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.2f}%"

    lines = [f"file: {s['file']}",
             f"problems: {s['problems']}   responses: {s['responses']}   n: {s['n']}"
             + ("  (ragged: n is the minimum)" if s.get("ragged") else "")
             + f"   require_think: {s['require_think']}   mode: {s['mode']}",
             f"avg@{s['n']}: {pct(s['avg@n'])}   (question-level SE {pct(s['avg@n_se'])}, "
             f"95% bootstrap CI [{pct(s['avg@n_ci'][0])}, {pct(s['avg@n_ci'][1])}])"]
    lines.append("pass@k: " + "  ".join(f"pass@{k} {pct(v)}" for k, v in s["pass@k"].items()))
    if "maj@n" in s:
        lines.append(f"maj@{s['n']}: {pct(s['maj@n'])}")
    lines.append(f"solve-none: {s['solve_none']}   solve-all: {s['solve_all']}   (of {s['problems']})")
    if "distinct_4" in s:
        d = s["distinct_4"]
        lines.append(f"distinct-4: {'n/a' if d != d else f'{100 * d:.2f}'} (x100)")
    lines.append(f"truncation rate: {pct(s.get('truncation_rate'))}"
                 + ("" if "truncation_rate" in s else " (no finish_reasons column)"))
    lines.append(f"missing-box rate: {pct(s.get('missing_box_rate'))}")
    if "math_verify" in s:
        m = s["math_verify"]
        lines.append(f"math-verify: disagreements {s['disagreements']} (ours correct / math-verify wrong "
                     f"{m['ours_true_mv_false']}, ours wrong / math-verify correct {m['ours_false_mv_true']}), "
                     f"agree {m['agree']}, undecided {m['undecided']}; math-verify avg@n {pct(m['avg@n'])}")
    else:
        lines.append("math-verify: not run (--no-math-verify)")
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="polaris-repro grade", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="parquet with one row per problem")
    p.add_argument("--column", default="responses", help="list column of responses (default: responses)")
    p.add_argument("--gt-column", default=None,
                   help="ground truth column; a.b reads field b of struct a (default: "
                        "reward_model.ground_truth, else answers / ground_truth)")
    p.add_argument("--finish-column", default=None,
                   help="list column of finish reasons ('length' = truncated) or truncated flags "
                        "(default: finish_reasons or truncated if present)")
    p.add_argument("--require-think", action="store_true",
                   help="apply the training rule (no </think> = wrong; search only after it)")
    p.add_argument("--mode", choices=grading.MODES, default="boxed")
    p.add_argument("--timeout", type=float, default=grading.DEFAULT_TIMEOUT_S,
                   help="bound per check in seconds (default %(default)s)")
    p.add_argument("--no-math-verify", action="store_true", help="skip the math-verify second opinion")
    p.add_argument("--disagreements", metavar="OUT.csv", default=None,
                   help="write responses on which our checker and math-verify disagree")
    p.add_argument("--max-examples", type=int, default=50, help="per kind of disagreement (default 50)")
    p.add_argument("--per-response", metavar="OUT.csv", default=None,
                   help="write every response's extracted answer and verdicts")
    p.add_argument("--json", metavar="OUT.json", default=None, help="write the summary as JSON")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    args = p.parse_args(argv)
    if args.disagreements and args.no_math_verify:
        p.error("--disagreements needs math-verify (drop --no-math-verify)")
    try:
        summary, per = grade_file(args.file, column=args.column, gt_column=args.gt_column,
                                  finish_column=args.finish_column, require_think=args.require_think,
                                  mode=args.mode, timeout_s=args.timeout,
                                  math_verify=not args.no_math_verify, n_resamples=args.resamples)
    except GradeInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        grading.close_math_verify()
    print(format_summary(summary))
    if args.disagreements:
        ex = disagreement_examples(per, args.max_examples)
        with atomic_path(args.disagreements) as tmp:
            ex.to_csv(tmp, index=False)
        print(f"disagreement examples: {len(ex)} rows -> {args.disagreements}")
    if args.per_response:
        with atomic_path(args.per_response) as tmp:
            per.drop(columns=["response"]).to_csv(tmp, index=False)
        print(f"per-response verdicts -> {args.per_response}")
    if args.json:
        write_json(args.json, summary)
        print(f"summary -> {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
