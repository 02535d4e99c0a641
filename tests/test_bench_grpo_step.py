"""The plain baseline of benchmarks/bench_grpo_step.py does the GRPO work it claims: one batched
generate of n samples per prompt, grader rewards, one optimiser step that changes the weights
(run on the tiny tier's model, a few seconds)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_grpo_step", ROOT / "benchmarks" / "bench_grpo_step.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_grpo_step"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_plain_grpo_step_on_tiny(monkeypatch):
    import torch

    from polaris_repro.config import load_config
    from polaris_repro.data import load_training_data

    bench = _bench()
    cfg = load_config("tiny")
    rows = load_training_data(cfg).to_dict("records")
    seen = {}
    real_step = torch.optim.AdamW.step

    def step(self, *a, **k):
        seen["before"] = [p.detach().clone() for p in self.param_groups[0]["params"][:3]]
        out = real_step(self, *a, **k)
        seen["after"] = [p.detach().clone() for p in self.param_groups[0]["params"][:3]]
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    out = bench.plain_steps(cfg, [rows[:4], rows[4:8]], temperature=0.8)
    n, cap = cfg["training"]["rollout_n"], cfg["training"]["stages"][0]["max_response_length"]
    assert len(out["step_s"]) == 2 and all(s > 0 for s in out["step_s"])
    assert all(0.0 <= r <= 1.0 for r in out["reward"])
    # tokens per step: the prompts of 4 x n samples plus at most the cap of response tokens each
    assert all(4 * n < t <= 4 * n * (cfg["training"]["max_prompt_length"] + cap) for t in out["tokens"])
    assert any(not torch.equal(a, b) for a, b in zip(seen["before"], seen["after"])), "no update"


def test_bench_refuses_a_single_step():
    with pytest.raises(SystemExit):
        _bench().main(["--steps", "1"])


def test_update_profile_reports_the_updates_share_and_real_tokens_per_second():
    """The benchmark's update line: the warm-up step is left out, the share is update / step, the
    throughput counts real (unpadded) tokens over the update's seconds."""
    mod = _bench()
    prof = mod.update_profile([30.0, 20.0, 10.0], [9.0, 10.0, 4.0], [900, 1000, 600])
    assert prof["update_share"] == [0.5, 0.4] and prof["real_tokens_per_s"] == [100.0, 150.0]
    assert prof["mean_update_share"] == 0.45 and prof["mean_real_tokens_per_s"] == round(1600 / 14, 1)
    assert mod.update_profile([30.0], [9.0], [900])["mean_update_share"] is None  # warm-up only
    assert mod.update_profile([30.0, 20.0], [9.0, 0.0], [900, 1000])["real_tokens_per_s"] == []
