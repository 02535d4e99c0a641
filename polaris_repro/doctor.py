"""``polaris-repro doctor``: can a tier's run work on the machines at hand? Checked before anything starts.

``doctor(tier, overrides, hardware=None)`` returns one row per check (``check``, ``status`` ok / warn
/ fail, ``found``, ``fix``) as a pandas DataFrame; ``polaris-repro doctor --tier T`` prints it and
exits 1 when any check fails. ``train``, ``run`` and ``reproduce`` run it first at the GPU tiers
(``--skip-doctor`` skips it). It reads, never starts: no model is built or downloaded, no GPU
memory is allocated; the Ray cluster is only listed.

What is checked (issue 15):

* **packages** -- the installed torch, verl, transformers, ray (and vLLM when the tier rolls out with
  it, flash-attn at the GPU tiers, whose packed-sequence training uses it) against the tier's pinned
  environment file (``envs/cpu.txt`` for the CPU tiers, ``envs/cluster.txt`` otherwise). A verl
  other than the pinned one fails: the stage overrides are written for its config schema;
* **CUDA / GPUs / Ray** -- CUDA visible and its version; GPUs per node and their memory against
  ``training.n_gpus_per_node`` and ``training.nnodes``; the tensor- and sequence-parallel sizes
  against the GPU count and the batch (verl's own divisibility rules); with ``RAY_ADDRESS`` the
  cluster's alive nodes and GPUs (``ray.nodes()``);
* **GPU memory per stage** -- :func:`actor_memory` (FSDP states, gathered unit, activations with or
  without gradient checkpointing, logits, at ``ppo_max_token_len_per_gpu`` = the stage's token
  budget) and :func:`rollout_memory` (vLLM's KV cache under ``gpu_memory_utilization`` for
  ``rollout_n`` sequences of prompt + response), from the model's layers, KV heads and head size
  (:func:`model_spec`: a local ``config.json``, else :data:`KNOWN_MODELS`, so it works offline);
* **model** -- its context against every stage's token budget and the evaluation (with the tier's
  context extension and YaRN), its chat template, and ``<think>``/``</think>`` in its vocabulary when
  the reward requires them;
* **data** -- the training and validation files present and readable with the expected columns
  (hub data sets: present in the local Hugging Face cache); the benchmark files' sha256;
* **disk** -- room for the checkpoints verl will keep (every ``save_freq`` steps, the last
  ``training.max_ckpt_to_keep`` of each stage, or ``trainer.max_actor_ckpt_to_keep`` when passed) and the merged model of each stage;
* **logger** -- credentials for the loggers in ``training.logger`` (wandb: ``WANDB_API_KEY``, a
  ``~/.netrc`` entry or ``WANDB_MODE=offline``).

The machine is described by a :class:`Hardware` (``detect_hardware()`` reads this one; tests and
what-if questions pass ``Hardware.from_dict({...})``), so every check runs on a CPU-only machine.
"""
from __future__ import annotations

import argparse
import importlib.metadata as _md
import json
import math
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import pandas as pd

from .artifacts import REPO_ROOT, artifacts_root, sha256_file
from .config import CPU_TIERS, MODEL_CONTEXT, ConfigError, load_config

GiB = 1024 ** 3
GB = 1e9
STATUSES = ("ok", "warn", "fail")
COLUMNS = ("check", "status", "found", "fix")
ENV_DIR = REPO_ROOT / "envs"

# ------------------------------------------------------------------------------------------------
# models: the few numbers the estimates need


@dataclass(frozen=True)
class ModelSpec:
    """The architecture numbers the memory and cost estimates use."""
    name: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    params: float                       # total parameters (embeddings included)
    max_position_embeddings: int
    tie_word_embeddings: bool = False
    chat_template: bool | None = None   # None: unknown (not checked)
    think_tokens: bool | None = None    # <think> and </think> in the vocabulary
    source: str = "known table"

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    def kv_bytes_per_token(self, dtype_bytes: int = 2, tp: int = 1) -> float:
        """K and V of one token over all layers, on one of ``tp`` tensor-parallel GPUs."""
        kv = max(1.0, self.kv_heads / max(1, tp))
        return 2 * self.layers * kv * self.head_dim * dtype_bytes

    @property
    def layer_params(self) -> float:
        return (self.hidden * self.q_dim * 2 + 2 * self.hidden * self.kv_heads * self.head_dim
                + 3 * self.hidden * self.intermediate)


def params_from_dims(layers: int, hidden: int, intermediate: int, heads: int, kv_heads: int,
                     head_dim: int, vocab: int, tied: bool) -> float:
    """Parameters of a dense Llama/Qwen-style decoder (norms and biases are < 0.1 % and left out)."""
    per_layer = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim + 3 * hidden * intermediate
    return float(layers * per_layer + vocab * hidden * (1 if tied else 2))


def _spec(name, layers, hidden, intermediate, heads, kv_heads, head_dim, vocab, tied, **kw):
    """A known model's spec; its context limit comes from the one context table, config.MODEL_CONTEXT."""
    return ModelSpec(name, layers, hidden, intermediate, heads, kv_heads, head_dim, vocab,
                     params_from_dims(layers, hidden, intermediate, heads, kv_heads, head_dim, vocab, tied),
                     MODEL_CONTEXT[name]["max_position_embeddings"], tied, **kw)


# The config.json values of the tiers' models, so that the checks and `plan` work offline.
# Parameter counts follow from the dimensions: Qwen3-4B 4.02e9, Qwen3-1.7B 1.72e9,
# R1-Distill-Qwen-7B 7.62e9 (their model cards: 4.0B, 1.7B, 7.6B); SmolLM2-135M 134.5M
# (reference cpu-tiers.md).
KNOWN_MODELS: dict[str, ModelSpec] = {s.name: s for s in (
    _spec("Qwen/Qwen3-4B", 36, 2560, 9728, 32, 8, 128, 151936, True,
          chat_template=True, think_tokens=True),
    _spec("Qwen/Qwen3-1.7B", 28, 2048, 6144, 16, 8, 128, 151936, True,
          chat_template=True, think_tokens=True),
    _spec("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", 28, 3584, 18944, 28, 4, 128, 152064, False,
          chat_template=True, think_tokens=True),
    _spec("builtin:smoke", 30, 576, 1536, 9, 3, 64, 49152, True,
          chat_template=True, think_tokens=False),
)}
# aliases: the released POLARIS checkpoints share their base model's architecture
KNOWN_MODELS["POLARIS-Project/Polaris-4B-Preview"] = replace(
    KNOWN_MODELS["Qwen/Qwen3-4B"], name="POLARIS-Project/Polaris-4B-Preview",
    max_position_embeddings=MODEL_CONTEXT["POLARIS-Project/Polaris-4B-Preview"]["max_position_embeddings"])
KNOWN_MODELS["POLARIS-Project/Polaris-7B-Preview"] = replace(
    KNOWN_MODELS["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"], name="POLARIS-Project/Polaris-7B-Preview")


