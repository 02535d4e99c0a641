"""verl 0.9.1 CPU plugin: run the real verl trainer (Ray, FSDP2, agent loop, GRPO) on a CPU.

Stock verl 0.9.1 has no CPU platform (it falls back to CUDA/NCCL) and no transformers rollout.
This package adds both, out of tree (facts: shared/reference/verl-on-cpu.md):

- a ``cpu`` platform on gloo (:mod:`.platform_cpu`), registered with verl's ``PlatformRegistry``;
- patches for the CPU path (:mod:`.patches`): duplicate gloo backend string, FSDP engine lookup
  (``VERL_ENGINE_DEVICE=cuda``), pin-memory-free ``CPUOffloadPolicy`` for forward-only FSDP2 engines;
- an ``hf`` rollout backend (:mod:`.hf_rollout`) that batches concurrent agent-loop requests into
  KV-cached decodes and receives the actor's weights after every update.

How verl loads it: ``pyproject.toml`` declares ``[project.entry-points."verl.plugins"]
polaris_cpu = "polaris_repro.verl_cpu"``; ``import verl`` imports every ``verl.plugins`` entry point
in every process (driver, TaskRunner, Ray workers, rollout server).

Activation: only when ``VERL_PLATFORM=cpu``. Without it the import only arranges that the rollout
name ``hf`` is registered when verl's rollout registries are imported (harmless on GPUs, where the
recipe keeps ``rollout.name=vllm``); nothing is imported or patched. Failures are logged, never
raised, so ``import verl`` cannot break because of this package (with ``VERL_PLATFORM=cpu`` and a
failed activation verl then stops with "Unknown platform 'cpu'"; the log line above says why).

Launch (the CPU tiers)::

    VERL_PLATFORM=cpu python -m verl.trainer.main_ppo algorithm.adv_estimator=grpo \\
        data.train_files=train.parquet data.val_files=val.parquet ... \\
        $(python -c 'from polaris_repro.verl_cpu import cpu_overrides; print(" ".join(cpu_overrides()))')

:func:`cpu_overrides` returns the Hydra overrides every CPU run needs: ``trainer.device=cpu``, fake
Ray GPUs plus enough logical CPUs for verl's placement bundles, sdpa attention, ``rollout.name=hf``,
fp32 actor/reference compute (so actor and rollout log-probs agree), one agent-loop/reward worker,
no dataloader workers, and the trainer choice (legacy v0 ``RayPPOTrainer`` by default;
``trainer="v1"`` adds the TransferQueue settings; both run on CPU, v0 is faster to start and step). The recipe's own
keys (model, data, batch sizes, lengths, ``use_remove_padding=False`` on CPU, ...) are the caller's; in a
stage launch the platform owns ``trainer.nnodes``, ``trainer.n_gpus_per_node``, ``trainer.use_v1``, the
rollout's name and its tensor-parallel size (``training.verl_config.PLATFORM_KEYS``), and the recipe
leaves them to it (:mod:`polaris_repro.training.overrides`: a key set by both is an error).

Environment variables:

- ``VERL_PLATFORM=cpu``: activate (must be set before verl starts; Ray workers inherit it).
- ``VERL_HF_ROLLOUT_SKIP_SYNC=1``: do not push actor weights to the rollout server (negative
  control for the weight-sync test).
- ``POLARIS_HF_ROLLOUT_MAX_BATCH``, ``POLARIS_HF_ROLLOUT_KV_GB``, ``POLARIS_HF_ROLLOUT_WINDOW_MS``,
  ``POLARIS_HF_ROLLOUT_MAX_WAIT_MS``, ``POLARIS_HF_ROLLOUT_THREADS``, ``POLARIS_HF_ROLLOUT_ATTN``:
  rollout-server batching and threading knobs (see :mod:`.hf_rollout`).
"""
from __future__ import annotations

import logging
import os
import sys

from . import _import_hooks

logger = logging.getLogger(__name__)

PLATFORM_ENV = "VERL_PLATFORM"
PLATFORM_NAME = "cpu"
SKIP_SYNC_ENV = "VERL_HF_ROLLOUT_SKIP_SYNC"
ROLLOUT_NAME = "hf"
_ADAPTER_FQN = "polaris_repro.verl_cpu.hf_rollout.HFServerAdapter"

