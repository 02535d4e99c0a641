"""Batched, KV-cached sampling with per-request parameters for a transformers causal LM.

This is the compute core of the ``hf`` rollout server. verl's agent loop sends one request per
rollout; decoding them one at a time runs at batch 1 (about 15 tok/s for SmolLM2-135M on two
cores, verl-on-cpu.md §8). The server therefore gathers concurrent requests and hands them here
as one batch: prompts are left-padded, one prefill fills a ``DynamicCache`` (each distinct prompt
once: a GRPO group's n requests share their prompt), then every decode step runs the whole batch at
once. Each row keeps its own temperature, top-k, top-p, min-p,
repetition penalty, token budget and stop tokens; rows that finish are dropped from the batch (and
from the KV cache) so long stragglers do not pay for finished rows.

A request with a ``seed`` draws its tokens from its own generator, so its completion depends only
on the seed, its parameters and the model, not on which other requests share the batch or in which
order (up to floating-point effects of the batch's padding width); requests without one share the
server's generator.

Reported log-probs are those of the temperature-scaled distribution over the full vocabulary
(``log_softmax(logits / T)``), the quantity verl's actor recomputes as ``old_log_probs``; top-k/top-p
only restrict what is sampled. With ``T == 0`` the row is greedy and reports ``log_softmax(logits)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import torch

from ..sampling.prefill import decode_step, keep_rows, prefill


@dataclass
class GenRequest:
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    stop_token_ids: frozenset[int] = field(default_factory=frozenset)
    ignore_eos: bool = False
    seed: Optional[int] = None
    # test hook (:mod:`.forced`): emit these tokens instead of sampling, with the policy's log-probs
    forced_ids: Optional[list[int]] = None

    def __post_init__(self):
        if not self.prompt_ids:
            raise ValueError("GenRequest.prompt_ids is empty")
        if self.max_new_tokens < 1:
            raise ValueError(f"GenRequest.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"GenRequest.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"GenRequest.top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"GenRequest.repetition_penalty must be > 0, got {self.repetition_penalty}")


@dataclass
class GenResult:
    token_ids: list[int]
    log_probs: list[float]
    finish_reason: str  # "stop" | "length"


def _filter_logits(scaled: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                   min_p: torch.Tensor) -> torch.Tensor:
    """Mask (to -inf) what top-k / top-p / min-p exclude, row by row. ``scaled``: [n, V]."""
    n, vocab = scaled.shape
    use_k = bool((top_k > 0).any())
    use_p = bool((top_p < 1).any())
    use_min_p = bool((min_p > 0).any())
    if not (use_k or use_p or use_min_p):
        return scaled
    out = scaled
    if use_k or use_p:
        values, order = torch.sort(scaled, dim=-1, descending=True)
        remove = torch.zeros_like(values, dtype=torch.bool)
        if use_k:
            k = torch.where(top_k > 0, top_k.clamp(max=vocab), torch.full_like(top_k, vocab))
            ranks = torch.arange(vocab, device=scaled.device).expand(n, vocab)
            remove |= ranks >= k[:, None]
        if use_p:
            probs = torch.softmax(values.masked_fill(remove, float("-inf")), dim=-1)
            before = probs.cumsum(dim=-1) - probs  # mass strictly above this token
            remove |= before >= top_p[:, None]
        remove[:, 0] = False  # always keep the most likely token
        mask = torch.zeros_like(remove).scatter(1, order, remove)
        out = out.masked_fill(mask, float("-inf"))
    if use_min_p:
        probs = torch.softmax(out, dim=-1)
        thresh = probs.max(dim=-1, keepdim=True).values * min_p[:, None]
        out = out.masked_fill(probs < thresh, float("-inf"))
    return out


def sample_next(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor,
                top_p: torch.Tensor, min_p: torch.Tensor,
                generator: Optional[torch.Generator] = None,
                row_generators: Optional[Sequence[Optional[torch.Generator]]] = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """One sampling step for ``n`` rows. Returns (token ids [n], their log-probs [n]).
    ``row_generators[j]`` (when given and not None) draws row ``j``'s token; other rows use
    ``generator``."""
    logits = logits.float()
    greedy = temperature <= 0
    t = torch.where(greedy, torch.ones_like(temperature), temperature)
    scaled = logits / t[:, None]
    logp = torch.log_softmax(scaled, dim=-1)
    if bool(greedy.all()):
        tokens = logits.argmax(dim=-1)
    else:
        filtered = _filter_logits(scaled, top_k, top_p, min_p)
        probs = torch.softmax(filtered, dim=-1)
        if row_generators is not None and any(g is not None for g in row_generators):
            tokens = torch.cat([torch.multinomial(probs[j], 1, generator=g if g is not None else generator)
                                for j, g in enumerate(row_generators)])
        else:
            tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        if bool(greedy.any()):
            tokens = torch.where(greedy, logits.argmax(dim=-1), tokens)
    return tokens, logp.gather(1, tokens[:, None]).squeeze(1)


def _logprob_of(logits: torch.Tensor, temperature: float, token: int) -> float:
    """The log-prob ``sample_next`` would report for ``token`` on one row of logits."""
    t = temperature if temperature > 0 else 1.0
    return float(torch.log_softmax(logits.float() / t, dim=-1)[token])


def _apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor):
    """vLLM/HF semantics: logits of seen tokens are divided (if > 0) or multiplied by the penalty."""
    pen = penalty[:, None].expand_as(logits)
    penalised = torch.where(logits > 0, logits / pen, logits * pen)
    return torch.where(seen, penalised, logits)


@torch.inference_mode()
def generate_batch(model, requests: Sequence[GenRequest], *, eos_token_ids: Iterable[int],
                   pad_token_id: int, generator: Optional[torch.Generator] = None) -> list[GenResult]:
    """Generate for all ``requests`` in one left-padded, KV-cached decode."""
    from transformers import DynamicCache

    if not requests:
        return []
    device = next(model.parameters()).device
    eos = frozenset(int(t) for t in eos_token_ids)
    n = len(requests)
    lengths = [len(r.prompt_ids) for r in requests]
    width = max(lengths)
    input_ids = torch.full((n, width), int(pad_token_id), dtype=torch.long, device=device)
    attn = torch.zeros((n, width), dtype=torch.long, device=device)
    for i, r in enumerate(requests):
        input_ids[i, width - lengths[i]:] = torch.tensor(r.prompt_ids, dtype=torch.long)
        attn[i, width - lengths[i]:] = 1
    position_ids = (attn.cumsum(-1) - 1).clamp(min=0)

    f32 = dict(dtype=torch.float32, device=device)
    temperature = torch.tensor([float(r.temperature) for r in requests], **f32)
    top_k = torch.tensor([int(r.top_k) for r in requests], dtype=torch.long, device=device)
    top_p = torch.tensor([float(r.top_p) for r in requests], **f32)
    min_p = torch.tensor([float(r.min_p) for r in requests], **f32)
    penalty = torch.tensor([float(r.repetition_penalty) for r in requests], **f32)
    use_penalty = bool((penalty != 1).any())
    stops = [set() if r.ignore_eos else set(eos) for r in requests]
    gens = [torch.Generator(device=device).manual_seed(int(r.seed) % 2**63) if r.seed is not None else None
            for r in requests]
    seeded = any(g is not None for g in gens)
    for s, r in zip(stops, requests):
        s.update(int(t) for t in r.stop_token_ids)

    cache = DynamicCache(config=model.config)
    # a GRPO group's n requests share their prompt: each distinct prompt is prefilled once
    logits = prefill(model, input_ids, attn, position_ids, cache, last_only=False)
    vocab = logits.shape[-1]
    seen = None
    if use_penalty:
        seen = torch.zeros((n, vocab), dtype=torch.bool, device=device)
        for i, r in enumerate(requests):
            seen[i, torch.tensor(r.prompt_ids, dtype=torch.long, device=device)] = True

    tokens_out: list[list[int]] = [[] for _ in range(n)]
    logps_out: list[list[float]] = [[] for _ in range(n)]
    finish: list[Optional[str]] = [None] * n
    active = list(range(n))  # original row of each row of the running batch
    next_pos = position_ids[:, -1] + 1

    while True:
        rows = torch.tensor(active, dtype=torch.long, device=device)
        step_logits = logits
        if use_penalty:
            step_logits = _apply_repetition_penalty(logits.float(), seen, penalty[rows])
        tok, lp = sample_next(step_logits, temperature[rows], top_k[rows], top_p[rows], min_p[rows],
                              generator, [gens[i] for i in active] if seeded else None)
        tok_l, lp_l = tok.tolist(), lp.tolist()
        for j, i in enumerate(active):
            forced = requests[i].forced_ids
            if forced is not None and len(tokens_out[i]) < len(forced):
                tok_l[j] = int(forced[len(tokens_out[i])])
                lp_l[j] = _logprob_of(step_logits[j], float(temperature[i]), tok_l[j])
                tok[j] = tok_l[j]
        keep = []
        for j, i in enumerate(active):
            tokens_out[i].append(tok_l[j])
            logps_out[i].append(lp_l[j])
            if tok_l[j] in stops[i]:
                finish[i] = "stop"
            elif len(tokens_out[i]) >= requests[i].max_new_tokens:
                finish[i] = "length"
            else:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(active):
            idx = torch.tensor(keep, dtype=torch.long, device=device)
            attn, next_pos, tok = keep_rows(cache, idx, attn, next_pos, tok)
            if seen is not None:
                seen = seen[idx]
            active = [active[j] for j in keep]
        if seen is not None:
            seen[torch.arange(len(active)), tok] = True
        logits, attn, next_pos = decode_step(model, tok, attn, next_pos, cache)

    return [GenResult(t, l, f or "length") for t, l, f in zip(tokens_out, logps_out, finish)]
