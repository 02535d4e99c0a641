"""Checks of the data: the training and validation files, the benchmark files' sha256 and columns."""
from __future__ import annotations

import os
from pathlib import Path

from ..artifacts import sha256_file
from .hardware import Hardware
from .rows import Row, row


def _hf_dataset_cached(repo: str) -> bool:
    try:
        from huggingface_hub import constants

        root = Path(constants.HF_HUB_CACHE)
    except Exception:
        root = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    return (root / ("datasets--" + repo.replace("/", "--"))).is_dir()


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def check_data(cfg: dict, hw: Hardware) -> list[Row]:
    from .. import data as D

    rows = []
    tr = cfg.data.train
    src = tr.source
    if tr.path:
        p = Path(tr.path).expanduser()
        if not p.exists():
            rows.append(row("data: training", "fail", f"{p}: not found (data.train.path)", "fix the path"))
        elif p.suffix == ".parquet":
            try:
                cols = _parquet_columns(p)
            except Exception as e:
                rows.append(row("data: training", "fail", f"{p}: not a readable parquet file ({e})", "rewrite it"))
            else:
                missing = [c for c in D.REQUIRED_COLUMNS if c not in cols]
                if missing:
                    rows.append(row("data: training", "fail", f"{p}: missing column(s) {missing} (has {cols})",
                                     f"write verl's layout with {list(D.REQUIRED_COLUMNS)} (data.to_verl_parquet)"))
                else:
                    rows.append(row("data: training", "ok", f"{p}: readable, columns {list(D.REQUIRED_COLUMNS)}"))
        else:
            rows.append(row("data: training", "ok", f"{p}: present (loaded with datasets; needs problem/answer columns)"))
    elif src == "synthetic":
        rows.append(row("data: training", "ok", f"synthetic: {tr.num_problems} problems of "
                         f"{tr.levels} generated from the seed"))
    elif src in D.TRAIN_SOURCES or src:
        repo = D.TRAIN_SOURCES.get(src, src)
        if Path(str(repo)).exists():
            rows.append(row("data: training", "ok", f"{repo}: local"))
        elif _hf_dataset_cached(str(repo)):
            rows.append(row("data: training", "ok", f"{repo}: in the local Hugging Face cache"))
        elif hw.env.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
            rows.append(row("data: training", "fail", f"{repo}: not cached and HF_HUB_OFFLINE is set",
                             f"download it first (huggingface-cli download --repo-type dataset {repo}) or set "
                             "-o data.train.path=/path/to/train.parquet"))
        else:
            rows.append(row("data: training", "warn", f"{repo}: not in the local Hugging Face cache; downloaded "
                             "at first use (the head node needs the network)",
                             f"huggingface-cli download --repo-type dataset {repo}"))
    else:
        rows.append(row("data: training", "fail", "data.train.source and data.train.path are not set",
                         "-o data.train.source=polaris-53k or -o data.train.path=..."))
    # benchmarks (validation, temperature search, evaluation)
    names = []
    for n in [cfg.data.val.benchmark, cfg.temperature_search.benchmark,
              *(cfg.evaluation.benchmarks or {})]:
        if n and n != "synthetic" and n not in names:
            names.append(n)
    val = cfg.data.val.benchmark
    if val == "synthetic":
        rows.append(row("data: validation", "ok", "synthetic problems generated from the seed"))
    directory = cfg.data.benchmarks_dir or hw.env.get("POLARIS_BENCHMARKS_DIR")
    for n in names:
        label = f"benchmark {n}" + (" (validation)" if n == val else "")
        if n not in D.BENCHMARKS:
            rows.append(row(label, "fail", f"unknown benchmark {n!r}", f"one of {sorted(D.BENCHMARKS)}"))
            continue
        p = (Path(directory) / f"{n}.parquet") if directory else (D.cache_dir() / "benchmarks" / f"{n}.parquet")
        if not p.exists():
            if directory:
                rows.append(row(label, "fail", f"{p}: not found in the benchmarks directory",
                                 "copy the official parquet there or unset benchmarks_dir / POLARIS_BENCHMARKS_DIR"))
            else:
                rows.append(row(label, "warn", f"not cached ({p}); downloaded from GitHub at first use",
                                 "set POLARIS_BENCHMARKS_DIR to local copies on machines without the network"))
            continue
        digest = sha256_file(p)
        want = D.BENCHMARKS[n]["sha256"]
        if digest != want:
            rows.append(row(label, "fail", f"{p}: sha256 {digest[:12]}... != {want[:12]}... (corrupted or another "
                             "revision)", "replace it with the official file"))
            continue
        try:
            cols = _parquet_columns(p)
        except Exception as e:
            rows.append(row(label, "fail", f"{p}: unreadable ({e})", "replace it with the official file"))
            continue
        missing = [c for c in D.REQUIRED_COLUMNS if c not in cols]
        if missing:
            rows.append(row(label, "fail", f"{p}: missing column(s) {missing}", "replace it with the official file"))
        else:
            rows.append(row(label, "ok", f"sha256 {digest[:12]}... matches; columns present"))
    return rows
