"""The transformers engine (CPU tiers): batched decoding with left padding and a KV cache.

* Every prompt is repeated n times as rows of one batch (transformers 5 refuses greedy decoding
  with ``num_return_sequences > 1``; repeating the inputs works for both). Greedy (temperature 0)
  decodes one row per prompt and copies it n times: the n samples would be identical anyway.
* Batch size: an int, or "auto" = as many rows as fit the memory budget (weights + per-row KV cache,
  logits and sampling buffers, prefill activations, estimated from the model config and the
  longest prompt + max_new_tokens), capped at ``MAX_AUTO_BATCH``.
* Sampling: temperature / top-p / top-k exactly as asked; the model's own generation_config
  defaults are not applied (transformers would otherwise add top_k=50 or a model's preferred
  temperature); top_k -1 = off.
* Deterministic for a seed, per sample: decoding takes the argmax of temperature/top-k/top-p
  filtered logits plus Gumbel noise drawn from a generator seeded by (seed, prompt index, sample
  index) — an exact sample from the filtered distribution that does not depend on which other
  rows share the batch, so resumed runs and other batch sizes give the same samples (up to
  float rounding of differently padded batches). No global RNG state is touched.
* Stops at EOS or the chat end token; rows that did not stop report finish_reason "length".
* The decode loop is transformers' ``generate`` (same prefill, cache, processors and argmax) except
  that rows that stopped leave the batch (down to a floor of a few rows per thread, where a CPU
  GEMM's result for a row stops depending on how many rows share the call): the same tokens,
  tested against ``generate``, without stragglers paying for finished rows.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from .base import Completion, Sampler, SamplingParams, iter_batches
from .prefill import decode_step, keep_rows, prefill

# Rows that stop leave the decode batch (HFSampler._decode), so a bigger batch no longer waits on its
# longest row; SmolLM2-135M on 2 AMD EPYC cores, the same completions either way: 64 problems x 4
# samples of 64 tokens 68.4 s in calls of 64 rows, 52.8 s in one of 256; 16 x 8 of 48 tokens 22.4 s vs
# 20.4 s (a decode step streams all weights: ~60 ms at 1 row, ~2 ms a row more).
MAX_AUTO_BATCH = 256
SMALL_MODEL_PARAMS = 20_000_000
# a decode step keeps at least this many rows per intra-op thread (see HFSampler._decode): MKL's
# fp32 GEMM gave each row bitwise the same result at 6+ rows per thread on 2 AMD EPYC cores
ROWS_PER_THREAD = 8
DECODE_LOOPS = ("rows-leave", "transformers")
_DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2}


def _dims(config: Mapping) -> dict:
    conf = dict(config)
    if isinstance(conf.get("text_config"), Mapping):
        conf = {**conf, **conf["text_config"]}
    heads = int(conf.get("num_attention_heads") or 1)
    hidden = int(conf.get("hidden_size") or 0)
    return {
        "layers": int(conf.get("num_hidden_layers") or 1),
        "heads": heads,
        "kv_heads": int(conf.get("num_key_value_heads") or heads),
        "head_dim": int(conf.get("head_dim") or (hidden // heads if hidden else 64)),
        "hidden": hidden,
        "intermediate": int(conf.get("intermediate_size") or 4 * hidden),
        "vocab": int(conf.get("vocab_size") or 32000),
    }


def sequence_bytes(config: Mapping, prompt_len: int, max_len: int, dtype_bytes: int = 4) -> int:
    """Estimated peak memory one generated row needs beyond the weights."""
    d = _dims(config)
    kv = 2 * d["layers"] * d["kv_heads"] * d["head_dim"] * max_len * dtype_bytes
    kv = int(kv * 1.25)                      # the cache grows by concatenation: transient copies
    logits = d["vocab"] * 4 * 8              # fp32 logits + processor copies, softmax, top-p sort
    prefill = prompt_len * (6 * d["hidden"] + 3 * d["intermediate"]) * dtype_bytes \
        + d["heads"] * prompt_len * prompt_len * 4
    return kv + logits + prefill


def auto_batch_size(config: Mapping, prompt_len: int, max_len: int, budget_gb: float, *,
                    dtype_bytes: int = 4, weight_bytes: int = 0, cap: int = MAX_AUTO_BATCH) -> int:
    """Rows per generate call that fit ``budget_gb`` (weights included), between 1 and ``cap``."""
    free = budget_gb * 1024 ** 3 - weight_bytes
    per = sequence_bytes(config, prompt_len, max_len, dtype_bytes)
    return int(max(1, min(cap, free // per if free > 0 else 1)))


def _mix_seed(seed: int, index: int, part: int) -> int:
    return (seed * 1_000_003 + index * 7_919 + part * 104_729) % (2 ** 63 - 1)


class _RowGumbel:
    """Adds standard Gumbel noise to each row's scores from that row's own generator."""

    def __init__(self, seeds: Sequence[int]):
        import torch

        self.torch = torch
        self.gens = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids, scores):
        return self.draw(scores)

    def draw(self, scores, rows: Sequence[int] | None = None):
        """``rows``: which rows' generators the rows of ``scores`` use (default: all, in order)."""
        torch = self.torch
        gens = self.gens if rows is None else [self.gens[i] for i in rows]
        u = torch.stack([torch.rand(scores.shape[-1], generator=g, dtype=torch.float32)
                         for g in gens]).to(scores.device)
        gumbel = -torch.log(-torch.log(u.clamp_(min=1e-20, max=1 - 1e-7)))
        return scores.float() + gumbel


