"""Checking a written report against its run folder (:func:`check`), and reading parts of it."""
from __future__ import annotations

import base64
import html.parser
import re
from pathlib import Path

from ..artifacts import REPO_ROOT
from .view import collect


class _Page(html.parser.HTMLParser):
    """Headings, tables (by id), embedded images and the text outside <pre>/<code> of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[str, str]] = []
        self.tables: list[dict] = []
        self.images: list[str] = []
        self.text_outside_code: list[str] = []
        self._code = 0
        self._heading: list[str] | None = None
        self._table: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("pre", "code"):
            self._code += 1
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = [tag, ""]
        elif tag == "table":
            self._table.append({"id": a.get("id"), "rows": 0, "cells": 0})
            self.tables.append(self._table[-1])
        elif tag == "tr" and self._table:
            self._table[-1]["rows"] += 1
        elif tag in ("td", "th") and self._table:
            self._table[-1]["cells"] += 1
        elif tag == "img":
            self.images.append(a.get("src") or "")

    def handle_endtag(self, tag):
        if tag in ("pre", "code"):
            self._code = max(0, self._code - 1)
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6") and self._heading:
            self.headings.append((self._heading[0], self._heading[1].strip()))
            self._heading = None
        elif tag == "table" and self._table:
            self._table.pop()

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[1] += data
        if not self._code:
            self.text_outside_code.append(data)


def parse_page(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    p.close()
    return p


def check(report_html: str | Path, run_dir: str | Path, *,
          claims_file: str | Path | None = REPO_ROOT / "claims.yaml") -> list[str]:
    """What is wrong with a written report (empty: nothing): the page opens with its title and the
    headline; the claims table is an HTML table with a row per claim; every PNG the sections wrote
    is embedded byte for byte; no Markdown table source is shown as text outside <pre>/<code>."""
    run_dir = Path(run_dir)
    page = parse_page(Path(report_html).read_text())
    problems = []
    if not page.headings or page.headings[0][0] != "h1" or "report" not in page.headings[0][1].lower():
        problems.append(f"the page does not open with its <h1> title (first heading: {page.headings[:1]})")
    h2 = [t for tag, t in page.headings if tag == "h2"]
    if not h2 or not h2[0].lower().startswith("headline"):
        problems.append(f"the first section is not the headline (h2 headings: {h2[:3]})")
    claims = [t for t in page.tables if t["id"] == "claims"]
    if claims_file is not None and not Path(claims_file).exists():
        problems.append(f"{claims_file}: claims file not found, so the report has no claims table")
    elif claims_file is not None:
        from ..claims import load_claims

        d = load_claims(claims_file)
        n = len(d["claims"]) + len(d.get("bands") or [])
        if not claims:
            problems.append("no <table id='claims'>")
        elif claims[0]["rows"] < n + 1:
            problems.append(f"the claims table has {claims[0]['rows'] - 1} rows, claims.yaml has {n} claims")
    embedded = {src.split(",", 1)[1] for src in page.images if src.startswith("data:image/png;base64,")}
    for section, files in collect(run_dir).items():
        for png in files["figures"]:
            if base64.b64encode(png.read_bytes()).decode("ascii") not in embedded:
                problems.append(f"figure {png.relative_to(run_dir)} is not embedded in the report")
    text = "".join(page.text_outside_code)
    bad = re.findall(r"[^\n]*\|\s*:?-{3,}:?\s*\|[^\n]*", text)
    if bad:
        problems.append(f"Markdown table source shown as text: {bad[0][:120]!r}")
    if re.search(r"\bNaN\b|\bnan\b", text):
        problems.append("'NaN' shown in the report")
    return problems


def markdown_part(text: str, heading: str) -> str:
    """The part of a Markdown document under ``## <heading>`` (up to the next ``## ``), heading included."""
    m = re.search(rf"^## {re.escape(heading)}\s*$.*?(?=^## |\Z)", text, flags=re.M | re.S)
    if m is None:
        raise ValueError(f"no '## {heading}' in the document")
    return m.group(0).strip()