_state = {"active": False, "platform_registered": False, "error": None}

__all__ = ["cpu_overrides", "rank_threads", "attached_to_cluster", "is_requested", "activate", "status",
           "PLATFORM_ENV", "SKIP_SYNC_ENV", "ROLLOUT_NAME"]


def is_requested() -> bool:
    """True when this process asked for the CPU platform (``VERL_PLATFORM=cpu``)."""
    return os.environ.get(PLATFORM_ENV, "").strip().lower() == PLATFORM_NAME


# ------------------------------------------------------------------ rollout name (unconditional)
def _load_hf_replica():
    from .hf_rollout import HFReplica

    return HFReplica


def _register_rollout_adapter(module) -> None:
    module._ROLLOUT_REGISTRY.setdefault((ROLLOUT_NAME, "async"), _ADAPTER_FQN)


def _register_replica(module) -> None:
    module.RolloutReplicaRegistry.register(ROLLOUT_NAME, _load_hf_replica)


# ------------------------------------------------------------------ CPU platform (VERL_PLATFORM=cpu)
def _register_platform(module) -> None:
    from .platform_cpu import PlatformCPU

    module.PlatformRegistry.register(platform=PLATFORM_NAME)(PlatformCPU)
    _state["platform_registered"] = True


def activate() -> None:
    """Register the CPU platform and apply the CPU patches (idempotent).

    Called on import when ``VERL_PLATFORM=cpu``. Modules not imported yet are patched when they are,
    so this itself imports neither torch nor verl.
    """
    if _state["active"]:
        return
    from . import patches

    patches.apply_all()
    _import_hooks.when_imported("verl.plugin.platform.platform_manager", _register_platform)
    _state["active"] = True


def status() -> dict:
    """What this process has done: activation, platform registration, patches, pending hooks."""
    applied = sorted(sys.modules["polaris_repro.verl_cpu.patches"].applied()) \
        if "polaris_repro.verl_cpu.patches" in sys.modules else []
    return {"requested": is_requested(), "active": _state["active"],
            "platform_registered": _state["platform_registered"], "patches": applied,
            "error": _state["error"], "pending_hooks": _import_hooks.pending()}


