"""Tables and figures of the training section, built from what the stages logged.

* :func:`config_table` -- the per-stage verl configuration (from the overrides actually used, or
  that would be used);
* :func:`curves` / :func:`plot_curves` -- per-step training reward, response length and clip
  ratio, solve-none / solve-all / informative fractions, substitution counts, entropy and
  validation avg@n, all stages on one cumulative step axis (the report's Figures 13-14 style);
* :func:`difficulty_histograms` -- per stage, the histogram of the prompts' logged accuracy at
  their first and at their last appearance in the stage, and the training-set size before/after
  drop-easy (the report's Figure 2 in spirit: Ⴑ turning into J).
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import plots
from . import stages as S
from . import verl_config as vc

# curve name -> (candidate metric columns in order, panel)
CURVES = {
    "reward (batch mean, pre-substitution)": (("polaris/score_pre_substitution", "critic/score/mean"), "reward"),
    "reward (trained on, post-substitution)": (("critic/score/mean",), "reward"),
    "response length (mean tokens)": (("response_length/mean",), "length"),
    "clip ratio (hit the cap)": (("response_length/clip_ratio",), "clip"),
    "solve-none fraction": (("polaris/solve_none_frac",), "groups"),
    "solve-all fraction": (("polaris/solve_all_frac",), "groups"),
    "informative fraction": (("polaris/informative_frac",), "groups"),
    "substituted groups": (("polaris/substituted",), "subst"),
    "skipped batches": (("polaris/skipped",), "subst"),
    "rescued rollouts": (("polaris/rescued",), "subst"),
    "entropy": (("actor/entropy", "actor/entropy_loss"), "entropy"),
    "grad norm": (("actor/grad_norm",), "entropy"),
}
PANELS = {"reward": "training reward", "length": "response length", "clip": "clip ratio",
          "groups": "group outcome fractions", "subst": "substitution / skip / rescue",
          "entropy": "entropy, grad norm", "val": "validation avg@n"}


def config_table(cfg: dict, run_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per stage: the values that change between stages plus the POLARIS switches."""
    rows = []
    for st in cfg.training.stages:
        i = st.index
        rec = S.read_stage(S.stage_dir(cfg, run_dir, i)) if run_dir else {}
        ov = rec.get("overrides")
        if not ov:
            plan = S.plan_stage(cfg, run_dir or "RUN_DIR", i, dry_run=True, log=lambda s: None)
            ov = S.overrides_for(cfg, plan) if cfg.training.rollout_name != "hf" else \
                vc.stage_overrides(cfg, i, train_files="-", val_files="-", model_path=plan.model_path,
                                   output_dir=plan.dir, cpu=False)
        row = vc.summary_row(cfg, i, ov)
        plan = rec.get("plan") or {}
        row["T source"] = plan.get("temperature_source", "config")
        row["train rows"] = (plan.get("data_report") or {}).get("after",
                                                                 (plan.get("data_report") or {}).get("rows"))
        rows.append(row)
    return pd.DataFrame(rows)


def _val_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if str(c).startswith("val-core/") and "/acc/mean@" in str(c)] or \
           [c for c in df.columns if str(c).startswith("val-core/") and "/mean@" in str(c)]


