"""What both sampling engines share: the Completion record, prompt rendering (chat templates,
Qwen3 thinking mode), parameter and length validation before any generation, resumable output
files and the progress bar. Engines implement ``_generate_chunk`` and ``_plan_chunks``.

Imports only the standard library, tqdm and (lazily) transformers' tokenizer, so the vLLM engine
can use it inside the separate cluster-on-CPU venv (:mod:`.vllm_cpu_env`).
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .. import yarn as _yarn
from ..artifacts import append_jsonl, read_jsonl

FINISH_REASONS = ("stop", "length")


def progress_bar(iterable=None, *, total: int | None = None, desc: str | None = None,
                 unit: str = "it", initial: int = 0, disable: bool = False, delay: float = 0.0):
    """A tqdm bar on stderr that stays readable in logs: on a terminal it redraws every second;
    elsewhere (a notebook kernel streamed by papermill, a log file) every 5 s at most, in ASCII,
    at a fixed width, so a long loop writes a state every few seconds, not hundreds of lines.
    ``delay``: show nothing unless the loop is still running after that many seconds."""
    from tqdm import tqdm

    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    # off a TTY the screen size is fixed: tqdm would otherwise ask the terminal behind the stream
    # (a notebook kernel's stderr may still have one), and a pty of size 0x0 hides the bar
    return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit, disable=disable,
                delay=delay, file=sys.stderr, mininterval=1.0 if tty else 5.0, ascii=not tty,
                dynamic_ncols=tty, ncols=None if tty else 100, nrows=None if tty else 20)


def model_label(model: Any) -> str:
    """A short name for a model in progress lines: a hub id or ``builtin:x`` as it is, a local
    folder by its name (with its parent for generic names such as a stage's ``merged_hf``)."""
    text = str(model)
    if text.startswith("builtin:") or not Path(text).is_absolute() and not Path(text).exists():
        return text
    p = Path(text)
    return f"{p.parent.name}/{p.name}" if p.name in ("merged_hf", "hf", "huggingface", "actor") else p.name


@dataclass
class Completion:
    """One sampled continuation. ``num_tokens`` counts generated tokens up to and including the
    stop token; ``finish_reason`` is "stop" (EOS / chat end token) or "length" (hit max_new_tokens)."""
    text: str
    num_tokens: int
    finish_reason: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "Completion":
        return cls(text=str(d["text"]), num_tokens=int(d["num_tokens"]),
                   finish_reason=str(d["finish_reason"]))


@dataclass(frozen=True)
class SamplingParams:
    n: int
    temperature: float
    top_p: float
    top_k: int            # -1 = off
    max_new_tokens: int
    seed: int

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def as_dict(self) -> dict:
        return asdict(self)


def validate_params(n, temperature, top_p, top_k, max_new_tokens, seed) -> SamplingParams:
    def _int(name, v, lo):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"generate(): {name} must be an int >= {lo}, got {v!r}")
        return int(v)

    n = _int("n", n, 1)
    max_new_tokens = _int("max_new_tokens", max_new_tokens, 1)
    seed = _int("seed", seed, 0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"generate(): temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"generate(): top_p must be in (0, 1], got {top_p!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or (top_k < 1 and top_k not in (-1, 0)):
        raise ValueError(f"generate(): top_k must be -1 (off) or a positive int, got {top_k!r}")
    return SamplingParams(n=n, temperature=float(temperature), top_p=float(top_p),
                          top_k=-1 if top_k in (0, -1) else int(top_k),
                          max_new_tokens=max_new_tokens, seed=seed)


def _check_prompt(i: int, p: Any) -> None:
    if isinstance(p, str):
        return
    if isinstance(p, Sequence) and p and all(isinstance(m, Mapping) and "role" in m and "content" in m
                                             for m in p):
        return
    raise ValueError(f"prompt {i}: expected a string or a chat (non-empty list of "
                     f"{{'role', 'content'}} dicts), got {type(p).__name__}: {str(p)[:80]!r}")


class Sampler:
    """Base class. ``generate`` is the public entry point; see polaris_repro.sampling."""

    engine = "base"

    def __init__(self, model_path: str, *, thinking: bool = True,
                 rope_scaling: Mapping | None = None, max_position_embeddings: int | None = None,
                 progress: bool = True):
        from transformers import AutoTokenizer

        self.model_path = str(model_path)
        self.thinking = bool(thinking)
        self.progress = progress
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        base_cfg = _yarn.read_config(self.model_path)
        # config keys the engine sets on load (rope scaling / a raised context limit)
        self.config_overrides = _yarn.config_overrides(
            base_cfg, rope_scaling=rope_scaling, max_position_embeddings=max_position_embeddings)
        self.model_config = {**base_cfg, **self.config_overrides}
        limit = self.model_config.get("max_position_embeddings")
        if isinstance(limit, int) and (self.tokenizer.model_max_length or 0) < limit:
            self.tokenizer.model_max_length = limit     # lengths are checked against the model
        self.stop_token_ids = self._stop_tokens()
        self.last_stats: dict = {}

    # ------------------------------------------------------------------ prompts and tokens
    def _stop_tokens(self) -> list[int]:
        """EOS ids from the tokenizer, config.json and generation_config.json, plus the chat end
        token <|im_end|> when the vocabulary has it."""
        ids: list[int] = []

        def add(v):
            if v is None:
                return
            for x in (v if isinstance(v, (list, tuple)) else [v]):
                if isinstance(x, int) and x not in ids:
                    ids.append(x)

        add(self.tokenizer.eos_token_id)
        add(self.model_config.get("eos_token_id"))
        gen = Path(self.model_path) / "generation_config.json"
        if gen.exists():
            try:
                add(json.loads(gen.read_text()).get("eos_token_id"))
            except json.JSONDecodeError:
                pass
        vocab = self.tokenizer.get_vocab()
        if "<|im_end|>" in vocab:
            add(vocab["<|im_end|>"])
        if not ids:
            raise ValueError(f"{self.model_path}: no EOS token in tokenizer or config; "
                             f"cannot tell where a completion stops")
        return ids

    def render(self, prompt) -> str:
        """The text fed to the model: chats go through the chat template (generation prompt on,
        ``enable_thinking`` from the config); strings pass through unchanged."""
        if isinstance(prompt, str):
            return prompt
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"{self.model_path}: tokenizer has no chat template; pass raw strings")
        return self.tokenizer.apply_chat_template(
            [dict(m) for m in prompt], tokenize=False, add_generation_prompt=True,
            enable_thinking=self.thinking)

    def encode(self, prompt) -> list[int]:
        text = self.render(prompt)
        # a chat template already holds every special token; raw strings get the tokenizer's own
        ids = self.tokenizer(text, add_special_tokens=isinstance(prompt, str))["input_ids"]
        if not ids:
            raise ValueError("prompt encodes to zero tokens")
        return list(ids)

    def decode(self, token_ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    def completion_from_tokens(self, tokens: Sequence[int], max_new_tokens: int) -> Completion:
        """Cut generated ids at the first stop token (kept in the count, not in the text)."""
        stops = set(self.stop_token_ids)
        toks = list(tokens)
        for j, t in enumerate(toks):
            if t in stops:
                return Completion(self.decode(toks[:j]), j + 1, "stop")
        toks = toks[:max_new_tokens]
        return Completion(self.decode(toks), len(toks), "length")

    def check_lengths(self, prompt_lens: Sequence[int], max_new_tokens: int) -> int:
        """Raise ContextLengthError before any generation if the longest prompt + max_new_tokens
        exceeds the model's max_position_embeddings; return that total."""
        longest = max(prompt_lens)
        return _yarn.check_length(self.model_config, longest, max_new_tokens,
                                  name=f"{self.model_path} ({self.engine} engine)")

    # ------------------------------------------------------------------ engine hooks
    def _plan_chunks(self, num_prompts: int, prompt_lens: Sequence[int],
                     params: SamplingParams) -> list[list[int]]:
        """Consecutive groups of prompt indices, each generated in one go and then appended to
        the output file. Samples do not depend on the grouping (both engines seed per sample)."""
        raise NotImplementedError

    def _generate_chunk(self, chunk: list[int], token_ids: list[list[int]],
                        params: SamplingParams) -> dict[int, list[Completion]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ public API
    def generate(self, prompts: Sequence, *, n: int, temperature: float, top_p: float = 1.0,
                 top_k: int = -1, max_new_tokens: int, seed: int = 0,
                 out_file: str | Path | None = None, desc: str | None = None
                 ) -> list[list[Completion]]:
        """Sample ``n`` completions for every prompt; results in prompt order.

        Lengths are validated before anything is generated. With ``out_file`` each finished
        chunk is appended (one JSON line per prompt) and fsynced; prompts already in the file
        are read back and skipped, so an interrupted call resumes where it stopped.
        """
        params = validate_params(n, temperature, top_p, top_k, max_new_tokens, seed)
        prompts = list(prompts)
        for i, p in enumerate(prompts):
            _check_prompt(i, p)
        if not prompts:
            return []
        token_ids = [self.encode(p) for p in prompts]
        lens = [len(t) for t in token_ids]
        self.check_lengths(lens, params.max_new_tokens)
        digests = [hashlib.sha1(json.dumps(t).encode()).hexdigest()[:16] for t in token_ids]
        done = self._read_done(out_file, digests, params) if out_file else {}
        chunks = self._plan_chunks(len(prompts), lens, params)
        todo = [c for c in ([i for i in ch if i not in done] for ch in chunks) if c]
        results: dict[int, list[Completion]] = dict(done)
        bar = self._progress(len(prompts) * params.n, len(done) * params.n, desc)
        t0, ntok, ncomp = time.time(), 0, 0
        try:
            for chunk in todo:
                out = self._generate_chunk(chunk, token_ids, params)
                for i in chunk:
                    comps = out[i]
                    if len(comps) != params.n:
                        raise RuntimeError(f"{self.engine} engine returned {len(comps)} completions "
                                           f"for prompt {i}, expected {params.n}")
                    if out_file:
                        append_jsonl(out_file, {"index": i, "prompt_sha1": digests[i],
                                                "params": params.as_dict(),
                                                "completions": [c.to_dict() for c in comps]})
                    results[i] = comps
                    chunk_tokens = sum(c.num_tokens for c in comps)
                    ntok += chunk_tokens
                    ncomp += len(comps)
                if bar is not None:
                    dt = max(time.time() - t0, 1e-9)
                    bar.set_postfix_str(f"{ntok / dt:.1f} tok/s", refresh=False)
                    bar.update(sum(len(out[i]) for i in chunk))
        finally:
            if bar is not None:
                bar.close()
        dt = time.time() - t0
        self.last_stats = {"completions": ncomp, "tokens": ntok, "seconds": dt,
                           "resumed_prompts": len(done),
                           "completions_per_s": ncomp / dt if dt > 0 else None,
                           "tokens_per_s": ntok / dt if dt > 0 else None}
        return [results[i] for i in range(len(prompts))]

    # ------------------------------------------------------------------ helpers
    def _progress(self, total: int, initial: int, desc: str | None):
        if not self.progress:
            return None
        return progress_bar(total=total, initial=initial, unit="compl",
                            desc=desc or f"sampling {model_label(self.model_path)} ({self.engine})")

    @staticmethod
    def _read_done(out_file, digests: list[str], params: SamplingParams) -> dict[int, list[Completion]]:
        done: dict[int, list[Completion]] = {}
        path = Path(out_file)
        if path.exists():
            raw = path.read_bytes()
            if raw and not raw.endswith(b"\n"):
                # a killed writer left a torn last line: drop it so appends start on a fresh line
                with open(path, "r+b") as f:
                    f.truncate(raw.rfind(b"\n") + 1)
        for rec in read_jsonl(path):
            try:
                i = int(rec["index"])
                comps = [Completion.from_dict(c) for c in rec["completions"]]
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{path}: malformed record {str(rec)[:120]!r} ({e})") from e
            if not 0 <= i < len(digests) or rec.get("prompt_sha1") != digests[i]:
                raise ValueError(f"{path}: holds results for other prompts (index {i} does not match "
                                 f"this call's prompt); use another out_file or delete it")
            if rec.get("params") != params.as_dict():
                raise ValueError(f"{path}: written with sampling settings {rec.get('params')}, "
                                 f"this call asks for {params.as_dict()}; use another out_file")
            if len(comps) != params.n:
                raise ValueError(f"{path}: prompt {i} has {len(comps)} completions, expected {params.n}")
            done[i] = comps
        return done


def iter_batches(items: Sequence, size: int) -> Iterator[list]:
    for s in range(0, len(items), size):
        yield list(items[s:s + size])
