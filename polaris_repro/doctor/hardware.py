"""What the doctor looks at: a :class:`Hardware` description, read from this machine by
:func:`detect_hardware` (CUDA through a child process, package versions, the Ray cluster at
``RAY_ADDRESS``, free disk, the environment variables the checks read) or given as plain data."""
from __future__ import annotations

import importlib.metadata as _md
import json
import os
import re
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from ..artifacts import artifacts_root
from ..resources import GB, gpu_type

@dataclass
class GPU:
    name: str
    memory_gb: float


@dataclass
class Hardware:
    """What the checks look at; :func:`detect_hardware` fills it from this machine.

    ``ray_nodes`` is ``ray.nodes()``'s listing (dicts with ``Alive`` and ``Resources``), None when
    no Ray cluster is given; ``env`` holds the environment variables the checks read."""
    gpus: list[GPU] = field(default_factory=list)
    cuda_available: bool = False
    cuda_version: str | None = None
    cuda_driver: str | None = None        # the CUDA version the NVIDIA driver supports, e.g. "13.0"
    nccl: bool | None = None              # torch.distributed built with NCCL (None: not probed)
    packages: dict[str, str | None] = field(default_factory=dict)
    ray_nodes: list[dict] | None = None
    ray_error: str | None = None
    ray_token: str | None = None          # where Ray would read its auth token (never the token), None: nowhere
    node_views: list[dict] | None = None  # node_view() of every Ray node (RAY_ADDRESS), None: not probed
    disk_free_gb: float | None = None
    disk_path: str | None = None          # where the free space was measured (the run folder's volume)
    env: dict[str, str] = field(default_factory=dict)
    netrc_hosts: tuple[str, ...] = ()
    description: str = "this machine"

    @classmethod
    def from_dict(cls, d: Mapping) -> "Hardware":
        """A hardware description from plain data, e.g. ``{"gpus": [{"name": "H100", "memory_gb": 80}]
        * 8, "cuda_version": "12.8", "packages": {...}, "ray_nodes": [...], "env": {...}}``;
        ``"gpus": {"count": 8, "name": "H100", "memory_gb": 80}`` is accepted too."""
        d = dict(d)
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"hardware description: unknown key(s) {sorted(unknown)}; expected "
                             f"{sorted(cls.__dataclass_fields__)}")
        gpus = d.pop("gpus", []) or []
        if isinstance(gpus, Mapping):
            gpus = [{"name": gpus.get("name", "GPU"), "memory_gb": gpus["memory_gb"]}] * int(gpus["count"])
        out = []
        for i, g in enumerate(gpus):
            if isinstance(g, GPU):
                out.append(g)
                continue
            if not isinstance(g, Mapping) or "memory_gb" not in g:
                raise ValueError(f"hardware description: gpus[{i}] must be a mapping with memory_gb, got {g!r}")
            out.append(GPU(str(g.get("name", "GPU")), float(g["memory_gb"])))
        d.setdefault("cuda_available", bool(out))
        d["netrc_hosts"] = tuple(d.get("netrc_hosts") or ())
        return cls(gpus=out, **d)


PACKAGES = ("torch", "verl", "vllm", "transformers", "ray", "flash-attn")
ENV_KEYS = ("RAY_ADDRESS", "RAY_AUTH_MODE", "NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "WANDB_API_KEY", "WANDB_MODE", "SWANLAB_API_KEY", "HF_HUB_OFFLINE",
            "CUDA_VISIBLE_DEVICES", "POLARIS_BENCHMARKS_DIR")


def installed_version(name: str) -> str | None:
    for n in (name, name.replace("-", "_")):
        try:
            return _md.version(n)
        except _md.PackageNotFoundError:
            continue
    return None


def _netrc_hosts() -> tuple[str, ...]:
    p = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return tuple(re.findall(r"machine\s+(\S+)", p.read_text()))
    except OSError:
        return ()


NODE_PROBE_TIMEOUT_S = 90.0


def node_view(model: str | None, run_dir: str | None) -> dict:
    """What one node sees (run there as a Ray task): its host, its HF_HOME and offline flag, whether
    the tier's hub model is in that cache, and whether the run folder is there and writable."""
    import socket

    out = {"host": socket.gethostname(), "hf_home": os.environ.get("HF_HOME"),
           "offline": os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"), "model": None, "run_dir": None,
           # wandb can log from this node: a key, a `wandb login` (~/.netrc), or offline mode
           "wandb": bool(os.environ.get("WANDB_API_KEY")) or "api.wandb.ai" in _netrc_hosts()
           or os.environ.get("WANDB_MODE") in ("offline", "disabled")}
    if model and "/" in model and not model.startswith(("builtin:", "/", ".")):
        try:
            from huggingface_hub import try_to_load_from_cache

            out["model"] = isinstance(try_to_load_from_cache(model, "config.json"), str)
        except Exception:  # huggingface_hub missing: unknown
            out["model"] = None
    if run_dir:
        p = Path(run_dir)
        probe = p
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        out["run_dir"] = "present" if p.is_dir() and os.access(p, os.W_OK) else (
            "creatable" if os.access(probe, os.W_OK) else f"not writable ({probe})")
    return out


