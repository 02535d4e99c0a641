"""Data difficulty: offline pass-rate profiles, the J / mirrored-J shapes, the POLARIS filter, and the
dynamic removal of easy data between stages (reference polaris-recipe.md §3.2-§3.6).

* :func:`profile` samples ``k`` solutions per problem (paper: k = 8, T = 0.6) and counts the correct
  ones. It builds on the sampler's resumable output file: samples are appended per chunk and
  finished problems are skipped on restart; the finished profile is cached next to it, so a rerun
  with the same settings does not even load the model.
  Grading is evaluation-style (``require_think=False``) with ``cfg.grading.answer_extraction``:
  a profile measures whether the model *solves* a problem, not whether it follows the training
  reward's format (the paper's difficulty values come from the same answer check it evaluates with).
* :func:`histogram` counts problems per bin 0/k..k/k; :func:`shape_label` names its shape.
* :func:`filter_problems` applies ``drop_perfect`` (the POLARIS rule), ``gt:M`` (the aggressive
  ablation: drop pass rate > M/k) or ``none``, keeping the original ``extra_info.index`` ids and the
  measured difficulty (``difficulty`` = pass rate, ``num_correct``) as columns and in ``extra_info``;
  :func:`write_training_set` writes verl's parquet.
* :func:`drop_easy` is the between-stage removal: from the trainer's per-prompt accuracy log it drops
  prompts whose mean logged accuracy over the stage is strictly greater than the threshold (0.9).
* :func:`notebook_settings` fills the section notebook's parameters in from the tier config.

Shape labels (:func:`shape_label`), on the counts c_0..c_k:

* ``"balanced"``: the largest bin is an interior one (neither 0/k nor k/k);
* ``"U"``: both end bins exceed every interior bin and the smaller end holds at least
  ``u_ratio`` (0.75) of the larger;
* ``"J"``: otherwise, if c_k > c_0 (mass at k/k: the data is easy for the model);
* ``"mirrored-J"``: otherwise (mass at 0/k: hard data, the shape POLARIS trains on);
* ``"empty"``: no problems.
The report's Figure 1 histograms (§3.2) come out J (R1-Distill-7B, ends 14,200 vs 8,900) and
mirrored-J (1.5B, 13,800 vs 6,100).

The module is longer than 500 lines because it keeps section 1's data path in one place: the
profiles, the filter and drop-easy share the row and log formats, and the notebook's settings
resolve the same ``difficulty`` keys they read.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .artifacts import read_jsonl, write_json
from .config import Config
from .temperature import settings_tag  # noqa: F401  (short hash for settings-specific file names)
from .training.accuracy_log import read_accuracy_log  # noqa: F401  (the one reader; D.read_accuracy_log in the notebook)

SOURCE = "reported by the authors (read off the figure)"

# §3.2 Figure "image 0": pass-rate histograms over DeepScaleR-40K, 8 samples at T = 0.6
REPORTED_FIG1 = {
    "R1-Distill-Qwen-7B": (8900, 2600, 2100, 1850, 1850, 1900, 2550, 4500, 14200),
    "R1-Distill-Qwen-1.5B": (13800, 3750, 3000, 2850, 2800, 2450, 2550, 2800, 6100),
}
# §3.6 Figure 2: the difficulty shift before and after RL (no 8/8 bin before: filtered data)
REPORTED_FIG2 = {
    "Qwen3-4B, before": (7350, 2500, 2200, 2350, 2450, 3000, 3450, 5050, 0),
    "POLARIS-4B, after": (5200, 2200, 1900, 1850, 1900, 2200, 2550, 3600, 8100),
    "R1-Distill-7B, before": (13150, 5950, 4700, 4350, 4250, 4900, 5250, 6800, 0),
    "POLARIS-7B, after": (8200, 4200, 3500, 3250, 3300, 3500, 4000, 5200, 12000),
}
# §3.3: dataset sizes reported for the filtering rules (R1-Distill-7B on DeepScaleR-40K)
REPORTED_SIZES = {"full": 40_000, "drop_perfect": 26_000, "gt:4": 19_000}


def reported_histograms() -> pd.DataFrame:
    """The report's Figure 1 and Figure 2 counts in long form (``figure, histogram, bin, count``)."""
    rows = []
    for fig, table in (("Figure 1 (image 0)", REPORTED_FIG1), ("Figure 2", REPORTED_FIG2)):
        for name, counts in table.items():
            for b, c in enumerate(counts):
                rows.append({"figure": fig, "histogram": name, "bin": f"{b}/8", "num_correct": b,
                             "count": c, "source": SOURCE})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Histogram and shape


