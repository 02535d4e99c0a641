"""Reading a run for the report: cached reads of its artifacts (:class:`RunView`) and the figures,
tables and JSON results each section wrote (:func:`collect`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..sections import SECTIONS, output_record

REPORT_SECTION = "05_report"


class RunView:
    """Cached reads of a run folder's artifacts (paths relative to the run folder)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._cache: dict[str, Any] = {}

    def csv(self, rel: str) -> pd.DataFrame:
        if rel not in self._cache:
            self._cache[rel] = pd.read_csv(self.run_dir / rel)
        return self._cache[rel]

    def json(self, rel: str) -> Any:
        if rel not in self._cache:
            self._cache[rel] = json.loads((self.run_dir / rel).read_text())
        return self._cache[rel]

    def exists(self, rel: str) -> bool:
        return (self.run_dir / rel).exists()

    def output_record(self, name: str) -> dict | None:
        """A section output's JSON record (:func:`polaris_repro.sections.output_record`)."""
        key = f"output:{name}"
        if key not in self._cache:
            self._cache[key] = output_record(self.run_dir, name)
        return self._cache[key]


def collect(run_dir: str | Path) -> dict[str, dict[str, list[Path]]]:
    """Figures (every PNG, subfolders included), tables (a section's top-level CSV files) and JSON
    results per section 01-04 that has an output folder."""
    run_dir = Path(run_dir)
    out = {}
    for section in SECTIONS:
        d = run_dir / section
        if section == REPORT_SECTION or not d.is_dir():
            continue
        top = sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
        out[section] = {
            "figures": sorted(p for p in d.rglob("*.png") if not p.name.startswith(".")),
            "tables": [p for p in top if p.suffix == ".csv"],
            "json": [p for p in top if p.suffix == ".json"],
        }
    return out
