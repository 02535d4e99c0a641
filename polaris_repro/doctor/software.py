"""Checks of the software environment: installed packages against the tier's pinned environment
file, CUDA, the CPU tiers' training precision, and credentials for the configured loggers."""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..artifacts import REPO_ROOT
from ..resources import is_gpu_tier
from .hardware import Hardware
from .rows import Row, row

ENV_DIR = REPO_ROOT / "envs"


def env_file(cfg: dict) -> Path:
    return ENV_DIR / ("cluster.txt" if is_gpu_tier(cfg) else "cpu.txt")


def env_pins(path: str | os.PathLike) -> dict[str, str | None]:
    """``{package: pinned version or None}`` of a requirements file (extras dropped)."""
    out: dict[str, str | None] = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(==\s*([^\s;]+))?", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(4)
    return out


def cluster_cuda(path: str | os.PathLike = ENV_DIR / "cluster.txt") -> tuple[int | None, str | None]:
    """The CUDA major the cluster set's wheels are built for and the NVIDIA driver they need, from the
    file's ``# CUDA: N`` and ``# NVIDIA driver: >= V`` lines (``make check-cluster-env`` verifies the
    major against the resolved ``nvidia-*`` wheels)."""
    text = Path(path).read_text()
    m = re.search(r"^# CUDA:\s*(\d+)\s*$", text, re.M)
    d = re.search(r"^# NVIDIA driver:\s*(>=\s*[\d.]+)\s*$", text, re.M)
    return (int(m.group(1)) if m else None), (d.group(1).replace(" ", "") if d else None)


def flash_attn_step(path: str | os.PathLike = ENV_DIR / "cluster.txt") -> str:
    """The documented flash-attn install command (``# FLASH-ATTN STEP:`` in the cluster file)."""
    m = re.search(r"^# FLASH-ATTN STEP:\s*(.+)$", Path(path).read_text(), re.M)
    return m.group(1).strip() if m else "pip install --no-build-isolation flash-attn"


def _public(v: str) -> str:
    return v.split("+", 1)[0]


def check_packages(cfg: dict, hw: Hardware) -> list[Row]:
    path = env_file(cfg)
    pins = env_pins(path)
    gpu = is_gpu_tier(cfg)
    needed = ["torch", "verl", "transformers", "ray"]
    if cfg.training.rollout_name == "vllm" or cfg.sampling.engine == "vllm":
        needed.append("vllm")
    if gpu and cfg.training.use_remove_padding:
        needed.append("flash-attn")
    rows = []
    install = f"pip install -r {path.relative_to(REPO_ROOT)}"
    for name in needed:
        have = hw.packages.get(name)
        want = pins.get(name)
        label = f"package {name}"
        if not have:
            how = flash_attn_step() + " (its own step: envs/cluster.txt)" if name == "flash-attn" else install
            rows.append(row(label, "fail", f"not installed ({path.name} pins {want or 'it'})", how))
        elif want and _public(have) != want:
            status = "fail" if name == "verl" else "warn"
            why = ("the stage overrides follow verl " + want + "'s config schema") if name == "verl" else \
                "untested combination"
            rows.append(row(label, status, f"{have}, {path.name} pins {want} ({why})", install))
        else:
            rows.append(row(label, "ok", have + (f" (= {path.name})" if want else f" ({path.name}: unpinned)")))
    return rows


def check_cuda(cfg: dict, hw: Hardware) -> list[Row]:
    """CUDA visible; the torch build's CUDA major and the driver's against the cluster set's (one
    major for every file: envs/cluster.txt's ``# CUDA:`` line, environment.yml's cuda-toolkit)."""
    if not is_gpu_tier(cfg):
        return [row("cuda", "ok", f"not needed: CPU tier (rollout {cfg.training.rollout_name}); "
                     f"torch CUDA build: {hw.cuda_version or 'none'}")]
    need, driver_min = cluster_cuda()
    need_txt = f"CUDA {need} wheels (NVIDIA driver {driver_min})" if need else "the CUDA build of envs/cluster.txt"
    if not hw.cuda_available or not hw.gpus:
        return [row("cuda", "fail", f"no CUDA device visible (torch CUDA build: {hw.cuda_version or 'none'}"
                     + (f", CUDA_VISIBLE_DEVICES={hw.env['CUDA_VISIBLE_DEVICES']!r}" if "CUDA_VISIBLE_DEVICES" in hw.env else "")
                     + ")", f"run on a GPU node with the cluster environment (envs/cluster.txt: {need_txt})")]
    v = hw.cuda_version or ""
    major = _major(v)
    drv = _major(hw.cuda_driver or "")
    if need and drv and drv < need:
        return [row("cuda", "fail", f"the NVIDIA driver supports CUDA {hw.cuda_driver}; the pinned torch / vLLM "
                     f"wheels are CUDA {need} builds", f"a driver {driver_min or 'for CUDA ' + str(need)} on the nodes "
                     "(nvidia-smi shows it), or a torch / vLLM set built for this CUDA")]
    if need and major != need:
        return [row("cuda", "warn", f"torch CUDA build {v or 'unknown'}; envs/cluster.txt pins CUDA {need} wheels",
                     "install envs/cluster.txt in this environment (untested combination)")]
    return [row("cuda", "ok", f"CUDA {v} (driver supports {hw.cuda_driver or 'unknown'}), {len(hw.gpus)} device(s) visible")]


