"""Execute the section notebooks with papermill, record them in the run's manifest, and resume.

Conventions shared by all sections:

* every notebook takes the parameters ``tier`` and ``run_dir`` (``""`` = a new run folder);
* a section writes its outputs under ``<run_dir>/<section>/`` and records the important ones in
  the manifest (``Manifest.record_output``); the next section reads them from there;
* the executed notebook is saved as ``<run_dir>/notebooks/<section>.ipynb`` (provenance).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Mapping

from .artifacts import Manifest, REPO_ROOT, artifacts_root, now, run_dir as make_run_dir
from .config import load_config

SECTIONS = ("01_difficulty", "02_temperature", "03_training", "04_evaluation", "05_report")
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


class SectionFailed(RuntimeError):
    def __init__(self, section: str, notebook: Path, error: str):
        super().__init__(f"section {section} failed: {error}\n  executed notebook: {notebook}")
        self.section, self.notebook, self.error = section, notebook, error


def resolve_section(name: str) -> str:
    for s in SECTIONS:
        if name == s or name == s.split("_", 1)[1] or name == s.split("_", 1)[0]:
            return s
    raise ValueError(f"unknown section {name!r}; expected one of {', '.join(SECTIONS)}")


def run_section(section: str, tier: str, run_dir: str | Path | None = None,
                params: Mapping[str, Any] | None = None, *, log_output: bool = False) -> Path:
    """Run one section notebook into the run folder; returns the executed notebook's path."""
    import papermill as pm

    section = resolve_section(section)
    cfg = load_config(tier)
    rdir = Path(run_dir) if run_dir else make_run_dir(tier)
    rdir.mkdir(parents=True, exist_ok=True)
    man = Manifest(rdir, cfg)
    out = rdir / "notebooks" / f"{section}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    parameters = {"tier": tier, "run_dir": str(rdir.resolve()), **dict(params or {})}
    t0 = time.time()
    man.section(section, status="running", started=now(), parameters=parameters, notebook=str(out))
    try:
        pm.execute_notebook(str(NOTEBOOK_DIR / f"{section}.ipynb"), str(out), parameters=parameters,
                            kernel_name="python3", cwd=str(NOTEBOOK_DIR), progress_bar=False,
                            log_output=log_output)
    except Exception as e:  # papermill raises PapermillExecutionError with the cell's error
        man = Manifest(rdir)
        man.section(section, status="failed", ended=now(), elapsed_s=round(time.time() - t0, 1),
                    error=str(e)[-2000:])
        raise SectionFailed(section, out, _short_error(e)) from e
    man = Manifest(rdir)
    man.section(section, status="done", ended=now(), elapsed_s=round(time.time() - t0, 1))
    return out


def _short_error(e: Exception) -> str:
    ename = getattr(e, "ename", type(e).__name__)
    evalue = getattr(e, "evalue", str(e))
    return f"{ename}: {evalue}"


def latest_run(tier: str) -> Path | None:
    root = artifacts_root() / tier
    if not root.exists():
        return None
    runs = sorted(p for p in root.iterdir() if (p / "manifest.json").exists())
    return runs[-1] if runs else None


def reproduce(tier: str, run_dir: str | Path | None = None, *, resume: bool = True,
              sections: tuple[str, ...] = SECTIONS, params: Mapping[str, Mapping] | None = None,
              stream=sys.stdout) -> Path:
    """Run all sections in order; resume the latest unfinished run of the tier unless told not to."""
    rdir: Path | None = Path(run_dir) if run_dir else None
    if rdir is None and resume:
        last = latest_run(tier)
        if last is not None:
            done = Manifest(last).data.get("sections", {})
            if not all(done.get(s, {}).get("status") == "done" for s in sections):
                rdir = last
    if rdir is None:
        rdir = make_run_dir(tier)
    man = Manifest(rdir, load_config(tier))
    print(f"[reproduce] tier={tier} run={rdir}", file=stream, flush=True)
    t_all = time.time()
    for i, section in enumerate(sections, 1):
        st = man.data.get("sections", {}).get(section, {})
        if resume and st.get("status") == "done":
            print(f"[{i}/{len(sections)}] {section}: already done ({st.get('elapsed_s', '?')} s), skipped",
                  file=stream, flush=True)
            continue
        print(f"[{i}/{len(sections)}] {section}: running ...", file=stream, flush=True)
        t0 = time.time()
        try:
            nb = run_section(section, tier, rdir, (params or {}).get(section))
        except SectionFailed as e:
            print(f"[{i}/{len(sections)}] {section}: FAILED after {time.time() - t0:.0f} s\n"
                  f"  {e.error}\n  executed notebook: {e.notebook}", file=stream, flush=True)
            raise
        print(f"[{i}/{len(sections)}] {section}: done in {time.time() - t0:.0f} s -> {nb}",
              file=stream, flush=True)
        man = Manifest(rdir)
    man.data["finished"] = now()
    man.data["elapsed_s"] = round(time.time() - t_all, 1)
    man.save()
    print(f"[reproduce] finished in {time.time() - t_all:.0f} s: {rdir}", file=stream, flush=True)
    return rdir
