"""Helpers the section notebooks call in their first cell after the parameters."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .artifacts import Manifest, run_dir as make_run_dir
from .config import load_config


@dataclass
class Section:
    name: str
    tier: str
    cfg: dict
    run_dir: Path      # the run folder (shared by all sections of a run)
    out: Path          # this section's output folder, <run_dir>/<name>
    manifest: Manifest

    def path(self, *parts: str) -> Path:
        p = self.out.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


def start(name: str, tier: str, run_dir: str = "", overrides: list[str] | None = None) -> Section:
    """Load the tier's config, open (or create) the run folder and this section's output folder.

    The config is the tier's plus the run's own overrides (``manifest.json`` ``overrides``, e.g.
    ``seed=2`` from ``polaris-repro reproduce --seed 2``), then ``overrides``: every section of a
    run sees the same configuration, however it is started."""
    from .artifacts import run_overrides

    rdir = Path(run_dir) if run_dir else make_run_dir(tier)
    cfg = load_config(tier, run_overrides(rdir) + list(overrides or []))
    rdir.mkdir(parents=True, exist_ok=True)
    man = Manifest(rdir, cfg)
    out = rdir / name
    out.mkdir(parents=True, exist_ok=True)
    return Section(name, tier, cfg, rdir.resolve(), out.resolve(), man)
