"""Execute the section notebooks with papermill, record them in the run's manifest, and resume.

Conventions shared by all sections:

* every notebook takes the parameters ``tier`` and ``run_dir`` (``""`` = a new run folder);
* a section writes its outputs under ``<run_dir>/<section>/`` and records the important ones in
  the manifest (:func:`polaris_repro.sections.record_output`); the next section reads them from
  there (:func:`polaris_repro.sections.output`);
* the executed notebook is saved as ``<run_dir>/notebooks/<section>.ipynb`` (provenance).

Progress on the terminal (``stream``): a line when each code cell starts (``cell 7/21: <what it
does>``), the cells' own output lines (stdout/stderr, tqdm bars included) as they come, and a
``still running`` line whenever nothing was printed for ``heartbeat_s`` seconds.
"""
from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

from .artifacts import (Manifest, REPO_ROOT, artifacts_root, git_commit, now, run_dir as make_run_dir,
                        run_overrides)
from .config import load_config
from .sections import SECTIONS
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
HEARTBEAT_S = 25.0      # progress: at most this long (+5 s) without a line on the terminal
BAR_INTERVAL_S = 15.0   # a redrawn progress bar (tqdm's '\r' updates): one line per this, off a TTY


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
                params: Mapping[str, Any] | None = None, *, log_output: bool = False,
                stream: TextIO | None = None, label: str | None = None,
                heartbeat_s: float = HEARTBEAT_S) -> Path:
    """Run one section notebook into the run folder; returns the executed notebook's path.

    With ``stream`` (or ``log_output=True``: ``sys.stdout``) the progress goes there as it
    happens: which cell runs, the cells' output lines, a heartbeat (see :class:`CellProgress`);
    ``label`` starts the progress lines (default: the section's name)."""
    import papermill as pm

    section = resolve_section(section)
    rdir = Path(run_dir) if run_dir else make_run_dir(tier)
    rdir.mkdir(parents=True, exist_ok=True)
    cfg = load_config(tier, run_overrides(rdir))   # the run's own overrides (e.g. its seed)
    man = Manifest(rdir, cfg)
    out = rdir / "notebooks" / f"{section}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    parameters = {"tier": tier, "run_dir": str(rdir.resolve()), **dict(params or {})}
    t0 = time.time()
    man.section(section, status="running", started=now(), parameters=parameters, notebook=str(out))
    if stream is None and log_output:
        stream = sys.stdout
    progress = CellProgress(stream, label or section, heartbeat_s=heartbeat_s) if stream else None
    try:
        pm.execute_notebook(str(NOTEBOOK_DIR / f"{section}.ipynb"), str(out), parameters=parameters,
                            kernel_name="python3", cwd=str(NOTEBOOK_DIR), progress_bar=False,
                            **kernel_settings(), **(progress.papermill_kwargs() if progress else {}))
    except Exception as e:  # papermill raises PapermillExecutionError with the cell's error
        man = Manifest(rdir)
        man.section(section, status="failed", ended=now(), elapsed_s=round(time.time() - t0, 1),
                    error=str(e)[-2000:])
        raise SectionFailed(section, out, _short_error(e)) from e
    finally:
        if progress is not None:
            progress.close()
    man = Manifest(rdir)
    man.section(section, status="done", ended=now(), elapsed_s=round(time.time() - t0, 1), error=None)
    if section == "05_report":
        # the report was written while its own section was still running: render it again, now
        # that the manifest holds every section's status and time (a second, figures included)
        from .report import build

        try:
            build(rdir)
        except Exception as e:
            Manifest(rdir).section(section, status="failed", error=f"re-rendering the report: {e}"[-2000:])
            raise SectionFailed(section, out, f"re-rendering the report after its section: {_short_error(e)}") from e
    return out


# --------------------------------------------------------------------------------------------
# kernel settings and live progress

# Kernel start-up code: tqdm.auto warns in a kernel that ipywidgets is missing ("IProgress not
# found") and falls back to the text bar, which is the bar papermill can stream; with ipywidgets
# the bars would become widgets the terminal never sees. Nothing to act on: silence that warning.
KERNEL_EXEC_LINES = (
    "import warnings as _w; _w.filterwarnings('ignore', message='IProgress not found', module='tqdm'); del _w",
)