def histogram(profile_df: pd.DataFrame | Sequence[int], k: int | None = None) -> pd.Series:
    """Number of problems per correct count 0..k (a Series indexed 0..k, name ``count``).

    ``profile_df`` is a profile (its ``num_correct`` and ``k`` columns) or a sequence of counts.
    """
    if isinstance(profile_df, pd.DataFrame):
        if "num_correct" not in profile_df.columns:
            raise ValueError("histogram: profile has no 'num_correct' column")
        counts = profile_df["num_correct"].to_numpy()
        if k is None:
            ks = set(int(x) for x in profile_df["k"]) if "k" in profile_df.columns else set()
            if len(ks) != 1:
                raise ValueError(f"histogram: pass k (profile has k values {sorted(ks)})")
            k = ks.pop()
    else:
        counts = np.asarray(list(profile_df))
        if k is None:
            raise ValueError("histogram: pass k with a plain sequence of counts")
    k = int(k)
    if k <= 0:
        raise ValueError(f"histogram: k must be positive, got {k}")
    counts = np.asarray(counts, dtype=int)
    if len(counts) and (counts.min() < 0 or counts.max() > k):
        raise ValueError(f"histogram: correct counts must lie in 0..{k}, got {counts.min()}..{counts.max()}")
    out = pd.Series(np.bincount(counts, minlength=k + 1)[: k + 1], index=range(k + 1), name="count")
    out.index.name = "num_correct"
    return out


def accuracy_histogram(values: Iterable[float], k: int) -> pd.Series:
    """Histogram of pass rates in [0, 1] (e.g. logged per-prompt accuracies) on the 0/k..k/k bins
    (each value rounded to the nearest bin)."""
    v = np.asarray(list(values), dtype=float)
    if len(v) and (np.isnan(v).any() or v.min() < 0 or v.max() > 1):
        raise ValueError("accuracy_histogram: values must lie in [0, 1]")
    return histogram(np.rint(v * k).astype(int), k)


def shape_label(counts: Sequence[float], *, u_ratio: float = 0.75) -> str:
    """``"J"``, ``"mirrored-J"``, ``"U"``, ``"balanced"`` or ``"empty"`` (rule in the module docstring)."""
    c = np.asarray(list(counts.values) if isinstance(counts, pd.Series) else list(counts), dtype=float)
    if len(c) < 2:
        raise ValueError(f"shape_label: need at least two bins, got {len(c)}")
    if c.sum() <= 0:
        return "empty"
    lo, hi = c[0], c[-1]
    mid = c[1:-1].max() if len(c) > 2 else -np.inf
    if max(lo, hi) <= mid:
        return "balanced"
    if min(lo, hi) > mid and min(lo, hi) >= u_ratio * max(lo, hi):
        return "U"
    return "J" if hi > lo else "mirrored-J"


# --------------------------------------------------------------------------------------------
# Profiles


def _prompts_answers(df: pd.DataFrame) -> tuple[list, list]:
    if "prompt" not in df.columns:
        raise ValueError("profile: problems need verl's 'prompt' column")
    prompts = [p if isinstance(p, str) else [dict(m) for m in p] for p in df["prompt"]]
    if "answers" in df.columns:
        answers = [list(a) if len(a) != 1 else a[0] for a in df["answers"]]
    else:
        answers = [rm["ground_truth"] for rm in df["reward_model"]]
    return prompts, answers


