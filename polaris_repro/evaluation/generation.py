"""Generating, grading and summarising one model per benchmark, with resume.

:func:`evaluate_model` loads the problems, generates (continuing an interrupted run from the
sampler's journal and refusing a folder generated with other settings), grades and writes
``settings.json``, ``<benchmark>.parquet``, ``questions.csv`` and ``metrics.json``;
:func:`load_result` reads a finished evaluation back.
"""
from __future__ import annotations

import gc
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from ..artifacts import atomic_path, now, write_json
from ..config import Config, ContextExtension, as_config
from .protocol import EvaluationError, GENERATION_KEYS, GRADE_COLUMNS, ModelResult, ModelSpec, protocol
from .responses import grade_responses
from .statistics import benchmark_metrics, question_table


def load_problems(name: str, cfg: dict, num_problems: int | None = None) -> pd.DataFrame:
    """One benchmark's problems (normalised rows), the first ``num_problems`` of them."""
    from ..data import load_benchmark

    directory = cfg.data.benchmarks_dir
    if name == "synthetic":
        # held-out problems of the trained levels, disjoint from every problem of sections 1-3
        levels = cfg.evaluation.synthetic_levels or cfg.data.train.levels
        return load_benchmark("synthetic", num_problems=num_problems or 32, seed=int(cfg.seed),
                              levels=levels, pool="heldout")
    return load_benchmark(name, directory, num_problems=num_problems)


def _chat(prompt: Any) -> list[dict] | str:
    if isinstance(prompt, str):
        return prompt
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in list(prompt)]


def _generation_settings(spec: ModelSpec, proto: Mapping) -> dict:
    y = proto["yarn"]
    return {"model": spec.path, "label": spec.label, "role": spec.role,
            "yarn": ({"factor": y["factor"], "attn_factor": y["attn_factor"],
                      "original_max_position_embeddings": y.get("original_max_position_embeddings")}
                     if spec.yarn else None),
            "temperature": proto["temperature"], "top_p": proto["top_p"], "top_k": proto["top_k"],
            "max_new_tokens": proto["max_new_tokens"], "seed": proto["seed"],
            "thinking": proto["thinking"], "engine": proto["engine"],
            "grading": dict(proto["grading"])}


def _check_resume(path: Path, settings: dict) -> None:
    if not path.exists():
        return
    old = json.loads(path.read_text())
    diff = [f"{k}: before {old.get(k)!r}, now {settings.get(k)!r}" for k in GENERATION_KEYS
            if old.get(k) != settings.get(k)]
    if diff:
        raise EvaluationError(
            f"{path.parent}: this folder holds responses generated with other settings ("
            + "; ".join(diff) + "). Use another model label or run folder, or delete the folder.")


def local_model_path(path: str) -> str:
    """A local folder for a model: builtin models are built/cached, local folders pass through,
    hub ids are downloaded into the Hugging Face cache (``snapshot_download``)."""
    from ..models import resolve_model_path

    resolved = resolve_model_path(str(path))
    if Path(resolved).is_dir():
        return resolved
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover
        raise EvaluationError(f"{path}: not a local folder and huggingface_hub is missing") from e
    try:
        return str(snapshot_download(resolved))
    except Exception as e:
        raise EvaluationError(f"{path}: not a local folder and could not be downloaded from the hub "
                              f"({type(e).__name__}: {e}); pass a local folder") from e