def kernel_settings() -> dict:
    """Extra papermill/nbclient settings for the section kernels.

    * CurveZMQ transport encryption, provisioned by the kernel manager when the kernelspec declares
      it (ipykernel's does): otherwise every kernel start prints ipykernel's "Kernel is running
      over TCP without encryption" warning to the terminal;
    * :data:`KERNEL_EXEC_LINES` run at kernel start-up.
    """
    import zmq
    from traitlets.config import Config

    cfg = Config()
    if zmq.has("curve"):
        cfg.KernelManager.transport_encryption = "auto"
    return {"config": cfg,
            "extra_arguments": [f"--IPKernelApp.exec_lines={line}" for line in KERNEL_EXEC_LINES]}


def cell_summary(cells, index: int, width: int = 80) -> str:
    """What code cell ``index`` does, in one line: the nearest markdown heading above it, then the
    cell's first line that is not blank or an import; "parameters" for the parameter cells."""
    tags = cells[index].get("metadata", {}).get("tags", [])
    if "injected-parameters" in tags or "parameters" in tags:
        return "injected parameters" if "injected-parameters" in tags else "parameters"
    heading = ""
    for c in reversed(cells[:index]):
        if c.get("cell_type") == "markdown":
            heads = [l.lstrip("#").strip() for l in c.source.splitlines() if l.startswith("#")]
            if heads:
                heading = heads[-1]
                break
    first = ""
    for line in cells[index].source.splitlines():
        t = line.strip()
        if not t or t.startswith(("import ", "from ")):
            continue
        first = t.lstrip("#").strip() if t.startswith("#") else t
        break
    if not first and cells[index].source.strip():
        first = cells[index].source.strip().splitlines()[0].strip()
    text = f"{heading} | {first}" if heading and first else heading or first
    return text if len(text) <= width else text[:width - 3] + "..."


