"""Files in the official POLARIS output layout (the benchmark's verl columns plus a
``responses`` list column, as written by verl's ``main_generation``): read by :func:`read_official`
and graded by :func:`grade_file` through the same code as our own generations.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from .protocol import EvaluationError, GRADE_COLUMNS
from .responses import grade_responses
from .statistics import benchmark_metrics


def read_official(path: str | os.PathLike, *, benchmark: str | None = None,
                  tokenizer: Any = None) -> pd.DataFrame:
    """Read a file of responses in the official POLARIS layout: the benchmark's verl columns
    (``data_source``, ``prompt``, ``reward_model``, ``extra_info``) plus a ``responses`` column
    holding a list of n strings per row. Our own ``<benchmark>.parquet`` files are a superset.

    ``num_tokens``/``finish_reasons`` are kept when present; otherwise token counts come from
    ``tokenizer`` (if given) and finish reasons are unknown (None). Previous grades are dropped so
    that the file is graded afresh by :func:`grade_responses`.
    """
    from ..data import DataError, normalise_rows

    path = Path(path)
    try:
        raw = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types
        raise EvaluationError(f"{path}: not a readable parquet file ({e})") from e
    if "responses" not in raw.columns:
        raise EvaluationError(f"{path}: no 'responses' column; expected the official POLARIS output "
                              f"layout (the benchmark's columns plus a list of responses per row)")
    try:
        df = normalise_rows(raw, str(path))
    except DataError as e:
        raise EvaluationError(str(e)) from e
    resp = []
    for i, r in enumerate(df["responses"]):
        if r is None or isinstance(r, (str, bytes)) or not hasattr(r, "__len__"):
            raise EvaluationError(f"{path}: row {i}: 'responses' must be a list of strings, got {type(r).__name__}")
        resp.append([("" if x is None else str(x)) for x in list(r)])
    df["responses"] = resp
    df = df.drop(columns=[c for c in GRADE_COLUMNS if c in df.columns])
    if "num_tokens" not in df.columns:
        if tokenizer is not None:
            df["num_tokens"] = [[len(tokenizer(x, add_special_tokens=False)["input_ids"]) for x in r]
                                for r in resp]
        else:
            df["num_tokens"] = [[None] * len(r) for r in resp]
    else:
        df["num_tokens"] = [list(x) for x in df["num_tokens"]]
    if "finish_reasons" not in df.columns:
        df["finish_reasons"] = [[None] * len(r) for r in resp]
    else:
        df["finish_reasons"] = [list(x) for x in df["finish_reasons"]]
    if "benchmark" not in df.columns:
        df["benchmark"] = benchmark or _benchmark_name(df, path)
    elif benchmark:
        df["benchmark"] = benchmark
    return df


def _benchmark_name(df: pd.DataFrame, path: Path) -> str:
    src = str(df["data_source"].iloc[0]) if len(df) else ""
    for name in ("aime24", "aime25", "amc23", "minerva", "olympiad", "synthetic"):
        if name in src or path.name.startswith(name):
            return name
    return path.stem.split("-")[0]


def grade_file(path: str | os.PathLike, *, mode: str = "boxed", benchmark: str | None = None,
               tokenizer: Any = None, math_verify: bool = True, resamples: int = 1000,
               seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Grade an official-layout file through our code: (graded frame, benchmark metrics)."""
    df = grade_responses(read_official(path, benchmark=benchmark, tokenizer=tokenizer), mode=mode,
                         math_verify=math_verify)
    return df, benchmark_metrics(df, resamples=resamples, seed=seed)
