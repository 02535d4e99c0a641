"""A verl platform for CPU-only machines: torch on the CPU, collectives on gloo.

verl 0.9.1 resolves its platform once per process (``verl.plugin.platform.get_platform``) from
``VERL_PLATFORM`` or by probing; with nothing detected it falls back to NVIDIA/NCCL. Registering
this class under the name ``cpu`` and setting ``VERL_PLATFORM=cpu`` is the supported hook.

Choices (verl-on-cpu.md §3):
- ``current_device()`` returns the string ``"cpu"``: verl does ``tensor.to(get_device_id())`` and an
  integer would mean ``cuda:N``.
- ``device_module`` is a small shim over ``torch.cpu``: memory statistics are 0 (or the host's),
  ``get_device_name()`` says "CPU" (the flops counter looks it up), RNG state maps to torch's CPU
  generator, anything else verl asks for is a harmless no-op.
- ``ray_resource_name() == "GPU"``: verl's placement groups ask Ray for "GPU" bundles, so the CPU
  tiers start Ray with fake GPUs (``+ray_kwargs.ray_init.num_gpus=N``); torch-CPU ignores the
  ``CUDA_VISIBLE_DEVICES`` Ray then sets.
"""
from __future__ import annotations

import os
import types
from contextlib import contextmanager
from typing import Any, Optional

import torch

from verl.plugin.platform.platform_base import PlatformBase


def _host_memory() -> tuple[int, int]:
    """(available, total) bytes of host RAM, 0s if unknown."""
    try:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.available), int(vm.total)
    except Exception:
        try:
            pages = os.sysconf("SC_PHYS_PAGES")
            avail = os.sysconf("SC_AVPHYS_PAGES")
            size = os.sysconf("SC_PAGE_SIZE")
            return avail * size, pages * size
        except (ValueError, OSError, AttributeError):
            return 0, 0


def _noop(*args, **kwargs):
    return None


class _NullContext:
    """Stands in for streams/events/contexts: every method is a no-op, usable as a context."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __getattr__(self, item):
        return _noop


class CPUDeviceModule(types.ModuleType):
    """What verl gets from ``get_torch_device()`` on the CPU platform."""

    def __init__(self):
        super().__init__("polaris_repro.verl_cpu.cpu_device")

    # identity / availability
    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return True

    def device_count(self) -> int:
        return 1

    def current_device(self) -> str:
        return "cpu"

    def set_device(self, *args, **kwargs) -> None:
        return None

    def get_device_name(self, *args, **kwargs) -> str:
        return "CPU"

    def get_device_capability(self, *args, **kwargs):
        return (None, None)

    def get_device_properties(self, *args, **kwargs):
        _, total = _host_memory()
        return types.SimpleNamespace(name="CPU", total_memory=total, major=None, minor=None,
                                     multi_processor_count=os.cpu_count() or 1)

    def synchronize(self, *args, **kwargs) -> None:
        return None

    # memory: torch does not track CPU allocations; report zeros, host RAM for mem_get_info
    def memory_allocated(self, *args, **kwargs) -> int:
        return 0

    def memory_reserved(self, *args, **kwargs) -> int:
        return 0

    def max_memory_allocated(self, *args, **kwargs) -> int:
        return 0

    def max_memory_reserved(self, *args, **kwargs) -> int:
        return 0

    def mem_get_info(self, *args, **kwargs) -> tuple[int, int]:
        return _host_memory()

    def memory_stats(self, *args, **kwargs) -> dict:
        return {}

    def empty_cache(self) -> None:
        return None

    # RNG: the CPU generator is the device generator here
    def get_rng_state(self, *args, **kwargs):
        return torch.get_rng_state()

    def set_rng_state(self, state, *args, **kwargs) -> None:
        torch.set_rng_state(state)

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    # streams and events
    Stream = _NullContext
    Event = _NullContext

    def current_stream(self, *args, **kwargs):
        return _NullContext()

    def stream(self, *args, **kwargs):
        return _NullContext()

    def __getattr__(self, item: str):
        # reset_peak_memory_stats, ipc_collect, set_per_process_memory_fraction, nvtx, ...
        if item.startswith("__"):
            raise AttributeError(item)
        return _noop


CPU_DEVICE = CPUDeviceModule()


class PlatformCPU(PlatformBase):
    """verl platform ``cpu``: torch CPU tensors, gloo collectives, fake "GPU" Ray resources."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self):
        return CPU_DEVICE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check=False) -> bool:
        # Only ever selected explicitly (VERL_PLATFORM=cpu); never wins auto-detection.
        return False

    def current_device(self):
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index) -> None:
        return None

    def synchronize(self, device_index: Optional[int] = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0):
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        # Ray sets it for the fake GPUs; torch-CPU ignores it.
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        return {"num_gpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self):
        return None
