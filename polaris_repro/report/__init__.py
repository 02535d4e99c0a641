"""The run report: one self-contained HTML page (``05_report/report.html``) and a Markdown summary
(``05_report/summary.md``) built from what the sections wrote, never recomputed.

Order (both files): the **headline** (what the run shows: the claims of ``claims.yaml`` measured on
this run with the value docs/results.md shows, the tolerance and pass/fail; the held-out gain with its paired
interval; the stage temperatures; the run's identity), then **one part per section**, led by its key
figure with a one-sentence caption (what it shows, and how it compares with the report's figure),
then its key table(s); further figures follow, raw per-problem / per-step tables sit in collapsed
``<details>`` blocks and the remaining data files are linked. Last, the sections' status and times.

Pages are rendered with jinja2 (``templates/report.html``, ``templates/report_summary.md``); the
Markdown tables the sections wrote (``04_evaluation/results.md``) are converted to HTML with mistune.
Every table is an HTML table with numbers formatted at the claims' precision, every PNG is
embedded (base64), so the HTML file can be mailed on its own.

:func:`check` verifies a written report against its run folder (every figure embedded, the claims
table present, no Markdown table source shown as text); the report notebook asserts it.

The package, one concern a module (every public name is re-exported here):

* :mod:`.captions` -- what each section shows, in order, with its captions (:data:`LAYOUT`);
* :mod:`.view` -- reading a run (:class:`RunView`, :func:`collect`);
* :mod:`.tables` -- tables and figures as values, number formatting, Markdown to HTML;
* :mod:`.headline` -- the claims, gains, temperatures, identity and times;
* :mod:`.parts` -- one part per section (:func:`section_view`);
* :mod:`.render` -- the templates' context and the two pages (:func:`build`);
* :mod:`.verify` -- checking a written report (:func:`check`).
"""
from __future__ import annotations

from .captions import LAYOUT, Caption, Layout
from .headline import claims_rows, gain_lines, identity, temperature_line, times_table
from .parts import MAX_INLINE_ROWS, section_view
from .render import TEMPLATES, build, context, manifest_summary
from .tables import FRACTIONAL, Figure, SectionView, Table, column_format, format_cell, format_seconds, is_missing
from .verify import check, markdown_part, parse_page
from .view import REPORT_SECTION, RunView, collect

__all__ = ["FRACTIONAL", "LAYOUT", "MAX_INLINE_ROWS", "REPORT_SECTION", "TEMPLATES", "Caption", "Figure", "Layout",
           "RunView", "SectionView", "Table", "build", "check", "claims_rows", "collect", "column_format", "context",
           "format_cell", "format_seconds", "gain_lines", "identity", "is_missing", "manifest_summary",
           "markdown_part", "parse_page", "section_view", "temperature_line", "times_table"]
