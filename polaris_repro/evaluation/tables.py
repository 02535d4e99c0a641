"""Tables and text for the reader: the Markdown results (written with the CSV and figure by
:func:`write_results`), the protocol next to the report's, pass@k, grader disagreements, format and
truncation, example responses, training-data overlap and ``summary.json``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from .. import reference_results as ref
from ..artifacts import atomic_path, now
from .protocol import ModelResult, protocol_mismatches
from .responses import answers_of
from .length import token_label
from .figures import plot_results


def _cell(v: float | None, lo: float | None = None, hi: float | None = None, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    s = f"{v:+.1f}" if signed else f"{v:.1f}"
    if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
        s += f" [{lo:+.1f}, {hi:+.1f}]" if signed else f" [{lo:.1f}, {hi:.1f}]"
    return s


def results_markdown(table: pd.DataFrame, proto: Mapping, *, reported_rows: Iterable[str] | None = None) -> str:
    """Markdown: ours (avg@n, 95 % interval), the paired differences, the report's table, and the
    protocol."""
    benches = list(dict.fromkeys(table["benchmark"])) if len(table) else []
    head = lambda: "| model | " + " | ".join(  # noqa: E731
        f"{ref.BENCHMARK_TITLES.get(b, b)} avg@{int(table[table.benchmark == b]['n'].iloc[0])}"
        for b in benches) + " |\n|---|" + "---|" * len(benches)
    lines = ["## Ours (avg@n in %, question-level 95 % interval)", "", head()]
    for model, g in table.groupby("model", sort=False):
        cells = []
        for b in benches:
            r = g[g.benchmark == b]
            cells.append(_cell(*r[["avg", "ci_low", "ci_high"]].iloc[0].tolist()) if len(r) else "–")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if "diff_vs_base" in table.columns and table["diff_vs_base"].notna().any():
        vs = table["vs"].dropna().iloc[0]
        lines += ["", f"## Paired difference to `{vs}` on the same questions (points, 95 % interval)", "",
                  head()]
        for model, g in table.groupby("model", sort=False):
            if g["diff_vs_base"].isna().all():
                continue
            cells = []
            for b in benches:
                r = g[g.benchmark == b]
                cells.append(_cell(*r[["diff_vs_base", "diff_ci_low", "diff_ci_high"]].iloc[0].tolist(),
                                   signed=True) if len(r) else "–")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    rep = ref.main_table()
    rows = list(reported_rows) if reported_rows is not None else list(rep.index)
    lines += ["", f"## The report's table (§11.1, {ref.SOURCE})", "",
              "| model | " + " | ".join(f"{ref.BENCHMARK_TITLES[b]} avg@{ref.REPORTED_PROTOCOL['benchmarks'][b]}"
                                        for b in ref.BENCHMARK_ORDER) + " |",
              "|---|" + "---|" * len(ref.BENCHMARK_ORDER)]
    for name in rows:
        lines.append(f"| {name} | " + " | ".join(f"{rep.loc[name, b]:.1f}" for b in ref.BENCHMARK_ORDER) + " |")
    y = proto["yarn"]
    lines += ["", "## Protocol", "",
              f"T = {proto['temperature']}, top-p = {proto['top_p']}, top-k = {proto['top_k']}, "
              f"max new tokens = {proto['max_new_tokens']}, YaRN = "
              + (f"factor {y['factor']}, attn_factor {y['attn_factor']}, original_max_position_embeddings "
                 f"{y.get('original_max_position_embeddings') or 'the checkpoint’s own limit'}"
                 if y["enabled"] else "off")
              + f", thinking = {proto['thinking']}, grading = {proto['grading']['answer_extraction']} "
              f"(no </think> required), seed = {proto['seed']}, problems per benchmark = "
              f"{proto['num_problems'] or 'all'}, tier = {proto.get('tier')}."]
    mism = protocol_mismatches(proto)
    lines.append("Matches the report's protocol point by point." if not mism else
                 "Differs from the report's protocol: " + "; ".join(mism) + ".")
    if "rope" in table.columns and len(table):
        lines += ["", "## Rope entry each model ran with", ""]
        for model, rope in table.drop_duplicates("model")[["model", "rope"]].itertuples(index=False):
            lines.append(f"- {model}: `{rope}`")
    return "\n".join(lines) + "\n"


def write_results(table: pd.DataFrame, proto: Mapping, out_dir: str | os.PathLike,
                  *, reported_rows: Iterable[str] | None = None) -> dict[str, Path]:
    """Write ``results.md``, ``results.csv`` and ``results.png`` into ``out_dir``."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    paths = {"csv": out_dir / "results.csv", "md": out_dir / "results.md", "png": out_dir / "results.png"}
    with atomic_path(paths["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text(results_markdown(table, proto, reported_rows=reported_rows))
    if len(table):
        fig = plot_results(table)
        with atomic_path(paths["png"]) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    return paths


def pass_at_k_table(results: Sequence[ModelResult]) -> pd.DataFrame:
    return pd.DataFrame([{"model": r.label, "benchmark": b, "k": int(k), "pass@k": 100 * v}
                         for r in results for b, m in r.metrics["benchmarks"].items()
                         for k, v in m["pass@k"].items()])


def disagreements(results: Sequence[ModelResult], *, max_examples: int = 10, tail: int = 300) -> pd.DataFrame:
    """Responses on which our grader and math-verify disagree, with the response's last characters."""
    rows = []
    for r in results:
        for name, df in r.frames.items():
            for row in df.to_dict("records"):
                mv = list(row["mv_correct"]) if row.get("mv_correct") is not None else []
                for j, (ours, theirs) in enumerate(zip(row["correct"], mv)):
                    if theirs is None or bool(ours) == bool(theirs):
                        continue
                    rows.append({"model": r.label, "benchmark": name, "index": int(row["index"]), "sample": j,
                                 "ground_truth": " | ".join(answers_of(row)), "ours_pred": row["pred"][j],
                                 "ours": bool(ours), "math_verify": bool(theirs),
                                 "response_tail": str(row["responses"][j])[-tail:]})
                    if len(rows) >= max_examples:
                        return pd.DataFrame(rows)
    return pd.DataFrame(rows, columns=["model", "benchmark", "index", "sample", "ground_truth", "ours_pred",
                                       "ours", "math_verify", "response_tail"])


def summary(results: Sequence[ModelResult], table: pd.DataFrame, proto: Mapping) -> dict:
    """The compact JSON other sections and the claims check read (``04_evaluation/summary.json``)."""
    models = {}
    for r in results:
        models[r.label] = {"path": r.spec.path, "role": r.spec.role, "yarn": r.spec.yarn,
                           "benchmarks": {b: {k: m[k] for k in ("n", "questions", "avg@n", "avg@n_ci95",
                                                                "maj@n", "truncation_rate",
                                                                "missing_box_rate", "mean_length",
                                                                "grader_disagreements")}
                                          | {"pass@n": m["pass@k"][str(m["n"])]}
                                          for b, m in r.metrics["benchmarks"].items()}}
    paired = {}
    if "diff_vs_base" in table.columns:
        for row in table.dropna(subset=["diff_vs_base"]).to_dict("records"):
            paired.setdefault(row["model"], {})[row["benchmark"]] = {
                "vs": row["vs"], "diff_points": row["diff_vs_base"],
                "ci95_points": [row["diff_ci_low"], row["diff_ci_high"]], "questions": row["paired_questions"]}
    return {"protocol": dict(proto), "protocol_mismatches_vs_report": protocol_mismatches(proto),
            "models": models, "paired_vs_base": paired, "written": now()}


def protocol_frame(proto: Mapping) -> pd.DataFrame:
    """The protocol next to the report's (reference §10.1), one row per setting."""
    want = ref.REPORTED_PROTOCOL
    y, wy = proto["yarn"], want["yarn"]
    rows = [("temperature", proto["temperature"], want["temperature"]),
            ("top_p", proto["top_p"], want["top_p"]), ("top_k", proto["top_k"], want["top_k"]),
            ("max_new_tokens", proto["max_new_tokens"], want["max_new_tokens"]),
            ("YaRN", f"factor {y['factor']}, attn {y['attn_factor']}" if y["enabled"] else "off",
             f"factor {wy['factor']}, attn {wy['attn_factor']}"),
            ("thinking mode", proto["thinking"], want["thinking"]),
            ("benchmarks (avg@n)", ", ".join(f"{k}@{v}" for k, v in proto["benchmarks"].items()),
             ", ".join(f"{k}@{v}" for k, v in want["benchmarks"].items())),
            ("problems per benchmark", proto["num_problems"] or "all", "all"),
            ("answer extraction", proto["grading"]["answer_extraction"], want["grading"]["answer_extraction"]),
            ("</think> required", proto["grading"]["require_think"], want["grading"]["require_think"]),
            ("seed", proto["seed"], "not stated"),
            ("prompts beyond the context", proto["overlong_prompts"], "(all fit: 131K context)"),
            ("length buckets", ", ".join(token_label(x) for x in proto["length_buckets"]), "16K, 32K"),
            ("budgets", ", ".join(token_label(x) for x in proto["budgets"]), "32K .. 96K")]
    return pd.DataFrame([{"setting": a, "ours": str(b), "report": str(c)} for a, b, c in rows])


def describe_paired(table: pd.DataFrame) -> str:
    """Plain sentences for every paired difference to the base model, whatever its sign."""
    if "diff_vs_base" not in table.columns or table["diff_vs_base"].isna().all():
        return "No paired comparison: only one model was evaluated."
    lines = []
    for r in table.dropna(subset=["diff_vs_base"]).to_dict("records"):
        lo, hi = r["diff_ci_low"], r["diff_ci_high"]
        if math.isnan(lo) or math.isnan(hi):
            verdict = "too few questions for an interval"
        elif lo > 0:
            verdict = "better than the base model beyond question-level noise"
        elif hi < 0:
            verdict = "worse than the base model beyond question-level noise"
        else:
            verdict = "the interval includes 0: no difference detectable at this size"
        lines.append(f"- **{r['model']}** vs **{r['vs']}** on {ref.BENCHMARK_TITLES.get(r['benchmark'], r['benchmark'])} "
                     f"({int(r['paired_questions'])} questions x {int(r['n'])} samples): {r['diff_vs_base']:+.1f} points, "
                     f"95 % interval [{lo:+.1f}, {hi:+.1f}] ({r['avg'] - r['diff_vs_base']:.1f} -> "
                     f"{r['avg']:.1f}); {verdict}.")
    return "\n".join(lines)


def format_table(results: Sequence[ModelResult]) -> pd.DataFrame:
    """Format and truncation per model and benchmark: truncation and missing-box rates, lengths."""
    rows = []
    for r in results:
        for b, m in r.metrics["benchmarks"].items():
            rows.append({"model": r.label, "benchmark": b, "avg@n (%)": 100 * m["avg@n"],
                         "truncated (%)": None if m["truncation_rate"] is None else 100 * m["truncation_rate"],
                         "no \\boxed (%)": 100 * m["missing_box_rate"], "mean length": m["mean_length"],
                         "max length": m["max_length"], "grader disagreements": m["grader_disagreements"]})
    return pd.DataFrame(rows)


def example_responses(results: Sequence[ModelResult], benchmark: str, *, chars: int = 240) -> pd.DataFrame:
    """The first response of the first problem of a benchmark for each model (head and tail)."""
    rows = []
    for r in results:
        df = r.frames.get(benchmark)
        if df is None or not len(df):
            continue
        row = df.iloc[0]
        text = str(row["responses"][0])
        rows.append({"model": r.label, "index": int(row["index"]), "num_tokens": row["num_tokens"][0],
                     "finish_reason": row["finish_reasons"][0], "pred": row["pred"][0],
                     "correct": bool(row["correct"][0]),
                     "response": text if len(text) <= 2 * chars else text[:chars] + " [...] " + text[-chars:]})
    return pd.DataFrame(rows)


def training_overlap(cfg: dict, results: Sequence[ModelResult]) -> pd.DataFrame | None:
    """How many evaluated questions also occur (same text) in the tier's training data; only for
    synthetic training data (the CPU tiers), where small arithmetic problems do repeat. None when
    the training data is not synthetic (loading the paper's sets is left to section 1)."""
    if cfg.data.train.source != "synthetic" or cfg.data.train.path:
        return None
    from ..data import load_training_data

    train = set(load_training_data(cfg)["problem"].str.strip())
    rows = []
    seen: set[str] = set()
    for r in results:
        for name, df in r.frames.items():
            if name in seen:
                continue
            seen.add(name)
            probs = df["problem"].astype(str).str.strip() if "problem" in df.columns else pd.Series([], dtype=str)
            rows.append({"benchmark": name, "questions": int(len(probs)),
                         "also_in_training_data": int(probs.isin(train).sum())})
    return pd.DataFrame(rows)
