"""Quick pass-rate measurement of the embedded models for the tests (plain transformers
``generate``, a last-``\\boxed{}`` answer check): moved out of the package, which samples through
:mod:`polaris_repro.sampling` and grades through :mod:`polaris_repro.grading`."""
from __future__ import annotations

import os
import re
from typing import Iterable

from polaris_repro import models

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def last_boxed(text: str) -> str | None:
    m = _BOXED.findall(text)
    return m[-1].strip() if m else None


def load_for_sampling(model_dir: str):
    """(model, tokenizer) in fp32 eval mode with left padding, for :func:`sample_completions`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return model, tok


def sample_completions(model_dir: str | tuple, prompts: list[str], *, k: int, temperature: float,
                       max_new_tokens: int = 48, seed: int = 0, top_k: int = 0,
                       batch_size: int = 256) -> list[list[str]]:
    """k sampled completions per user prompt (chat template applied; plain HF generate with left
    padding; decoded without special tokens, so ``<think>`` stays). ``model_dir`` may also be a
    ``(model, tokenizer)`` pair from :func:`load_for_sampling`."""
    import torch

    model, tok = load_for_sampling(model_dir) if isinstance(model_dir, (str, os.PathLike)) else model_dir
    texts = [models.chat_prompt(tok, p) for p in prompts for _ in range(k)]
    outs: list[str] = []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i:i + batch_size], return_tensors="pt", padding=True,
                      add_special_tokens=False)
            gen = model.generate(**enc, do_sample=True, temperature=temperature, top_k=top_k,
                                 top_p=1.0, max_new_tokens=max_new_tokens,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
            outs += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [outs[j * k:(j + 1) * k] for j in range(len(prompts))]


def tiny_pass_rates(model_dir: str | None = None, levels: Iterable[str] = ("add1", "mul1", "add2", "sub2"),
                    *, n_problems: int = 16, k: int = 8, temperature: float = 0.7,
                    max_new_tokens: int = 48, seed: int = 0) -> dict[str, float]:
    """Mean pass rate per synthetic level (last \\boxed{} equals the answer) over ``n_problems``
    problems x ``k`` samples, problems drawn with a seed distinct from the warm-start data;
    ``model_dir`` defaults to builtin:tiny."""
    from polaris_repro.data import synthetic_problems

    loaded = load_for_sampling(model_dir or models.resolve_model_path("builtin:tiny"))
    rates: dict[str, float] = {}
    for lv in levels:
        df = synthetic_problems(n_problems, [lv], seed=seed + 777, split="passrate")
        prompts = [p[0]["content"] for p in df["prompt"]]
        answers = [str(rm["ground_truth"]) for rm in df["reward_model"]]
        comps = sample_completions(loaded, prompts, k=k, temperature=temperature,
                                   max_new_tokens=max_new_tokens, seed=seed)
        hits = [last_boxed(c) == a for cs, a in zip(comps, answers) for c in cs]
        rates[lv] = sum(hits) / len(hits)
    return rates
