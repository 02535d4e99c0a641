"""What a run's numbers depend on besides its seed: the CPU's kernels.

The same seed gives bitwise the same rollouts, rewards and updates only on machines whose kernels
compute the same way: the ATen kernel set (``torch.backends.cpu.get_cpu_capability()``, capped by
``ATEN_CPU_CAPABILITY``), whether oneDNN multiplies bf16 in hardware (AVX-512 BF16 / AMX, capped by
``ONEDNN_MAX_CPU_ISA``) and the number of threads (summation order). :func:`fingerprint` records
them in every run's manifest; :func:`numerics_key` is the part that decides whether a run can
reproduce another bitwise, which is when ``claims.yaml``'s exact claims apply
(:mod:`polaris_repro.claims`).
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
CAP_VARS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS")


def _cpuinfo() -> tuple[str, set[str], str]:
    """(model name, flags, vendor id) of the first CPU in ``/proc/cpuinfo``."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set(), ""
    model, flags, vendor = "", set(), ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
        elif key.strip() == "vendor_id" and not vendor:
            vendor = value.strip()
    return model or platform.machine(), flags, vendor


def fingerprint() -> dict:
    """The CPU, its relevant instruction sets, the kernel caps in force, and the resulting kernels."""
    import torch

    from .verl_cpu import native_bf16

    model, flags, vendor = _cpuinfo()
    fp = {
        "cpu": model,
        "vendor": vendor,
        "cores": os.cpu_count(),
        "flags": [f for f in FLAGS if f in flags],
        "caps": {v: os.environ[v] for v in CAP_VARS if v in os.environ},
        "capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_bf16(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__.split("+")[0],
    }
    fp["auto_precision"] = auto_precision(fp)
    return fp


def bf16_kernels(fp: dict | None) -> str:
    """Which hardware multiplies bf16 for a run: ``AMX`` (AMX tiles allowed by the oneDNN cap),
    ``AVX512-BF16``, or ``""`` (no native bf16: emulated). AMX and AVX-512 BF16 accumulate in
    different orders (one smoke gradient: 3e-3 apart, ``benchmarks/bench_cpu_precision.py``)."""
    if not fp or not fp.get("native_bf16"):
        return ""
    cap = str((fp.get("caps") or {}).get("ONEDNN_MAX_CPU_ISA", "")).upper()
    amx = "amx_bf16" in (fp.get("flags") or []) and (not cap or "AMX" in cap or cap in ("ALL", "DEFAULT"))
    return "AMX" if amx else "AVX512-BF16"


# A smoke micro-batch's forward + backward, fp32 vs bf16 seconds (benchmarks/bench_cpu_precision.py,
# 2 cores): the CPU classes where bf16 was measured faster, and where it was not.
PRECISION_EVIDENCE = {
    "Intel AMX": "bf16 2.5 s vs fp32 4.5 s",
    "AMD AVX-512 BF16 (Zen 4, EPYC)": "bf16 4.2 s vs fp32 7.0 s",
    "Intel AVX-512 BF16 without AMX": "bf16 6.7 s vs fp32 4.4 s",
    "AVX-512 without BF16": "bf16 3.5x slower",
    "AVX2 (bf16 emulated)": "a smoke step from 18 s to over 5 min",
}


def auto_precision(fp: dict | None) -> str:
    """What ``training.cpu_precision: auto`` trains in on the machine of ``fp``: ``bf16`` where bf16
    was measured faster than fp32 for the smoke actor (:data:`PRECISION_EVIDENCE`): bf16 products on
    AMX tiles, or AVX-512 BF16 on an AMD CPU (Zen 4 runs fp32 AVX-512 at half width, its bf16 dot
    products at full rate); ``fp32`` elsewhere (Intel AVX-512 BF16 without AMX, whose two 512-bit FMA
    ports make fp32 the faster; AVX-512 without BF16; AVX2)."""
    kernels = bf16_kernels(fp)
    if kernels == "AMX":
        return "bf16"
    if kernels == "AVX512-BF16" and str((fp or {}).get("vendor", "")) == "AuthenticAMD":
        return "bf16"
    return "fp32"


def run_precision(fp: dict | None, cpu_precision: str | None) -> str | None:
    """The precision a run's actor trained in: its ``training.cpu_precision`` with ``auto`` resolved on
    its machine. A manifest written before ``auto`` meant AMX-only (no ``auto_precision`` field)
    resolved ``auto`` to bf16 wherever bf16 was native."""
    from .config import PRECISIONS

    if cpu_precision in PRECISIONS:
        return cpu_precision
    if not fp:
        return None
    if "auto_precision" in fp:
        return fp["auto_precision"]
    return "bf16" if fp.get("native_bf16") else "fp32"


def bf16_pays() -> bool:
    """Whether ``cpu_precision: auto`` trains in bf16 on this machine under the current caps
    (:func:`auto_precision` of :func:`fingerprint`)."""
    return auto_precision(fingerprint()) == "bf16"


def amx_bf16() -> bool:
    """Whether bf16 products run on AMX tiles here, under the current caps (:func:`bf16_kernels` of
    this machine). Only there did bf16 beat fp32 for the smoke actor (2.5 vs 4.5 s a micro-batch;
    AVX-512 BF16 without AMX: 6.7 vs 4.4 s, ``benchmarks/bench_cpu_precision.py``)."""
    return bf16_kernels(fingerprint()) == "AMX"


def numerics_key(fp: dict | None, precision: str | None = None) -> str | None:
    """``AVX512+AMX-bf16, 2 threads, torch 2.13.0``: runs with the same key and seed compute the same
    numbers; None when the run recorded no fingerprint. ``precision`` is what the actor trained in
    (:func:`run_precision`); an fp32 run's key names no bf16 kernels. Without it, bf16 is assumed
    wherever the machine has it (the rule of runs made before ``auto`` meant AMX only)."""
    if not fp:
        return None
    kind = bf16_kernels(fp) if precision != "fp32" else ""
    return (f"{fp.get('capability')}{'+' + kind + '-bf16' if kind == 'AMX' else '+bf16' if kind else ''}, "
            f"{fp.get('threads')} threads, torch {fp.get('torch')}")


def describe(fp: dict | None) -> str:
    """``Intel(R) Xeon(R) Processor (avx512_bf16, amx_bf16), 2 cores`` for the README's claims."""
    if not fp:
        return "a machine that recorded no fingerprint"
    flags = [f for f in fp.get("flags", []) if f in ("avx512_bf16", "amx_bf16")] or fp.get("flags", [])[:1]
    caps = ", ".join(f"{k}={v}" for k, v in (fp.get("caps") or {}).items())
    return (f"{fp.get('cpu')} ({', '.join(flags) or 'no AVX'}), {fp.get('cores')} cores"
            + (f", capped: {caps}" if caps else ""))
