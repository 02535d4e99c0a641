"""``rollout.name=hf``: a transformers-generate rollout backend for verl 0.9.1 (CPU tiers).

verl's rollout is a server: a ``RolloutReplica`` launches one server actor per replica, the agent
loop sends it token-in/token-out ``generate`` requests through a load balancer, and a
``BaseRollout`` adapter inside each actor worker pushes new weights to it after every update.
This module supplies the three pieces for a plain transformers model:

- :class:`HFServer` (Ray actor, ``num_cpus=0``): holds an fp32 copy of the policy. Concurrent
  requests are coalesced: after the first one arrives the server keeps collecting until no new
  request came for ``POLARIS_HF_ROLLOUT_WINDOW_MS`` (default 30 ms, at most
  ``POLARIS_HF_ROLLOUT_MAX_WAIT_MS`` = 500 ms), then decodes them together
  (:func:`polaris_repro.verl_cpu.hf_generate.generate_batch`). Requests arriving meanwhile form the
  next batch. Batches are capped by ``POLARIS_HF_ROLLOUT_MAX_BATCH`` (default
  ``rollout.max_num_seqs``, at most 256) and by a KV-cache budget ``POLARIS_HF_ROLLOUT_KV_GB``
  (default 2 GiB). Each request keeps its own sampling parameters and its own seed: the one it
  brings, or (verl's agent loop sends none) one derived from ``rollout.seed``, the global step, the
  prompt and how many requests with that prompt the step has seen. So the n rollouts of a prompt
  are the same n completions whatever order they arrive in or batch they share, and a rerun or a
  resumed stage samples what the first run did (``tests/test_training_e2e_on_cpu.py``). Which
  request (row) gets which of the n seeds is arrival order, which varies between runs; each
  rollout reports its seed's number (``rollout_seed_index``), the trainer splits the rollouts of
  groups that share a prompt by it (``mechanisms.pool_duplicate_prompts``) and puts each group's
  rows back in a fixed order (``mechanisms.canonical_row_order``).
- :class:`HFReplica` (``RolloutReplica``): starts the named server actor for a replica.
- :class:`HFServerAdapter` (``BaseRollout``): lives in verl's ``ActorRolloutRefWorker``;
  ``update_weights`` gathers the actor's full tensors (every rank iterates the generator, as FSDP
  needs) and rank 0 pushes the state dict to the server, which copies it into its model.
  ``VERL_HF_ROLLOUT_SKIP_SYNC=1`` disables the push (negative control: the rollout keeps the
  initial weights and its log-probs drift away from the actor's).

The server builds its model from verl's ``HFModelConfig.hf_config``, so ``model.override_config``
(e.g. ``rope_scaling`` for YaRN) applies to rollouts as it does to the actor.

The module is longer than 500 lines because it implements verl's rollout server interface for
transformers in one server class (batched generation, weight updates, sleep / wake-up and the
KV-cache calls) whose methods verl calls as a unit.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import time
from typing import Any, Generator, Optional

import numpy as np
import ray
import torch

from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

from ..training.mechanisms import SEED_INDEX_KEY
from .forced import prompt_key
from .hf_generate import GenRequest, generate_batch

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "INFO"))

SKIP_SYNC_ENV = "VERL_HF_ROLLOUT_SKIP_SYNC"
SERVER_PREFIX = "hf_server_"

# sampling_params keys the server understands; others are ignored with one warning each
_KNOWN_PARAMS = {"temperature", "top_p", "top_k", "min_p", "repetition_penalty", "logprobs",
                 "max_tokens", "max_new_tokens", "ignore_eos", "stop_token_ids", "n", "seed",
                 "detokenize", "skip_special_tokens", "spaces_between_special_tokens"}


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as e:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from e


def skip_sync() -> bool:
    return os.environ.get(SKIP_SYNC_ENV, "0").strip().lower() in ("1", "true", "yes")


def server_name(replica_rank: int, node_rank: int = 0, suffix: str = "") -> str:
    return f"{SERVER_PREFIX}{replica_rank}_{node_rank}{suffix}"


def _cpu_threads() -> int:
    raw = os.environ.get("POLARIS_HF_ROLLOUT_THREADS")
    if raw:
        return max(1, int(raw))
    from .patches import cpu_threads

    return cpu_threads()


def _to_wire(tensor: torch.Tensor):
    """A tensor as Ray moves it fastest: a numpy array, which Ray writes into its shared-memory
    object store with one copy and the server reads without another (measured on the smoke model,
    273 tensors / 540 MB: 10.4 s as torch tensors through pickle, under a second as arrays).
    dtypes numpy lacks (bfloat16) travel as torch tensors."""
    t = tensor.detach().to("cpu").contiguous()
    if t.dtype in (torch.bfloat16,) or t.is_complex():
        return t
    return t.numpy()


def _from_wire(arr: np.ndarray) -> torch.Tensor:
    import warnings

    with warnings.catch_warnings():  # Ray hands out read-only views; we only read them (copy_)
        warnings.filterwarnings("ignore", message=".*not writable.*")
        return torch.from_numpy(arr)


class _Pending:
    __slots__ = ("request", "future", "want_logprobs", "seed_index", "arrived")

    def __init__(self, request: GenRequest, future: asyncio.Future, want_logprobs: bool,
                 seed_index: Optional[int] = None):
        self.request = request
        self.future = future
        self.want_logprobs = want_logprobs
        self.seed_index = seed_index
        self.arrived = time.monotonic()


class HFServer:
    """Token-in/token-out generation server over a transformers model (one per replica)."""

    def __init__(self, config, model_config, replica_rank: int = 0, node_rank: int = 0):
        from transformers import AutoModelForCausalLM

        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import HFModelConfig, RolloutConfig

        self.config: RolloutConfig = (config if isinstance(config, RolloutConfig)
                                      else omega_conf_to_dataclass(config))
        self.model_config: HFModelConfig = (
            model_config if isinstance(model_config, HFModelConfig)
            else omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig))
        self.replica_rank = replica_rank
        self.node_rank = node_rank
        self.global_steps: Optional[int] = None

        threads = _cpu_threads()
        torch.set_num_threads(threads)
        hf_config = self.model_config.hf_config
        attn = os.environ.get("POLARIS_HF_ROLLOUT_ATTN", "sdpa")
        t0 = time.time()
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_config.local_path, config=hf_config, dtype=torch.float32,
            attn_implementation=attn, trust_remote_code=self.model_config.trust_remote_code)
        self.model.eval()
        self.model.requires_grad_(False)
        self._param_names = {n for n, _ in self.model.named_parameters()}
        self._state = self.model.state_dict(keep_vars=True)

        tok = self.model_config.tokenizer
        eos: set[int] = set()
        for src in (getattr(self.model_config.generation_config, "eos_token_id", None),
                    getattr(tok, "eos_token_id", None), getattr(hf_config, "eos_token_id", None)):
            if src is None:
                continue
            eos.update(int(t) for t in (src if isinstance(src, (list, tuple)) else [src]))
        if not eos:
            raise ValueError(f"hf rollout: no EOS token id found for {self.model_config.local_path} "
                             "(tokenizer, generation_config.json and config.json all lack eos_token_id)")
        self.eos_token_ids = frozenset(eos)
        pad = getattr(tok, "pad_token_id", None)
        self.pad_token_id = int(pad) if pad is not None else min(self.eos_token_ids)

        from verl.workers.rollout.utils import get_max_position_embeddings

        max_pos = get_max_position_embeddings(hf_config)
        self.max_model_len = int(self.config.max_model_len or max_pos)
        if self.max_model_len > max_pos:
            raise ValueError(f"rollout.max_model_len ({self.max_model_len}) exceeds the model's "
                             f"max_position_embeddings ({max_pos})")

        text_cfg = getattr(hf_config, "text_config", hf_config)
        head_dim = getattr(text_cfg, "head_dim", None) or (
            text_cfg.hidden_size // text_cfg.num_attention_heads)
        kv_heads = getattr(text_cfg, "num_key_value_heads", None) or text_cfg.num_attention_heads
        self._kv_bytes_per_token = 2 * text_cfg.num_hidden_layers * kv_heads * head_dim * 4
        max_seqs = int(getattr(self.config, "max_num_seqs", 256) or 256)
        self.max_batch = int(_env_float("POLARIS_HF_ROLLOUT_MAX_BATCH", min(max_seqs, 256)))
        self.kv_budget_tokens = int(_env_float("POLARIS_HF_ROLLOUT_KV_GB", 2.0) * 2**30
                                    / self._kv_bytes_per_token)
        self.window_s = _env_float("POLARIS_HF_ROLLOUT_WINDOW_MS", 30.0) / 1000
        self.max_wait_s = _env_float("POLARIS_HF_ROLLOUT_MAX_WAIT_MS", 500.0) / 1000

        self._generator = torch.Generator().manual_seed(int(self.config.seed) + replica_rank)
        self._seed_step: Optional[int] = None
        self._occurrences: dict[str, int] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                               thread_name_prefix="hf-rollout")
        self._pending: list[_Pending] = []
        self._loop_task: Optional[asyncio.Task] = None
        self._last_arrival = 0.0
        self._warned: set[str] = set()
        from .forced import from_rollout_config

        self._forced = from_rollout_config(self.config, tok, self.eos_token_ids)
        if self._forced is not None:
            logger.warning("hf rollout: FORCED OUTCOMES from %s (a test hook: the plan's rollouts are not "
                           "sampled)", self._forced.plan.source)
        self.stats = {"requests": 0, "batches": 0, "tokens": 0, "gen_seconds": 0.0,
                      "max_batch_seen": 0, "weight_updates": 0, "weight_update_seconds": 0.0}
        logger.info("hf rollout server %s: %s loaded in %.1fs, %d threads, eos=%s, max_model_len=%d, "
                    "max_batch=%d, kv budget %d tokens", server_name(replica_rank, node_rank),
                    self.model_config.local_path, time.time() - t0, threads, sorted(self.eos_token_ids),
                    self.max_model_len, self.max_batch, self.kv_budget_tokens)

    # ---------------------------------------------------------------------------- control
    def ready(self) -> bool:
        return True

    def get_stats(self) -> dict:
        return dict(self.stats)

    def get_rollout_config(self):
        return self.config

    async def set_global_steps(self, global_steps: int):
        self.global_steps = global_steps

    async def wake_up(self, tags: Optional[list[str]] = None):
        return None

    async def sleep(self):
        return None

    async def clear_kv_cache(self):
        return None  # no cache survives a batch

    async def release_kv_cache(self):
        return None

    async def resume_kv_cache(self):
        return None

    async def start_profile(self, **kwargs):
        return None

    async def stop_profile(self):
        return None

    async def wait_for_requests_to_drain(self):
        while self._pending or self._loop_task is not None:
            await asyncio.sleep(0.01)

    async def abort_all_requests(self, reset_prefix_cache: bool = True, reject_request: bool = False):
        return {"aborted_count": 0, "request_ids": []}  # batches run to completion

    async def abort_request(self, request_id: str, reset_prefix_cache: bool = True):
        return {"aborted": False, "request_id": request_id, "error": "hf rollout does not abort"}

    async def resume_generation(self):
        return None

    async def resume_engine_generation(self):
        return None

    async def open_submission_gate(self):
        return None

    # ---------------------------------------------------------------------------- weights
    def _load_state(self, state: dict[str, torch.Tensor]) -> int:
        unknown = [k for k in state if k not in self._state]
        if unknown:
            raise KeyError(f"hf rollout update_weights: {len(unknown)} tensor name(s) unknown to the "
                           f"rollout model, e.g. {unknown[:5]}")
        with torch.no_grad():
            for name, tensor in state.items():
                target = self._state[name]
                if isinstance(tensor, np.ndarray):  # the wire format (see _to_wire): a read-only view
                    tensor = _from_wire(tensor)
                if tuple(target.shape) != tuple(tensor.shape):
                    raise ValueError(f"hf rollout update_weights: {name} has shape {tuple(tensor.shape)}, "
                                     f"rollout model expects {tuple(target.shape)}")
                target.copy_(tensor)
        return len(state)

    async def update_weights(self, state: dict[str, torch.Tensor], global_steps: Optional[int] = None):
        """Copy the actor's full tensors into the rollout model (waits for a running batch)."""
        t0 = time.time()
        count = await asyncio.get_running_loop().run_in_executor(self._executor, self._load_state, state)
        missing = self._param_names - set(state)
        if missing and "missing" not in self._warned:
            self._warned.add("missing")
            logger.warning("hf rollout update_weights: %d parameter(s) not sent by the actor, e.g. %s "
                           "(fine for tied embeddings)", len(missing), sorted(missing)[:3])
        if global_steps is not None:
            self.global_steps = global_steps
        self.stats["weight_updates"] += 1
        self.stats["weight_update_seconds"] += time.time() - t0
        return count

    def get_param(self, name: str) -> torch.Tensor:
        """A copy of one rollout-model tensor (tests use it to check weight sync)."""
        return self._state[name].detach().clone()

    # ---------------------------------------------------------------------------- generation
    def _warn_once(self, key: str, msg: str, *args):
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(msg, *args)

    def _derived_seed(self, prompt_ids: list[int]) -> tuple[int, int]:
        """A seed for a request that brings none (verl's agent loop sends none): a hash of
        rollout.seed, the replica, the global step, the prompt, and how many requests with this
        prompt this step has already seen. The n rollouts of a prompt thus get n fixed seeds
        whatever order they arrive in, so a rerun (or a resumed stage) samples the same completions
        for every prompt (in other rows when they arrive in another order: the trainer sorts them,
        ``mechanisms.canonical_row_order``). Returns the seed and its number k among the prompt's
        requests this step; the number goes back with the rollout (``rollout_seed_index``) so that
        the trainer can split the rollouts of two groups with one prompt by it
        (``mechanisms.pool_duplicate_prompts``)."""
        step = self.global_steps
        if step != self._seed_step:
            self._seed_step, self._occurrences = step, {}
        key = prompt_key(prompt_ids)
        k = self._occurrences.get(key, 0)
        self._occurrences[key] = k + 1
        blob = f"{int(self.config.seed)}:{self.replica_rank}:{step}:{key}:{k}".encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") >> 1, k

    def _make_request(self, prompt_ids: list[int], sp: dict[str, Any]) -> tuple[GenRequest, bool, Optional[int]]:
        for key in sp:
            if key not in _KNOWN_PARAMS:
                self._warn_once(f"param:{key}", "hf rollout ignores sampling param %r=%r", key, sp[key])
        if int(sp.get("n", 1) or 1) != 1:
            raise ValueError(f"hf rollout: sampling_params n={sp['n']} unsupported; verl repeats prompts")
        room = self.max_model_len - len(prompt_ids)
        if room < 1:
            raise ValueError(f"hf rollout: prompt of {len(prompt_ids)} tokens leaves no room within "
                             f"max_model_len={self.max_model_len}")
        if sp.get("max_tokens") is not None:
            max_new = int(sp["max_tokens"])
        elif sp.get("max_new_tokens") is not None:
            max_new = int(sp["max_new_tokens"])
        else:
            max_new = min(self.config.response_length,
                          self.config.prompt_length + self.config.response_length - len(prompt_ids))
        max_new = max(1, min(max_new, room))
        top_k = sp.get("top_k", -1)
        top_k = -1 if top_k is None or int(top_k) <= 0 else int(top_k)
        seed, seed_index = (int(sp["seed"]), None) if sp.get("seed") is not None else self._derived_seed(prompt_ids)
        req = GenRequest(
            prompt_ids=[int(t) for t in prompt_ids], max_new_tokens=max_new,
            temperature=float(sp.get("temperature", 1.0) if sp.get("temperature") is not None else 1.0),
            top_p=float(sp.get("top_p", 1.0) if sp.get("top_p") is not None else 1.0),
            top_k=top_k, min_p=float(sp.get("min_p", 0.0) or 0.0),
            repetition_penalty=float(sp.get("repetition_penalty", 1.0) or 1.0),
            stop_token_ids=frozenset(int(t) for t in (sp.get("stop_token_ids") or [])),
            ignore_eos=bool(sp.get("ignore_eos", False)),
            seed=seed)
        if self._forced is not None:
            req.forced_ids = self._forced.response_ids(prompt_ids)
        want = sp.get("logprobs", True)
        return req, bool(want is not None and want is not False), seed_index

    async def generate(self, prompt_ids: list[int], sampling_params: dict[str, Any], request_id: str = "",
                       image_data=None, video_data=None, audio_data=None, **kwargs) -> TokenOutput:
        if image_data is not None or video_data is not None or audio_data is not None:
            raise NotImplementedError("hf rollout is text-only (image/video/audio data given)")
        from verl.utils import normalize_token_ids

        req, want_lp, seed_index = self._make_request(normalize_token_ids(prompt_ids), dict(sampling_params or {}))
        fut = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(req, fut, want_lp, seed_index))
        self._last_arrival = time.monotonic()
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._batch_loop())
        return await fut

    def _take_batch(self) -> list[_Pending]:
        """Pop the next batch: longest-first, within the batch-size and KV-token caps."""
        # longest first; ties in a fixed order (prompt, seed), not arrival order
        self._pending.sort(key=lambda p: (-(len(p.request.prompt_ids) + p.request.max_new_tokens),
                                          p.request.prompt_ids, p.request.seed or 0))
        batch, tokens = [], 0
        while self._pending and len(batch) < self.max_batch:
            p = self._pending[0]
            need = len(p.request.prompt_ids) + p.request.max_new_tokens
            if batch and tokens + need > self.kv_budget_tokens:
                break
            batch.append(self._pending.pop(0))
            tokens += need
        return batch

    def _run_batch(self, requests: list[GenRequest]):
        t0 = time.time()
        results = generate_batch(self.model, requests, eos_token_ids=self.eos_token_ids,
                                 pad_token_id=self.pad_token_id, generator=self._generator)
        return results, time.time() - t0

    async def _batch_loop(self):
        try:
            while self._pending:
                first = min(p.arrived for p in self._pending)
                while len(self._pending) < self.max_batch:
                    now = time.monotonic()
                    if now - self._last_arrival >= self.window_s or now - first >= self.max_wait_s:
                        break
                    await asyncio.sleep(min(self.window_s, 0.005))
                batch = self._take_batch()
                try:
                    results, seconds = await asyncio.get_running_loop().run_in_executor(
                        self._executor, self._run_batch, [p.request for p in batch])
                except Exception as e:  # fail these requests, keep serving
                    logger.exception("hf rollout: batch of %d failed", len(batch))
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(e)
                    continue
                self.stats["requests"] += len(batch)
                self.stats["batches"] += 1
                self.stats["tokens"] += sum(len(r.token_ids) for r in results)
                self.stats["gen_seconds"] += seconds
                self.stats["max_batch_seen"] = max(self.stats["max_batch_seen"], len(batch))
                ntok = sum(len(r.token_ids) for r in results)
                logger.info("hf rollout: coalesced %d requests into one batch, %d tokens in %.2fs "
                            "(%.0f tok/s)", len(batch), ntok, seconds, ntok / max(seconds, 1e-9))
                extra = {"global_steps": self.global_steps}
                for p, r in zip(batch, results):
                    if p.future.done():
                        continue
                    p.future.set_result(TokenOutput(
                        token_ids=r.token_ids, log_probs=r.log_probs if p.want_logprobs else None,
                        stop_reason="completed", extra_fields={**extra, SEED_INDEX_KEY: p.seed_index}))
        finally:
            self._loop_task = None