def context_extension(spec: ModelSpec, proto: Mapping, cfg: Config | Mapping, model_path: str) -> dict:
    """``model.context_extension`` for the sampler: the tier's raised context limit, plus the YaRN
    entry (``factor``, ``attn_factor``, ``original_max_position_embeddings`` = the config's value or
    the model's native context) when the spec asks for YaRN. Without YaRN a YaRN entry the model's
    own config carries is switched off (rope_type default), so "without YaRN" means without."""
    from .. import yarn as Y
    from ..config import check_lengths

    cfg = as_config(cfg)
    ext = cfg.model.context_extension
    mcfg = Y.read_config(model_path)
    # the config-time length check, now against the model's own config.json (a model the
    # context table does not know is checked here, before anything is generated)
    ev = cfg.evaluation
    c = replace(cfg, evaluation=replace(ev, max_new_tokens=proto["max_new_tokens"],
                                        yarn=replace(ev.yarn, **{**proto["yarn"], "enabled": bool(spec.yarn)})))
    check_lengths(c, mcfg, yarn=bool(spec.yarn), name=f"{spec.label} ({model_path})")
    out: dict = {"max_position_embeddings": ext.max_position_embeddings, "rope_scaling": None}
    if spec.yarn:
        y = proto["yarn"]
        orig = int(y.get("original_max_position_embeddings") or Y.original_context(mcfg))
        out["rope_scaling"] = Y.yarn_rope_scaling(y["factor"], orig, y["attn_factor"])
        need = int(math.ceil(y["factor"] * orig))
        out["max_position_embeddings"] = max(int(out["max_position_embeddings"] or 0), need,
                                             Y.context_limit(mcfg))
    elif Y.rope_settings(mcfg).get("rope_type") == "yarn":
        out["rope_scaling"] = {"rope_type": "default"}
    return out


def _sampler_cfg(cfg: Config, proto: Mapping, model_path: str, ext: Mapping) -> Config:
    return replace(cfg, model=replace(cfg.model, path=model_path, thinking=proto["thinking"],
                                      context_extension=ContextExtension.of(ext)))


def _prompt_lengths(probe: Any, prompts: Iterable[Any]) -> list[int]:
    """Token counts of prompts as the sampler encodes them (the tokenizer's "longer than the
    maximum sequence length" warning is expected here and silenced)."""
    from transformers.utils import logging as tlog

    level = tlog.get_verbosity()
    tlog.set_verbosity_error()
    try:
        return [len(probe.encode(_chat(p))) for p in prompts]
    finally:
        tlog.set_verbosity(level)


def select_problems(problems: pd.DataFrame, prompt_lens: Sequence[int], limit: int, max_new_tokens: int,
                    num_problems: int | None) -> tuple[pd.DataFrame, list[int]]:
    """``overlong_prompts: skip``: keep the problems whose prompt + max_new_tokens fits the context
    ``limit``, then the first ``num_problems`` of them; returns (kept rows, skipped indices)."""
    fits = [L + max_new_tokens <= limit for L in prompt_lens]
    skipped = [int(i) for i, ok in zip(problems["index"], fits) if not ok]
    kept = problems[fits]
    if num_problems:
        kept = kept.iloc[:num_problems]
    return kept.reset_index(drop=True), skipped


def responses_frame(problems: pd.DataFrame, completions: Sequence[Sequence[Any]], *,
                    benchmark: str) -> pd.DataFrame:
    """Problems plus their completions in the official layout (one row per problem, a
    ``responses`` list column) with ``num_tokens`` and ``finish_reasons`` list columns."""
    if len(completions) != len(problems):
        raise EvaluationError(f"{benchmark}: {len(completions)} completion lists for {len(problems)} problems")
    df = problems.copy().reset_index(drop=True)
    df["responses"] = [[str(c.text) for c in cs] for cs in completions]
    df["num_tokens"] = [[int(c.num_tokens) for c in cs] for cs in completions]
    df["finish_reasons"] = [[str(c.finish_reason) for c in cs] for cs in completions]
    df["benchmark"] = benchmark
    return df


def _expected_problems(existing: pd.DataFrame, problems: pd.DataFrame, n: int, path: Path) -> None:
    if len(existing) != len(problems) or list(existing["index"]) != list(problems["index"]):
        raise EvaluationError(f"{path}: holds {len(existing)} problems, the protocol asks for "
                              f"{len(problems)} (other num_problems?); use another run folder or delete it")
    ns = {len(list(r)) for r in existing["responses"]}
    if ns != {n}:
        raise EvaluationError(f"{path}: holds {sorted(ns)} responses per problem, the protocol asks "
                              f"for {n}; use another run folder or delete it")


