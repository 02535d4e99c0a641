"""Prefilling a batch whose rows repeat prompts (the n samples of a prompt, a GRPO group's n
requests) once per distinct prompt, with the same logits as prefilling every row.

The decoder layers run on the distinct rows only; their last hidden states (or all of them) are then
copied to every row and the output layer runs on all rows, exactly as it does in a plain forward. A
CPU GEMM's result for a row depends on how many rows share the call only below a few rows
(``hf.ROWS_PER_THREAD``); the decoder's GEMMs see rows x prompt length rows, the output layer sees
the same rows as before, so every row's logits are bitwise those of the plain forward
(tests/test_sampling.py and tests/test_verl_cpu.py check the tokens against the unshared paths).

The two decode loops that follow a prefill (the sampler's, ``hf.HFSampler._decode``, and the rollout
server's, ``verl_cpu.hf_generate.generate_batch``) share :func:`decode_step` and :func:`keep_rows`;
each keeps its own rule for which rows stay in the batch.
"""
from __future__ import annotations

from typing import Any

# causal-LM classes whose forward is ``lm_head(model(...).last_hidden_state[:, keep])`` and nothing
# more (no logit scaling or soft-capping): the ones the CPU tiers run
SPLITTABLE = ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM")


def distinct_rows(rows) -> tuple[Any, Any]:
    """(index of the first occurrence of each distinct row, in order; for every row, the position of
    its distinct row in that index), for a 2-D tensor."""
    import torch

    seen: dict[tuple, int] = {}
    first, copies = [], []
    for i, key in enumerate(map(tuple, rows.tolist())):
        if key not in seen:
            seen[key] = len(first)
            first.append(i)
        copies.append(seen[key])
    return (torch.tensor(first, dtype=torch.long, device=rows.device),
            torch.tensor(copies, dtype=torch.long, device=rows.device))


def prefill(model, input_ids, attention_mask, position_ids, cache, *, last_only: bool = True):
    """Fill ``cache`` (a transformers ``DynamicCache``) for every row and return the logits of each
    row's last position, [rows, vocab]. ``last_only``: the output layer runs on the last position
    only (``logits_to_keep=1``, as ``generate`` does) rather than on every position (a plain
    forward); either way on every row, as the unshared forward would."""
    import torch

    keep = 1 if last_only else 0
    first, copies = distinct_rows(torch.cat([input_ids, attention_mask], dim=1))
    if len(first) == len(copies) or type(model).__name__ not in SPLITTABLE:
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                    past_key_values=cache, use_cache=True, logits_to_keep=keep)
        return out.logits[:, -1, :]
    hidden = model.model(input_ids=input_ids[first], attention_mask=attention_mask[first],
                         position_ids=position_ids[first], past_key_values=cache,
                         use_cache=True).last_hidden_state
    cache.batch_select_indices(copies)
    hidden = hidden[copies]
    return model.lm_head(hidden[:, slice(-keep, None), :])[:, -1, :]


def keep_rows(cache, keep, *per_row):
    """Keep only the rows ``keep`` (indices into the running batch) of ``cache`` and of each
    per-row tensor in ``per_row``, which are returned in order."""
    cache.batch_select_indices(keep)
    return tuple(t[keep] for t in per_row)


def decode_step(model, step_ids, attention_mask, next_pos, cache):
    """Feed one token per row (``step_ids`` [rows]) at positions ``next_pos`` [rows] on ``cache``.
    Returns the logits of that position [rows, vocab], the mask extended by one column, and the
    next positions."""
    import torch

    attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(step_ids), 1))], dim=1)
    out = model(input_ids=step_ids[:, None], attention_mask=attention_mask,
                position_ids=next_pos[:, None], past_key_values=cache, use_cache=True,
                logits_to_keep=1)
    return out.logits[:, -1, :], attention_mask, next_pos + 1