class HFSampler(Sampler):
    engine = "hf"

    def __init__(self, model_path: str, *, thinking: bool = True, dtype: str = "float32",
                 batch_size: int | str = "auto", memory_budget_gb: float = 4.0,
                 rope_scaling: Mapping | None = None, max_position_embeddings: int | None = None,
                 device: str | None = None, progress: bool = True, max_auto_batch: int = MAX_AUTO_BATCH,
                 threads: int | None = None, loop: str = "rows-leave"):
        super().__init__(model_path, thinking=thinking, rope_scaling=rope_scaling,
                         max_position_embeddings=max_position_embeddings, progress=progress)
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

        if dtype not in _DTYPE_BYTES:
            raise ValueError(f"model.dtype: expected one of {sorted(_DTYPE_BYTES)}, got {dtype!r}")
        if batch_size != "auto" and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                     or batch_size < 1):
            raise ValueError(f"sampling.batch_size: expected a positive int or 'auto', got {batch_size!r}")
        if not isinstance(memory_budget_gb, (int, float)) or memory_budget_gb <= 0:
            raise ValueError(f"sampling.memory_budget_gb: expected a positive number, got {memory_budget_gb!r}")
        if loop not in DECODE_LOOPS:
            raise ValueError(f"HFSampler loop: expected one of {DECODE_LOOPS}, got {loop!r}")
        # "transformers": transformers' generate, every row to the end (the baseline of the test
        # and of benchmarks/bench_sampling.py; the same tokens)
        self.loop = loop
        self.torch = torch
        self.dtype_bytes = _DTYPE_BYTES[dtype]
        self.batch_size = batch_size
        self.memory_budget_gb = float(memory_budget_gb)
        self.max_auto_batch = int(max_auto_batch)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = AutoConfig.from_pretrained(self.model_path, **self.config_overrides)
        torch_dtype = {4: torch.float32}.get(self.dtype_bytes) or (
            torch.bfloat16 if dtype in ("bfloat16", "bf16") else torch.float16)
        self.model = AutoModelForCausalLM.from_pretrained(self.model_path, config=config,
                                                          dtype=torch_dtype).to(self.device).eval()
        # only what we pass applies: no top_k=50, no model-preferred temperature or penalties
        self.model.generation_config = GenerationConfig()
        self.weight_bytes = sum(p.numel() * p.element_size() for p in self.model.parameters())
        num_params = sum(p.numel() for p in self.model.parameters())
        # a model of a few million parameters gains nothing from intra-op threads, and on a busy
        # 2-core machine OpenMP barriers make 2 threads 5-20x slower than 1
        self.threads = threads or (1 if num_params < SMALL_MODEL_PARAMS else None)
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self.stop_token_ids[0]
        self._GenerationConfig = GenerationConfig

    # ------------------------------------------------------------------ batching
    def rows_per_call(self, prompt_len: int, max_new_tokens: int) -> int:
        if self.batch_size != "auto":
            return int(self.batch_size)
        return auto_batch_size(self.model_config, prompt_len, prompt_len + max_new_tokens,
                               self.memory_budget_gb, dtype_bytes=self.dtype_bytes,
                               weight_bytes=self.weight_bytes, cap=self.max_auto_batch)

    def _plan_chunks(self, num_prompts, prompt_lens, params: SamplingParams):
        rows = self.rows_per_call(max(prompt_lens), params.max_new_tokens)
        self.last_batch_size = rows
        per_prompt = 1 if params.greedy else params.n
        prompts_per_chunk = max(1, rows // per_prompt)
        return list(iter_batches(list(range(num_prompts)), prompts_per_chunk))

    def _generate_chunk(self, chunk, token_ids, params: SamplingParams):
        per_prompt = 1 if params.greedy else params.n
        rows = [(i, r) for i in chunk for r in range(per_prompt)]
        outs: dict[int, list[Completion]] = {i: [] for i in chunk}
        for call in iter_batches(rows, self.last_batch_size):
            seqs = self._generate_rows([token_ids[i] for i, _ in call], params,
                                       [_mix_seed(params.seed, i, r) for i, r in call])
            for (i, _r), toks in zip(call, seqs):
                outs[i].append(self.completion_from_tokens(toks, params.max_new_tokens))
        if params.greedy:
            outs = {i: [Completion(c[0].text, c[0].num_tokens, c[0].finish_reason)
                        for _ in range(params.n)] for i, c in outs.items()}
        return outs

    def _logits_processors(self, params: SamplingParams, seeds: Sequence[int]):
        """Temperature, top-k, top-p, then Gumbel noise from one generator per row: the argmax
        that greedy decoding takes is then an exact sample from the filtered distribution, and a
        row's samples depend only on its own seed, not on the batch around it."""
        from transformers.generation.logits_process import (LogitsProcessorList, TemperatureLogitsWarper,
                                                            TopKLogitsWarper, TopPLogitsWarper)

        procs = LogitsProcessorList()
        if params.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(params.temperature))
        if params.top_k >= 1:
            procs.append(TopKLogitsWarper(params.top_k))
        if params.top_p < 1.0:
            procs.append(TopPLogitsWarper(params.top_p))
        procs.append(_RowGumbel(seeds))
        return procs

    def _generate_rows(self, inputs: Sequence[Sequence[int]], params: SamplingParams,
                       seeds: Sequence[int]) -> list[list[int]]:
        torch = self.torch
        width = max(len(x) for x in inputs)
        ids = torch.full((len(inputs), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(inputs), width), dtype=torch.long)
        for row, x in enumerate(inputs):       # left padding
            ids[row, width - len(x):] = torch.tensor(list(x), dtype=torch.long)
            mask[row, width - len(x):] = 1
        old_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                decode = self._decode if self.loop == "rows-leave" else self._decode_with_generate
                out = decode(ids.to(self.device), mask.to(self.device), params, seeds)
        finally:
            torch.set_num_threads(old_threads)
        return out.tolist()

    def _decode_with_generate(self, ids, mask, params: SamplingParams, seeds: Sequence[int]):
        gen = self._GenerationConfig(
            max_new_tokens=params.max_new_tokens, do_sample=False,
            eos_token_id=list(self.stop_token_ids), pad_token_id=self.pad_token_id,
            use_cache=True, num_return_sequences=1)
        procs = None if params.greedy else self._logits_processors(params, seeds)
        out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=gen,
                                  logits_processor=procs)
        return out[:, ids.shape[1]:]

    def min_decode_rows(self, rows: int) -> int:
        """The fewest of ``rows`` a decode step runs while any are unfinished (see ``_decode``):
        ``ROWS_PER_THREAD`` per intra-op thread on a CPU; all of them on a GPU, whose GEMM kernels
        depend on the row count at any size."""
        if self.torch.device(self.device).type != "cpu":
            return rows
        return min(rows, ROWS_PER_THREAD * self.torch.get_num_threads())

    def _decode(self, ids, mask, params: SamplingParams, seeds: Sequence[int]):
        """What transformers' ``generate`` does with these inputs and processors (left-padded
        prefill, KV cache, one token per row per step, pad after a stop token), except that identical
        prompts are prefilled once and rows that stopped leave the batch, so stragglers do not pay
        for them. Returns the new tokens, [rows, steps], pad after each row's stop token.

        The batch never shrinks below ``min_decode_rows(rows)`` (finished rows stay as filler): a CPU
        GEMM's result for one row depends on how many rows it shares the call with only below a few
        rows per thread (MKL takes other kernels there), so above that floor every row gets the
        logits -- and so the samples -- it would get in the full batch (tested against
        ``generate``)."""
        from transformers import DynamicCache

        torch, model = self.torch, self.model
        n = ids.shape[0]
        procs = None if params.greedy else self._logits_processors(params, seeds)
        warpers, gumbel = (type(procs)(procs[:-1]), procs[-1]) if procs is not None else (None, None)
        stops = torch.tensor(sorted(set(self.stop_token_ids)), dtype=torch.long, device=ids.device)
        floor = self.min_decode_rows(n)
        tokens = torch.full((n, params.max_new_tokens), self.pad_token_id, dtype=torch.long,
                            device=ids.device)
        alive = torch.ones(n, dtype=torch.bool, device=ids.device)     # per original row
        batch = torch.arange(n, device=ids.device)                    # original row of each running row
        pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        cache = DynamicCache(config=model.config)
        logits = prefill(model, ids, mask, pos, cache)     # each distinct prompt once
        next_pos = pos[:, -1] + 1
        steps = 0
        while True:
            logits = logits.to(dtype=torch.float32, copy=True)
            live = alive[batch]
            rows = batch[live]
            scores = logits[live]
            if warpers is not None:
                scores = warpers(None, scores)
                scores = gumbel.draw(scores, rows.tolist())
            step_tokens = scores.argmax(dim=-1)
            tokens[rows, steps] = step_tokens
            alive[rows] = ~torch.isin(step_tokens, stops)
            steps += 1
            if steps == params.max_new_tokens or not bool(alive.any()):
                break
            live = alive[batch]
            if int(live.sum()) < len(batch) and len(batch) > floor:
                keep = live.nonzero().squeeze(1)
                if len(keep) < floor:       # fill up to the floor with finished rows
                    filler = (~live).nonzero().squeeze(1)[:floor - len(keep)]
                    keep = torch.cat([keep, filler]).sort().values
                batch, mask, next_pos = keep_rows(cache, keep, batch, mask, next_pos)
            step_in = torch.where(alive[batch], tokens[batch, steps - 1], self.pad_token_id)
            logits, mask, next_pos = decode_step(model, step_in, mask, next_pos, cache)
        return tokens[:, :steps]

    def close(self) -> None:
        self.model = None