def _fmt_secs(s: float) -> str:
    s = int(round(s))
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s" if s < 3600 else \
        f"{s // 3600} h {s % 3600 // 60:02d} min"


class CellProgress:
    """Live progress of one notebook run on ``stream``, fed by papermill/nbclient.

    * ``on_cell_execute`` (nbclient hook): ``<label>  cell k/N: <cell_summary>`` per code cell;
    * ``stdout_file``/``stderr_file`` (papermill): the cells' output, line by line, indented.
      A tqdm bar redraws its line with '\r': on a TTY it is redrawn in place, elsewhere at most
      one state per ``bar_interval_s`` is printed (and always the final one), so a long bar
      costs a line every few seconds, not one per update;
    * a thread prints ``<label>  cell k/N still running (T); last output: <line>`` after
      ``heartbeat_s`` of silence.
    """

    INDENT = "    "
    _SPLIT = re.compile(r"(\r\n|\n|\r)")

    def __init__(self, stream: TextIO, label: str, *, heartbeat_s: float = HEARTBEAT_S,
                 bar_interval_s: float | None = None):
        self.stream, self.label, self.heartbeat_s = stream, label, heartbeat_s
        try:
            self.tty = bool(stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self.bar_interval_s = (0.5 if self.tty else BAR_INTERVAL_S) if bar_interval_s is None else bar_interval_s
        self._lock = threading.RLock()
        self._partial = {"stdout": "", "stderr": ""}
        self._shown = {"stdout": None, "stderr": None}   # a bar state already printed
        self._after_cr = {"stdout": False, "stderr": False}
        self._last_bar = 0.0
        self._bar_open = False                           # TTY: a bar drawn without its newline
        self._last_print = time.time()
        self._cell, self._cell_t0 = "", time.time()
        self._cells: list = []
        self._last_out = ""                              # the current cell's last output line
        self._done = threading.Event()
        self._thread = None
        if heartbeat_s and heartbeat_s > 0:
            self._thread = threading.Thread(target=self._heartbeat, name="cell-progress", daemon=True)
            self._thread.start()

    # ---------------------------------------------------------------- papermill / nbclient
    def papermill_kwargs(self) -> dict:
        return {"stdout_file": _Sink(self, "stdout"), "stderr_file": _Sink(self, "stderr"),
                "on_notebook_start": self.on_notebook_start, "on_cell_execute": self.on_cell_execute}

    def on_notebook_start(self, notebook=None, **_):
        self._cells = list(notebook.cells) if notebook is not None else []

    def on_cell_execute(self, cell=None, cell_index: int = 0, **_):
        nb_cells = self._cells
        if not nb_cells:
            return
        code = [i for i, c in enumerate(nb_cells) if c.get("cell_type") == "code" and c.source.strip()]
        k = code.index(cell_index) + 1 if cell_index in code else cell_index + 1
        self.flush()
        with self._lock:
            self._cell, self._last_out = f"cell {k}/{len(code)}", ""
            self._cell_t0 = time.time()
            self._print(f"{self.label}  {self._cell}: {cell_summary(nb_cells, cell_index)}")

    # ---------------------------------------------------------------- output
    def write(self, name: str, text: str) -> None:
        with self._lock:
            parts = self._SPLIT.split(self._partial[name] + text)
            self._partial[name] = parts[-1]
            now = time.time()
            after_cr = self._after_cr[name]   # text after a '\r' is a bar state (tqdm redraws)
            for seg, term in zip(parts[0:-1:2], parts[1:-1:2]):
                seg, is_bar, after_cr = seg.rstrip(), after_cr, term == "\r"
                if term == "\r":            # a state overwritten by the next one
                    if seg and seg != self._shown[name] and now - self._last_bar >= self.bar_interval_s:
                        self._bar(name, seg, now)
                    continue
                shown, self._shown[name] = self._shown[name], None
                if not seg:
                    continue
                if is_bar and seg == shown:  # a bar's final state, already on screen
                    self._end_bar()
                elif is_bar and self.tty and self._bar_open:
                    self.stream.write(f"\r{self.INDENT}{seg}\x1b[K\n")   # final state, in place
                    self.stream.flush()
                    self._bar_open, self._last_print = False, now
                else:
                    self._print(self.INDENT + seg)
                self._last_out = seg
            self._after_cr[name] = after_cr
            pending = self._partial[name].rstrip()
            # a bar state not overwritten yet: show it when it is due
            if pending and after_cr and pending != self._shown[name] \
                    and now - self._last_bar >= self.bar_interval_s:
                self._bar(name, pending, now)

    def flush(self) -> None:
        """Print what is left of unterminated output (at cell boundaries and at the end)."""
        with self._lock:
            for name in ("stdout", "stderr"):
                rest, self._partial[name] = self._partial[name].rstrip(), ""
                if rest and rest != self._shown[name]:
                    self._print(self.INDENT + rest)
                self._shown[name], self._after_cr[name] = None, False
            self._end_bar()

    def close(self) -> None:
        self._done.set()
        self.flush()

    def _bar(self, name: str, seg: str, now: float) -> None:
        self._shown[name], self._last_bar, self._last_out = seg, now, seg
        if self.tty:
            self.stream.write(f"\r{self.INDENT}{seg}\x1b[K")
            self.stream.flush()
            self._bar_open = True
            self._last_print = now
        else:
            self._print(self.INDENT + seg)

    def _end_bar(self) -> None:
        """End a bar drawn in place (TTY) with its newline."""
        if self._bar_open:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_open = False

    def _print(self, line: str) -> None:
        with self._lock:
            self._end_bar()
            self.stream.write(line + "\n")
            self.stream.flush()
            self._last_print = time.time()

    def _heartbeat(self) -> None:
        while not self._done.wait(min(self.heartbeat_s, 5.0)):
            with self._lock:
                now = time.time()
                if self._cell and now - self._last_print >= self.heartbeat_s:
                    last = self._last_out if len(self._last_out) <= 90 else self._last_out[:87] + "..."
                    self._print(f"{self.label}  {self._cell} still running ({_fmt_secs(now - self._cell_t0)})"
                                + (f"; last output: {last}" if last else ""))


class _Sink:
    """A file-like object papermill writes a stream's output to (``stdout_file``/``stderr_file``)."""

    def __init__(self, progress: CellProgress, name: str):
        self.progress, self.name = progress, name

    def write(self, text: str) -> None:
        self.progress.write(self.name, text)

    def flush(self) -> None:
        pass


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
              stream=sys.stdout, seed: int | None = None, overrides: Sequence[str] = ()) -> Path:
    """Run all sections in order; resume the latest unfinished run of the tier unless told not to.

    ``seed`` (and config ``overrides``, ``key.path=value``) are the run's: recorded in its manifest
    (``overrides``, ``seed``) and applied by every section. A run is resumed only if it was started
    with the same overrides (so ``--seed 2`` never continues a seed-1 run)."""
    ov = ([f"seed={int(seed)}"] if seed is not None else []) + list(overrides)
    rdir: Path | None = Path(run_dir) if run_dir else None
    if rdir is not None and not ov:
        ov = run_overrides(rdir)                     # --run DIR alone continues that run as it was started
    cfg = load_config(tier, ov)                      # fails here, before anything runs, on a bad override
    if rdir is None and resume:
        last = latest_run(tier)
        if last is not None and run_overrides(last) == ov:
            done = Manifest(last).data.get("sections", {})
            if not all(done.get(s, {}).get("status") == "done" for s in sections):
                rdir = last
    if rdir is None:
        rdir = make_run_dir(tier)
    elif (rdir / "manifest.json").exists() and run_overrides(rdir) != ov:
        raise ValueError(f"{rdir} was started with overrides {run_overrides(rdir)}, not {ov}; "
                         f"use another run folder")
    man = Manifest(rdir, cfg)
    man.data["overrides"] = ov
    # one record per `reproduce` of this run folder: a resumed run's wall time is the sum of its
    # attempts (not the last one's), and each attempt names the commit it ran at
    attempts = man.data.setdefault("attempts", [])
    attempts.append({"started": now(), "commit": git_commit(), "status": "running", "elapsed_s": 0.0,
                     "sections": []})
    man.save()
    print(f"[reproduce] tier={tier} seed={cfg.seed} run={rdir}"
          + (f" (attempt {len(attempts)}: resumed)" if len(attempts) > 1 else ""), file=stream, flush=True)
    t_all = time.time()

    def attempt(done: str | None = None, **fields) -> Manifest:
        m = Manifest(rdir)
        rec = m.data["attempts"][-1]
        rec.update(fields, elapsed_s=round(time.time() - t_all, 1))
        if done:
            rec["sections"].append(done)
        m.save()
        return m

    try:
        _run_sections(rdir, tier, sections, params, stream, resume, attempt)
    except BaseException as e:
        attempt(status="failed" if isinstance(e, SectionFailed) else f"stopped ({type(e).__name__})",
                ended=now())
        raise
    man = attempt(status="finished", ended=now())
    total = sum(float(a.get("elapsed_s") or 0) for a in man.data["attempts"])
    man.data["finished"] = now()
    man.data["elapsed_s"] = round(total, 1)
    man.save()
    print(f"[reproduce] finished in {time.time() - t_all:.0f} s"
          + (f" ({total:.0f} s over {len(man.data['attempts'])} attempts)" if len(man.data["attempts"]) > 1 else "")
          + f": {rdir}", file=stream, flush=True)
    return rdir


def _run_sections(rdir: Path, tier: str, sections: Sequence[str], params: Mapping | None, stream,
                  resume: bool, attempt: Callable[..., Manifest]) -> None:
    man = Manifest(rdir)
    for i, section in enumerate(sections, 1):
        st = man.data.get("sections", {}).get(section, {})
        if resume and st.get("status") == "done":
            print(f"[{i}/{len(sections)}] {section}: already done ({st.get('elapsed_s', '?')} s), skipped",
                  file=stream, flush=True)
            continue
        print(f"[{i}/{len(sections)}] {section}: running ...", file=stream, flush=True)
        t0 = time.time()
        try:
            nb = run_section(section, tier, rdir, (params or {}).get(section), stream=stream,
                             label=f"[{i}/{len(sections)}] {section}")
        except SectionFailed as e:
            print(f"[{i}/{len(sections)}] {section}: FAILED after {time.time() - t0:.0f} s\n"
                  f"  {e.error}\n  executed notebook: {e.notebook}", file=stream, flush=True)
            raise
        print(f"[{i}/{len(sections)}] {section}: done in {time.time() - t0:.0f} s -> {nb}",
              file=stream, flush=True)
        man = attempt(done=section)