def row_indices(df: pd.DataFrame) -> list[int]:
    """The stable ids of rows: the ``index`` column, else ``extra_info.index``."""
    if "index" in df.columns:
        idx = [int(i) for i in df["index"]]
    elif "extra_info" in df.columns:
        idx = []
        for i, ei in enumerate(df["extra_info"]):
            if not isinstance(ei, dict) or "index" not in ei:
                raise ValueError(f"row {i}: extra_info.index missing")
            idx.append(int(ei["index"]))
    else:
        raise ValueError("rows need an 'index' column or extra_info.index")
    if len(set(idx)) != len(idx):
        raise ValueError("rows: duplicate extra_info.index values; ids must be unique")
    return idx


def _settings_key(cfg, df, model, k, temperature, max_new_tokens, seed, top_p, top_k, require_think) -> dict:
    from .temperature import problems_key

    return {"model": str(model or cfg.model.path), "k": k, "temperature": temperature,
            "max_new_tokens": max_new_tokens, "seed": seed, "top_p": top_p, "top_k": top_k,
            "problems": problems_key(df), "num_problems": len(df),
            "answer_extraction": cfg.grading.answer_extraction, "require_think": require_think}


def profile(cfg: Config, df: pd.DataFrame, *, model: Any = None, k: int | None = None,
            temperature: float | None = None, max_new_tokens: int | None = None,
            out_file: str | os.PathLike | None = None, seed: int | None = None,
            top_p: float | None = None, top_k: int | None = None, require_think: bool = False,
            sampler: Any = None, desc: str | None = None) -> pd.DataFrame:
    """Per-problem pass counts of ``model`` (default: the tier's model) on the rows of ``df``.

    Returns one row per problem: ``index`` (the stable id), ``num_correct`` (0..k), ``k``,
    ``pass_rate``, ``mean_length`` and ``max_length`` (tokens), ``truncations`` (samples cut at
    ``max_new_tokens``), plus ``level`` for synthetic rows. Defaults come from ``cfg.difficulty``.

    With ``out_file`` the sampler appends samples per chunk there and skips finished problems on a
    restart; the finished profile is cached as ``<out_file>.profile.json`` with its settings and
    returned directly on a rerun with identical settings (the model is not loaded).
    """
    dcfg = cfg.difficulty
    k = int(k or dcfg.k)
    temperature = float(dcfg.temperature if temperature is None else temperature)
    max_new_tokens = int(max_new_tokens or dcfg.max_new_tokens)
    seed = int(cfg.seed if seed is None else seed)
    top_p = dcfg.top_p if top_p is None else top_p
    top_k = dcfg.top_k if top_k is None else top_k
    if k <= 0:
        raise ValueError(f"profile: k must be positive, got {k}")
    if len(df) == 0:
        raise ValueError("profile: no problems")
    idx = row_indices(df)
    prompts, answers = _prompts_answers(df)
    settings = _settings_key(cfg, df, model, k, temperature, max_new_tokens, seed, top_p, top_k,
                             require_think)
    cache = Path(str(out_file) + ".profile.json") if out_file else None
    if cache is not None and cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("settings") == settings:
            return pd.DataFrame(saved["rows"])
    own = sampler is None
    if own:
        from .sampling import make_sampler

        sampler = make_sampler(cfg, model=model)
    from .sampling.base import model_label

    mname = model_label(model or cfg.model.path)
    label = f"profile {mname}" if not desc else f"profile {desc}" + ("" if mname in desc else f" ({mname})")
    try:
        groups = sampler.generate(prompts, n=k, temperature=temperature, top_p=top_p, top_k=top_k,
                                  max_new_tokens=max_new_tokens, seed=seed, out_file=out_file,
                                  desc=f"{label} k={k} T={temperature:g}")
    finally:
        if own:
            sampler.close()
    from .grading import is_correct

    mode = cfg.grading.answer_extraction
    timeout_s = cfg.grading.timeout_s
    rows = []
    levels = list(df["level"]) if "level" in df.columns else None
    for i, (group, gt) in enumerate(zip(groups, answers)):
        if len(group) != k:
            raise RuntimeError(f"profile: sampler returned {len(group)} samples for problem {idx[i]}, expected {k}")
        correct = sum(bool(is_correct(c.text, gt, require_think=require_think, mode=mode, timeout_s=timeout_s))
                      for c in group)
        lengths = [int(c.num_tokens) for c in group]
        row = {"index": idx[i], "num_correct": int(correct), "k": k, "pass_rate": correct / k,
               "mean_length": float(np.mean(lengths)), "max_length": int(max(lengths)),
               "truncations": int(sum(c.finish_reason == "length" for c in group))}
        if levels is not None:
            row["level"] = levels[i]
        rows.append(row)
    if cache is not None:
        write_json(cache, {"settings": settings, "rows": rows})
    return pd.DataFrame(rows)


