"""Data: the synthetic problem generator (CPU tiers), the benchmark registry and loader, and the
paper's training sets (through ``datasets``, with a local-path override).

All training/eval rows use verl's parquet layout::

    data_source: str
    prompt: [{"role": "user", "content": str}]
    ability: "math"
    reward_model: {"style": "rule", "ground_truth": str | list[str]}
    extra_info: {"split": str, "index": int, ...}

Loaders add two convenience columns: ``answers`` (ground truths as a list of strings) and
``problem`` (the user message text).
"""
from __future__ import annotations

import hashlib
import os
import random
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .artifacts import atomic_path, cache_dir, sha256_file

BOXED_INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."

# --------------------------------------------------------------------------------------------
# Synthetic arithmetic with graded difficulty

LEVELS = ("add1", "mul1", "add2", "sub2", "mul2", "mul3x2", "lin")
LEVEL_TEXT = {
    "add1": "one-digit addition", "mul1": "one-digit multiplication", "add2": "two-digit addition",
    "sub2": "two-digit subtraction", "mul2": "two-digit by one-digit multiplication",
    "mul3x2": "three-digit by two-digit multiplication", "lin": "linear equation a*x + b = c",
}


def _make_problem(level: str, rng: random.Random) -> tuple[str, str, str]:
    """Return (question, answer, worked solution) for one problem of a level."""
    r = rng.randint
    if level == "add1":
        a, b = r(0, 9), r(0, 9)
        return f"What is {a} + {b}?", str(a + b), f"{a} + {b} = {a + b}"
    if level == "mul1":
        a, b = r(1, 9), r(1, 9)
        return f"What is {a} * {b}?", str(a * b), f"{a} * {b} = {a * b}"
    if level == "add2":
        a, b = r(10, 99), r(10, 99)
        return f"What is {a} + {b}?", str(a + b), f"{a} + {b} = {a + b}"
    if level == "sub2":
        a, b = r(10, 99), r(10, 99)
        return f"What is {a} - {b}?", str(a - b), f"{a} - {b} = {a - b}"
    if level == "mul2":
        a, b = r(10, 99), r(2, 9)
        return f"What is {a} * {b}?", str(a * b), f"{a} * {b} = {a * b}"
    if level == "mul3x2":
        a, b = r(100, 999), r(10, 99)
        return f"What is {a} * {b}?", str(a * b), f"{a} * {b} = {a * b}"
    if level == "lin":
        a, x, b = r(2, 9), r(-9, 9), r(-20, 20)
        c = a * x + b
        sb = f"+ {b}" if b >= 0 else f"- {-b}"
        return (f"Solve for x: {a}x {sb} = {c}.", str(x),
                f"{a}x = {c} - ({b}) = {c - b}, so x = {c - b} / {a} = {x}")
    raise ValueError(f"unknown synthetic level {level!r}; expected one of {LEVELS}")


POOLS = (None, "dev", "heldout")
HELDOUT_FRACTION = 0.4


def in_heldout_pool(question: str, seed: int) -> bool:
    """Whether a synthetic question belongs to the held-out pool of a run with this ``seed``: a
    fixed share (:data:`HELDOUT_FRACTION`) of every level's problem space, chosen by a hash of the
    seed and the question text. The evaluation section draws its held-out problems only from this
    pool and sections 1-3 only from the rest, so held-out questions never occur in training,
    profiling, the temperature sweep or training validation, whatever their sizes."""
    h = hashlib.sha256(f"heldout|{int(seed)}|{question}".encode()).digest()
    return int.from_bytes(h[:8], "little") / 2 ** 64 < HELDOUT_FRACTION


