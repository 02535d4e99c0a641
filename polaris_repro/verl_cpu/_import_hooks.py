"""Run a callback right after a module has been imported, without importing it ourselves.

The plugin must stay cheap: verl imports it in every process (driver, TaskRunner, Ray workers,
rollout servers), and importing e.g. ``verl.workers.rollout.base`` just to add one registry entry
costs about a second per process on two cores. Instead we watch for the import and patch the module
the moment it has finished executing. If the module is already imported the callback runs at once.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys
import threading
from typing import Callable

logger = logging.getLogger(__name__)

_callbacks: dict[str, list[Callable]] = {}
_lock = threading.RLock()


def _run(name: str, module, callbacks: list[Callable]) -> None:
    for cb in callbacks:
        try:
            cb(module)
        except Exception:  # never break the import that triggered us
            logger.exception("polaris_repro.verl_cpu: post-import hook %s for %s failed",
                             getattr(cb, "__name__", cb), name)


class _LoaderProxy(importlib.abc.Loader):
    """Wraps the real loader; runs the callbacks after ``exec_module``."""

    def __init__(self, loader, name: str):
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        with _lock:
            callbacks = _callbacks.pop(self._name, [])
        _run(self._name, module, callbacks)

    def __getattr__(self, item):  # get_code, get_source, is_package, ...
        return getattr(self._loader, item)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self._busy: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        with _lock:
            if fullname not in _callbacks or fullname in self._busy:
                return None
            self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        except Exception:
            return None
        finally:
            with _lock:
                self._busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _LoaderProxy(spec.loader, fullname)
        return spec


_finder = _PostImportFinder()


def when_imported(name: str, callback: Callable) -> None:
    """Call ``callback(module)`` once ``name`` is imported (now, if it already is)."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    initializing = bool(getattr(spec, "_initializing", False))
    if module is not None and not initializing:
        _run(name, module, [callback])
        return
    with _lock:
        _callbacks.setdefault(name, []).append(callback)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def pending() -> dict[str, int]:
    """Modules still being watched (for tests and diagnostics)."""
    with _lock:
        return {k: len(v) for k, v in _callbacks.items()}
