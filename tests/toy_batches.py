"""What the actor tests share (tests/test_actor_padding.py, tests/test_entropy_off_graph.py): the tiny
model in fp32, and a toy batch laid out as verl's rollout leaves it (prompts left-padded to a common
width, responses right-padded)."""
from __future__ import annotations

from typing import Sequence

import torch

from polaris_repro.models import resolve_model_path


def tiny_model(**kwargs):
    """``builtin:tiny`` in fp32 (extra keyword arguments go to ``from_pretrained``)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(resolve_model_path("builtin:tiny"), dtype=torch.float32,
                                                **kwargs)


def rollout_batch(rows: Sequence[tuple[int, int]], prompt: int, response: int, vocab: int, seed: int = 0):
    """``rows``: (prompt, response) lengths. Returns (input_ids, attention_mask, position_ids, generator),
    the generator left where the token draws stopped (for further draws of the same test)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(rows), prompt + response, dtype=torch.long)
    att = torch.zeros_like(ids)
    for i, (p, r) in enumerate(rows):
        ids[i, prompt - p:prompt] = torch.randint(5, vocab, (p,), generator=g)
        ids[i, prompt:prompt + r] = torch.randint(5, vocab, (r,), generator=g)
        att[i, prompt - p:prompt + r] = 1
    return ids, att, (att.cumsum(-1) - 1).clamp(min=0), g