def synthetic_problems(num_problems: int, levels: Iterable[str] | None = None, *, seed: int = 0,
                       split: str = "train", start_index: int = 0,
                       instruction: bool = True, pool: str | None = None,
                       pool_seed: int | None = None, at_most: bool = False) -> pd.DataFrame:
    """Deterministic synthetic math problems in verl's row format plus ``level`` and ``solution``.

    Problems cycle through ``levels`` so every level is represented equally. ``pool`` restricts the
    draw to one side of the run's held-out partition (:func:`in_heldout_pool` with ``pool_seed``,
    default ``seed``): ``"dev"`` (sections 1-3) or ``"heldout"`` (evaluation; drawn without
    repetition, so every held-out question is distinct); ``None`` draws from the whole space.
    ``at_most``: a level whose held-out pool runs out stops contributing (fewer than ``num_problems``
    rows, with a warning) instead of raising; the rows drawn before are the same either way.
    """
    levels = list(levels or LEVELS)
    for lv in levels:
        if lv not in LEVELS:
            raise ValueError(f"unknown synthetic level {lv!r}; expected one of {LEVELS}")
    if num_problems <= 0:
        raise ValueError(f"num_problems must be positive, got {num_problems}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    pseed = seed if pool_seed is None else pool_seed
    rng = random.Random(f"{seed}-{split}")
    rows, seen, exhausted = [], set(), set()
    for i in range(num_problems):
        level = levels[i % len(levels)]
        if level in exhausted:
            continue
        for _attempt in range(10_000):
            q, ans, sol = _make_problem(level, rng)
            if pool is None:
                break
            if in_heldout_pool(q, pseed) != (pool == "heldout"):
                continue
            if pool == "heldout" and q in seen:
                continue
            break
        else:
            if at_most:
                exhausted.add(level)
                continue
            raise ValueError(f"synthetic level {level!r}: its {pool} pool holds too few distinct problems "
                             f"for {num_problems} problems over levels {levels} (seed {pseed}); ask for "
                             f"fewer problems or add levels")
        seen.add(q)
        content = f"{q} {BOXED_INSTRUCTION}" if instruction else q
        idx = start_index + len(rows)
        rows.append({
            "data_source": "synthetic",
            "prompt": [{"role": "user", "content": content}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": ans},
            "extra_info": {"split": split, "index": idx, "level": level},
            "level": level,
            "solution": sol,
        })
    if exhausted:
        warnings.warn(f"synthetic {pool} pool of seed {pseed}: level(s) {sorted(exhausted)} ran out of distinct "
                      f"problems; {len(rows)} of the {num_problems} asked for", stacklevel=2)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Benchmarks

_COMMIT = "9e4fda202cde05f8e31b0b8f8e6752b731f3e0b2"
_URL = "https://github.com/ChenxinAn-fdu/POLARIS/raw/{commit}/evaluation/benchmarks/{name}.parquet"
BENCHMARKS: dict[str, dict[str, Any]] = {
    "aime24": {"rows": 30, "sha256": "784313b60c71b82256324cd4fa6966b5b1e0e55eb610cae5d62abbafb9f10bb9"},
    "aime25": {"rows": 30, "sha256": "237949e9ebb2620cf2d0db7a002928bc5f137eda4c51368bce49022fa7ac1249"},
    "amc23": {"rows": 83, "sha256": "3f1e66970f2106c31662de32cc4a4df48e5c972fb275a4c6f76581b6d68e7f96"},
    "minerva": {"rows": 272, "sha256": "87ee8f46f503fc61e27cc0f55d8815882143501ca3fd14581eb241cb3350d26c"},
    "olympiad": {"rows": 675, "sha256": "ae9fe65cdf31ad2a2220b4f9bc5039544f1b29de5b59db40b782efaf185921b7"},
}
for _name, _info in BENCHMARKS.items():
    _info["url"] = _URL.format(commit=_COMMIT, name=_name)

REQUIRED_COLUMNS = ("data_source", "prompt", "reward_model", "extra_info")


class DataError(ValueError):
    """A data file is missing, corrupted or has an unexpected schema; the message names it."""


def benchmarks_dir(override: str | os.PathLike | None = None) -> Path | None:
    d = override or os.environ.get("POLARIS_BENCHMARKS_DIR")
    return Path(d) if d else None


def benchmark_path(name: str, directory: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Local path of a benchmark file: the override directory, else the download cache."""
    if name not in BENCHMARKS:
        raise DataError(f"unknown benchmark {name!r}; expected one of {sorted(BENCHMARKS)} or 'synthetic'")
    d = benchmarks_dir(directory)
    if d is not None:
        p = d / f"{name}.parquet"
        if not p.exists():
            raise DataError(f"{p}: benchmark file not found in the benchmarks directory {d}")
        return p
    p = cache_dir() / "benchmarks" / f"{name}.parquet"
    if not p.exists():
        if not download:
            raise DataError(f"{p}: not cached and download disabled")
        url = BENCHMARKS[name]["url"]
        try:
            with atomic_path(p) as tmp, urllib.request.urlopen(url, timeout=60) as resp:
                tmp.write_bytes(resp.read())
        except OSError as e:
            raise DataError(f"could not download {name} from {url} ({e}); pass a local directory with "
                            f"benchmarks_dir=... or set POLARIS_BENCHMARKS_DIR") from e
    return p


def _as_answers(gt: Any) -> list[str]:
    if gt is None:
        return []
    if isinstance(gt, (list, tuple, np.ndarray)):
        return [str(x).strip() for x in gt]
    if isinstance(gt, float) and gt.is_integer():
        return [str(int(gt))]
    return [str(gt).strip()]


def normalise_rows(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check verl's columns and add ``index``, ``answers``, ``problem``; fix schema quirks."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; expected verl's parquet layout "
                        f"with {list(REQUIRED_COLUMNS)}")
    df = df.copy()
    idx = []
    for i, ei in enumerate(df["extra_info"]):
        ei = dict(ei) if ei is not None else {}
        idx.append(int(ei.get("index", ei.get("id", i))))
    df["index"] = idx
    answers = []
    for i, rm in enumerate(df["reward_model"]):
        if not isinstance(rm, dict) or "ground_truth" not in rm:
            raise DataError(f"{source}: row {i}: reward_model.ground_truth missing")
        answers.append(_as_answers(rm["ground_truth"]))
    df["answers"] = answers
    problems = []
    for i, p in enumerate(df["prompt"]):
        msgs = list(p) if p is not None else []
        user = [m for m in msgs if m.get("role") == "user"]
        if not user:
            raise DataError(f"{source}: row {i}: prompt has no user message")
        problems.append(str(user[-1]["content"]))
    df["problem"] = problems
    return df


SYNTHETIC_BENCHMARK_LEVELS = ("add1", "mul1", "add2", "sub2")


def load_benchmark(name: str, directory: str | os.PathLike | None = None, *, verify: bool = True,
                   num_problems: int | None = None, seed: int = 0, levels: Iterable[str] | None = None,
                   pool: str = "dev") -> pd.DataFrame:
    """Load one of the five benchmarks (or ``synthetic`` problems) as normalised rows.

    ``synthetic``: ``num_problems`` problems of ``levels`` (default
    :data:`SYNTHETIC_BENCHMARK_LEVELS`) from the run's ``pool``: ``"dev"`` for the temperature sweep
    and training validation, ``"heldout"`` for the evaluation section (disjoint from everything
    sections 1-3 see; see :func:`in_heldout_pool`)."""
    if name == "synthetic":
        n = num_problems or 32
        # held out: as many distinct problems as the run's pool holds, up to n (the pool is a seed-dependent
        # 40 % of each level's space: 1-digit + and x hold 29-36 each, so 64 asked can give ~61)
        df = synthetic_problems(n, tuple(levels or SYNTHETIC_BENCHMARK_LEVELS), seed=seed + 10_000,
                                split="test" if pool == "dev" else pool, pool=pool, pool_seed=seed,
                                at_most=pool == "heldout")
        return normalise_rows(df, "synthetic")
    path = benchmark_path(name, directory)
    if verify:
        digest = sha256_file(path)
        want = BENCHMARKS[name]["sha256"]
        if digest != want:
            raise DataError(f"{path}: sha256 {digest} does not match the registry's {want} for {name}; "
                            f"the file is corrupted or a different revision (pass verify=False to accept it)")
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types
        raise DataError(f"{path}: not a readable parquet file ({e})") from e
    df = normalise_rows(df, str(path))
    if num_problems:
        df = df.iloc[:num_problems].reset_index(drop=True)
    return df


# --------------------------------------------------------------------------------------------
# Training sets

TRAIN_SOURCES = {
    "polaris-53k": "POLARIS-Project/Polaris-Dataset-53K",
    "deepscaler": "agentica-org/DeepScaleR-Preview-Dataset",
    "areal": "inclusionAI/AReaL-boba-Data",
}


def rows_from_problems(problems: Iterable[str], answers: Iterable[Any], *, data_source: str,
                       split: str = "train", extra: Iterable[dict] | None = None) -> pd.DataFrame:
    """Build verl rows from raw problem/answer pairs (training prompts are the raw problem, as in
    the released data; see reference §3.5)."""
    rows = []
    extra = list(extra) if extra is not None else None
    for i, (p, a) in enumerate(zip(problems, answers)):
        ei = {"split": split, "index": i}
        if extra is not None:
            ei.update(extra[i])
        rows.append({"data_source": data_source, "prompt": [{"role": "user", "content": str(p)}],
                     "ability": "math", "reward_model": {"style": "rule", "ground_truth": str(a)},
                     "extra_info": ei})
    return pd.DataFrame(rows)


def load_training_data(cfg: "Config | Mapping") -> pd.DataFrame:
    """Training rows for a tier: synthetic on CPU tiers; a hub id or local path otherwise."""
    from .config import as_config

    cfg = as_config(cfg)
    tr = cfg.data.train
    source = tr.source
    if tr.path:
        path = Path(tr.path)
        if path.suffix == ".parquet":
            return normalise_rows(pd.read_parquet(path), str(path))
        source = str(path)
    if source == "synthetic":
        df = synthetic_problems(tr.num_problems or 64, tr.levels, seed=cfg.seed,
                                pool="dev")
        return normalise_rows(df, "synthetic")
    if source is None:
        raise DataError("data.train.source is not set")
    name = TRAIN_SOURCES.get(source, source)
    import datasets  # lazy: heavy import

    try:
        if Path(name).exists():
            p = Path(name)
            files = [str(x) for x in (sorted(p.glob("*.json*")) + sorted(p.glob("*.parquet")))] if p.is_dir() else [str(p)]
            kind = "parquet" if files[0].endswith(".parquet") else "json"
            ds = datasets.load_dataset(kind, data_files=files, split="train")
        else:
            ds = datasets.load_dataset(name, split="train")
    except Exception as e:
        raise DataError(f"could not load training set {name!r} ({e}); pass a local path with "
                        f"data.train.path") from e
    cols = ds.column_names
    pcol = next((c for c in ("problem", "question", "prompt") if c in cols), None)
    acol = next((c for c in ("answer", "solution", "ground_truth") if c in cols), None)
    if pcol is None or acol is None:
        raise DataError(f"{name}: expected columns problem/answer, found {cols}")
    extra = [{"difficulty": d} for d in ds["difficulty"]] if "difficulty" in cols else None
    return normalise_rows(rows_from_problems(ds[pcol], ds[acol], data_source=source, extra=extra), name)


def to_verl_parquet(df: pd.DataFrame, path: str | os.PathLike, *, keep: Iterable[str] = ()) -> Path:
    """Write rows in verl's parquet layout (drops convenience columns unless kept), atomically."""
    cols = [c for c in ("data_source", "prompt", "ability", "reward_model", "extra_info") if c in df.columns]
    cols += [c for c in keep if c in df.columns and c not in cols]
    with atomic_path(path) as tmp:
        df[cols].to_parquet(tmp, index=False)
    return Path(path)
