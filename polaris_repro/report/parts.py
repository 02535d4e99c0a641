"""One part per section: its figures (embedded, captioned), key tables, Markdown blocks, collapsed
raw tables and the links to its other data files (:func:`section_view`)."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..artifacts import Manifest
from .captions import LAYOUT, Caption, Layout
from .tables import Figure, SectionView, Table, format_seconds, markdown_to_html, shift_md_headings
from .view import RunView

MAX_INLINE_ROWS = 60          # a table longer than this is shown collapsed, its CSV linked


def _caption(cap: str | Caption, view: RunView, stem: str) -> str:
    if callable(cap):
        try:
            return cap(view)
        except (OSError, KeyError, ValueError, IndexError, TypeError):
            return f"{stem} (its caption's numbers could not be read from the run)"
    return cap


def _figure(view: RunView, png: Path, caption: str) -> Figure:
    csv = png.with_suffix(".csv")
    return Figure(str(png.relative_to(view.run_dir)), caption, base64.b64encode(png.read_bytes()).decode("ascii"),
                  str(csv.relative_to(view.run_dir)) if csv.exists() else None)


def _section_table(view: RunView, section: str, stem: str, title: str, *, raw: bool,
                   fields: Sequence[str] | None = None) -> Table | None:
    d = view.run_dir / section
    csv, js = d / f"{stem}.csv", d / f"{stem}.json"
    if csv.exists():
        df = pd.read_csv(csv)
        return Table.from_frame(df, title, csv=f"../{section}/{csv.name}",
                                max_rows=None if raw or len(df) <= MAX_INLINE_ROWS else MAX_INLINE_ROWS)
    if js.exists():   # a small JSON record (e.g. the temperature choice): its scalar fields, one row
        rec = json.loads(js.read_text())
        flat = {k: v for k, v in rec.items() if (isinstance(v, (int, float, str, bool)) or v is None)
                and (fields is None or k in fields)}
        return Table.from_frame(pd.DataFrame([flat]), title, csv=None)
    return None


def section_view(view: RunView, section: str, files: Mapping[str, list[Path]]) -> SectionView:
    lay = LAYOUT.get(section, Layout(section, figures=()))
    d = view.run_dir / section
    pngs = list(files["figures"])
    figures, used_png = [], set()
    for stem, cap in lay.figures:
        p = d / f"{stem}.png"
        if p in pngs:
            figures.append(_figure(view, p, _caption(cap, view, stem)))
            used_png.add(p)
    for p in pngs:                      # every other PNG the section wrote is shown too
        if p not in used_png:
            figures.append(_figure(view, p, f"{p.relative_to(d)} (no caption registered for this figure)."))
    tables, used = [], set()
    for stem, title in lay.tables:
        t = _section_table(view, section, stem, title, raw=False, fields=lay.json_fields.get(stem))
        if t is not None:
            tables.append(t)
            used.add(stem)
    blocks = []
    for name, title in lay.blocks:
        p = d / name
        if p.exists():
            text = p.read_text()
            blocks.append((title, markdown_to_html(text), shift_md_headings(text.strip(), 2)))
            used.add(p.stem)
    raw = []
    for stem, title in lay.raw:
        t = _section_table(view, section, stem, title, raw=True)
        if t is not None:
            raw.append(t)
            used.add(stem)
    fig_data = {p.with_suffix(".csv") for p in pngs}
    for p in files["tables"]:           # any other top-level table: collapsed, so nothing is hidden
        if p.stem not in used and p not in fig_data:
            raw.append(_section_table(view, section, p.stem, p.stem.replace("_", " "), raw=True))
            used.add(p.stem)
    links = sorted(str(p.relative_to(view.run_dir)) for p in d.rglob("*.csv")
                   if p not in fig_data and p.parent != d)[:40]
    st = Manifest(view.run_dir).data.get("sections", {}).get(section, {})
    status = (f"{st.get('status')}, {format_seconds(st.get('elapsed_s'))}" if st.get("status") == "done"
              else st.get("status", "not recorded in the manifest"))
    return SectionView(section, lay.title, status, figures, tables, blocks, raw, links)