class HFReplica(RolloutReplica):
    """One ``HFServer`` per replica (the CPU tiers run a single replica of world size 1)."""

    def _server_suffix(self) -> str:
        if self.is_reward_model:
            return f"_reward{self.name_suffix}"
        if self.is_teacher_model:
            return f"_teacher{self.name_suffix}"
        return self.name_suffix

    async def launch_servers(self):
        if self.nnodes != 1:
            raise NotImplementedError(f"hf rollout supports one node per replica, got nnodes={self.nnodes}")
        if self.workers:
            node_id = await self.workers[0].__ray_call__.remote(
                lambda self: ray.get_runtime_context().get_node_id())
        else:
            node_id = ray.get_runtime_context().get_node_id()
        name = server_name(self.replica_rank, 0, self._server_suffix())
        server = ray.remote(HFServer).options(
            name=name,
            num_cpus=0,
            max_concurrency=self.max_concurrency,
            scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
                node_id=node_id, soft=False),
        ).remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        await server.ready.remote()
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"{name}@{node_id[:12]}"


class HFServerAdapter(BaseRollout):
    """Rollout side of the actor worker: pushes the actor's weights to the replica's HFServer."""

    def __init__(self, config, model_config, device_mesh, replica_rank: int = -1):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        world = (self.config.tensor_model_parallel_size * self.config.data_parallel_size
                 * self.config.pipeline_model_parallel_size)
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self.rollout_rank = rank % world
        self.is_leader_rank = self.rollout_rank == 0
        self.server_handle = None
        self._warned_skip = False

    def _server(self):
        if self.server_handle is None:
            self.server_handle = ray.get_actor(server_name(self.replica_rank))
        return self.server_handle

    async def resume(self, tags: list[str]):
        return None  # weights and cache live in host RAM; nothing to restore

    async def release(self):
        return None

    @torch.no_grad()
    async def update_weights(self, weights: Generator[tuple[str, torch.Tensor], None, None],
                             global_steps: int = None, wire_format: str = "named_tensors", **kwargs):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"hf rollout supports wire_format='named_tensors' only, got {wire_format!r}")
        if kwargs.get("peft_config") is not None:
            raise NotImplementedError("hf rollout cannot load LoRA adapters; set "
                                      "actor_rollout_ref.model.lora.merge=True")
        t0 = time.time()
        state: dict[str, torch.Tensor] = {}
        # every rank must drain the generator: FSDP gathers full tensors collectively
        from verl.workers.rollout.utils import ensure_async_iterator

        async for name, tensor in ensure_async_iterator(weights):
            if self.is_leader_rank:
                state[name] = _to_wire(tensor)
        if not self.is_leader_rank:
            return
        server = self._server()
        if skip_sync():
            if not self._warned_skip:
                self._warned_skip = True
                logger.warning("%s=1: NOT pushing actor weights to the hf rollout server (negative "
                               "control); rollouts keep the initial weights", SKIP_SYNC_ENV)
            if global_steps is not None:
                await server.set_global_steps.remote(global_steps)
            return
        t1 = time.time()
        count = await server.update_weights.remote(state, global_steps)
        logger.info("hf rollout update_weights: %d tensors in %.2fs (gather %.2fs, push %.2fs)", count,
                    time.time() - t0, t1 - t0, time.time() - t1)

    def generate_sequences(self, prompts):
        raise NotImplementedError("hf rollout is server-based; verl's agent loop calls HFServer.generate")
