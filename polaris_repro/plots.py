"""Shared plotting helpers for the section notebooks.

Every figure a section shows is saved twice: as a PNG and as the CSV of the numbers drawn
(``save_figure(fig, path, data)``), so the report can show the figure and anyone can re-plot or
check it. Tables are saved as CSV plus a Markdown copy (``save_table``), which the report embeds.

Plot functions take plain pandas objects, draw on a given (or new) Axes and return the Axes; they
never compute results (the package modules do that).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt  # headless sessions fall back to Agg by themselves
import numpy as np
import pandas as pd

from .artifacts import atomic_path

# colours used for the three temperature zones and for "reported by the authors" vs "ours"
ZONE_COLORS = {
    "Low Temperature": "#dddddd",
    "Robust Generation": "#cfe8cf",
    "Controlled Exploration": "#fde6b0",
    "Performance Collapse": "#f6c4c4",
}
REPORTED_STYLE = {"color": "#888888", "hatch": "//", "edgecolor": "#555555"}
REPORTED_LABEL = "reported by the authors (read off the figure)"


def save_figure(fig: "plt.Figure", path: str | os.PathLike,
                data: pd.DataFrame | Mapping[str, Sequence] | None = None, *, dpi: int = 110,
                close: bool = False) -> dict[str, Path]:
    """Save ``fig`` as ``<path>.png`` and ``data`` (the numbers drawn) as ``<path>.csv``.

    ``path`` may carry a ``.png`` suffix or none. Both files are written atomically. Returns the
    paths written. ``data`` is required in spirit: a figure without its data cannot be checked;
    pass ``data=None`` only for purely illustrative figures.
    """
    base = Path(path)
    if base.suffix.lower() in (".png", ".csv"):
        base = base.with_suffix("")
    out = {}
    png = base.with_suffix(".png")
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    out["png"] = png
    if data is not None:
        df = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
        csv = base.with_suffix(".csv")
        with atomic_path(csv) as tmp:
            df.to_csv(tmp, index=False)
        out["csv"] = csv
    if close:
        plt.close(fig)
    return out


def save_table(df: pd.DataFrame, path: str | os.PathLike, *, floatfmt: str = ".4g",
               index: bool = False) -> dict[str, Path]:
    """Save a table as ``<path>.csv`` and ``<path>.md`` (the Markdown copy the report embeds)."""
    base = Path(path)
    if base.suffix.lower() in (".csv", ".md"):
        base = base.with_suffix("")
    csv, md = base.with_suffix(".csv"), base.with_suffix(".md")
    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=index)
    with atomic_path(md) as tmp:
        tmp.write_text(df.to_markdown(index=index, floatfmt=floatfmt) + "\n")
    return {"csv": csv, "md": md}


def _axes(ax=None, figsize=(5.0, 3.4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def histogram_bars(counts: Sequence[float], *, ax=None, labels: Sequence[str] | None = None,
                   title: str = "", color: str = "#4c72b0", xlabel: str = "number correct",
                   ylabel: str = "problems", reported: bool = False, annotate: bool = True,
                   **bar_kw):
    """Bar chart of counts per bin (e.g. correct counts 0/k..k/k). ``reported=True`` draws the
    bars in the hatched grey style used for the authors' numbers."""
    ax = _axes(ax)
    counts = np.asarray(list(counts), dtype=float)
    k = len(counts) - 1
    labels = list(labels) if labels is not None else [f"{i}/{k}" for i in range(k + 1)]
    style = dict(REPORTED_STYLE) if reported else {"color": color}
    style.update(bar_kw)
    bars = ax.bar(range(len(counts)), counts, **style)
    ax.set_xticks(range(len(counts)), labels, rotation=45 if len(counts) > 9 else 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if annotate and len(counts) <= 12:
        for b, c in zip(bars, counts):
            if c > 0:
                ax.annotate(f"{c:,.0f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                            ha="center", va="bottom", fontsize=7)
    return ax


def histogram_grid(panels: Sequence[Mapping], *, ncols: int | None = None, panel_size=(4.2, 3.2),
                   suptitle: str = ""):
    """Several histograms side by side. Each panel is a mapping with ``counts`` and optional
    ``title``, ``reported`` (bool), ``color``, ``ylabel``. Returns the Figure."""
    n = len(panels)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             squeeze=False)
    for ax, p in zip(axes.flat, panels):
        histogram_bars(p["counts"], ax=ax, title=p.get("title", ""), reported=p.get("reported", False),
                       color=p.get("color", "#4c72b0"), ylabel=p.get("ylabel", "problems"),
                       labels=p.get("labels"))
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def shade_zones(ax, temperatures: Sequence[float], zones: Sequence[str], *, alpha: float = 0.6,
                legend: bool = True):
    """Shade the x-range of each temperature zone (midpoints between grid points as borders);
    with ``legend=False`` the spans carry no legend labels (draw a shared legend yourself)."""
    t = np.asarray(list(temperatures), dtype=float)
    if len(t) == 0:
        return ax
    order = np.argsort(t)
    t = t[order]
    z = [list(zones)[i] for i in order]
    if len(t) > 1:
        gaps = np.diff(t)
        edges = np.concatenate([[t[0] - gaps[0] / 2], (t[:-1] + t[1:]) / 2, [t[-1] + gaps[-1] / 2]])
    else:
        edges = np.array([t[0] - 0.05, t[0] + 0.05])
    seen = set()
    for i, zone in enumerate(z):
        label = zone if legend and zone not in seen else None
        seen.add(zone)
        ax.axvspan(edges[i], edges[i + 1], color=ZONE_COLORS.get(zone, "#eeeeee"), alpha=alpha,
                   lw=0, label=label, zorder=0)
    if legend:
        ax.legend(fontsize=7, loc="best")
    return ax


def line_plot(x: Sequence[float], ys: Mapping[str, Sequence[float]], *, ax=None, xlabel: str = "",
              ylabel: str = "", title: str = "", marker: str = "o", styles: Mapping[str, Mapping] | None = None):
    """One line per entry of ``ys`` over a common ``x``."""
    ax = _axes(ax)
    for name, y in ys.items():
        kw = {"marker": marker, "label": name}
        kw.update((styles or {}).get(name, {}))
        ax.plot(list(x), list(y), **kw)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if len(ys) > 1:
        ax.legend(fontsize=7)
    return ax


def mark_x(ax, x: float, label: str, *, color: str = "black", ls: str = "--"):
    """A vertical marker line with a label (e.g. the chosen temperature)."""
    ax.axvline(x, color=color, ls=ls, lw=1.2, label=label, zorder=3)
    return ax


def long_format(frames: Mapping[str, pd.DataFrame] | Iterable[tuple[str, pd.DataFrame]],
                key: str = "panel") -> pd.DataFrame:
    """Concatenate named frames into one with a ``key`` column (the CSV behind a multi-panel figure)."""
    items = frames.items() if isinstance(frames, Mapping) else frames
    parts = []
    for name, df in items:
        d = df.copy()
        d.insert(0, key, name)
        parts.append(d)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def temperature_curve_panel(ax_acc, ax_div, curve: pd.DataFrame, zones: Sequence[str], chosen: float,
                            authors: float | None, title: str):
    """One temperature curve on two Axes: accuracy (``ax_acc``) and distinct-4 (``ax_div``) against
    T, with its ``zones`` shaded (no legend: draw the shared one yourself), the temperature our rule
    chose and -- when not None -- the one the authors chose (section 2, the report's own curves)."""
    for ax, col, lab in ((ax_acc, "accuracy", "accuracy (avg@n)"), (ax_div, "diversity", "distinct-4")):
        shade_zones(ax, curve["temperature"], zones, legend=False)
        ax.plot(curve["temperature"], curve[col], "o-", color="k")
        mark_x(ax, chosen, f"our rule: {chosen:g}", color="#1f77b4")
        if authors is not None:
            mark_x(ax, authors, f"authors: {authors:g}", color="#d62728", ls=":")
        ax.set_ylabel(lab)
        ax.set_xlabel("temperature")
    ax_acc.set_title(title, fontsize=9)
    ax_acc.legend(fontsize=7)
    return ax_acc, ax_div


def temperature_sweep(curve: pd.DataFrame, choice: Mapping, *, title: str = ""):
    """The temperature sweep: accuracy (each point with its question-level 95 % interval when the
    curve has ``accuracy_lo``/``accuracy_hi``) and distinct-4 against T with the zones and the
    chosen T, and -- when ``choice`` holds a ``choice_distribution`` -- how often each temperature
    is chosen when the problems are resampled. Returns the Figure."""
    dist = choice.get("choice_distribution")
    ncols = 3 if dist else 2
    fig, axes = plt.subplots(1, ncols, figsize=(4.4 * ncols, 3.7))
    t = curve["temperature"].to_numpy(float)
    for ax, col, lab in ((axes[0], "accuracy", "accuracy (avg@n)"), (axes[1], "diversity", "distinct-4")):
        shade_zones(ax, t, curve["zone"], legend=False)
        y = curve[col].to_numpy(float)
        if col == "accuracy" and "accuracy_lo" in curve and curve["accuracy_lo"].notna().all():
            err = np.vstack([y - curve["accuracy_lo"].to_numpy(float), curve["accuracy_hi"].to_numpy(float) - y])
            ax.errorbar(t, y, yerr=np.clip(err, 0, None), fmt="o-", color="k", ecolor="#555555", capsize=3,
                        lw=1.2, label="accuracy, 95 % interval over problems")
        else:
            ax.plot(t, y, "o-", color="k")
        mark_x(ax, choice["temperature"], f"chosen T = {choice['temperature']:g}")
        ax.set_xlabel("temperature")
        ax.set_ylabel(lab)
        if title:
            ax.set_title(title, fontsize=9)
    if choice.get("target_diversity") is not None:
        axes[1].axhline(choice["target_diversity"], color="#d62728", ls=":",
                        label=f"target {choice['target_diversity']:.3f}")
    axes[0].legend(fontsize=7, loc="lower left")
    axes[1].legend(fontsize=7, loc="upper left")
    if dist:
        ax = axes[2]
        ts = list(dist)
        shares = [dist[k] for k in ts]
        colors = ["#1f77b4" if abs(float(k) - choice["temperature"]) < 1e-9 else "#aec7e8" for k in ts]
        ax.bar(range(len(ts)), shares, color=colors)
        ax.set_xticks(range(len(ts)), ts, rotation=45 if len(ts) > 6 else 0)
        ax.axhline(0.5, color="#d62728", ls=":", lw=1, label="majority")
        ax.set_ylim(0, 1)
        ax.set_xlabel("temperature")
        ax.set_ylabel("share of problem resamples choosing it")
        verdict = ("clear majority" if choice.get("clear_majority")
                   else "no clear majority: the sweep is too small to decide")
        ax.set_title(f"choice under resampling ({choice.get('resamples')} resamples)\n{verdict}", fontsize=9)
        for i, s in enumerate(shares):
            if s > 0:
                ax.annotate(f"{s:.0%}", (i, s), ha="center", va="bottom", fontsize=7)
        ax.legend(fontsize=7, loc="upper left")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ZONE_COLORS.values()]
    fig.legend(handles, list(ZONE_COLORS), loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
