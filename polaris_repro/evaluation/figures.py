"""Figures of section 4: the results next to the report's, the length buckets, the budget
curve and pass@k.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from .. import reference_results as ref
from .protocol import ModelResult


def plot_results(table: pd.DataFrame):
    """Our avg@n with 95 % intervals per benchmark and model, the report's value as a hatched bar."""
    import matplotlib.pyplot as plt

    benches = list(dict.fromkeys(table["benchmark"]))
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, len(benches), figsize=(max(3.2, 2.2 + 0.9 * len(models)) * len(benches) / 1.4, 3.4),
                             squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    reported_drawn = False
    for ax, b in zip(axes[0], benches):
        g = table[table.benchmark == b].set_index("model")
        for i, m in enumerate(models):
            if m not in g.index:
                continue
            r = g.loc[m]
            err = [[max(0.0, r["avg"] - r["ci_low"])], [max(0.0, r["ci_high"] - r["avg"])]] \
                if not math.isnan(r["ci_low"]) else None
            ax.bar(i - 0.18, r["avg"], width=0.36, color=colors[i % len(colors)], yerr=err, capsize=3,
                   label="ours (95 % interval)" if i == 0 else None)
            ax.annotate(f"{r['avg']:.1f}", (i - 0.18, r["avg"]), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
            if r["reported"] is not None and not (isinstance(r["reported"], float) and math.isnan(r["reported"])):
                ax.bar(i + 0.18, r["reported"], width=0.36, color="#cccccc", hatch="//",
                       edgecolor="#555555", label=ref.SOURCE if not reported_drawn else None)
                reported_drawn = True
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{ref.BENCHMARK_TITLES.get(b, b)} avg@{int(g['n'].iloc[0])}", fontsize=10)
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy (%)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_length_buckets(buckets: pd.DataFrame, *, with_reference: bool = True):
    """Figures 10-11: accuracy per response-length bucket, one panel per benchmark pool, one bar
    per model (n = responses in the bucket), and the report's POLARIS-4B values (AIME24+25 x 32,
    without and with YaRN) in a last panel."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(buckets["model"]))
    labels = list(dict.fromkeys(buckets["bucket"]))
    pools = list(dict.fromkeys(buckets["pool"]))
    npanel = len(pools) + (1 if with_reference else 0)
    fig, axes = plt.subplots(1, npanel, figsize=(4.2 * npanel, 3.4), squeeze=False)
    w = 0.8 / max(1, len(models))
    for ax, pool in zip(axes[0], pools):
        for i, m in enumerate(models):
            g = buckets[(buckets.model == m) & (buckets.pool == pool)].set_index("bucket").reindex(labels)
            xs = np.arange(len(labels)) + (i - (len(models) - 1) / 2) * w
            bars = ax.bar(xs, g["accuracy"].fillna(0), width=w, label=m)
            for x, bar, cnt in zip(xs, bars, g["responses"].fillna(0)):
                ax.annotate(f"n={int(cnt)}", (x, bar.get_height()), ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(0, 108)
        ax.set_xlabel("response length (tokens)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"ours: {pool}", fontsize=10)
        ax.legend(fontsize=7)
    if with_reference:
        rb = ref.length_buckets()
        ax2 = axes[0][-1]
        settings = list(dict.fromkeys(rb["setting"]))
        rl = list(dict.fromkeys(rb["bucket"]))
        for i, s in enumerate(settings):
            g = rb[rb.setting == s].set_index("bucket").reindex(rl)
            xs = np.arange(len(rl)) + (i - 0.5) * 0.4
            ax2.bar(xs, g["accuracy"], width=0.4, label=s, hatch="//" if i == 0 else "..",
                    color="#cccccc" if i == 0 else "#999999", edgecolor="#555555")
        ax2.set_xticks(range(len(rl)), rl)
        ax2.set_ylim(0, 108)
        ax2.set_xlabel("response length (tokens)")
        ax2.set_title(f"POLARIS-4B, AIME24+25 x 32\n({ref.SOURCE})", fontsize=9)
        ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_budget_curve(curve: pd.DataFrame, *, training_length: int | None = None,
                      with_reference: bool = True):
    """Figure 12: avg@n against the token budget, one line per model and benchmark; budgets above
    the run's max new tokens drawn hollow (lower bounds)."""
    import matplotlib.pyplot as plt

    npanel = 2 if with_reference else 1
    fig, axes = plt.subplots(1, npanel, figsize=(4.8 * npanel, 3.4), squeeze=False)
    ax = axes[0][0]
    for (m, b), g in curve.groupby(["model", "benchmark"], sort=False):
        line, = ax.plot(g["budget"], g["accuracy"], marker="o", label=f"{m} · {b}")
        lb = g[g["lower_bound"]]
        if len(lb):
            ax.plot(lb["budget"], lb["accuracy"], "o", mfc="white", color=line.get_color())
    if training_length:
        ax.axvline(training_length, color="black", ls="--", lw=1, label=f"training length {training_length}")
    top = float(np.nanmax(curve["accuracy"])) if len(curve) and curve["accuracy"].notna().any() else 0.0
    ax.set_ylim(0, max(10.0, min(100.0, top * 1.15 + 2)))
    ax.set_xlabel("token budget (response tokens)")
    ax.set_ylabel("avg@n (%)")
    ax.set_title("ours: responses over the budget count as wrong", fontsize=9)
    ax.legend(fontsize=6)
    if with_reference:
        rc = ref.budget_curves()
        ax2 = axes[0][1]
        for (b, s), g in rc.groupby(["benchmark", "setting"], sort=False):
            ax2.plot(g["budget"] / 1024, g["accuracy"], marker="o", ls="-" if s == "with YaRN" else "--",
                     label=f"{b} {s}")
        ax2.axvline(52, color="black", ls=":", lw=1, label="training length 52K")
        ax2.set_xlabel("max context (K tokens)")
        ax2.set_title(f"POLARIS-4B mean@32 ({ref.SOURCE})", fontsize=9)
        ax2.legend(fontsize=6)
    fig.tight_layout()
    return fig


def plot_pass_at_k(results: Sequence[ModelResult]):
    """Unbiased pass@k for k = 1..n, one panel per benchmark, one line per model."""
    import matplotlib.pyplot as plt

    benches = list(dict.fromkeys(b for r in results for b in r.metrics["benchmarks"]))
    fig, axes = plt.subplots(1, len(benches), figsize=(3.6 * len(benches), 3.2), squeeze=False)
    for ax, b in zip(axes[0], benches):
        for r in results:
            m = r.metrics["benchmarks"].get(b)
            if not m:
                continue
            ks = [int(k) for k in m["pass@k"]]
            ax.plot(ks, [100 * v for v in m["pass@k"].values()], marker="o", label=r.label)
        ax.set_title(ref.BENCHMARK_TITLES.get(b, b), fontsize=10)
        ax.set_xlabel("k")
        ax.set_ylabel("pass@k (%)")
        ax.set_ylim(0, 100)
        if ks and max(ks) > 8:
            ax.set_xscale("log", base=2)
        elif ks:
            ax.set_xticks(ks)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