# ------------------------------------------------------------------ Hydra overrides
def native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products in hardware under the current kernel caps
    (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``): oneDNN reports bf16 support and ATen runs its
    AVX-512 kernels. Without it (e.g. an AVX2 laptop CPU) bf16 autocast is emulated (capped to AVX2,
    a smoke step took 18 s and the next over 5 minutes); ``cpu_precision: auto`` picks fp32 there and
    wherever bf16 was not measured faster (:func:`resolve_precision`);
    ``benchmarks/bench_cpu_precision.py`` times both under kernel caps."""
    import torch

    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    return onednn and torch.backends.cpu.get_cpu_capability().upper().startswith("AVX512")


def resolve_precision(precision: str) -> str:
    """``training.cpu_precision`` as the actor will run it: ``auto`` -> bf16 where it was measured
    faster under the current caps (:func:`polaris_repro.machine.bf16_pays`: AMX, or AVX-512 BF16 on
    AMD), else fp32: ``benchmarks/bench_cpu_precision.py`` measured a bf16 smoke micro-batch 1.5x
    slower than fp32 on Intel AVX-512 BF16 without AMX, 3.5x on AVX-512 without BF16, and far slower
    where bf16 is emulated (:func:`native_bf16` false); ``fp32`` / ``bf16`` as given."""
    if precision == "auto":
        from ..machine import bf16_pays

        return "bf16" if bf16_pays() else "fp32"
    from ..config import check_choice

    check_choice("training.cpu_precision", precision)
    return precision


def rank_threads(world_size: int, cores: int | None = None) -> int:
    """Torch intra-op threads per FSDP rank when ``world_size`` ranks share this machine's cores:
    ``cores // world_size`` (at least 1). ``POLARIS_CPU_THREADS`` in the environment wins."""
    raw = os.environ.get("POLARIS_CPU_THREADS", "").strip()
    if raw:
        from .patches import cpu_threads

        return cpu_threads()
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cores = os.cpu_count() or 1
    return max(1, int(cores) // max(1, int(world_size)))


def attached_to_cluster() -> bool:
    """True when verl will join an existing Ray cluster (``RAY_ADDRESS`` set) instead of starting one."""
    return bool(os.environ.get("RAY_ADDRESS", "").strip())


def cpu_overrides(*, trainer: str = "v0", n_gpus: int = 1, nnodes: int = 1, num_cpus: int | None = None,
                  agent_workers: int = 1, reward_workers: int = 1, precision: str = "fp32",
                  attach: bool | None = None, threads: int | None = None,
                  rollout: str = ROLLOUT_NAME) -> list[str]:
    """Hydra overrides for running ``verl.trainer.main_ppo`` on this plugin's CPU platform.

    Args:
        trainer: ``"v0"`` (legacy ``RayPPOTrainer``, ``trainer.use_v1=False``; the proven path) or
            ``"v1"`` (TransferQueue trainer; needs the ``transferqueue`` package).
        n_gpus: FSDP ranks per node = ``trainer.n_gpus_per_node`` (1 on a laptop); each rank
            holds one fake Ray GPU.
        nnodes: ``trainer.nnodes``. World size = ``nnodes * n_gpus``. Without a cluster the private
            Ray instance declares ``nnodes * n_gpus`` fake GPUs (verl places one bundle per rank;
            several "nodes" then share the one Ray node).
        num_cpus: logical Ray CPUs. verl asks for 3 CPUs per GPU bundle plus one per TaskRunner,
            agent-loop and reward worker (and TransferQueue actors in v1), so the default is larger
            than the physical core count on purpose; Ray only uses it for scheduling.
        agent_workers, reward_workers: agent-loop / reward-loop worker processes (each one costs a
            Python process with torch and verl loaded, ~0.5 GB).
        precision: compute dtype of the FSDP actor and reference model. ``"fp32"`` (default) matches
            the fp32 rollout server, so rollout and actor log-probs agree to ~1e-4 (verl's default,
            bf16 autocast, leaves ~1e-2 differences on a confident model). ``"bf16"`` keeps verl's
            bf16 autocast (fp32 master weights): faster updates on CPUs with bf16 support, at
            the cost of that mismatch.
        attach: join an existing Ray cluster (default: ``RAY_ADDRESS`` is set). Ray refuses
            ``num_cpus``/``num_gpus`` when joining ("When connecting to an existing cluster, num_cpus
            and num_gpus must not be provided"), so they are left out; the cluster's nodes declare
            their own (``ray start --num-cpus N --num-gpus G``).
        threads: torch threads per rank (default :func:`rank_threads`: the machine's cores divided
            by the world size, so ranks sharing a machine do not oversubscribe it).

    Worker environment: ``VERL_PLATFORM=cpu`` and ``POLARIS_CPU_THREADS`` go to every Ray worker
    through ``ray_kwargs.ray_init.runtime_env.env_vars`` (a cluster started with ``ray start``
    does not see the driver's environment). The package itself must be installed in the Python
    environment the cluster's workers run (verl loads this plugin through its entry point).

    The overrides do not set model, data, batch or length keys; the caller does. Keys the caller
    may also want on CPU: ``actor_rollout_ref.model.use_remove_padding=False``.
    """
    if trainer not in ("v0", "v1"):
        raise ValueError(f"cpu_overrides: trainer must be 'v0' or 'v1', got {trainer!r}")
    for name, value in (("n_gpus", n_gpus), ("nnodes", nnodes), ("agent_workers", agent_workers),
                        ("reward_workers", reward_workers)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"cpu_overrides: {name} must be a positive int, got {value!r}")
    world = nnodes * n_gpus
    if attach is None:
        attach = attached_to_cluster()
    if threads is None:
        threads = rank_threads(world)
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"cpu_overrides: threads must be a positive int, got {threads!r}")
    if num_cpus is None:
        num_cpus = 3 * world + 1 + agent_workers + reward_workers + 2
        num_cpus = max(num_cpus, 8) + (8 if trainer == "v1" else 0)
    elif not isinstance(num_cpus, int) or num_cpus < 1:
        raise ValueError(f"cpu_overrides: num_cpus must be a positive int, got {num_cpus!r}")
    from ..config import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"cpu_overrides: precision must be one of {PRECISIONS}, got {precision!r}")
    env_vars = "++ray_kwargs.ray_init.runtime_env.env_vars."
    out = [
        "trainer.device=cpu",
        f"trainer.nnodes={nnodes}",
        f"trainer.n_gpus_per_node={n_gpus}",
        f"{env_vars}{PLATFORM_ENV}={PLATFORM_NAME}",
        # quoted: Ray takes env_vars values as strings only (an int is a TypeError in ray.init)
        f"{env_vars}POLARIS_CPU_THREADS='{threads}'",
    ]
    if not attach:
        out += [
            f"ray_kwargs.ray_init.num_cpus={num_cpus}",
            f"++ray_kwargs.ray_init.num_gpus={world}",
            # the dashboard process alone takes ~0.5 core on a 2-core machine; nothing here needs it
            "++ray_kwargs.ray_init.include_dashboard=False",
        ]
    out += [
        "++actor_rollout_ref.model.override_config.attn_implementation=sdpa",
        f"actor_rollout_ref.rollout.name={rollout}",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        "actor_rollout_ref.rollout.data_parallel_size=1",
        "actor_rollout_ref.rollout.pipeline_model_parallel_size=1",
        "actor_rollout_ref.rollout.load_format=auto",
        "actor_rollout_ref.rollout.calculate_log_probs=True",
        f"actor_rollout_ref.rollout.agent.num_workers={agent_workers}",
        f"reward.num_workers={reward_workers}",
        "data.dataloader_num_workers=0",
        # torch.compile(dynamic=True) of the entropy kernel costs an inductor/C++ compile per launch
        # (and recompiles on new shapes) on a CPU, for a function that is cheap in eager mode
        "actor_rollout_ref.actor.use_torch_compile=False",
        "actor_rollout_ref.actor.fsdp_config.use_torch_compile=False",
        "actor_rollout_ref.ref.fsdp_config.use_torch_compile=False",
        # torch picks the per-tensor Python loop for AdamW on CPU tensors: ~10 DTensor ops per
        # parameter, a quarter of a smoke update's time. foreach = one dispatch per op for all of them
        "++actor_rollout_ref.actor.optim.override_optimizer_config={foreach:true}",
    ]
    if rollout == "vllm":
        out += ["++actor_rollout_ref.rollout.enable_sleep_mode=False",
                f"{env_vars}VLLM_TARGET_DEVICE=cpu",
                f"{env_vars}VLLM_CPU_KVCACHE_SPACE='1'"]
    if precision == "fp32":
        mp = "{param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}"
        out += [f"++actor_rollout_ref.actor.fsdp_config.mixed_precision={mp}",
                f"++actor_rollout_ref.ref.fsdp_config.mixed_precision={mp}"]
    if trainer == "v0":
        out.append("trainer.use_v1=False")
    else:
        out += ["trainer.use_v1=True", "transfer_queue.backend.SimpleStorage.num_data_storage_units=2"]
    return out


# ------------------------------------------------------------------ import-time wiring
def _log_failure(what: str, exc: BaseException) -> None:
    _state["error"] = f"{what}: {type(exc).__name__}: {exc}"
    msg = (f"polaris_repro.verl_cpu: {what} failed ({type(exc).__name__}: {exc}); "
           + ("verl will not find the 'cpu' platform." if is_requested() else
              "the 'hf' rollout name may be unavailable."))
    logger.error(msg, exc_info=exc)
    print(msg, file=sys.stderr)


try:
    _import_hooks.when_imported("verl.workers.rollout.base", _register_rollout_adapter)
    _import_hooks.when_imported("verl.workers.rollout.replica", _register_replica)
except Exception as _e:  # pragma: no cover - defensive
    _log_failure("registering the hf rollout name", _e)

if is_requested():
    try:
        activate()
    except Exception as _e:
        _log_failure("activating the CPU platform", _e)