def evaluate_model(cfg: dict, spec: ModelSpec, out_root: str | os.PathLike, *,
                   proto: Mapping | None = None, sampler: Any = None,
                   sampler_factory: Callable[[dict, str], Any] | None = None,
                   math_verify: bool = True, timeout_s: float = 2.0,
                   log: Callable[[str], None] | None = print) -> ModelResult:
    """Generate (or resume), grade and summarise one model on every benchmark of the protocol.

    ``out_root`` is ``<run_dir>/04_evaluation``; results go to ``out_root/<label>``. A benchmark
    whose parquet exists is not generated again; an interrupted one continues from the sampler's
    journal. ``sampler`` (or ``sampler_factory(cfg, model_path)``) replaces the tier's sampler
    (tests); the model is loaded only if something must be generated.

    The steps, per benchmark: :meth:`_ModelEvaluation.problems` (load; filter overlong prompts),
    then :meth:`~_ModelEvaluation.cached` (the stored parquet, regraded if the grading changed) or
    :meth:`~_ModelEvaluation.generate` (sample and grade); the run's settings are checked and
    recorded first (:meth:`~_ModelEvaluation.resume`).
    """
    ev = _ModelEvaluation(cfg, spec, dict(proto or protocol(cfg)), Path(out_root) / spec.label, sampler,
                          sampler_factory, math_verify, timeout_s, log or (lambda s: None))
    ev.resume()
    frames: dict[str, pd.DataFrame] = {}
    for name, n in ev.proto["benchmarks"].items():
        problems = ev.problems(name)
        pq = ev.out / f"{name}.parquet"
        df = ev.cached(name, n, problems, pq) if pq.exists() else ev.generate(name, n, problems, pq)
        if "correct" not in df.columns:
            df = ev.grade(df)
        df["benchmark"] = name
        frames[name] = df
    ev.release()
    return summarise_model(spec, ev.out, frames, ev.proto, timings=ev.timings, skipped=ev.skipped)


