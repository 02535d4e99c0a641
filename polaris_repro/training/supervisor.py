"""Process supervision of a verl launch on Linux: run it in its own session with its output teed to
a log, echo its progress lines and a heartbeat while it is quiet, and stop every process it left
(its session, and the processes naming its private Ray temp dir, found under ``/proc``).

The stage runner (:mod:`polaris_repro.training.stages`) decides *what* a stage launches; this
module only runs it: :func:`run_verl` for one launch, :func:`stop_processes` /
:func:`launch_processes` for what a launch left behind.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from ..artifacts import REPO_ROOT, now
from ..signals import exit_with_parent


class LaunchFailed(RuntimeError):
    pass


def launch_env(cfg: dict) -> dict:
    """The environment of a verl launch of the tier ``cfg``."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("HYDRA_FULL_ERROR", "1")
    if cfg.training.rollout_name == "hf":
        env["VERL_PLATFORM"] = "cpu"
        # Ray starts its workers at nice 15; on a CPU tier the workers *are* the job, and at nice 15
        # any other process on the machine (the notebook kernel, a browser) preempts the actor
        env.setdefault("RAY_worker_niceness", "0")
    env.setdefault("RAY_DEDUP_LOGS", "0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


# --------------------------------------------------------------------------------------------
# processes under /proc

def session_pids(sid: int) -> list[int]:
    """The processes of session ``sid`` (this process excluded)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and int(d.name) != os.getpid():  # field 6: session id
                out.append(int(d.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def cmdline_pids(needle: str) -> list[int]:
    """The processes whose command line contains ``needle`` (this process excluded)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                out.append(int(d.name))
        except OSError:
            continue
    return out


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def launch_processes(sid: int | None, ray_temp_dir: str | None = None) -> set[int]:
    """What a launch started: the processes of its session and those naming its Ray temp dir."""
    pids = set(session_pids(sid)) if sid else set()
    if ray_temp_dir:
        pids |= set(cmdline_pids(ray_temp_dir))
    return pids


def cleanup_processes(sid: int | None, ray_temp_dir: str | None = None, grace_s: float = 5.0) -> list[int]:
    """Stop what a launch left behind: the processes of its session and those naming its private
    Ray temp dir (Ray's raylet/GCS/workers). Only these PIDs are signalled. Returns them."""
    pids = launch_processes(sid, ray_temp_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        signalled = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                signalled.append(pid)
            except ProcessLookupError:
                pass
        if not signalled:
            break
        t0 = time.time()
        while time.time() - t0 < grace_s and any(alive(p) for p in signalled):
            time.sleep(0.2)
    return sorted(pids)


def kill_processes(sid: int | None, ray_temp_dir: str | None = None) -> list[int]:
    """SIGKILL a launch's processes at once, as a crash would. Returns them."""
    pids = launch_processes(sid, ray_temp_dir)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sorted(pids)


# --------------------------------------------------------------------------------------------
# output lines

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RAY_PREFIX = re.compile(r"^\(\S+ pid=\d+(?:, ip=\S+)?\)\s*")


def clean_line(line: str) -> str:
    """A console line without colour codes and Ray's ``(Actor pid=N)`` prefix."""
    return _RAY_PREFIX.sub("", _ANSI.sub("", line.rstrip("\n")))


_HINT = re.compile(r"start|init|load|connect|worker|actor|checkpoint|validat|generat|Training Progress",
                   re.IGNORECASE)


def progress_hint(line: str, width: int = 100) -> str:
    """A launch-log line worth quoting in the start-up heartbeat (what verl is doing), or ""."""
    parts = [x.strip() for x in clean_line(line).split("\r") if x.strip()]   # tqdm redraws: the last
    text = parts[-1] if parts else ""
    if not text or "warn" in text.lower() or not _HINT.search(text):
        return ""
    return text if len(text) <= width else text[:width - 3] + "..."


def default_echo_filter(line: str) -> bool:
    """Progress lines worth showing live (the full output is in the launch log)."""
    if "Warning" in line:
        return False
    return "[polaris]" in line or "Traceback" in line \
        or line.startswith(("Error", "RuntimeError", "ValueError"))


# --------------------------------------------------------------------------------------------
# one launch

class _Echo:
    """The progress a launch shows through ``echo``: its output lines that ``echo_filter`` accepts
    (a repeat within 5 s once), the last start-up hint of the others, and when the last line went out."""

    def __init__(self, echo: Callable[[str], None] | None, echo_filter: Callable[[str], bool] | None,
                 t0: float) -> None:
        self.echo, self.filter = echo, echo_filter
        self.lock = threading.Lock()
        self.last = t0          # any echoed line (heartbeats too)
        self.output = t0        # the last echoed output line
        self.hint = ""
        self.running = False    # a [polaris] line was seen: verl is training
        self._repeat = ("", 0.0)

    def say(self, text: str, output: bool = False) -> None:
        with self.lock:
            self.echo(text)
            self.last = time.time()
            if output:
                self.output = self.last

    def line(self, line: str) -> None:
        if not self.echo:
            return
        if self.filter is None or self.filter(line):
            text = clean_line(line)
            # several Ray nodes on one machine (the rehearsal) share a session folder, and each
            # node's log monitor forwards every worker line: echo a repeat once
            if text == self._repeat[0] and time.time() - self._repeat[1] < 5:
                return
            self._repeat = (text, time.time())
            self.say(text, output=True)
            self.running = self.running or "[polaris]" in line
        else:
            self.hint = progress_hint(line) or self.hint

    def heartbeat(self, label: str, t0: float, every_s: float) -> None:
        t = time.time()
        if t - self.last < every_s:
            return
        what = (f"verl running ... {t - self.output:.0f} s since the last [polaris] line"
                if self.running else f"verl starting ... {t - t0:.0f} s")
        self.say(f"[{label}] {what}" + (f" (log: {self.hint})" if self.hint else ""))


def _wait(proc: subprocess.Popen, progress: _Echo, *, label: str, t0: float, timeout: float | None,
          heartbeat_s: float | None) -> int | None:
    """The launch's exit code, or None when ``timeout`` ran out; heartbeats while it runs."""
    deadline = None if timeout is None else t0 + timeout
    beat = bool(progress.echo and heartbeat_s and heartbeat_s > 0)
    while True:
        wait_s = min(1.0, heartbeat_s) if beat else None
        if deadline is not None:
            left = deadline - time.time()
            if left <= 0:
                return None
            wait_s = left if wait_s is None else min(wait_s, left)
        try:
            return proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            pass
        if beat:
            progress.heartbeat(label, t0, heartbeat_s)


def run_verl(overrides: Sequence[str], *, env: dict, log_path: Path, timeout: float | None = None,
             ray_temp_dir: str | None = None, echo: Callable[[str], None] | None = print,
             echo_filter: Callable[[str], bool] | None = None,
             on_start: Callable[[subprocess.Popen], None] | None = None,
             heartbeat_s: float | None = 20.0, label: str | None = None,
             cmd: Sequence[str] | None = None) -> float:
    """Run ``python -m polaris_repro.training.main_polaris <overrides>`` in its own session,
    teeing output to ``log_path``; on exit/timeout stop every process it left. Returns seconds.

    Progress through ``echo``: a line when the launch starts, the output lines ``echo_filter``
    accepts, and a heartbeat whenever nothing was echoed for ``heartbeat_s`` seconds (verl's
    start-up takes minutes before the first ``[polaris]`` line), with the last start-up line of
    the log (:func:`progress_hint`). ``label``: the lines' prefix (default: the stage folder's
    name, from ``log_path``); ``cmd``: replaces the command (tests)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = list(cmd) if cmd is not None else [sys.executable, "-m", "polaris_repro.training.main_polaris",
                                             *overrides]
    label = label or (log_path.parent.parent.name if log_path.parent.name == "logs" else "verl")
    t0 = time.time()
    progress = _Echo(echo, echo_filter, t0)
    with open(log_path, "a") as logf:
        logf.write(f"# {now()} {' '.join(cmd)}\n")
        logf.flush()
        if echo:
            progress.say(f"[{label}] starting verl (Ray, workers, model load) ... full log: {log_path}")
        # own session (stopped as a whole); SIGTERM to it if this process dies without clean-up
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                cwd=str(log_path.parent), start_new_session=True, text=True, bufsize=1,
                                preexec_fn=exit_with_parent)
        if on_start is not None:
            on_start(proc)

        def pump():
            for line in proc.stdout:
                logf.write(line)
                logf.flush()
                progress.line(line)

        th = threading.Thread(target=pump, daemon=True)
        th.start()
        rc = None
        try:
            rc = _wait(proc, progress, label=label, t0=t0, timeout=timeout, heartbeat_s=heartbeat_s)
        finally:
            cleanup_processes(proc.pid, ray_temp_dir)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            th.join(timeout=10)
    elapsed = time.time() - t0
    if rc is None:
        raise LaunchFailed(f"verl launch timed out after {timeout} s; log: {log_path}")
    if rc != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-40:])
        raise LaunchFailed(f"verl launch exited with {rc}; log: {log_path}\n--- last lines ---\n{tail}")
    return elapsed