def spec_from_config(config: Mapping, name: str, *, source: str) -> ModelSpec:
    """A :class:`ModelSpec` from a transformers ``config.json`` dict (``text_config`` unwrapped)."""
    c = dict(config)
    if isinstance(c.get("text_config"), Mapping):
        c = {**c, **c["text_config"]}
    try:
        layers, hidden = int(c["num_hidden_layers"]), int(c["hidden_size"])
        heads = int(c["num_attention_heads"])
        kv = int(c.get("num_key_value_heads") or heads)
        head_dim = int(c.get("head_dim") or hidden // heads)
        inter = int(c.get("intermediate_size") or 4 * hidden)
        vocab = int(c["vocab_size"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{name}: config.json lacks {e} (need num_hidden_layers, hidden_size, "
                         f"num_attention_heads, vocab_size)") from None
    tied = bool(c.get("tie_word_embeddings", False))
    ctx = int(c.get("max_position_embeddings") or 0)
    return ModelSpec(name, layers, hidden, inter, heads, kv, head_dim, vocab,
                     params_from_dims(layers, hidden, inter, heads, kv, head_dim, vocab, tied), ctx, tied,
                     source=source)


def _tokenizer_facts(folder: Path) -> tuple[bool, bool]:
    """(has a chat template, has <think> and </think>) of a local model folder."""
    tpl = (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file()
    tc = folder / "tokenizer_config.json"
    if tc.is_file():
        try:
            tpl = tpl or bool(json.loads(tc.read_text()).get("chat_template"))
        except ValueError:
            pass
    think = False
    for name in ("tokenizer.json", "added_tokens.json", "vocab.json", "tokenizer_config.json"):
        p = folder / name
        if p.is_file() and p.stat().st_size < 64 * 2 ** 20:
            text = p.read_text(errors="replace")
            if '"<think>"' in text and '"</think>"' in text:
                think = True
                break
    return tpl, think


def _local_model_folder(path: str) -> tuple[Path | None, str]:
    """The local folder of a model path without building or downloading anything, and a note."""
    from . import models

    if path.startswith(models.BUILTIN_PREFIX):
        name = path[len(models.BUILTIN_PREFIX):]
        if name not in models.BUILTINS:
            return None, f"unknown builtin model {path!r}"
        folder = models.builtin_cache_path(name)
        if models.is_complete(folder, models.BUILTINS[name][0]):
            return folder, f"cached build {folder}"
        return None, f"not built yet (built on first use into {folder})"
    p = Path(path).expanduser()
    if p.is_dir():
        return p, f"local folder {p}"
    try:  # a hub id already in the local Hugging Face cache
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(path, "config.json")
        if isinstance(hit, str):
            return Path(hit).parent, f"Hugging Face cache {Path(hit).parent}"
    except Exception:  # huggingface_hub missing or a malformed id: not cached
        pass
    return None, "hub id, not in the local Hugging Face cache"


def model_spec(path: str) -> ModelSpec | None:
    """The model's numbers: its local ``config.json`` (a folder, a cached builtin or hub download),
    else :data:`KNOWN_MODELS`; None when neither knows it."""
    folder, note = _local_model_folder(str(path))
    if folder is not None and (folder / "config.json").is_file():
        from . import yarn

        spec = spec_from_config(yarn.read_config(folder), str(path), source=f"config.json ({note})")
        tpl, think = _tokenizer_facts(folder)
        return replace(spec, chat_template=tpl, think_tokens=think)
    if str(path) in KNOWN_MODELS:
        return replace(KNOWN_MODELS[str(path)], source=f"known table ({note})")
    if str(path) == "builtin:tiny" or str(path).startswith("builtin:tiny"):
        from .models import TINY_SPEC as t

        return _spec(str(path), t["num_hidden_layers"], t["hidden_size"], t["intermediate_size"],
                     t["num_attention_heads"], t["num_key_value_heads"], t["head_dim"], t["vocab_size"],
                     t["max_position_embeddings"], True, chat_template=True, think_tokens=True,
                     source=f"models.TINY_SPEC ({note})")
    return None


# ------------------------------------------------------------------------------------------------
# GPUs

@dataclass(frozen=True)
class GPUType:
    name: str
    memory_gb: float      # per GPU
    tflops: float         # dense BF16 tensor-core peak, TFLOP/s
    hbm_tbs: float        # memory bandwidth, TB/s


# Data-sheet values (dense BF16, no sparsity). H800 = H100 SXM compute with reduced NVLink.
GPU_TYPES: dict[str, GPUType] = {g.name: g for g in (
    GPUType("H800", 80, 989, 3.35),
    GPUType("H100", 80, 989, 3.35),
    GPUType("H200", 141, 989, 4.8),
    GPUType("B200", 180, 2250, 8.0),
    GPUType("A100-40GB", 40, 312, 1.55),
    GPUType("A100", 80, 312, 2.04),
    GPUType("A800", 80, 312, 2.04),
    GPUType("L40S", 48, 362, 0.864),
    GPUType("A10G", 24, 125, 0.6),
    GPUType("A10", 24, 125, 0.6),
    GPUType("RTX4090", 24, 165, 1.0),
    GPUType("RTX3090", 24, 71, 0.936),
)}


def gpu_type(name: str) -> GPUType:
    """The :data:`GPU_TYPES` entry a device or type name refers to (``NVIDIA H100 80GB HBM3`` ->
    H100; ``A100-SXM4-40GB`` -> A100-40GB); ValueError naming the known types otherwise."""
    key = re.sub(r"[\s_]", "", str(name)).upper().replace("NVIDIA", "").replace("GEFORCE", "")
    if "A100" in key and "40G" in key:
        return GPU_TYPES["A100-40GB"]
    for n in sorted(GPU_TYPES, key=len, reverse=True):
        if n.upper().replace("-", "") in key.replace("-", ""):
            return GPU_TYPES[n]
    raise ValueError(f"unknown GPU type {name!r}; expected one of {', '.join(GPU_TYPES)}")


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
    nccl: bool | None = None              # torch.distributed built with NCCL (None: not probed)
    packages: dict[str, str | None] = field(default_factory=dict)
    ray_nodes: list[dict] | None = None
    ray_error: str | None = None
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
ENV_KEYS = ("RAY_ADDRESS", "NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "WANDB_API_KEY", "WANDB_MODE", "SWANLAB_API_KEY", "HF_HUB_OFFLINE",
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


def _ray_listing(address: str, timeout_s: float = 15.0) -> tuple[list[dict] | None, str | None]:
    """``ray.nodes()`` of the cluster at ``address`` (connects as a driver, lists, disconnects)."""
    box: dict = {}

    def work():
        try:
            import ray

            ray.init(address=address, log_to_driver=False, logging_level="ERROR",
                     ignore_reinit_error=True, include_dashboard=False)
            try:
                box["nodes"] = ray.nodes()
            finally:
                ray.shutdown()
        except Exception as e:  # any connection error is the finding
            box["error"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        return None, f"no answer from the Ray cluster at {address} within {timeout_s:.0f} s"
    return box.get("nodes"), box.get("error")


_CUDA_PROBE = """
import json, torch
out = {"cuda_version": torch.version.cuda, "available": torch.cuda.is_available(), "gpus": [],
       "nccl": bool(torch.distributed.is_available() and torch.distributed.is_nccl_available())}
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


def detect_hardware(*, ray: bool = True, disk_path: str | os.PathLike | None = None) -> Hardware:
    """This machine: CUDA devices (through torch, without allocating), package versions, the Ray
    cluster at ``RAY_ADDRESS`` if set, free disk under the artifacts root, the relevant env vars."""
    hw = Hardware(packages={p: installed_version(p) for p in PACKAGES},
                  env={k: os.environ[k] for k in ENV_KEYS if k in os.environ},
                  netrc_hosts=_netrc_hosts())
    if hw.packages.get("torch"):
        probe_out = _cuda_probe()
        hw.cuda_version = probe_out.get("cuda_version")
        hw.cuda_available = bool(probe_out.get("available"))
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
    if ray and hw.env.get("RAY_ADDRESS"):
        hw.ray_nodes, hw.ray_error = _ray_listing(hw.env["RAY_ADDRESS"])
    hw.description = f"this machine ({len(hw.gpus)} GPU(s))"
    return hw


# ------------------------------------------------------------------------------------------------
# memory estimates

# Stated constants of the estimates (bytes):
STATE_BYTES_PER_PARAM = 16       # FSDP shards: fp32 parameters 4 + fp32 gradients 4 + Adam m, v 8;
                                 # verl loads offloaded parameters and optimizer onto the GPU for the update
LOGIT_BYTES = 6                  # per token and vocabulary entry: bf16 logits, their gradient and a bf16
                                 # working copy (softmax / log-softmax); with 8 the published 4B stage 2
                                 # (49,152 tokens per GPU on 80 GB H800s) would not have fit
CUDA_OVERHEAD_GB = 2.0           # CUDA context, NCCL buffers, allocator fragmentation
MAX_NUM_SEQS = 1024              # vLLM max_num_seqs in the stage overrides (sampler logits reserve)


def _layer_act_bytes(spec: ModelSpec) -> float:
    """Saved activations of one decoder layer per token in training (bf16, flash attention):
    ~8 hidden-wide tensors (norms, q/k/v, attention out, residuals) and 4 intermediate-wide (gate, up,
    act, down input)."""
    return 2.0 * (8 * spec.hidden + 4 * spec.intermediate)


def stage_tokens_per_gpu(cfg: dict, stage: Mapping) -> int:
    """Tokens of one actor micro-batch on one GPU: ``ppo_max_token_len_per_gpu`` (= the stage's token
    budget) with dynamic batch sizes (Ulysses splits a longer sequence over its group, so each GPU
    still holds about this many), else micro-batch x (prompt + response)."""
    tr = cfg["training"]
    if tr["use_dynamic_bsz"]:
        return int(stage["token_budget"])
    return int(tr["micro_batch_size_per_gpu"]) * (int(tr["max_prompt_length"]) + int(stage["max_response_length"]))


def world_size(cfg: dict) -> int:
    tr = cfg["training"]
    return max(1, int(tr["nnodes"]) * int(tr["n_gpus_per_node"]))


def actor_memory(spec: ModelSpec, cfg: dict, stage: Mapping) -> dict[str, float]:
    """Peak GPU memory (GB) of one actor update step on one GPU, by component."""
    tr = cfg["training"]
    world = world_size(cfg)
    tokens = stage_tokens_per_gpu(cfg, stage)
    unit = max(spec.layer_params, spec.vocab * spec.hidden)       # largest FSDP unit, gathered in bf16
    if tr["gradient_checkpointing"]:
        acts = tokens * spec.hidden * 2.0 * spec.layers + tokens * _layer_act_bytes(spec)
    else:
        acts = tokens * _layer_act_bytes(spec) * spec.layers
    parts = {
        "fsdp states": STATE_BYTES_PER_PARAM * spec.params / world,
        "gathered unit": 2 * 2.0 * unit,
        "activations": acts,
        "logits": float(LOGIT_BYTES) * tokens * spec.vocab,
    }
    out = {k: v / GB for k, v in parts.items()}
    out["overhead"] = CUDA_OVERHEAD_GB
    out["total"] = sum(out.values())
    out["tokens"] = tokens
    return out


def rollout_memory(spec: ModelSpec, cfg: dict, stage: Mapping, gpu_memory_gb: float) -> dict[str, float]:
    """vLLM's budget on one GPU: ``gpu_memory_utilization`` x memory for weights (bf16, / TP), the
    activation reserve of one ``max_num_batched_tokens`` chunk plus the sampler's logits, and the KV
    cache in what is left; ``resident`` is what the actor keeps on the GPU meanwhile (its shards when
    not offloaded)."""
    tr = cfg["training"]
    tp = max(1, int(cfg["sampling"]["tensor_parallel_size"]))
    world = world_size(cfg)
    util = float(tr["gpu_memory_utilization"])
    seq = int(tr["max_prompt_length"]) + int(stage["max_response_length"])
    chunk = int(stage["token_budget"])   # rollout max_num_batched_tokens in the stage overrides
    weights = 2.0 * spec.params / tp
    reserve = chunk * 2.0 * (4 * spec.hidden + 3 * spec.intermediate) / tp + MAX_NUM_SEQS * spec.vocab * 4.0
    resident = (0 if tr["param_offload"] else 4.0 * spec.params / world) + \
               (0 if tr["optimizer_offload"] else 8.0 * spec.params / world)
    budget = util * gpu_memory_gb * GB
    kv_bytes = budget - weights - reserve
    per_tok = spec.kv_bytes_per_token(2, tp)
    cap_tokens = max(0.0, kv_bytes / per_tok)
    return {"budget": budget / GB, "weights": weights / GB, "reserve": reserve / GB, "kv_cache": kv_bytes / GB,
            "resident": resident / GB + CUDA_OVERHEAD_GB, "kv_tokens": cap_tokens, "seq_tokens": seq,
            "sequences": cap_tokens / seq, "need_sequences": int(tr["rollout_n"]),
            "kv_per_token_kib": per_tok / 1024}


def checkpoint_gb(spec: ModelSpec, cfg: dict) -> float:
    """One verl checkpoint: fp32 model shards 4 B/param, Adam 8 B/param, plus the hf_model copy
    (2 B/param in bf16) when ``training.save_hf_model``."""
    per = 4 + 8 + (2 if cfg["training"]["save_hf_model"] else 0)
    return per * spec.params / GB


# ------------------------------------------------------------------------------------------------
# the checks

Row = dict


def _row(check: str, status: str, found: str, fix: str = "") -> Row:
    assert status in STATUSES, status
    return {"check": check, "status": status, "found": found, "fix": fix}


def is_gpu_tier(cfg: dict) -> bool:
    """A tier that trains on GPUs (vLLM rollouts), as opposed to the CPU tiers (``rollout_name: hf``)."""
    return cfg["training"]["rollout_name"] != "hf" and cfg.get("tier") not in CPU_TIERS


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


def _public(v: str) -> str:
    return v.split("+", 1)[0]


def check_packages(cfg: dict, hw: Hardware) -> list[Row]:
    path = env_file(cfg)
    pins = env_pins(path)
    gpu = is_gpu_tier(cfg)
    needed = ["torch", "verl", "transformers", "ray"]
    if cfg["training"]["rollout_name"] == "vllm" or cfg["sampling"]["engine"] == "vllm":
        needed.append("vllm")
    if gpu and cfg["training"]["use_remove_padding"]:
        needed.append("flash-attn")
    rows = []
    install = f"pip install -r {path.relative_to(REPO_ROOT)}"
    for name in needed:
        have = hw.packages.get(name)
        want = pins.get(name)
        label = f"package {name}"
        if not have:
            rows.append(_row(label, "fail", f"not installed ({path.name} pins {want or 'it'})", install))
        elif want and _public(have) != want:
            status = "fail" if name == "verl" else "warn"
            why = ("the stage overrides follow verl " + want + "'s config schema") if name == "verl" else \
                "untested combination"
            rows.append(_row(label, status, f"{have}, {path.name} pins {want} ({why})", install))
        else:
            rows.append(_row(label, "ok", have + (f" (= {path.name})" if want else f" ({path.name}: unpinned)")))
    return rows


def check_cuda(cfg: dict, hw: Hardware) -> list[Row]:
    if not is_gpu_tier(cfg):
        return [_row("cuda", "ok", f"not needed: CPU tier (rollout {cfg['training']['rollout_name']}); "
                     f"torch CUDA build: {hw.cuda_version or 'none'}")]
    if not hw.cuda_available or not hw.gpus:
        return [_row("cuda", "fail", f"no CUDA device visible (torch CUDA build: {hw.cuda_version or 'none'}"
                     + (f", CUDA_VISIBLE_DEVICES={hw.env['CUDA_VISIBLE_DEVICES']!r}" if "CUDA_VISIBLE_DEVICES" in hw.env else "")
                     + ")", "run on a GPU node with the cluster environment (envs/cluster.txt: a CUDA 12 torch build)")]
    v = hw.cuda_version or ""
    try:
        major = int(v.split(".")[0])
    except ValueError:
        major = 0
    if major < 12:
        return [_row("cuda", "warn", f"CUDA {v or 'unknown'} with {len(hw.gpus)} device(s)",
                     "envs/cluster.txt expects a CUDA 12.x (or newer) torch build")]
    return [_row("cuda", "ok", f"CUDA {v}, {len(hw.gpus)} device(s) visible")]


def _ray_gpu_nodes(nodes: Sequence[Mapping]) -> list[dict]:
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
    for n in _ray_gpu_nodes(hw.ray_nodes or []):
        if n["gpus"] and n["type"]:
            try:
                t = gpu_type(n["type"])
                return t.memory_gb, f"{n['type']} (Ray accelerator type)"
            except ValueError:
                continue
    return None, ""


def _ray_cluster_row(cfg: dict, hw: Hardware, per_node: int, nnodes: int, unit: str = "GPU") -> Row:
    """The Ray cluster at ``RAY_ADDRESS`` against the tier's nodes x GPUs per node (names each node)."""
    if hw.ray_nodes is None and hw.ray_error is None:
        if nnodes > 1:
            how = ("make rehearse starts one on this machine (README: Running on a Ray cluster)"
                   if not is_gpu_tier(cfg) else
                   f"polaris-repro train --tier {cfg['tier']} --render-launch DIR; sbatch DIR/polaris_slurm.sbatch")
            return _row("ray cluster", "fail", f"the tier needs training.nnodes = {nnodes} nodes; RAY_ADDRESS is "
                        "not set (one node)", f"start a Ray cluster ({how}) and set RAY_ADDRESS, or "
                        "-o training.nnodes=1 -o cluster.nnodes=1")
        return _row("ray cluster", "ok", "single node: verl starts a local Ray (RAY_ADDRESS not set)")
    if hw.ray_error is not None:
        return _row("ray cluster", "fail", f"RAY_ADDRESS={hw.env.get('RAY_ADDRESS')}: {hw.ray_error}",
                    "check the address (ray status on the head node) or unset RAY_ADDRESS")
    nodes = _ray_gpu_nodes(hw.ray_nodes)
    good = [n for n in nodes if n["gpus"] >= per_node]
    total = sum(n["gpus"] for n in nodes)
    desc = (f"{len(nodes)} alive node(s), {total} {unit}(s) (per node: "
            + ", ".join(f"{n['id'][:8]} {n['gpus']}" for n in nodes) + ")")
    if len(good) < nnodes:
        return _row("ray cluster", "fail", f"{desc}; the tier needs {nnodes} node(s) with {per_node} {unit}s each",
                    "add nodes to the cluster (ray start --address=... "
                    f"--num-gpus={per_node}) or lower training.nnodes / training.n_gpus_per_node")
    return _row("ray cluster", "ok", f"{desc}; needs {nnodes} x {per_node}")


def check_gpus(cfg: dict, hw: Hardware) -> list[Row]:
    tr = cfg["training"]
    per_node, nnodes = int(tr["n_gpus_per_node"]), int(tr["nnodes"])
    if not is_gpu_tier(cfg):
        rows = [_row("gpus", "ok", "not needed: CPU tier")]
        if nnodes > 1 or hw.ray_nodes is not None or hw.ray_error is not None:
            # a CPU tier on a Ray cluster (the rehearsal): one fake GPU per FSDP rank on every node
            rows.append(_ray_cluster_row(cfg, hw, per_node, nnodes, unit="fake GPU"))
        return rows
    rows = []
    names = sorted({f"{g.name} {g.memory_gb:.0f} GB" for g in hw.gpus})
    local = f"{len(hw.gpus)} x {', '.join(names)}" if hw.gpus else "no GPU"
    if hw.ray_nodes is not None:
        rows.append(_row("gpus per node", "ok", f"this node: {local}; per-node counts from the Ray cluster (below)"))
    elif len(hw.gpus) < per_node:
        rows.append(_row("gpus per node", "fail", f"{local}; the tier needs training.n_gpus_per_node = {per_node}",
                         f"run on a node with {per_node} GPUs, or -o training.n_gpus_per_node={len(hw.gpus) or 1} "
                         "(smaller tier: single-gpu)"))
    elif len(hw.gpus) > per_node:
        rows.append(_row("gpus per node", "warn", f"{local}; the tier uses {per_node} of them",
                         f"-o training.n_gpus_per_node={len(hw.gpus)} to use them all"))
    else:
        rows.append(_row("gpus per node", "ok", f"{local} = training.n_gpus_per_node"))
    rows.append(_ray_cluster_row(cfg, hw, per_node, nnodes))
    rows.append(check_parallelism(cfg))
    return rows


NOT_REHEARSED = ("NCCL collectives", "verl's vLLM rollout (weight sync, sleep mode, CUDA graphs)",
                 "remove-padding and Ulysses sequence parallel (flash-attention varlen kernels)",
                 "tensor-parallel vLLM", "CPU/GPU offload of parameters and optimizer")


def check_cluster_only(cfg: dict, hw: Hardware) -> list[Row]:
    """What ``make rehearse`` cannot exercise on a CPU (README "What a CPU cannot rehearse"),
    checked where it matters: on the cluster itself."""
    tr = cfg["training"]
    if not is_gpu_tier(cfg):
        return [_row("cluster-only paths", "ok", "not exercised by a CPU tier: " + "; ".join(NOT_REHEARSED)
                     + " (README: What a CPU cannot rehearse)")]
    rows = []
    if hw.nccl is None:
        rows.append(_row("nccl", "warn", "not probed (torch missing or the probe failed)", ""))
    elif hw.nccl:
        rows.append(_row("nccl", "ok", "torch.distributed has NCCL (FSDP collectives, vLLM weight sync)"))
    else:
        rows.append(_row("nccl", "fail", "torch.distributed has no NCCL: FSDP on GPUs cannot communicate",
                         "install a CUDA build of torch (envs/cluster.txt)"))
    sp = [s["name"] for s in tr["stages"] if int(s.get("ulysses_sp") or 1) > 1]
    if sp:
        missing = []
        if not tr["use_remove_padding"]:
            missing.append("training.use_remove_padding is false (verl's Ulysses path needs it)")
        if not hw.packages.get("flash-attn"):
            missing.append("flash-attn is not installed (remove-padding's varlen attention)")
        rows.append(_row("ulysses sp", "fail" if missing else "ok",
                         f"stages {sp} use Ulysses sequence parallel" + (": " + "; ".join(missing) if missing else
                                                                         " with remove-padding and flash-attn"),
                         "pip install flash-attn; -o training.use_remove_padding=true" if missing else ""))
    if int(tr["nnodes"]) > 1:
        ifs = {k: hw.env.get(k) for k in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")}
        if all(ifs.values()):
            rows.append(_row("socket interfaces", "ok", ", ".join(f"{k}={v}" for k, v in ifs.items())))
        else:
            rows.append(_row("socket interfaces", "warn", "NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME not set: NCCL "
                             "and gloo choose an interface themselves, which fails on nodes with several",
                             "--socket-ifname IFACE at --render-launch (the fabric's interface, e.g. ib0)"))
    return rows


def check_gpus_sampling(cfg: dict, hw: Hardware) -> list[Row]:
    """GPUs for a run that only samples (vLLM on this node): at least one visible."""
    if not is_gpu_tier(cfg):
        return [_row("gpus", "ok", "not needed: CPU tier")]
    if not hw.gpus:
        return [_row("gpus", "fail", "no GPU visible; sampling runs vLLM on this node", "run on a GPU node")]
    return [_row("gpus", "ok", f"{len(hw.gpus)} x {hw.gpus[0].name} {hw.gpus[0].memory_gb:.0f} GB "
                 "(sampling only: the training's nodes are not needed)")]


def check_cpu_precision(cfg: dict, hw: Hardware) -> list[Row]:
    """CPU tiers: the precision the actor will train in on this machine, and whether bf16 is native."""
    if is_gpu_tier(cfg):
        return []
    from .verl_cpu import native_bf16, resolve_precision

    want = cfg["training"]["cpu_precision"]
    native = native_bf16()
    got = resolve_precision(want)
    found = (f"training.cpu_precision={want} -> {got} (bf16 in hardware: {'yes' if native else 'no'}; "
             f"{torch_capability()})")
    if got == "bf16" and not native:
        return [_row("cpu precision", "warn", found,
                     "bf16 autocast is emulated on this CPU (under an AVX2 cap a smoke step went from 18 s "
                     "to over 5 min); -o training.cpu_precision=auto trains in fp32 here")]
    return [_row("cpu precision", "ok", found)]


def torch_capability() -> str:
    import os

    import torch

    caps = ", ".join(f"{k}={os.environ[k]}" for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if k in os.environ)
    return f"ATen kernels {torch.backends.cpu.get_cpu_capability()}" + (f", capped by {caps}" if caps else "")


def check_parallelism(cfg: dict, spec: ModelSpec | None = None) -> Row:
    """verl's divisibility rules for the tier's GPU count, batch, TP and Ulysses SP sizes."""
    tr = cfg["training"]
    world = world_size(cfg) if is_gpu_tier(cfg) else 1
    per_node = int(tr["n_gpus_per_node"]) if is_gpu_tier(cfg) else 1
    tp = int(cfg["sampling"]["tensor_parallel_size"])
    n = int(tr["rollout_n"])
    problems = []
    if per_node % tp:
        problems.append(f"rollout TP {tp} does not divide {per_node} GPUs per node")
    if (int(tr["train_batch_size"]) * n) % world:
        problems.append(f"train_batch_size x rollout_n = {int(tr['train_batch_size']) * n} is not a multiple of "
                        f"the {world} GPUs")
    for st in tr["stages"]:
        sp = int(st.get("ulysses_sp") or 1)
        if world % sp:
            problems.append(f"{st['name']}: Ulysses SP {sp} does not divide {world} GPUs")
            continue
        dp = world // sp
        if (int(tr["ppo_mini_batch_size"]) * n) % dp:
            problems.append(f"{st['name']}: ppo_mini_batch_size x n = {int(tr['ppo_mini_batch_size']) * n} not a "
                            f"multiple of the {dp} data-parallel ranks")
        if spec is not None and sp > 1 and (spec.heads % sp or (spec.kv_heads % sp and sp % spec.kv_heads)):
            problems.append(f"{st['name']}: Ulysses SP {sp} must divide the model's {spec.heads} heads and "
                            f"{spec.kv_heads} KV heads (or be a multiple of the KV heads)")
    sps = sorted({int(s.get("ulysses_sp") or 1) for s in tr["stages"]})
    found = f"{world} GPU(s), rollout TP {tp}, Ulysses SP {sps}, batch {tr['train_batch_size']} x {n}"
    if problems:
        return _row("parallelism", "fail", found + ": " + "; ".join(problems),
                    "change training.n_gpus_per_node / nnodes, sampling.tensor_parallel_size, the stages' "
                    "ulysses_sp or training.train_batch_size / ppo_mini_batch_size")
    return _row("parallelism", "ok", found)


def check_memory(cfg: dict, hw: Hardware, spec: ModelSpec | None) -> list[Row]:
    if not is_gpu_tier(cfg):
        return [_row("gpu memory", "ok", "not needed: CPU tier (the actor and the rollout model share host memory)")]
    if spec is None:
        return [_row("gpu memory", "warn", f"model {cfg['model']['path']!r}: layers / KV heads unknown "
                     "(not a local folder, not cached, not in doctor.KNOWN_MODELS)",
                     "pass a local model folder (-o model.path=/path) to check memory")]
    mem, name = gpu_memory_gb(hw)
    if mem is None:
        return [_row("gpu memory", "warn", "no GPU visible to measure", "run on the training nodes")]
    rows = []
    for st in cfg["training"]["stages"]:
        a = actor_memory(spec, cfg, st)
        found = (f"{a['total']:.1f} of {mem:.0f} GB ({name}) at {a['tokens']:,} tokens/GPU: logits {a['logits']:.1f}, "
                 f"activations {a['activations']:.1f}, FSDP states {a['fsdp states']:.1f} over {world_size(cfg)} GPUs")
        label = f"gpu memory {st['name']}: actor"
        if a["total"] > mem:
            rows.append(_row(label, "fail", found, "raise ulysses_sp for the stage / more GPUs, keep "
                             "training.gradient_checkpointing on, or lower the stage's token_budget"))
        elif a["total"] > 0.9 * mem:
            rows.append(_row(label, "warn", found + " (> 90 %)", "little headroom: fragmentation may OOM"))
        else:
            rows.append(_row(label, "ok", found))
        r = rollout_memory(spec, cfg, st, mem)
        label = f"gpu memory {st['name']}: rollout"
        found = (f"KV cache {r['kv_cache']:.1f} GB = {r['kv_tokens']:,.0f} tokens ({r['kv_per_token_kib']:.0f} KiB/token)"
                 f" = {r['sequences']:.1f} sequences of {r['seq_tokens']:,}; rollout_n = {r['need_sequences']}")
        util_fix = "raise training.gpu_memory_utilization, use sampling.tensor_parallel_size 2, or more GPUs memory"
        if r["budget"] + r["resident"] > mem:
            rows.append(_row(label, "fail", f"vLLM's {r['budget']:.1f} GB (gpu_memory_utilization) + "
                             f"{r['resident']:.1f} GB the actor keeps on the GPU > {mem:.0f} GB",
                             "turn training.param_offload / optimizer_offload on or lower training.gpu_memory_utilization"))
        elif r["sequences"] < 1:
            rows.append(_row(label, "fail", found + ": vLLM refuses max_model_len", util_fix))
        elif r["sequences"] < r["need_sequences"]:
            rows.append(_row(label, "warn", found + ": a full-length group does not fit at once (vLLM preempts; "
                             "slower, not an error)", util_fix))
        else:
            rows.append(_row(label, "ok", found))
    return rows


def _eval_limit(cfg: dict, native: int) -> tuple[int, int | None]:
    """(the evaluation's context limit, YaRN's nominal coverage or None) as evaluation sets them:
    max(context_extension, factor x original, native)."""
    ev = cfg["evaluation"]
    ext = int((cfg["model"].get("context_extension") or {}).get("max_position_embeddings") or 0)
    y = ev.get("yarn") or {}
    nominal = None
    if y.get("enabled"):
        orig = int(y.get("original_max_position_embeddings") or native)
        nominal = int(math.ceil(float(y.get("factor", 1.0)) * orig))
    return max(native, ext, nominal or 0), nominal


def check_model(cfg: dict, spec: ModelSpec | None) -> list[Row]:
    m, tr = cfg["model"], cfg["training"]
    path = str(m["path"])
    rows = []
    if spec is None:
        _, note = _local_model_folder(path)
        rows.append(_row("model config", "warn", f"{path}: {note}; not in doctor.KNOWN_MODELS",
                         "download it first (huggingface-cli download) or pass a local folder"))
        native = m.get("max_position_embeddings")
    else:
        rows.append(_row("model config", "ok", f"{path}: {spec.layers} layers, {spec.kv_heads} KV heads x "
                         f"{spec.head_dim}, hidden {spec.hidden}, "
                         + (f"{spec.params / 1e9:.2f}B" if spec.params >= 1e9 else f"{spec.params / 1e6:.1f}M")
                         + f" params; {spec.source}"))
        native = spec.max_position_embeddings or m.get("max_position_embeddings")
    if native:
        declared = m.get("max_position_embeddings")
        if spec is not None and declared and spec.max_position_embeddings and declared != spec.max_position_embeddings \
                and spec.source.startswith("config.json"):
            rows.append(_row("model context", "warn", f"config.json says {spec.max_position_embeddings}, the tier "
                             f"declares model.max_position_embeddings = {declared}", "correct the tier's value"))
        native = int(native)
        ext = int((m.get("context_extension") or {}).get("max_position_embeddings") or 0)
        limit = max(native, ext)
        prompt = int(tr["max_prompt_length"])
        over = [s for s in tr["stages"] if int(s["token_budget"]) > limit]
        raised = [s["name"] for s in tr["stages"] if native < int(s["token_budget"]) <= limit]
        budgets = ", ".join(f"{s['name']} {int(s['token_budget']):,}" for s in tr["stages"])
        found = f"native {native:,}; stages {budgets}"
        if over:
            rows.append(_row("model context: training", "fail", found + f"; {', '.join(s['name'] for s in over)} "
                             f"exceed {limit:,}", "set model.context_extension.max_position_embeddings to cover "
                             f"{max(int(s['token_budget']) for s in over):,} (issue #6 of the official repo)"))
        else:
            rows.append(_row("model context: training", "ok", found + (
                f"; raised to {ext:,} before {', '.join(raised)} (model.context_extension)" if raised else "")))
        need = prompt + int(cfg["evaluation"]["max_new_tokens"])
        elimit, nominal = _eval_limit(cfg, native)
        found = f"prompt {prompt:,} + max_new_tokens {int(cfg['evaluation']['max_new_tokens']):,} = {need:,}; limit {elimit:,}"
        if need > elimit:
            rows.append(_row("model context: evaluation", "fail", found, "enable evaluation.yarn or raise "
                             "model.context_extension.max_position_embeddings, or lower evaluation.max_new_tokens"))
        else:
            note = ""
            if nominal and need > nominal:
                note = (f"; YaRN x{cfg['evaluation']['yarn']['factor']} nominally covers {nominal:,}: the "
                        "positions beyond are used as the report did (reference 8)")
            elif nominal:
                note = f"; YaRN covers {nominal:,}"
            rows.append(_row("model context: evaluation", "ok", found + note))
    # chat template and <think>
    if spec is None or spec.chat_template is None:
        rows.append(_row("chat template", "warn", "not checked (model files not local)", ""))
    elif spec.chat_template:
        rows.append(_row("chat template", "ok", "present" + (" (known model)" if spec.source.startswith("known") else "")))
    else:
        rows.append(_row("chat template", "fail", "the tokenizer has no chat_template (verl applies it to every "
                         "prompt)", "use an instruct/chat checkpoint or add chat_template.jinja to the folder"))
    needs_think = bool(cfg["grading"]["require_think"]) or (bool(m.get("thinking")) and m.get("family") == "qwen3")
    if not needs_think:
        rows.append(_row("<think> tokens", "ok", "not required (grading.require_think false, no thinking mode)"))
    elif spec is None or spec.think_tokens is None:
        rows.append(_row("<think> tokens", "warn", "required but not checked (model files not local)", ""))
    elif spec.think_tokens:
        rows.append(_row("<think> tokens", "ok", "<think> and </think> in the vocabulary; required by "
                         + ("grading.require_think" if cfg["grading"]["require_think"] else "thinking mode")))
    else:
        rows.append(_row("<think> tokens", "fail", "grading.require_think is on but the tokenizer has no "
                         "<think>/</think>: every reward would be 0", "use a reasoning model, or -o "
                         "grading.require_think=false"))
    return rows


def _hf_dataset_cached(repo: str) -> bool:
    try:
        from huggingface_hub import constants

        root = Path(constants.HF_HUB_CACHE)
    except Exception:
        root = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    return (root / ("datasets--" + repo.replace("/", "--"))).is_dir()


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def check_data(cfg: dict, hw: Hardware) -> list[Row]:
    from . import data as D

    rows = []
    tr = cfg["data"]["train"]
    src = tr.get("source")
    if tr.get("path"):
        p = Path(tr["path"]).expanduser()
        if not p.exists():
            rows.append(_row("data: training", "fail", f"{p}: not found (data.train.path)", "fix the path"))
        elif p.suffix == ".parquet":
            try:
                cols = _parquet_columns(p)
            except Exception as e:
                rows.append(_row("data: training", "fail", f"{p}: not a readable parquet file ({e})", "rewrite it"))
            else:
                missing = [c for c in D.REQUIRED_COLUMNS if c not in cols]
                if missing:
                    rows.append(_row("data: training", "fail", f"{p}: missing column(s) {missing} (has {cols})",
                                     f"write verl's layout with {list(D.REQUIRED_COLUMNS)} (data.to_verl_parquet)"))
                else:
                    rows.append(_row("data: training", "ok", f"{p}: readable, columns {list(D.REQUIRED_COLUMNS)}"))
        else:
            rows.append(_row("data: training", "ok", f"{p}: present (loaded with datasets; needs problem/answer columns)"))
    elif src == "synthetic":
        rows.append(_row("data: training", "ok", f"synthetic: {tr.get('num_problems')} problems of "
                         f"{tr.get('levels')} generated from the seed"))
    elif src in D.TRAIN_SOURCES or src:
        repo = D.TRAIN_SOURCES.get(src, src)
        if Path(str(repo)).exists():
            rows.append(_row("data: training", "ok", f"{repo}: local"))
        elif _hf_dataset_cached(str(repo)):
            rows.append(_row("data: training", "ok", f"{repo}: in the local Hugging Face cache"))
        elif hw.env.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
            rows.append(_row("data: training", "fail", f"{repo}: not cached and HF_HUB_OFFLINE is set",
                             f"download it first (huggingface-cli download --repo-type dataset {repo}) or set "
                             "-o data.train.path=/path/to/train.parquet"))
        else:
            rows.append(_row("data: training", "warn", f"{repo}: not in the local Hugging Face cache; downloaded "
                             "at first use (the head node needs the network)",
                             f"huggingface-cli download --repo-type dataset {repo}"))
    else:
        rows.append(_row("data: training", "fail", "data.train.source and data.train.path are not set",
                         "-o data.train.source=polaris-53k or -o data.train.path=..."))
    # benchmarks (validation, temperature search, evaluation)
    names = []
    for n in [cfg["data"]["val"].get("benchmark"), cfg["temperature_search"].get("benchmark"),
              *(cfg["evaluation"].get("benchmarks") or {})]:
        if n and n != "synthetic" and n not in names:
            names.append(n)
    val = cfg["data"]["val"].get("benchmark")
    if val == "synthetic":
        rows.append(_row("data: validation", "ok", "synthetic problems generated from the seed"))
    directory = cfg["data"].get("benchmarks_dir") or hw.env.get("POLARIS_BENCHMARKS_DIR")
    for n in names:
        label = f"benchmark {n}" + (" (validation)" if n == val else "")
        if n not in D.BENCHMARKS:
            rows.append(_row(label, "fail", f"unknown benchmark {n!r}", f"one of {sorted(D.BENCHMARKS)}"))
            continue
        p = (Path(directory) / f"{n}.parquet") if directory else (D.cache_dir() / "benchmarks" / f"{n}.parquet")
        if not p.exists():
            if directory:
                rows.append(_row(label, "fail", f"{p}: not found in the benchmarks directory",
                                 "copy the official parquet there or unset benchmarks_dir / POLARIS_BENCHMARKS_DIR"))
            else:
                rows.append(_row(label, "warn", f"not cached ({p}); downloaded from GitHub at first use",
                                 "set POLARIS_BENCHMARKS_DIR to local copies on machines without the network"))
            continue
        digest = sha256_file(p)
        want = D.BENCHMARKS[n]["sha256"]
        if digest != want:
            rows.append(_row(label, "fail", f"{p}: sha256 {digest[:12]}... != {want[:12]}... (corrupted or another "
                             "revision)", "replace it with the official file"))
            continue
        try:
            cols = _parquet_columns(p)
        except Exception as e:
            rows.append(_row(label, "fail", f"{p}: unreadable ({e})", "replace it with the official file"))
            continue
        missing = [c for c in D.REQUIRED_COLUMNS if c not in cols]
        if missing:
            rows.append(_row(label, "fail", f"{p}: missing column(s) {missing}", "replace it with the official file"))
        else:
            rows.append(_row(label, "ok", f"sha256 {digest[:12]}... matches; columns present"))
    return rows


def _ckpt_keep(verl_overrides: Iterable[str]) -> int | None:
    for item in verl_overrides:
        key, _, val = item.lstrip("+").partition("=")
        if key.strip() == "trainer.max_actor_ckpt_to_keep" and val.strip() not in ("", "null", "None"):
            return int(val)
    return None


def check_disk(cfg: dict, hw: Hardware, spec: ModelSpec | None, verl_overrides: Iterable[str] = ()) -> list[Row]:
    tr = cfg["training"]
    if spec is None:
        return [_row("disk: checkpoints", "warn", "model size unknown", "pass a local model folder")]
    keep = _ckpt_keep(verl_overrides)
    if keep is None and tr.get("max_ckpt_to_keep") is not None:
        keep = int(tr["max_ckpt_to_keep"])
    per = checkpoint_gb(spec, cfg)
    merged = (4 if cfg["model"].get("dtype") == "float32" else 2) * spec.params / GB
    save = int(tr["save_freq"])
    total, unknown, saves = 0.0, [], []
    for st in tr["stages"]:
        steps = st.get("steps")
        if steps is None:
            unknown.append(st["name"])
            continue
        n = math.ceil(int(steps) / save) if save > 0 else 1   # every save_freq steps and at the last step
        n = min(n, keep) if keep else n
        saves.append(n)
        total += n * per + merged
    free = hw.disk_free_gb
    def gb(x: float) -> str:
        return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"

    found = (f"{sum(saves)} checkpoint(s) x {gb(per)} GB + merged models = {gb(total)} GB"
             + (f" (kept: {keep} per stage)" if keep else " (verl keeps every checkpoint)")
             + (f"; free {free:,.0f} GB under {hw.disk_path or artifacts_root()}" if free is not None else ""))
    fix = ("lower training.max_ckpt_to_keep (-o training.max_ckpt_to_keep=1), or put POLARIS_ARTIFACTS on a larger volume")
    if unknown:
        return [_row("disk: checkpoints", "warn", found + f"; {', '.join(unknown)} have no step count: "
                     f"{per:.1f} GB every {save} steps", fix)]
    if free is None:
        return [_row("disk: checkpoints", "warn", found + "; free space unknown", "")]
    if total > free:
        return [_row("disk: checkpoints", "fail", found, fix)]
    if total > 0.8 * free:
        return [_row("disk: checkpoints", "warn", found + " (> 80 % of the free space)", fix)]
    return [_row("disk: checkpoints", "ok", found)]


def check_logger(cfg: dict, hw: Hardware) -> list[Row]:
    loggers = [str(x) for x in (cfg["training"].get("logger") or [])]
    rows = []
    if "wandb" in loggers:
        mode = hw.env.get("WANDB_MODE", "")
        if hw.env.get("WANDB_API_KEY"):
            rows.append(_row("logger wandb", "ok", "WANDB_API_KEY set"))
        elif "api.wandb.ai" in hw.netrc_hosts:
            rows.append(_row("logger wandb", "ok", "~/.netrc has api.wandb.ai (wandb login)"))
        elif mode in ("offline", "disabled", "dryrun"):
            rows.append(_row("logger wandb", "ok", f"WANDB_MODE={mode} (no credentials needed)"))
        else:
            rows.append(_row("logger wandb", "fail", "training.logger includes wandb but no WANDB_API_KEY, no "
                             "~/.netrc entry, no WANDB_MODE=offline: the run would stop at wandb.init",
                             "wandb login (or export WANDB_API_KEY / WANDB_MODE=offline), or -o training.logger=[console]"))
    if "swanlab" in loggers:
        ok = bool(hw.env.get("SWANLAB_API_KEY"))
        rows.append(_row("logger swanlab", "ok" if ok else "fail",
                         "SWANLAB_API_KEY set" if ok else "training.logger includes swanlab but SWANLAB_API_KEY is unset",
                         "" if ok else "export SWANLAB_API_KEY or drop swanlab from training.logger"))
    if not rows:
        rows.append(_row("logger", "ok", f"{loggers}: no credentials needed"))
    return rows


def doctor(tier: str | Mapping, overrides: Sequence[str] | Mapping | None = None, *,
           hardware: Hardware | Mapping | None = None, verl_overrides: Sequence[str] = (),
           training: bool = True) -> pd.DataFrame:
    """Run every check for ``tier`` (a tier name, or an already resolved config dict) on ``hardware``
    (default: :func:`detect_hardware`); one row per check with columns check, status, found, fix.

    ``training=False`` (a section that samples but does not train, e.g. ``run 04_evaluation`` of
    released checkpoints on one node): the training's nodes, Ray cluster, per-stage memory,
    checkpoint disk and logger are not required; at least one GPU is."""
    cfg = load_config(tier, overrides) if isinstance(tier, str) else dict(tier)
    if hardware is None:
        hw = detect_hardware()
    elif isinstance(hardware, Hardware):
        hw = hardware
    else:
        hw = Hardware.from_dict(hardware)
    try:
        spec = model_spec(str(cfg["model"]["path"]))
    except ValueError as e:
        spec = None
        spec_error = str(e)
    else:
        spec_error = None
    rows: list[Row] = []
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("packages", lambda: check_packages(cfg, hw)),
        ("cuda", lambda: check_cuda(cfg, hw)),
        ("cpu precision", lambda: check_cpu_precision(cfg, hw) if training else []),
        ("gpus", lambda: check_gpus(cfg, hw) if training else check_gpus_sampling(cfg, hw)),
        ("gpu memory", lambda: check_memory(cfg, hw, spec) if training else
         [_row("gpu memory", "ok", "training memory not needed (no training in this run)")]),
        ("model", lambda: check_model(cfg, spec)),
        ("data", lambda: check_data(cfg, hw)),
        ("disk", lambda: check_disk(cfg, hw, spec, verl_overrides) if training else []),
        ("cluster-only paths", lambda: check_cluster_only(cfg, hw) if training else []),
        ("logger", lambda: check_logger(cfg, hw) if training else []),
    ]
    if spec_error:
        rows.append(_row("model config", "fail", spec_error, "fix the model's config.json"))
    for name, fn in steps:
        try:
            out = fn()
        except Exception as e:  # a check that cannot run is itself a failure, with its reason
            out = [_row(name, "fail", f"the check raised {type(e).__name__}: {e}", "")]
        if name == "gpus" and spec is not None and is_gpu_tier(cfg) and training:
            out = [check_parallelism(cfg, spec) if r["check"] == "parallelism" else r for r in out]
        rows.extend(out)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df.attrs["tier"] = cfg.get("tier")
    df.attrs["hardware"] = hw.description
    return df


def failed(table: pd.DataFrame) -> bool:
    return bool((table["status"] == "fail").any())


def format_table(table: pd.DataFrame, width: int = 70) -> str:
    from tabulate import tabulate

    return tabulate(table[list(COLUMNS)].values.tolist(), headers=list(COLUMNS), tablefmt="simple",
                    maxcolwidths=[30, None, width, width])


def summary_line(table: pd.DataFrame) -> str:
    counts = table["status"].value_counts()
    return (f"doctor --tier {table.attrs.get('tier')}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
            + f" ({table.attrs.get('hardware', '')})")


def run_before(cfg: dict, *, skip: bool = False, verl_overrides: Sequence[str] = (),
               training: bool = True, run_dir: str | os.PathLike | None = None, stream=None) -> bool:
    """The doctor at the start of ``train`` / ``run`` / ``reproduce``: at GPU tiers print the table
    and return False when a check fails (the caller stops); CPU tiers and ``skip`` return True."""
    stream = stream or sys.stdout
    if skip or not is_gpu_tier(cfg):
        return True
    t0 = time.time()
    table = doctor(cfg, verl_overrides=verl_overrides, training=training,
                   hardware=detect_hardware(disk_path=run_dir))
    print(format_table(table), file=stream)
    print(summary_line(table) + f" in {time.time() - t0:.1f} s", file=stream, flush=True)
    if failed(table):
        print("doctor: a check failed; fix it or pass --skip-doctor to start anyway", file=stream, flush=True)
        return False
    return True


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="polaris-repro doctor", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", required=True)
    p.add_argument("-o", "--override", action="append", default=[], help="tier config key.path=value")
    p.add_argument("--verl", action="append", default=[],
                   help="verl overrides the training will get (e.g. trainer.max_actor_ckpt_to_keep=2)")
    p.add_argument("--hardware", default=None, help="a JSON file describing the hardware (Hardware.from_dict) "
                   "instead of this machine")
    p.add_argument("--no-ray", action="store_true", help="do not connect to RAY_ADDRESS")
    p.add_argument("--csv", default=None, help="also write the table to this CSV file")
    args = p.parse_args(argv)
    t0 = time.time()
    try:
        cfg = load_config(args.tier, args.override)
        hw = Hardware.from_dict(json.loads(Path(args.hardware).read_text())) if args.hardware else \
            detect_hardware(ray=not args.no_ray)
        table = doctor(cfg, hardware=hw, verl_overrides=args.verl)
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(table))
    print(summary_line(table) + f" in {time.time() - t0:.1f} s")
    if args.csv:
        from .artifacts import write_text

        write_text(args.csv, table.to_csv(index=False))
    return 1 if failed(table) else 0


if __name__ == "__main__":
    sys.exit(cli())