def _ray_listing(address: str, timeout_s: float = 15.0, probe: tuple | None = None
                 ) -> tuple[list[dict] | None, str | None, list[dict] | None]:
    """``ray.nodes()`` of the cluster at ``address`` (connects as a driver, lists, disconnects) and,
    with ``probe = (model, run_dir)``, :func:`node_view` from a task pinned to every alive node."""
    box: dict = {}

    def work():
        try:
            import ray

            ray.init(address=address, log_to_driver=False, logging_level="ERROR",
                     ignore_reinit_error=True, include_dashboard=False)
            try:
                box["nodes"] = ray.nodes()
                if probe is not None:
                    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                    task = ray.remote(num_cpus=0)(node_view)
                    alive = [n for n in box["nodes"] if n.get("Alive")]
                    refs = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                            .remote(*probe) for n in alive]
                    # a task needs a worker process on each node: seconds on an idle node, more on a busy one
                    box["views"] = [{"node_id": n["NodeID"], **v} for n, v in
                                    zip(alive, ray.get(refs, timeout=NODE_PROBE_TIMEOUT_S))]
            finally:
                ray.shutdown()
        except Exception as e:  # any connection error is the finding
            box["error"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout_s + (NODE_PROBE_TIMEOUT_S if probe is not None else 0))
    if t.is_alive():
        return None, f"no answer from the Ray cluster at {address} within {timeout_s:.0f} s", None
    return box.get("nodes"), box.get("error"), box.get("views")


_CUDA_PROBE = """
import json, torch
out = {"cuda_version": torch.version.cuda, "available": torch.cuda.is_available(), "gpus": [],
       "nccl": bool(torch.distributed.is_available() and torch.distributed.is_nccl_available())}
try:   # the CUDA version the driver supports (an int such as 13000); absent in CPU builds
    d = int(torch._C._cuda_getDriverVersion())
    out["driver"] = f"{d // 1000}.{d % 1000 // 10}" if d > 0 else None
except Exception:
    out["driver"] = None
if out["available"]:
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out["gpus"].append({"name": p.name, "memory_gb": p.total_memory / 1e9})
print(json.dumps(out))
"""


def _cuda_probe(timeout_s: float = 25.0) -> dict:
    """torch's view of CUDA, from a child process: reading device properties creates a CUDA context,
    which the training's driver process must not keep on GPU 0 while verl runs."""
    import subprocess

    try:
        r = subprocess.run([sys.executable, "-c", _CUDA_PROBE], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"cuda_version": f"error: {type(e).__name__}: {e}"}
    if r.returncode != 0:   # a broken CUDA install is a finding, not a crash
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return {"cuda_version": f"error: {last[:200]}"}
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"cuda_version": f"error: unreadable probe output {r.stdout[-200:]!r}"}


def detect_hardware(*, ray: bool = True, disk_path: str | os.PathLike | None = None,
                    node_probe: tuple[str | None, str | None] | None = None) -> Hardware:
    """This machine: CUDA devices (through torch, without allocating), package versions, the Ray
    cluster at ``RAY_ADDRESS`` if set, free disk under the artifacts root, the relevant env vars."""
    hw = Hardware(packages={p: installed_version(p) for p in PACKAGES},
                  env={k: os.environ[k] for k in ENV_KEYS if k in os.environ},
                  netrc_hosts=_netrc_hosts())
    if hw.packages.get("torch"):
        probe_out = _cuda_probe()
        hw.cuda_version = probe_out.get("cuda_version")
        hw.cuda_available = bool(probe_out.get("available"))
        hw.cuda_driver = probe_out.get("driver")
        hw.nccl = probe_out.get("nccl")
        hw.gpus = [GPU(g["name"], g["memory_gb"]) for g in probe_out.get("gpus", [])]
    root = Path(disk_path) if disk_path else artifacts_root()
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        hw.disk_free_gb = shutil.disk_usage(probe).free / GB
        hw.disk_path = str(root)
    except OSError:
        hw.disk_free_gb = None
    from ..training.ray_auth import token_source

    src = token_source()
    hw.ray_token = None if src is None else (src[1] if src[0] == "default" else f"{src[0]} ({src[1]})")
    if ray and hw.env.get("RAY_ADDRESS"):
        hw.ray_nodes, hw.ray_error, hw.node_views = _ray_listing(hw.env["RAY_ADDRESS"], probe=node_probe)
    hw.description = f"this machine ({len(hw.gpus)} GPU(s))"
    return hw


def ray_gpu_nodes(nodes: Sequence[Mapping]) -> list[dict]:
    out = []
    for n in nodes:
        if not n.get("Alive", n.get("alive", True)):
            continue
        res = n.get("Resources") or n.get("resources") or {}
        acc = next((k.split(":", 1)[1] for k in res if k.startswith("accelerator_type:")), None)
        out.append({"gpus": int(res.get("GPU", 0) or 0), "type": acc,
                    "address": n.get("NodeManagerAddress") or n.get("NodeID", "?"),
                    "id": str(n.get("NodeID") or n.get("node_id") or n.get("NodeManagerAddress") or "?")})
    return out


def gpu_memory_gb(hw: Hardware) -> tuple[float | None, str]:
    """Memory of one GPU (the smallest visible), or from the Ray cluster's accelerator type."""
    if hw.gpus:
        g = min(hw.gpus, key=lambda g: g.memory_gb)
        return g.memory_gb, g.name
    for n in ray_gpu_nodes(hw.ray_nodes or []):
        if n["gpus"] and n["type"]:
            try:
                t = gpu_type(n["type"])
                return t.memory_gb, f"{n['type']} (Ray accelerator type)"
            except ValueError:
                continue
    return None, ""
