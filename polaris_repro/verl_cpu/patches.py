"""The monkeypatches the CPU platform needs in verl 0.9.1 (applied only when VERL_PLATFORM=cpu).

Each one answers a failure of stock verl on a CPU (verl-on-cpu.md §2):

(a) gloo twice: ``verl.utils.distributed`` builds the backend string
    ``f"cpu:gloo,{device}:{backend}"``, which is ``cpu:gloo,cpu:gloo`` here and torch rejects the
    duplicate device. We wrap ``torch.distributed.init_process_group`` to drop repeated devices.
(b) engine lookup: the FSDP engine is registered for devices ``cuda``/``npu`` only;
    ``EngineRegistry.get_engine_cls`` honours ``VERL_ENGINE_DEVICE``, which we set to ``cuda``.
(c) pinned memory: FSDP2 forward-only engines (the reference model) are built with
    ``CPUOffloadPolicy(pin_memory=True)`` and pinning needs an accelerator. We swap in a subclass
    that always passes ``pin_memory=False`` wherever verl imports the policy.
(d) threads: Ray starts its workers with ``OMP_NUM_THREADS=1``, so the FSDP actor's forward and
    backward used one core of the machine's two (measured: the actor worker averaged under one
    core; a smoke update took ~2x a plain 2-thread one). When torch is imported we set its
    intra-op threads to the cores this process may use (``POLARIS_CPU_THREADS`` overrides).
(e) entropy off the graph: with ``calculate_entropy`` on (the entropy curve of the training figures)
    verl's PPO loss subtracts ``entropy_coeff * entropy`` even when the coefficient is 0, so every
    backward also ran through the entropy of the 49,152-token softmax at every position, for a zero
    gradient. With a zero coefficient we hand the loss the entropy detached: the same loss, metric and
    gradients (``tests/test_entropy_off_graph.py``); a smoke micro-batch's forward + backward measured
    ~10 % faster. A nonzero coefficient keeps the graph.
Flops counter / device queries are handled by the platform's device shim (``platform_cpu``).
"""
from __future__ import annotations

import functools
import inspect
import logging
import os

from . import _import_hooks

logger = logging.getLogger(__name__)

_applied: set[str] = set()


def applied() -> frozenset[str]:
    """Names of the patches applied in this process."""
    return frozenset(_applied)


# (a) ------------------------------------------------------------------------------------------
def dedupe_backend(backend):
    """``"cpu:gloo,cpu:gloo"`` -> ``"cpu:gloo"``; anything else unchanged."""
    if not isinstance(backend, str) or "," not in backend:
        return backend
    seen, parts = set(), []
    for part in (p.strip() for p in backend.split(",")):
        if not part:
            continue
        device = part.split(":", 1)[0] if ":" in part else part
        if device in seen:
            continue
        seen.add(device)
        parts.append(part)
    return ",".join(parts)


def _patch_init_process_group(dist) -> None:
    original = dist.init_process_group
    if getattr(original, "_polaris_cpu_patched", False):
        return

    @functools.wraps(original)
    def init_process_group(*args, **kwargs):
        if "backend" in kwargs:
            kwargs["backend"] = dedupe_backend(kwargs["backend"])
        elif args:
            args = (dedupe_backend(args[0]),) + tuple(args[1:])
        return original(*args, **kwargs)

    init_process_group._polaris_cpu_patched = True
    dist.init_process_group = init_process_group
    _applied.add("gloo_backend")


# (c) ------------------------------------------------------------------------------------------
_unpinned_cls = None


