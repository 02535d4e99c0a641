"""The report's tables and figures as values, and their formatting: numbers at the claims'
precision (:func:`column_format`), times, Markdown turned into HTML."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


def is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


FRACTIONAL = {"rate", "reward", "score", "accuracy", "acc", "share", "frac", "fraction", "diversity", "avg", "mean",
              "ratio", "entropy", "loss", "norm", "difficulty", "se"}


def column_format(name: str, values: pd.Series) -> str:
    """The format of a numeric column, at the precision the claims use: counts as integers,
    temperatures .2f, differences in points +.1f, fractions in [0, 1] .3f, percentages and other
    magnitudes .1f (≥ 1000: no decimals), tiny magnitudes (a learning rate) .3g."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    words = set(re.split(r"[^a-z0-9]+", str(name).lower())) - {""}
    if not len(v):
        return ""
    if words & {"temperature", "t"}:
        return ".2f"
    if words & {"diff", "points", "gain"}:
        return "+.1f"
    if "%" in str(name):
        return ".1f"
    if (v == v.round()).all() and not words & FRACTIONAL:
        return "d"
    mx = float(v.abs().max())
    if 0 < mx < 0.01:
        return ".3g"
    if mx <= 1.0 + 1e-9:
        return ".3f"
    return ".0f" if mx >= 1000 else ".1f"


def format_cell(v: Any, fmt: str) -> str:
    if is_missing(v):
        return "—"
    if isinstance(v, bool) or not fmt:
        return str(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if fmt == "d":
        return str(int(round(x)))
    return format(x, fmt)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    csv: str | None = None          # link relative to 05_report/
    total_rows: int | None = None   # rows in the file when fewer are shown
    id: str = ""
    row_classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # numbered footnotes, shown under the table

    @classmethod
    def from_frame(cls, df: pd.DataFrame, title: str, *, csv: str | None = None,
                   max_rows: int | None = None, id: str = "") -> "Table":
        fmts = {c: column_format(c, df[c]) if pd.api.types.is_numeric_dtype(df[c])
                and not pd.api.types.is_bool_dtype(df[c]) else "" for c in df.columns}
        shown = df if max_rows is None else df.head(max_rows)
        rows = [[format_cell(r[c], fmts[c]) for c in df.columns] for _, r in shown.iterrows()]
        return cls(title, [str(c) for c in df.columns], rows, [bool(fmts[c]) for c in df.columns], csv,
                   len(df) if len(shown) < len(df) else None, id)

    def markdown(self) -> str:
        esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = ["| " + " | ".join(esc(c) for c in self.columns) + " |",
                 "|" + "|".join("---:" if n else "---" for n in self.numeric) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in self.rows]
        return "\n".join(lines)


@dataclass
class Figure:
    rel: str                  # path relative to the run folder
    caption: str
    b64: str
    data_csv: str | None      # the numbers drawn, relative to the run folder


@dataclass
class SectionView:
    name: str
    title: str
    status: str
    figures: list[Figure]         # key figure first
    tables: list[Table]
    blocks: list[tuple[str, str, str]]   # (title, html, markdown)
    raw: list[Table]
    links: list[str]              # further data files, relative to the run folder


def format_seconds(s: Any) -> str:
    if is_missing(s):
        return "—"
    s = float(s)
    return f"{s:.0f} s" if s < 60 else f"{int(s // 60)} min {int(round(s % 60)):02d} s" if s < 3600 else \
        f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def markdown_to_html(text: str, shift: int = 1) -> str:
    import mistune

    md = mistune.create_markdown(escape=True, plugins=["table"])
    out = md(text)
    if shift:   # the section is an <h2>: the file's own headings go below it
        out = re.sub(r"<(/?)h([1-6])>", lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + shift + 1)}>", out)
    return out


def shift_md_headings(text: str, levels: int = 2) -> str:
    """Headings ``levels`` deeper; a bare tag such as ``</think>`` in the text becomes code, or GitHub
    would drop it as HTML."""
    text = re.sub(r"(?<!`)(</?[A-Za-z][\w-]*>)(?!`)", r"`\1`", text)
    return re.sub(r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + levels) + " ", text, flags=re.M)