def curves(metrics: pd.DataFrame) -> pd.DataFrame:
    """Long table ``stage, global_step, step, curve, panel, value`` of every curve present."""
    if metrics is None or not len(metrics):
        return pd.DataFrame(columns=["stage", "global_step", "step", "curve", "panel", "value"])
    out = []
    for name, (cands, panel) in CURVES.items():
        col = S.find_metric(metrics, *cands)
        if col is None:
            continue
        sub = metrics[["stage", "global_step", "step", col]].dropna()
        out.append(sub.rename(columns={col: "value"}).assign(curve=name, panel=panel, metric=col))
    for col in _val_columns(metrics):
        sub = metrics[["stage", "global_step", "step", col]].dropna()
        name = "validation " + col.split("/", 1)[1]
        out.append(sub.rename(columns={col: "value"}).assign(curve=name, panel="val", metric=col))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def plot_curves(long: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """One panel per metric group over the cumulative step; stage boundaries dashed."""
    panels = [p for p in PANELS if len(long) and (long["panel"] == p).any()]
    n = max(len(panels), 1)
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.2 * nrows), squeeze=False)
    bounds = long.groupby("stage", sort=False)["global_step"].max().tolist()[:-1] if len(long) else []
    for ax, panel in zip(axes.flat, panels):
        sub = long[long["panel"] == panel]
        for name, g in sub.groupby("curve", sort=False):
            ax.plot(g["global_step"], g["value"], marker="o", ms=3, label=name)
        for b in bounds:
            ax.axvline(b + 0.5, color="grey", ls="--", lw=0.8)
        ax.set_title(PANELS[panel], fontsize=10)
        ax.set_xlabel("training step (cumulative over stages)")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def difficulty_histograms(cfg: dict, run_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(histograms, sizes): ``histograms`` in long form ``stage, when, bin, count`` (when =
    first / last appearance in the stage, bins = correct rollouts out of n); ``sizes`` one row per
    stage with its training-set size, prompts seen, and drop-easy's before/after/dropped."""
    from .. import difficulty

    k = int(cfg.training.rollout_n)
    hist, sizes = [], []
    for st in cfg.training.stages:
        sdir = S.stage_dir(cfg, run_dir, st.index)
        acc = S.accuracy_table(sdir)
        rec = S.read_stage(sdir)
        rep = (rec.get("plan") or {}).get("data_report") or {}
        sizes.append({"stage": st.name, "train rows": rep.get("after", rep.get("rows")),
                      "drop-easy before": rep.get("before"), "dropped (acc > %g)" % cfg.difficulty.drop_easy_threshold: rep.get("dropped"),
                      "prompts seen": int(len(acc)),
                      "seen more than once": int((acc["seen"] > 1).sum()) if len(acc) else 0})
        if not len(acc):
            continue
        for when in ("first", "last"):
            counts = difficulty.accuracy_histogram(acc[when], k)
            for b, c in counts.items():
                hist.append({"stage": st.name, "when": when, "bin": f"{b}/{k}", "num_correct": int(b),
                             "count": int(c)})
    return pd.DataFrame(hist), pd.DataFrame(sizes)


def plot_difficulty(hist: pd.DataFrame) -> plt.Figure:
    panels = []
    for (stage, when), g in hist.groupby(["stage", "when"], sort=False):
        panels.append({"counts": g.sort_values("num_correct")["count"].tolist(),
                       "labels": g.sort_values("num_correct")["bin"].tolist(),
                       "title": f"{stage}: {when} appearance",
                       "color": "#4c72b0" if when == "first" else "#dd8452"})
    if not panels:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no accuracy logs yet", ha="center")
        return fig
    return plots.histogram_grid(panels, ncols=2, suptitle="logged per-prompt accuracy (correct rollouts of n)")


def temperature_searches(cfg: dict, run_dir: str | os.PathLike) -> pd.DataFrame:
    """The diversity/accuracy sweeps behind each stage's rollout temperature, in long form
    ``stage, model, temperature, accuracy, diversity, chosen, target_diversity``: stage 1 from
    the temperature section's choice (manifest output ``stage1_temperature``, the base model), a
    later stage from its own search on the previous stage's merged model (its ``temperature/``
    folder; present only when it ran
    with ``temperature_mode=search``). Empty when no stage searched."""
    import json

    from .. import sections
    from ..temperature import CHOICE_FILE

    run_dir = Path(run_dir)
    first = sections.output(run_dir, sections.STAGE1_TEMPERATURE)
    stages = cfg.training.stages
    files = [(stages[0].name if stages else "stage1", Path(first["path"]) if first else None)]
    files += [(st.name, S.stage_dir(cfg, run_dir, st.index) / "temperature" / CHOICE_FILE) for st in stages[1:]]
    rows = []
    for stage, path in files:
        if path is None or not path.exists():
            continue
        rec = json.loads(path.read_text())
        for pt in rec.get("curve") or []:
            rows.append({"stage": stage, "model": rec.get("model"), "temperature": float(pt["temperature"]),
                         "accuracy": pt.get("accuracy"), "diversity": pt.get("diversity"),
                         "chosen": float(rec["temperature"]), "target_diversity": rec.get("target_diversity")})
    cols = ["stage", "model", "temperature", "accuracy", "diversity", "chosen", "target_diversity"]
    return pd.DataFrame(rows, columns=cols)


def plot_temperature_searches(df: pd.DataFrame) -> plt.Figure:
    """Distinct-4 and accuracy against temperature, one line per stage's model, each stage's
    chosen temperature marked, and the diversity target a later stage matched (dotted)."""
    fig, (ax_div, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, (stage, g) in enumerate(df.groupby("stage", sort=False)):
        g = g.sort_values("temperature")
        c = colors[j % len(colors)]
        chosen = float(g["chosen"].iat[0])
        for ax, col in ((ax_div, "diversity"), (ax_acc, "accuracy")):
            ax.plot(g["temperature"], g[col], "o-", color=c, label=f"{stage} (T = {chosen:g})")
            ax.axvline(chosen, color=c, ls="--", lw=0.9)
        tgt = g["target_diversity"].iat[0]
        if tgt is not None and not pd.isna(tgt):
            ax_div.axhline(float(tgt), color=c, ls=":", lw=0.9)
    ax_div.set(xlabel="temperature", ylabel="distinct-4", title="diversity of each stage's starting model")
    ax_acc.set(xlabel="temperature", ylabel="accuracy (avg@n)", title="accuracy")
    for ax in (ax_div, ax_acc):
        ax.legend(fontsize=7)
    fig.suptitle("Rollout temperature per stage: chosen on the model each stage starts from "
                 "(dotted: the diversity a later stage matched; cf. the report's Figure 8)", fontsize=9)
    fig.tight_layout()
    return fig
