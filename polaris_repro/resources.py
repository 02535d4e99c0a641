"""What the hardware and the models are, in numbers: the GPU data sheet (:data:`GPU_TYPES`), the
model table (:data:`KNOWN_MODELS`, :func:`model_spec`) and the GPU memory model of a training stage
(:func:`actor_memory`, :func:`rollout_memory`, :func:`checkpoint_gb`).

One home for the numbers two commands use: ``polaris-repro doctor`` checks a tier against them
(:mod:`polaris_repro.doctor`) and ``polaris-repro plan`` prices its training with them
(:mod:`polaris_repro.plan`). Nothing here reads the machine, builds or downloads a model.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from .config import CPU_TIERS, MODEL_CONTEXT, Config, StageSpec

GiB = 1024 ** 3
GB = 1e9


def is_gpu_tier(cfg: Config) -> bool:
    """A tier that trains on GPUs (vLLM rollouts), as opposed to the CPU tiers (``rollout_name: hf``)."""
    return cfg.training.rollout_name != "hf" and cfg.tier not in CPU_TIERS


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


def local_model_folder(path: str) -> tuple[Path | None, str]:
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
    folder, note = local_model_folder(str(path))
    if folder is not None and (folder / "config.json").is_file():
        from . import yarn

        spec = spec_from_config(yarn.read_config(folder), str(path), source=f"config.json ({note})")
        tpl, think = _tokenizer_facts(folder)
        return replace(spec, chat_template=tpl, think_tokens=think)
    if str(path) in KNOWN_MODELS:
        return replace(KNOWN_MODELS[str(path)], source=f"known table ({note})")
    if str(path) == "builtin:tiny" or str(path).startswith("builtin:tiny"):
        from .models import TINY_SPEC as t

        dims = (t["num_hidden_layers"], t["hidden_size"], t["intermediate_size"], t["num_attention_heads"],
                t["num_key_value_heads"], t["head_dim"], t["vocab_size"])
        return ModelSpec(str(path), *dims, params_from_dims(*dims, True), t["max_position_embeddings"], True,
                         chat_template=True, think_tokens=True, source=f"models.TINY_SPEC ({note})")
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


def stage_tokens_per_gpu(cfg: Config, stage: Mapping | StageSpec) -> int:
    """Tokens of one actor micro-batch on one GPU: ``ppo_max_token_len_per_gpu`` (= the stage's token
    budget) with dynamic batch sizes (Ulysses splits a longer sequence over its group, so each GPU
    still holds about this many), else micro-batch x (prompt + response)."""
    tr, s = cfg.training, cfg.stage(stage)
    if tr.use_dynamic_bsz:
        return s.token_budget
    return int(tr.micro_batch_size_per_gpu) * s.token_budget


def world_size(cfg: Config) -> int:
    tr = cfg.training
    return max(1, int(tr.nnodes) * int(tr.n_gpus_per_node))


def actor_memory(spec: ModelSpec, cfg: Config, stage: Mapping | StageSpec) -> dict[str, float]:
    """Peak GPU memory (GB) of one actor update step on one GPU, by component."""
    tr = cfg.training
    world = world_size(cfg)
    tokens = stage_tokens_per_gpu(cfg, stage)
    unit = max(spec.layer_params, spec.vocab * spec.hidden)       # largest FSDP unit, gathered in bf16
    if tr.gradient_checkpointing:
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


def rollout_memory(spec: ModelSpec, cfg: Config, stage: Mapping | StageSpec, gpu_memory_gb: float) -> dict[str, float]:
    """vLLM's budget on one GPU: ``gpu_memory_utilization`` x memory for weights (bf16, / TP), the
    activation reserve of one ``max_num_batched_tokens`` chunk plus the sampler's logits, and the KV
    cache in what is left; ``resident`` is what the actor keeps on the GPU meanwhile (its shards when
    not offloaded)."""
    tr = cfg.training
    tp = max(1, int(cfg.sampling.tensor_parallel_size))
    world = world_size(cfg)
    util = float(tr.gpu_memory_utilization)
    s = cfg.stage(stage)
    seq = s.max_prompt_length + s.max_response_length
    chunk = s.token_budget   # rollout max_num_batched_tokens in the stage overrides
    weights = 2.0 * spec.params / tp
    reserve = chunk * 2.0 * (4 * spec.hidden + 3 * spec.intermediate) / tp + MAX_NUM_SEQS * spec.vocab * 4.0
    resident = (0 if tr.param_offload else 4.0 * spec.params / world) + \
               (0 if tr.optimizer_offload else 8.0 * spec.params / world)
    budget = util * gpu_memory_gb * GB
    kv_bytes = budget - weights - reserve
    per_tok = spec.kv_bytes_per_token(2, tp)
    cap_tokens = max(0.0, kv_bytes / per_tok)
    return {"budget": budget / GB, "weights": weights / GB, "reserve": reserve / GB, "kv_cache": kv_bytes / GB,
            "resident": resident / GB + CUDA_OVERHEAD_GB, "kv_tokens": cap_tokens, "seq_tokens": seq,
            "sequences": cap_tokens / seq, "need_sequences": int(tr.rollout_n),
            "kv_per_token_kib": per_tok / 1024}


def checkpoint_gb(spec: ModelSpec, cfg: Config) -> float:
    """One verl checkpoint: fp32 model shards 4 B/param, Adam 8 B/param, plus the hf_model copy
    (2 B/param in bf16) when ``training.save_hf_model``."""
    per = 4 + 8 + (2 if cfg.training.save_hf_model else 0)
    return per * spec.params / GB
