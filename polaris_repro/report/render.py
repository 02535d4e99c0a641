"""Rendering: the templates' context (:func:`context`) and the two pages, ``report.html`` and
``summary.md`` (:func:`build`), with jinja2."""
from __future__ import annotations

import json
from pathlib import Path

from ..artifacts import REPO_ROOT, Manifest, write_text
from .headline import claims_rows, gain_lines, identity, temperature_line, times_table
from .parts import section_view
from .view import REPORT_SECTION, RunView, collect

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _env(autoescape: bool):
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=autoescape,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters["md_inline"] = _md_inline
    return env


def _md_inline(text: str):
    """A line of Markdown (bold, code) as inline HTML."""
    import markupsafe
    import mistune

    out = mistune.html(str(text)).strip()
    if out.startswith("<p>") and out.endswith("</p>"):
        out = out[3:-4]
    return markupsafe.Markup(out)


def context(run_dir: str | Path, claims_file: str | Path | None = REPO_ROOT / "claims.yaml") -> dict:
    """Everything the templates show (also handy in a notebook)."""
    run_dir = Path(run_dir)
    view = RunView(run_dir)
    found = collect(run_dir)
    claims_table, claims_verdict = claims_rows(run_dir, Path(claims_file) if claims_file else None)
    sections = [section_view(view, s, files) for s, files in found.items()]
    return {"id": identity(run_dir), "claims": claims_table, "claims_verdict": claims_verdict,
            "gains": gain_lines(view), "temperatures": temperature_line(view), "sections": sections,
            "times": times_table(run_dir), "manifest": manifest_summary(run_dir)}


def manifest_summary(run_dir: str | Path) -> dict:
    m = Manifest(run_dir).data
    return {"tier": m.get("tier"), "version": m.get("version"), "git_commit": m.get("git_commit"),
            "seed": m.get("seed"), "overrides": m.get("overrides"), "created": m.get("created"),
            "outputs": {k: v.get("path") for k, v in m.get("outputs", {}).items()},
            "config": m.get("config")}


def build(run_dir: str | Path, out_dir: str | Path | None = None, *,
          claims_file: str | Path | None = REPO_ROOT / "claims.yaml") -> dict[str, Path]:
    """Write ``report.html`` and ``summary.md`` (into ``<run_dir>/05_report`` by default)."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / REPORT_SECTION
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = context(run_dir, claims_file)
    ctx["manifest_json"] = json.dumps(ctx["manifest"], indent=2, default=str)
    page = _env(True).get_template("report.html").render(**ctx)
    summary = _env(False).get_template("report_summary.md").render(**ctx)
    paths = {"html": write_text(out_dir / "report.html", page),
             "summary": write_text(out_dir / "summary.md", summary)}
    man = Manifest(run_dir)
    man.record_output("report_html", paths["html"], figures=sum(len(s.figures) for s in ctx["sections"]),
                      tables=sum(len(s.tables) + len(s.raw) + len(s.blocks) for s in ctx["sections"]))
    man.record_output("summary_md", paths["summary"])
    return paths
