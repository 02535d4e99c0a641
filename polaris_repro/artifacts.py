"""Run folders, manifests and atomic writes.

Every run writes under ``artifacts/<tier>/<run-id>/`` with a ``manifest.json`` holding the
resolved config, package version, git commit, seed, times, input hashes and outputs.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

from . import __version__

REPO_ROOT = Path(__file__).resolve().parent.parent


def artifacts_root() -> Path:
    return Path(os.environ.get("POLARIS_ARTIFACTS", REPO_ROOT / "artifacts"))


def cache_dir() -> Path:
    """Where built/converted models are cached (outside git)."""
    d = Path(os.environ.get("POLARIS_CACHE", Path.home() / ".cache" / "polaris-repro"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def git_commit(root: Path = REPO_ROOT) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux exposes it (``/proc/self/status``,
    kernel >= 4.7); elsewhere set and restored at once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0o666 minus the umask."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    ``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask; the temporary file is
    given the mode a plain ``open(path, "w")`` would give (0o666 minus the umask) before anything is
    written, so run folders on shared storage stay readable the way the user's umask says."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, default_file_mode())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON line, flushed and fsynced (logs are append-only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSONL log, ignoring a torn last line left by a killed writer."""
    out = []
    path = Path(path)
    if not path.exists():
        return out
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise ValueError(f"{path}: line {i + 1} is not valid JSON")
    return out


def new_run_id(prefix: str = "") -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{prefix}{stamp}"


def run_dir(tier: str, run_id: str | None = None) -> Path:
    d = artifacts_root() / tier / (run_id or new_run_id())
    d.mkdir(parents=True, exist_ok=True)
    return d


def run_overrides(run_dir: str | Path) -> list[str]:
    """The config overrides a run was started with (``manifest.json`` ``overrides``; [] if none)."""
    p = Path(run_dir) / "manifest.json"
    if not p.exists():
        return []
    return list(json.loads(p.read_text()).get("overrides") or [])


def _machine() -> dict | None:
    """The run's CPU and kernels (:func:`polaris_repro.machine.fingerprint`); None if unreadable."""
    try:
        from .machine import fingerprint

        return fingerprint()
    except Exception:  # a fingerprint is worth having, never worth failing a run for
        return None


class Manifest:
    """``manifest.json`` of a run folder; every update rewrites the file atomically."""

    def __init__(self, run_dir: str | Path, config: "Config | dict | None" = None):
        self.path = Path(run_dir) / "manifest.json"
        if self.path.exists():
            self.data = json.loads(self.path.read_text())
        else:
            self.data = {"package": "polaris-repro", "version": __version__, "git_commit": git_commit(),
                         "created": now(), "config": None, "seed": None, "sections": {},
                         "inputs": {}, "outputs": {}, "machine": _machine()}
        if config is not None:
            self.data["config"] = config.to_dict() if hasattr(config, "to_dict") else config   # the plain dict
            self.data["tier"] = self.data["config"].get("tier")
            self.data["seed"] = self.data["config"].get("seed")
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)

    def record_input(self, name: str, path: str | Path) -> None:
        p = Path(path)
        self.data["inputs"][name] = {"path": str(p), "sha256": sha256_file(p) if p.is_file() else None}
        self.save()

    def record_output(self, name: str, path: str | Path, **extra: Any) -> None:
        self.data["outputs"][name] = {"path": str(path), **extra}
        self.save()

    def section(self, name: str, **fields: Any) -> dict:
        sec = self.data["sections"].setdefault(name, {})
        sec.update(fields)
        self.save()
        return sec