def summarize(profile_df: pd.DataFrame, k: int | None = None) -> dict:
    """Headline numbers of a profile: problems, mean pass rate, share at 0/k and k/k, shape."""
    h = histogram(profile_df, k)
    n = int(h.sum())
    k = len(h) - 1
    return {"problems": n, "mean_pass_rate": float(profile_df["num_correct"].mean() / k) if n else float("nan"),
            "share_unsolved": float(h.iloc[0] / n) if n else float("nan"),
            "share_perfect": float(h.iloc[-1] / n) if n else float("nan"),
            "mean_length": float(profile_df["mean_length"].mean()) if "mean_length" in profile_df else float("nan"),
            "truncation_rate": (float(profile_df["truncations"].sum() / (n * k))
                                if "truncations" in profile_df and n else float("nan")),
            "shape": shape_label(h)}


# --------------------------------------------------------------------------------------------
# Filtering the training set


def parse_rule(rule: str, k: int):
    """A predicate ``num_correct -> drop?`` for ``drop_perfect`` | ``gt:M`` | ``none``."""
    rule = str(rule).strip()
    if rule == "none":
        return lambda c: np.zeros_like(c, dtype=bool)
    if rule == "drop_perfect":
        return lambda c: c >= k
    if rule.startswith("gt:"):
        try:
            m = int(rule[3:])
        except ValueError:
            m = -1
        if not 0 <= m <= k:
            raise ValueError(f"filter rule {rule!r}: M must be an integer in 0..{k}")
        return lambda c: c > m
    raise ValueError(f"filter rule {rule!r}: expected drop_perfect, gt:M or none")


def filter_problems(df: pd.DataFrame, profile_df: pd.DataFrame, rule: str = "drop_perfect") -> pd.DataFrame:
    """Rows of ``df`` that survive ``rule``, with the measured difficulty attached.

    Rows are matched to the profile by their stable id (``index`` / ``extra_info.index``, kept as
    is); every row must have been profiled. Adds columns ``num_correct`` and ``difficulty`` (the
    pass rate, the name the Polaris-53K dataset uses) and the same two keys (plus ``k``) inside
    ``extra_info``. The row order of ``df`` is kept.
    """
    ids = row_indices(df)
    prof = profile_df.set_index("index")
    missing = [i for i in ids if i not in prof.index]
    if missing:
        raise ValueError(f"filter_problems: {len(missing)} row(s) were not profiled, e.g. index {missing[:5]}")
    ks = set(int(x) for x in prof.loc[ids, "k"])
    if len(ks) != 1:
        raise ValueError(f"filter_problems: mixed k values in the profile {sorted(ks)}")
    k = ks.pop()
    correct = prof.loc[ids, "num_correct"].to_numpy().astype(int)
    drop = parse_rule(rule, k)(correct)
    out = df.copy()
    out["num_correct"] = correct
    out["difficulty"] = correct / k
    if "extra_info" in out.columns:
        infos = []
        for ei, c in zip(out["extra_info"], correct):
            ei = dict(ei) if isinstance(ei, dict) else {}
            ei.update(num_correct=int(c), difficulty=float(c / k), k=int(k))
            infos.append(ei)
        out["extra_info"] = infos
    return out.loc[~drop].reset_index(drop=True)