def _major(version: str) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return None


# what `make reproduce` took on 2 cores, by the precision `auto` picks and the bf16 kernels
# (docs/quickstart.md; kept in step with it by tests/test_doctor.py)
SMOKE_MINUTES = {"AMX": "14-17 min on 2 AMX cores in bf16 with the models cached",
                 "AVX512-BF16": "17.4-21.6 min from a fresh clone on 2 AMD EPYC (AVX-512 BF16) cores in bf16",
                 "fp32": ("20.9-33.3 min from a fresh clone on 2 cores in fp32 (20.9-23.8 on AMD Zen 4 under "
                          "a full AVX2 cap, 33.0-33.3 on AMD Zen 3, which has AVX2 only)")}


def check_cpu_precision(cfg: dict, hw: Hardware) -> list[Row]:
    """CPU tiers: the precision the actor will train in on this machine (the launch's own rule,
    :func:`polaris_repro.verl_cpu.resolve_precision`), and which bf16 kernels the CPU has."""
    if is_gpu_tier(cfg):
        return []
    from ..machine import amx_bf16, bf16_pays
    from ..verl_cpu import native_bf16, resolve_precision

    want = cfg.training.cpu_precision
    native, amx, pays = native_bf16(), amx_bf16(), bf16_pays()
    got = resolve_precision(want)
    kernels = "AMX" if amx else "AVX-512 BF16, no AMX" if native else "none (emulated)"
    found = f"training.cpu_precision={want} -> {got} (bf16 kernels: {kernels}; {torch_capability()})"
    if got == "bf16" and not native:
        return [row("cpu precision", "warn", found,
                     "bf16 autocast is emulated on this CPU (under an AVX2 cap a smoke step went from 18 s "
                     "to over 5 min); -o training.cpu_precision=auto trains in fp32 here")]
    if got == "bf16" and not pays:
        return [row("cpu precision", "warn", found,
                     "bf16 measured 1.5x (Intel AVX-512 BF16 without AMX) to 3.5x (AVX-512) slower than fp32 "
                     "(benchmarks/bench_cpu_precision.py): -o training.cpu_precision=auto trains in fp32 here")]
    if got == "fp32" and want == "auto" and native:
        found += "; bf16 pays only on AMX or AMD's AVX-512 BF16 (benchmarks/bench_cpu_precision.py)"
    if cfg.tier == "smoke" and want == "auto":
        found += f"; make reproduce: {SMOKE_MINUTES['fp32' if got == 'fp32' else 'AMX' if amx else 'AVX512-BF16']}"
        found += " (docs/quickstart.md)"
    return [row("cpu precision", "ok", found)]


def torch_capability() -> str:
    import os

    import torch

    caps = ", ".join(f"{k}={os.environ[k]}" for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if k in os.environ)
    return f"ATen kernels {torch.backends.cpu.get_cpu_capability()}" + (f", capped by {caps}" if caps else "")


def check_logger(cfg: dict, hw: Hardware) -> list[Row]:
    loggers = [str(x) for x in (cfg.training.logger or [])]
    rows = []
    if "wandb" in loggers:
        mode = hw.env.get("WANDB_MODE", "")
        if hw.env.get("WANDB_API_KEY"):
            rows.append(row("logger wandb", "ok", "WANDB_API_KEY set"))
        elif "api.wandb.ai" in hw.netrc_hosts:
            rows.append(row("logger wandb", "ok", "~/.netrc has api.wandb.ai (wandb login)"))
        elif mode in ("offline", "disabled", "dryrun"):
            rows.append(row("logger wandb", "ok", f"WANDB_MODE={mode} (no credentials needed)"))
        else:
            rows.append(row("logger wandb", "fail", "training.logger includes wandb but no WANDB_API_KEY, no "
                             "~/.netrc entry, no WANDB_MODE=offline: the run would stop at wandb.init",
                             "wandb login (or export WANDB_API_KEY / WANDB_MODE=offline), or -o training.logger=[console]"))
    if "swanlab" in loggers:
        ok = bool(hw.env.get("SWANLAB_API_KEY"))
        rows.append(row("logger swanlab", "ok" if ok else "fail",
                         "SWANLAB_API_KEY set" if ok else "training.logger includes swanlab but SWANLAB_API_KEY is unset",
                         "" if ok else "export SWANLAB_API_KEY or drop swanlab from training.logger"))
    if not rows:
        rows.append(row("logger", "ok", f"{loggers}: no credentials needed"))
    return rows
