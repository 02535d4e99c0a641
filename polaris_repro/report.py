"""Collect every figure and table of a run into one HTML report and one Markdown summary.

The report is built from what the sections wrote (``<run_dir>/<section>/**``), never recomputed:
PNG figures, Markdown/CSV tables, JSON results, and the run's manifest.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from .artifacts import Manifest, write_text
from .runner import SECTIONS

TITLES = {
    "01_difficulty": "1. Data difficulty (pass-rate profiles, filtering, drop-easy)",
    "02_temperature": "2. Diversity-based temperature search",
    "03_training": "3. Stage-wise GRPO training",
    "04_evaluation": "4. Evaluation, length studies",
}


def collect(run_dir: str | Path) -> dict[str, dict[str, list[Path]]]:
    """Figures (PNG), tables (Markdown, else CSV) and JSON results per section."""
    run_dir = Path(run_dir)
    out = {}
    for section in SECTIONS:
        if section == "05_report":
            continue
        d = run_dir / section
        if not d.is_dir():
            continue
        files = sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
        md = [p for p in files if p.suffix == ".md"]
        md_stems = {p.with_suffix("") for p in md}
        out[section] = {
            "figures": [p for p in files if p.suffix == ".png"],
            "tables": md + [p for p in files if p.suffix == ".csv" and p.with_suffix("") not in md_stems
                            and p.with_suffix(".png") not in files and p.stat().st_size < 200_000],
            "json": [p for p in files if p.suffix == ".json" and p.stat().st_size < 200_000],
        }
    return out


def _table_md(path: Path, max_rows: int = 40) -> str:
    if path.suffix == ".md":
        return path.read_text().strip()
    df = pd.read_csv(path)
    note = f"\n\n*(first {max_rows} of {len(df)} rows)*" if len(df) > max_rows else ""
    return df.head(max_rows).to_markdown(index=False) + note


def manifest_summary(run_dir: str | Path) -> dict:
    m = Manifest(run_dir).data
    secs = {k: {kk: v.get(kk) for kk in ("status", "elapsed_s", "started", "ended")}
            for k, v in m.get("sections", {}).items()}
    return {"tier": m.get("tier"), "version": m.get("version"), "git_commit": m.get("git_commit"),
            "seed": m.get("seed"), "created": m.get("created"), "sections": secs,
            "outputs": {k: v.get("path") for k, v in m.get("outputs", {}).items()}}


def build(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write ``report.html`` and ``summary.md`` (into ``<run_dir>/05_report`` by default)."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "05_report"
    out_dir.mkdir(parents=True, exist_ok=True)
    found = collect(run_dir)
    man = manifest_summary(run_dir)
    md = [f"# POLARIS reproduction report: tier `{man['tier']}`", "",
          f"Run `{run_dir.name}` · polaris-repro {man['version']} · commit `{man['git_commit']}` · "
          f"seed {man['seed']} · created {man['created']}", ""]
    body = [f"<h1>POLARIS reproduction report: tier <code>{html.escape(str(man['tier']))}</code></h1>",
            f"<p>{html.escape(md[2])}</p>"]
    timing = pd.DataFrame([{"section": k, **v} for k, v in man["sections"].items()])
    if len(timing):
        md += ["## Sections and times", "", timing.to_markdown(index=False), ""]
        body += ["<h2>Sections and times</h2>", timing.to_html(index=False)]
    for section, items in found.items():
        title = TITLES.get(section, section)
        md += [f"## {title}", ""]
        body.append(f"<h2>{html.escape(title)}</h2>")
        for t in items["tables"]:
            rel = t.relative_to(run_dir)
            md += [f"**{rel}**", "", _table_md(t), ""]
            body.append(f"<h4>{html.escape(str(rel))}</h4>")
            if t.suffix == ".md":
                body.append(f"<pre>{html.escape(t.read_text())}</pre>")
            else:
                body.append(pd.read_csv(t).head(40).to_html(index=False))
        for f in items["figures"]:
            rel = f.relative_to(run_dir)
            md += [f"![{f.stem}](../{rel})", ""]
            b64 = base64.b64encode(f.read_bytes()).decode()
            body.append(f"<figure><img style='max-width:100%' src='data:image/png;base64,{b64}'/>"
                        f"<figcaption>{html.escape(str(rel))}</figcaption></figure>")
    md += ["## Manifest", "", "```json", json.dumps(man, indent=2), "```", ""]
    body += ["<h2>Manifest</h2>", f"<pre>{html.escape(json.dumps(man, indent=2))}</pre>"]
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>POLARIS reproduction report</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    paths = {"html": write_text(out_dir / "report.html", page),
             "summary": write_text(out_dir / "summary.md", "\n".join(md))}
    n_fig = sum(len(v["figures"]) for v in found.values())
    n_tab = sum(len(v["tables"]) for v in found.values())
    Manifest(run_dir).record_output("report_html", paths["html"], figures=n_fig, tables=n_tab)
    Manifest(run_dir).record_output("summary_md", paths["summary"])
    return paths