def unpinned_offload_policy_cls(base):
    """A ``CPUOffloadPolicy`` subclass whose ``pin_memory`` is always False."""
    global _unpinned_cls
    if _unpinned_cls is not None and issubclass(_unpinned_cls, base):
        return _unpinned_cls

    class UnpinnedCPUOffloadPolicy(base):
        def __init__(self, pin_memory: bool = False):  # pin_memory is the dataclass's only field
            super().__init__(pin_memory=False)

    UnpinnedCPUOffloadPolicy.__name__ = "CPUOffloadPolicy"
    UnpinnedCPUOffloadPolicy.__qualname__ = "CPUOffloadPolicy"
    UnpinnedCPUOffloadPolicy._polaris_unpinned = True
    _unpinned_cls = UnpinnedCPUOffloadPolicy
    return UnpinnedCPUOffloadPolicy


def _swap_offload_policy(module) -> None:
    base = getattr(module, "CPUOffloadPolicy", None)
    if base is None or getattr(base, "_polaris_unpinned", False):
        return
    module.CPUOffloadPolicy = unpinned_offload_policy_cls(base)
    _applied.add("unpinned_offload_policy")


THREADS_ENV = "POLARIS_CPU_THREADS"


def cpu_threads() -> int:
    """Intra-op threads for torch in this process: ``POLARIS_CPU_THREADS``, else every core this
    process may run on."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"environment variable {THREADS_ENV}={raw!r} is not an integer") from None
        if n < 1:
            raise ValueError(f"environment variable {THREADS_ENV}={raw!r} must be >= 1")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _set_torch_threads(torch) -> None:
    """(d) Ray starts every worker with ``OMP_NUM_THREADS=1`` (unless the actor asks for CPUs), so
    the FSDP actor's forward/backward ran on one core of two. verl's phases (generate, log-probs,
    update) run one after another, so each process may use every core."""
    n = cpu_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _applied.add("torch_threads")


# (e) ------------------------------------------------------------------------------------------
def entropy_off_the_graph(loss_fn):
    """``loss_fn(config, model_output, data, dp_group=None)`` (verl's ``ppo_loss``) called with the
    model output's entropy detached when ``config.entropy_coeff`` is 0; unchanged otherwise."""
    if getattr(loss_fn, "_polaris_cpu_patched", False):
        return loss_fn
    signature = inspect.signature(loss_fn)

    @functools.wraps(loss_fn)
    def wrapped(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        out = bound.arguments.get("model_output")
        entropy = out.get("entropy") if isinstance(out, dict) else None
        if entropy is not None and entropy.requires_grad and float(bound.arguments["config"].entropy_coeff) == 0.0:
            bound.arguments["model_output"] = {**out, "entropy": entropy.detach()}
        return loss_fn(*bound.args, **bound.kwargs)

    wrapped._polaris_cpu_patched = True
    return wrapped


def _patch_ppo_loss(module) -> None:
    if hasattr(module, "ppo_loss"):
        module.ppo_loss = entropy_off_the_graph(module.ppo_loss)
        _applied.add("entropy_off_graph")


# ---------------------------------------------------------------------------------------------
def apply_all() -> None:
    """Apply (a)-(e); idempotent. Modules not imported yet are patched when they are."""
    # (b) engine selection: only an env var, read at lookup time; respect an explicit choice.
    os.environ.setdefault("VERL_ENGINE_DEVICE", "cuda")
    _applied.add("engine_device")

    # (a) torch.distributed is imported by verl before plugins load, but do not rely on it.
    _import_hooks.when_imported("torch.distributed", _patch_init_process_group)

    # (c) verl imports CPUOffloadPolicy by name into these modules.
    for name in ("verl.utils.fsdp_utils", "verl.workers.engine.fsdp.transformer_impl"):
        _import_hooks.when_imported(name, _swap_offload_policy)

    # (d) torch's intra-op threads = the cores (Ray workers start with OMP_NUM_THREADS=1).
    _import_hooks.when_imported("torch", _set_torch_threads)

    # (e) where verl defines ``ppo_loss`` and where the actor worker binds it by name (it reads the
    # name when the worker is built, after both imports).
    for name in ("verl.workers.utils.losses", "verl.workers.engine_workers"):
        _import_hooks.when_imported(name, _patch_ppo_loss)