@dataclass
class _ModelEvaluation:
    """One model's evaluation, step by step (:func:`evaluate_model`)."""
    cfg: dict
    spec: ModelSpec
    proto: dict
    out: Path
    sampler: Any
    sampler_factory: Callable[[dict, str], Any] | None
    math_verify: bool
    timeout_s: float
    say: Callable[[str], None]
    record: dict = field(default_factory=dict)
    regrade: bool = False
    lazy: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)

    def __post_init__(self):
        self.own_sampler = self.sampler is None

    def resume(self) -> None:
        """Refuse a folder generated with other settings; record this run's; note whether the stored
        verdicts are stale (the grading settings changed)."""
        self.out.mkdir(parents=True, exist_ok=True)
        settings = _generation_settings(self.spec, self.proto)
        _check_resume(self.out / "settings.json", settings)
        self.record = {**settings, "spec": self.spec.as_dict(), "protocol": self.proto, "written": now()}
        if (self.out / "settings.json").exists():
            old = json.loads((self.out / "settings.json").read_text())
            self.record["context_extension"] = old.get("context_extension")
            self.regrade = old.get("grading") != settings["grading"]      # stored verdicts are stale
        write_json(self.out / "settings.json", self.record)

    def model(self) -> tuple[str, dict]:
        """The model's local path and context extension, resolved on first use (and recorded)."""
        if "path" not in self.lazy:
            self.lazy["path"] = local_model_path(self.spec.path)
            self.lazy["ext"] = context_extension(self.spec, self.proto, self.cfg, self.lazy["path"])
            self.record["context_extension"] = self.lazy["ext"]
            write_json(self.out / "settings.json", self.record)
        return self.lazy["path"], self.lazy["ext"]

    def problems(self, name: str) -> pd.DataFrame:
        """A benchmark's problems; with ``overlong_prompts: skip``, those whose prompt fits the
        model's context with ``max_new_tokens`` (the others recorded in :attr:`skipped`)."""
        proto, cfg = self.proto, self.cfg
        if proto["overlong_prompts"] != "skip":
            return load_problems(name, cfg, proto["num_problems"])
        from .. import yarn as Y
        from ..sampling import Sampler

        path, ext = self.model()
        if "probe" not in self.lazy:
            # tokenizer and config only: the sampler's own prompt lengths, and the context
            # WITHOUT the YaRN extension, so a model and its YaRN twin answer the same problems
            self.lazy["probe"] = Sampler(path, thinking=proto["thinking"], max_position_embeddings=(
                cfg.model.context_extension.max_position_embeddings))
        probe = self.lazy["probe"]
        allp = load_problems(name, cfg, None if name != "synthetic" else proto["num_problems"])
        lens = _prompt_lengths(probe, allp["prompt"])
        problems, self.skipped[name] = select_problems(allp, lens, Y.context_limit(probe.model_config),
                                                       proto["max_new_tokens"], proto["num_problems"])
        if self.skipped[name]:
            self.say(f"[{self.spec.label}] {name}: {len(self.skipped[name])} of {len(allp)} prompts do not fit the "
                     f"context with {proto['max_new_tokens']} new tokens and are skipped "
                     f"(evaluation.overlong_prompts = skip)")
        if not len(problems):
            raise EvaluationError(f"{name}: no prompt fits the model's context with "
                                  f"{proto['max_new_tokens']} new tokens")
        return problems

    def grade(self, df: pd.DataFrame, desc: str | None = None) -> pd.DataFrame:
        kw = {} if desc is None else {"desc": desc}
        return grade_responses(df, mode=self.proto["grading"]["answer_extraction"], math_verify=self.math_verify,
                               timeout_s=self.timeout_s, **kw)

    def cached(self, name: str, n: int, problems: pd.DataFrame, pq: Path) -> pd.DataFrame:
        """The stored responses of a benchmark (the same problems), regraded if the grading changed."""
        df = pd.read_parquet(pq)
        _expected_problems(df, problems, n, pq)
        self.say(f"[{self.spec.label}] {name}: {len(df)} problems x {n} found in {pq.name}, not regenerated")
        if self.regrade:
            self.say(f"[{self.spec.label}] {name}: grading settings changed, regrading")
            df = self.grade(df.drop(columns=[c for c in GRADE_COLUMNS if c in df.columns]),
                            desc=f"grade {self.spec.label} on {name}")
            with atomic_path(pq) as tmp:
                df.to_parquet(tmp, index=False)
        return df

    def generate(self, name: str, n: int, problems: pd.DataFrame, pq: Path) -> pd.DataFrame:
        """Sample ``n`` responses per problem (the sampler made on first use), grade and store them."""
        proto = self.proto
        if self.sampler is None:
            path, ext = self.model()
            scfg = _sampler_cfg(self.cfg, proto, path, ext)
            if self.sampler_factory is not None:
                self.sampler = self.sampler_factory(scfg, path)
            else:
                from ..sampling import make_sampler

                self.sampler = make_sampler(scfg, model=path)
        self.say(f"[{self.spec.label}] {name}: generating {len(problems)} problems x {n} "
                 f"(T={proto['temperature']}, top_p={proto['top_p']}, top_k={proto['top_k']}, "
                 f"max_new_tokens={proto['max_new_tokens']}, yarn={self.spec.yarn})")
        t0 = time.time()
        comps = self.sampler.generate([_chat(p) for p in problems["prompt"]], n=n,
                                      temperature=proto["temperature"], top_p=proto["top_p"],
                                      top_k=proto["top_k"], max_new_tokens=proto["max_new_tokens"],
                                      seed=proto["seed"], out_file=str(self.out / f"{name}.samples.jsonl"),
                                      desc=f"{self.spec.label}/{name}")
        elapsed = time.time() - t0
        df = self.grade(responses_frame(problems, comps, benchmark=name), desc=f"grade {self.spec.label} on {name}")
        ntok = int(sum(sum(x) for x in df["num_tokens"]))
        self.timings[name] = {"generation_s": round(elapsed, 2), "tokens": ntok,
                              "tokens_per_s": round(ntok / elapsed, 1) if elapsed > 0 else None}
        with atomic_path(pq) as tmp:
            df.to_parquet(tmp, index=False)
        return df

    def release(self) -> None:
        """Close the sampler this evaluation made and drop the model's references."""
        if self.own_sampler and self.sampler is not None and hasattr(self.sampler, "close"):
            self.sampler.close()
        self.sampler = None
        self.lazy.clear()
        gc.collect()