def filter_report(before: pd.DataFrame, after: pd.DataFrame, rule: str, k: int) -> dict:
    """Sizes before and after a filter, and the histogram of what was kept."""
    kept = histogram(after["num_correct"].to_numpy(), k) if len(after) else histogram([], k)
    return {"rule": rule, "before": int(len(before)), "after": int(len(after)),
            "dropped": int(len(before) - len(after)),
            "kept_fraction": float(len(after) / len(before)) if len(before) else float("nan"),
            "kept_histogram": [int(x) for x in kept], "kept_shape": shape_label(kept)}


def write_training_set(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write filtered rows in verl's parquet layout, keeping ``difficulty`` and ``num_correct``."""
    from .data import to_verl_parquet

    if len(df) == 0:
        raise ValueError(f"{path}: refusing to write an empty training set (every problem was filtered out)")
    return to_verl_parquet(df, path, keep=("difficulty", "num_correct"))


# --------------------------------------------------------------------------------------------
# Dynamic removal of easy data between stages (§3.6)


def prompt_accuracy(records: list[dict]) -> pd.DataFrame:
    """Per prompt: ``index, seen`` (observations), ``mean``, ``first``, ``last`` logged accuracy."""
    obs: dict[int, list[float]] = {}
    for rec in records:
        for i, s in zip(rec["index"], rec["score"]):
            obs.setdefault(i, []).append(s)
    rows = [{"index": i, "seen": len(v), "mean": float(np.mean(v)), "first": v[0], "last": v[-1]}
            for i, v in obs.items()]
    return pd.DataFrame(rows, columns=["index", "seen", "mean", "first", "last"])


def drop_easy(train_parquet: str | os.PathLike, accuracy_log_jsonl: str | os.PathLike,
              out_parquet: str | os.PathLike, *, threshold: float = 0.9,
              initial_difficulty: str | None = None, difficulty_column: str = "difficulty") -> dict:
    """Write ``train_parquet`` minus the prompts whose accuracy over the stage is > ``threshold``.

    * A prompt's stage accuracy is the mean of every accuracy logged for it in the stage (all
      epochs), as the released ``drop_easy_data.py`` intends (its NameError fixed). The comparison is
      strictly greater.
    * ``initial_difficulty="column"`` is the blog's variant: the prompt's offline pass rate (column
      ``difficulty_column``, in [0, 1]) counts as one extra observation before the logged ones, i.e.
      ``(offline + sum(logged)) / (1 + seen)``. Prompts never seen keep their offline value.
    * Prompts never logged in the stage always keep their rows (nothing was learned about them).
    * The input file is only read; the output is written atomically and must be a different path.
      Kept rows gain ``stage_accuracy`` (NaN if unseen) and ``stage_seen`` columns.

    Returns a report: sizes before/after, how many prompts were seen, dropped and never seen, the
    log's steps and how many duplicated step lines were discarded.
    """
    from .artifacts import atomic_path

    train_parquet, out_parquet = Path(train_parquet), Path(out_parquet)
    if train_parquet.resolve() == out_parquet.resolve():
        raise ValueError(f"{out_parquet}: drop_easy never overwrites its input; choose another output path")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    if initial_difficulty not in (None, "column"):
        raise ValueError(f"initial_difficulty must be None or 'column', got {initial_difficulty!r}")
    df = pd.read_parquet(train_parquet)
    ids = row_indices(df)
    raw_lines = len(read_jsonl(accuracy_log_jsonl))
    records = read_accuracy_log(accuracy_log_jsonl, repeated="last")
    acc = prompt_accuracy(records).set_index("index")
    unknown = sorted(set(acc.index) - set(ids))
    seen = np.array([i in acc.index for i in ids])
    n_obs = np.array([acc.at[i, "seen"] if s else 0 for i, s in zip(ids, seen)], dtype=float)
    total = np.array([acc.at[i, "mean"] * acc.at[i, "seen"] if s else 0.0 for i, s in zip(ids, seen)])
    if initial_difficulty == "column":
        if difficulty_column not in df.columns:
            raise ValueError(f"{train_parquet}: initial_difficulty='column' needs a {difficulty_column!r} "
                             f"column (write the set with write_training_set)")
        off = pd.to_numeric(df[difficulty_column], errors="coerce").to_numpy(dtype=float)
        if np.isnan(off).any() or off.min() < 0 or off.max() > 1:
            raise ValueError(f"{train_parquet}: column {difficulty_column!r} must hold pass rates in [0, 1]")
        total, n_obs = total + off, n_obs + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        stage_acc = np.where(n_obs > 0, total / np.maximum(n_obs, 1), np.nan)
    drop = seen & (stage_acc > threshold)
    out = df.loc[~drop].copy()
    out["stage_accuracy"] = np.where(seen, stage_acc, np.nan)[~drop]
    out["stage_seen"] = np.array([acc.at[i, "seen"] if s else 0 for i, s in zip(ids, seen)])[~drop]
    if len(out) == 0:
        raise ValueError(f"drop_easy: every prompt of {train_parquet} is above the threshold {threshold}")
    with atomic_path(out_parquet) as tmp:
        out.reset_index(drop=True).to_parquet(tmp, index=False)
    return {"input": str(train_parquet), "output": str(out_parquet), "log": str(accuracy_log_jsonl),
            "threshold": threshold, "initial_difficulty": initial_difficulty,
            "before": int(len(df)), "after": int(len(out)), "dropped": int(drop.sum()),
            "seen": int(seen.sum()), "never_seen": int((~seen).sum()),
            "log_lines": raw_lines, "batches": len(records), "steps": len({r["step"] for r in records}),
            "duplicate_lines": raw_lines - len(records),
            "unknown_indices": len(unknown),
            "dropped_indices": [int(i) for i, d in zip(ids, drop) if d][:1000]}


# --------------------------------------------------------------------------------------------
# Settings of the notebook: its parameters, with the tier's defaults filled in

@dataclass(frozen=True)
class NotebookSettings:
    """Section 1's parameters resolved against the tier config (:func:`notebook_settings`)."""
    k: int
    temperature: float
    max_new_tokens: int
    num_problems: int | None
    filter_rule: str
    pairs: list[tuple[Any, str]]       # (model, data) of each contrast pair, stronger pair first
    expect_shapes: Any                 # shapes the pairs must show (falsy: not checked)
    accuracy_log: Path | None          # stage 1's accuracy log, None: none yet or skipped
    trained_model: Any                 # the model profiled on the stage-1 set after training, or None
    answer_check: str

    def table(self, tier: str) -> pd.DataFrame:
        """The settings as the notebook shows them (one row)."""
        return pd.DataFrame([{"tier": tier, "k": self.k, "temperature": self.temperature,
                              "max_new_tokens": self.max_new_tokens, "problems per pair": self.num_problems,
                              "filter": self.filter_rule, "answer check": self.answer_check}])


def notebook_settings(cfg: Config, *, run_dir: str | os.PathLike, outputs: Mapping | None = None,
                      models: Sequence = (), datasets: Sequence[str] = (), num_problems: int = 0, k: int = 0,
                      temperature: float | None = None, max_new_tokens: int = 0, filter_rule: str = "",
                      expect_shapes: Any = None, after_model: str = "",
                      accuracy_log: str = "") -> NotebookSettings:
    """The notebook's parameters (its ``parameters`` cell: 0, "", [] and None mean "the tier's")
    with ``cfg.difficulty``'s values filled in.

    The contrast pairs: ``models`` and ``datasets`` pair up one to one, a single one of either
    is repeated for every entry of the other; no models: ``difficulty.models``, else the tier's
    model; no datasets: ``difficulty.datasets``, else ``"train"``.  ``accuracy_log``: ``""`` looks
    for ``<run_dir>/03_training/<first stage>/accuracy_log.jsonl``, ``"none"`` skips; a log that
    does not exist (yet) is None.  ``after_model``: ``""`` is the run's final model when the
    manifest's ``outputs`` record one that exists, ``"none"`` skips."""
    dc = cfg.difficulty
    datasets = list(datasets or dc.datasets or ["train"])
    models = list(models or dc.models or [cfg.model.path])
    if len(models) == 1 and len(datasets) > 1:
        models = models * len(datasets)
    if len(datasets) == 1 and len(models) > 1:
        datasets = datasets * len(models)
    if len(models) != len(datasets):
        raise ValueError(f"models {models} and datasets {datasets} must pair up")
    log_path = None
    if accuracy_log != "none":
        first_stage = cfg.training.stages[0].name if cfg.training.stages else "stage1"
        cand = (Path(accuracy_log) if accuracy_log
                else Path(run_dir) / "03_training" / first_stage / "accuracy_log.jsonl")
        log_path = cand if cand.exists() else None
    trained = None
    if after_model != "none":
        final = (outputs or {}).get("final_model", {}).get("path")
        trained = after_model or (final if final and Path(final).exists() else None)
    return NotebookSettings(
        k=k or dc.k, temperature=dc.temperature if temperature is None else temperature,
        max_new_tokens=max_new_tokens or dc.max_new_tokens, num_problems=num_problems or dc.num_problems,
        filter_rule=filter_rule or dc.filter, pairs=list(zip(models, datasets)),
        expect_shapes=dc.expect_shapes if expect_shapes is None else expect_shapes,
        accuracy_log=log_path, trained_model=trained,
        answer_check=cfg.grading.answer_extraction + " (evaluation-style, no </think> needed)")


# --------------------------------------------------------------------------------------------
# Datasets for the notebook


def load_dataset_spec(cfg: Config, spec: str, num_problems: int | None = None, *, seed: int | None = None) -> pd.DataFrame:
    """Problems named by a short spec, as normalised verl rows.

    * ``"train"``: the tier's training set (``data.train``);
    * ``"synthetic:add1,mul1"``: synthetic problems of those levels (cycled), split ``profile``;
    * a benchmark name (``aime24`` ...); a training source (``deepscaler``, ``areal``,
      ``polaris-53k``) or a local parquet/jsonl path.
    ``num_problems`` keeps the first N rows (synthetic: generates N).
    """
    from . import data as D

    seed = int(cfg.seed if seed is None else seed)
    spec = str(spec).strip()
    if spec.startswith("synthetic:"):
        levels = [x.strip() for x in spec.split(":", 1)[1].split(",") if x.strip()]
        n = int(num_problems or cfg.data.train.num_problems or 64)
        return D.normalise_rows(D.synthetic_problems(n, levels, seed=seed, split="profile", pool="dev"), spec)
    if spec == "train":
        df = D.load_training_data(cfg)
    elif spec in D.BENCHMARKS or spec == "synthetic":
        return D.load_benchmark(spec, cfg.data.benchmarks_dir, num_problems=num_problems, seed=seed)
    else:
        train = cfg.data.train
        train = replace(train, path=spec) if Path(spec).suffix == ".parquet" else replace(train, source=spec, path=None)
        df = D.load_training_data(replace(cfg, data=replace(cfg.data, train=train)))
    if num_problems:
        df = df.iloc[: int(num_problems)].reset_index(drop=True)
    return df
