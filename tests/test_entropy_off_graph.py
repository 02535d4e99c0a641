"""The CPU plugin's patch (e): with ``entropy_coeff: 0`` verl's PPO loss gets the entropy detached, so a
backward no longer runs through the entropy of the whole-vocabulary softmax for a zero gradient.
Checked through verl's own ``ppo_loss`` on a small model: the same loss, entropy metric and
gradients as the unpatched loss; the entropy reaches the loss without a graph; a nonzero coefficient
keeps the graph (its gradients differ)."""
from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.utils.torch_functional import entropy_from_logits, logprobs_from_logits
from verl.workers.config import FSDPActorConfig
from verl.workers.utils import losses as L
from verl.workers.utils.padding import left_right_2_no_padding

from toy_batches import rollout_batch, tiny_model
from polaris_repro.verl_cpu.patches import entropy_off_the_graph

PROMPT, RESPONSE = 6, 5
ROWS = [(4, 3), (6, 5), (5, 2)]  # (prompt, response) lengths


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _batch(vocab: int):
    ids, att, pos, g = rollout_batch(ROWS, PROMPT, RESPONSE, vocab)
    B = len(ROWS)
    td = TensorDict({"input_ids": ids, "attention_mask": att, "position_ids": pos,
                     "prompts": ids[:, :PROMPT], "response_mask": att[:, PROMPT:].float(),
                     "responses": ids[:, PROMPT:], "old_log_probs": -torch.rand(B, RESPONSE, generator=g),
                     "advantages": torch.randn(B, RESPONSE, generator=g)}, batch_size=B)
    td = left_right_2_no_padding(td)
    tu.assign_non_tensor_data(td, "dp_size", 1)
    tu.assign_non_tensor_data(td, "batch_num_tokens", None)
    tu.assign_non_tensor_data(td, "global_batch_size", None)
    seqs = [ids[i, PROMPT - p:PROMPT + r] for i, (p, r) in enumerate(ROWS)]
    return td, seqs


def _output(model, seqs):
    """log-probs and entropy at every position of every sequence, as verl's engine returns them."""
    lps, ents = [], []
    for s in seqs:
        logits = model(input_ids=s[None]).logits[0]
        lps.append(logprobs_from_logits(logits, torch.roll(s, -1)))
        ents.append(entropy_from_logits(logits))
    offsets = torch.tensor([0] + [len(s) for s in seqs]).cumsum(0)
    return {"log_probs": torch.nested.nested_tensor_from_jagged(torch.cat(lps), offsets),
            "entropy": torch.nested.nested_tensor_from_jagged(torch.cat(ents), offsets)}


def _step(model, loss_fn, coeff, seqs, td):
    cfg = FSDPActorConfig(strategy="fsdp2", ppo_mini_batch_size=4, ppo_micro_batch_size_per_gpu=2,
                          entropy_coeff=coeff, rollout_n=1)
    model.zero_grad(set_to_none=True)
    loss, metrics = loss_fn(config=cfg, model_output=_output(model, seqs), data=td)
    loss.backward()
    return (float(loss.detach()), float(metrics["actor/entropy_loss"].values[0]),
            [p.grad.clone() for p in model.parameters()])


def test_a_zero_entropy_coefficient_detaches_the_entropy_with_the_same_update(model):
    td, seqs = _batch(model.config.vocab_size)
    patched = entropy_off_the_graph(L.ppo_loss)
    assert entropy_off_the_graph(patched) is patched  # idempotent
    loss0, ent0, g0 = _step(model, L.ppo_loss, 0.0, seqs, td)
    loss1, ent1, g1 = _step(model, patched, 0.0, seqs, td)
    assert loss1 == pytest.approx(loss0, abs=1e-7) and ent1 == pytest.approx(ent0, abs=1e-7) and ent0 > 0
    for a, b in zip(g0, g1):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)

    seen = {}

    def spy(config, model_output, data, dp_group=None):
        seen["requires_grad"] = model_output["entropy"].requires_grad
        return L.ppo_loss(config, model_output, data, dp_group)

    _step(model, entropy_off_the_graph(spy), 0.0, seqs, td)
    assert seen["requires_grad"] is False
    _step(model, entropy_off_the_graph(spy), 0.01, seqs, td)
    assert seen["requires_grad"] is True


def test_a_nonzero_entropy_coefficient_keeps_its_gradient(model):
    td, seqs = _batch(model.config.vocab_size)
    patched = entropy_off_the_graph(L.ppo_loss)
    _, _, g0 = _step(model, patched, 0.0, seqs, td)
    _, _, g_orig = _step(model, L.ppo_loss, 0.05, seqs, td)
    _, _, g_patched = _step(model, patched, 0.05, seqs, td)
    for a, b in zip(g_orig, g_patched):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert max(float((a - b).abs().max()) for a, b in zip(g0, g_patched)) > 1e-6
