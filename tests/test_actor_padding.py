"""The CPU actor's update does no work on padding beyond each micro-batch's longest sequence (issue 34).

verl 0.9.1's trainer hands the actor no-padding (nested) batches (``left_right_2_no_padding``), and
its FSDP engine, with ``use_remove_padding: false`` (the CPU tiers), pads each micro-batch only to
the longest real sequence in it: no left padding of prompts, no padding to ``max_prompt_length +
max_response_length``. Checked here through verl's own functions, against the left/right padded
batch the rollout produces: the same per-token log-probabilities, loss and gradients to fp32
rounding. (Packing a micro-batch into one row, ``use_remove_padding: true``, is also exact on a CPU
with SDPA -- transformers builds the block mask from the restarting position ids when verl calls the
model with ``use_cache=False`` -- but on the smoke model it measured 16 % faster only where a
micro-batch held one long response among short ones and 18 % slower where all were long: the dense
mask costs more attention than the padding it saves, so the CPU tiers keep the cut batches.)
"""
from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead
from verl.workers.utils.padding import left_right_2_no_padding

from toy_batches import rollout_batch, tiny_model

PROMPT, RESPONSE = 12, 9  # the rollout's padded widths (max_prompt_length, max_response_length)
ROWS = [(7, 3), (12, 4), (9, 2), (5, 4)]  # (prompt, response) lengths of one micro-batch


@pytest.fixture(scope="module")
def model():
    m = tiny_model(attn_implementation="sdpa")
    m.train()
    return m


def _rollout_batch(vocab: int):
    """A batch as verl's rollout leaves it: prompts left-padded to PROMPT, responses right-padded to RESPONSE."""
    return rollout_batch(ROWS, PROMPT, RESPONSE, vocab)[:3]


def _padded_logprobs(model, ids, att, pos):
    """Log-probabilities of each response token from the full left/right padded batch."""
    logits = model(input_ids=ids, attention_mask=att, position_ids=pos, use_cache=False).logits
    lp = torch.log_softmax(logits.float(), -1)
    return [lp[i, PROMPT - 1:PROMPT - 1 + r].gather(-1, ids[i, PROMPT:PROMPT + r, None]).squeeze(-1)
            for i, (_, r) in enumerate(ROWS)]


def _engine_logprobs(model, ids, att, pos):
    """The same through verl: the trainer's no-padding conversion, then the FSDP engine's model
    inputs for a micro-batch with use_remove_padding false (the CPU tiers' setting)."""
    td = TensorDict({"input_ids": ids, "attention_mask": att, "position_ids": pos,
                     "response_mask": att[:, PROMPT:], "responses": ids[:, PROMPT:],
                     "temperature": torch.ones(len(ROWS))}, batch_size=len(ROWS))
    td = left_right_2_no_padding(td)
    tu.assign_non_tensor_data(td, "use_remove_padding", False)
    engine = FSDPEngineWithLMHead.__new__(FSDPEngineWithLMHead)  # only its input builder is used
    engine.pad_to_length = None
    inputs, _ = engine.prepare_model_inputs(td)
    logits = model(**inputs, use_cache=False).logits
    lp = torch.log_softmax(logits.float(), -1)
    out = [lp[i, p - 1:p - 1 + r].gather(-1, inputs["input_ids"][i, p:p + r, None]).squeeze(-1)
           for i, (p, r) in enumerate(ROWS)]
    return inputs, out


def test_each_micro_batch_is_cut_to_its_longest_sequence_with_the_padded_batchs_update(model):
    ids, att, pos = _rollout_batch(model.config.vocab_size)
    grads, losses = [], []
    for build in ("padded", "engine"):
        model.zero_grad(set_to_none=True)
        if build == "padded":
            lps = _padded_logprobs(model, ids, att, pos)
        else:
            inputs, lps = _engine_logprobs(model, ids, att, pos)
        # a GRPO-like token-mean loss with per-sequence advantages
        adv = torch.tensor([1.0, -0.5, 0.25, -1.0])
        loss = -torch.cat([a * lp for a, lp in zip(adv, lps)]).mean()
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        if build == "padded":
            ref_lps = [lp.detach() for lp in lps]
    # no work on padding beyond the micro-batch's longest sequence: no left padding, and the width
    # is the longest prompt + response here (14), not max_prompt_length + max_response_length (21)
    width = inputs["input_ids"].shape[1]
    assert width == max(p + r for p, r in ROWS) < PROMPT + RESPONSE
    real = int(inputs["attention_mask"].sum())
    assert real == sum(p + r for p, r in ROWS)
    for i, (p, r) in enumerate(ROWS):
        assert inputs["attention_mask"][i, :p + r].all() and not inputs["attention_mask"][i, p + r:].any()
    # the same log-probabilities, loss and gradients as the padded batch, to fp32 rounding
    for a, b in zip(ref_lps, lps):
        assert torch.allclose(a, b.detach(), atol=1e-5), (a, b)
    assert abs(losses[0] - losses[1]) <= 1e-6 * max(1.0, abs(losses[0]))
    assert grads[0].norm() > 0
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6), (grads[0] - grads[1]).abs().max()


def test_the_cpu_tiers_take_the_cut_micro_batch_path():
    """The smoke and tiny tiers run the engine path tested above (no remove-padding), and verl's
    actor calls the model with use_cache=False (which packed inputs would need)."""
    import inspect

    from polaris_repro.config import load_config

    for tier in ("tiny", "smoke"):
        assert load_config(tier)["training"]["use_remove_padding"] is False
    assert "use_cache=False" in inspect.getsource(FSDPEngineWithLMHead.forward_step)
