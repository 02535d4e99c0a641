"""SIGTERM and SIGHUP take the Ctrl-C path.

A cluster stops a job with SIGTERM (SLURM at the time limit and on preemption, ``timeout``,
``kill``); a closed terminal or SSH session sends SIGHUP. Python's default for both is to die on
the spot, so ``finally`` blocks never run: the verl launch a stage started (in its own session, so
that it can be stopped as a whole) and its Ray processes kept running. Ctrl-C (SIGINT) raises
``KeyboardInterrupt``, which the stage runner already turns into "stop the launch, stop its Ray
processes, keep the stage resumable". :func:`install` makes SIGTERM and SIGHUP raise
:class:`Interrupted`, a ``KeyboardInterrupt``, so all three signals share that one path.

:func:`exit_with_parent` is for the launch itself: if the process that started verl dies without
running its clean-up (SIGKILL, a Jupyter kernel whose parent vanished), the kernel sends SIGTERM
to the verl driver (``PR_SET_PDEATHSIG``), which then shuts its Ray instance down.
"""
from __future__ import annotations

import contextlib
import ctypes
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives (after :func:`install`)."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(self.signum).name}")

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def signal_name(exc: BaseException) -> str:
    """``SIGTERM`` / ``SIGHUP`` for :class:`Interrupted`, ``SIGINT`` for a plain Ctrl-C."""
    return exc.name if isinstance(exc, Interrupted) else "SIGINT"


def _raise(signum, frame):
    raise Interrupted(signum)


def install() -> bool:
    """Make SIGTERM and SIGHUP raise :class:`Interrupted` in this process (main thread only; a
    no-op elsewhere, where Python cannot install handlers). Returns whether it installed them."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for s in SIGNALS:
        signal.signal(s, _raise)
    return True


@contextlib.contextmanager
def handling(handlers: dict):
    """``{signal: handler}`` installed for the duration of a block, the previous handlers restored
    after it; a no-op outside the main thread, where Python cannot install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in handlers}
    for s, h in handlers.items():
        signal.signal(s, h)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def as_interrupt():
    """:func:`install` for the duration of a block; the previous handlers come back after it."""
    return handling({s: _raise for s in SIGNALS})


_PR_SET_PDEATHSIG = 1
try:   # resolved here, not in the forked child (preexec_fn runs between fork and exec)
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def exit_with_parent(sig: int = signal.SIGTERM) -> None:
    """``preexec_fn`` of a child process: deliver ``sig`` to it when its parent dies (Linux)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
