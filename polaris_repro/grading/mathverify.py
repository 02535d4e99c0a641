"""math-verify as a second opinion, in a persistent worker process (its timeouts use signals,
which work only in a main thread): :func:`math_verify_correct` is bounded in time in any thread.
"""
from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys
import threading
import time
from typing import Any

from .limits import DEFAULT_TIMEOUT_S
from .extraction import ground_truths, split_think


_MV_LOCK = threading.Lock()
_MV_PROC: subprocess.Popen | None = None


def _mv_gold_text(gt: str) -> str:
    return "$" + gt.replace("$", "").strip() + "$"


def _mv_verify_inprocess(text: str, golds: list[str], timeout_s: float | None) -> bool:
    """math-verify's verdict in this process (signal timeouts only in the main thread)."""
    from math_verify import parse, verify

    t = None
    if timeout_s and threading.current_thread() is threading.main_thread():
        t = max(1, int(math.ceil(timeout_s)))
    pred = parse(text, parsing_timeout=t)
    for g in golds:
        gold = parse(_mv_gold_text(g), parsing_timeout=t)
        if verify(gold, pred, timeout_seconds=t):
            return True
    return False


def _mv_worker_main() -> None:  # pragma: no cover - runs in the worker process
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    out = sys.stdout
    sys.stdout = sys.stderr
    import math_verify  # noqa: F401  (import before signalling readiness)

    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            r = _mv_verify_inprocess(req["p"], req["g"], req.get("t") or DEFAULT_TIMEOUT_S)
        except Exception:  # math-verify errors and its own timeouts -> None
            r = None
        out.write(json.dumps({"r": r}) + "\n")
        out.flush()


def _mv_start() -> subprocess.Popen:
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    cmd = "from polaris_repro.grading.mathverify import _mv_worker_main; _mv_worker_main()"
    proc = subprocess.Popen([sys.executable, "-c", cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, bufsize=1, env=env)
    if _mv_readline(proc, 120.0) is None:
        _mv_kill(proc)
        raise RuntimeError("math-verify worker did not start (is math-verify installed?)")
    return proc


def _mv_readline(proc: subprocess.Popen, timeout: float) -> str | None:
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            line = proc.stdout.readline()
            return line or None


def _mv_kill(proc: subprocess.Popen) -> None:
    try:
        proc.kill()
        proc.wait(timeout=5)
    except Exception:
        pass


def math_verify_correct(response: str | None, ground_truth: Any, *, require_think: bool = False,
                        timeout_s: float = DEFAULT_TIMEOUT_S) -> bool | None:
    """math-verify's verdict on the same input (``None`` if it errored or ran past the bound).

    math-verify parses the searched text itself (it is not given our extracted answer).  It runs in
    a persistent worker process where its signal-based timeouts work; the worker is killed and
    restarted if it does not answer within ``timeout_s`` + 1 s, so this is bounded in any thread."""
    global _MV_PROC
    text = "" if response is None else str(response)
    if require_think:
        ok, text = split_think(text)
        if not ok:
            return False
    golds = ground_truths(ground_truth)
    if not golds:
        return False
    req = json.dumps({"p": text, "g": golds, "t": timeout_s}) + "\n"
    with _MV_LOCK:
        for _attempt in range(2):
            if _MV_PROC is None or _MV_PROC.poll() is not None:
                _MV_PROC = _mv_start()
            try:
                _MV_PROC.stdin.write(req)
                _MV_PROC.stdin.flush()
            except (BrokenPipeError, OSError):
                _mv_kill(_MV_PROC)
                _MV_PROC = None
                continue
            per_op = max(1, int(math.ceil(timeout_s)))
            line = _mv_readline(_MV_PROC, per_op * (1 + 2 * len(golds)) + 2.0)
            if line is None:
                _mv_kill(_MV_PROC)
                _MV_PROC = None
                return None
            try:
                return json.loads(line)["r"]
            except (ValueError, KeyError):
                return None
    return None


def close_math_verify() -> None:
    """Stop the math-verify worker process (it is restarted on demand)."""
    global _MV_PROC
    with _MV_LOCK:
        if _MV_PROC is not None:
            try:
                _MV_PROC.stdin.close()
            except OSError:
                pass
            _mv_kill(_MV_PROC)
            _MV_PROC = None