def summarise_model(spec: ModelSpec, out: Path, frames: Mapping[str, pd.DataFrame], proto: Mapping,
                    *, timings: Mapping[str, dict] | None = None,
                    skipped: Mapping[str, list[int]] | None = None) -> ModelResult:
    """Write ``questions.csv`` and ``metrics.json`` for graded frames; return the ModelResult."""
    old = {}
    if (out / "metrics.json").exists():
        old = json.loads((out / "metrics.json").read_text()).get("generation_time", {})
    per = {}
    for name, df in frames.items():
        per[name] = benchmark_metrics(df, resamples=proto["bootstrap"], seed=proto["seed"])
        if skipped and skipped.get(name):
            per[name]["skipped_overlong"] = list(skipped[name])
    questions = pd.concat([question_table(df) for df in frames.values()], ignore_index=True) \
        if frames else pd.DataFrame()
    with atomic_path(out / "questions.csv") as tmp:
        questions.to_csv(tmp, index=False)
    met = {"model": spec.as_dict(), "settings": _generation_settings(spec, proto), "protocol": dict(proto),
           # the exact rope entry and context limit the model ran with (None: nothing generated
           # in this folder yet, i.e. an evaluation finished before this was recorded)
           "context_extension": (json.loads((out / "settings.json").read_text()).get("context_extension")
                                 if (out / "settings.json").exists() else None),
           "benchmarks": per, "generation_time": {**old, **dict(timings or {})}, "written": now()}
    write_json(out / "metrics.json", met)
    return ModelResult(spec, out, dict(frames), met, questions)


def load_result(model_dir: str | os.PathLike) -> ModelResult:
    """Read a finished model evaluation back from its folder (no generation, no grading)."""
    d = Path(model_dir)
    if not (d / "metrics.json").exists():
        raise EvaluationError(f"{d}: no metrics.json (the evaluation of this model did not finish)")
    met = json.loads((d / "metrics.json").read_text())
    spec = ModelSpec(**met["model"])
    frames = {}
    for name in met["benchmarks"]:
        df = pd.read_parquet(d / f"{name}.parquet")
        df["benchmark"] = name
        frames[name] = df
    qt = pd.read_csv(d / "questions.csv") if (d / "questions.csv").exists() else pd.DataFrame()
    return ModelResult(spec, d, frames, met, qt)


def evaluate_all(cfg: dict, specs: Sequence[ModelSpec], out_root: str | os.PathLike, *,
                 proto: Mapping | None = None, log: Callable[[str], None] | None = print,
                 **kwargs: Any) -> list[ModelResult]:
    """:func:`evaluate_model` for every spec, in order, with the wall time of each."""
    results = []
    for spec in specs:
        t0 = time.time()
        r = evaluate_model(cfg, spec, out_root, proto=proto, log=log, **kwargs)
        if log:
            log(f"[{spec.label}] done in {time.time() - t0:.1f} s -> {r.out_dir}")
        results.append(r)
    return results
