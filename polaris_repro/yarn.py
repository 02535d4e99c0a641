"""YaRN rope scaling and context limits (reference polaris-recipe.md §7.1, §8).

POLARIS evaluates with a YaRN entry in the model config (``rope_type`` yarn, ``factor`` 1.5,
``attn_factor`` 1.0) and raises ``max_position_embeddings`` so that prompt + 90K new tokens fit;
Qwen3-4B ships ``max_position_embeddings = 40,960``, which stages 2/3 (49,152 / 53,248 tokens) and
the 90K evaluation exceed, so the limit must be raised before they run (with or without rope
scaling: POLARIS raised it "before RL training", issue #6).

Key names differ between engine generations, so the entry written here carries all of them:

* transformers 5 keeps rope settings in ``rope_parameters`` (with ``rope_theta`` inside) and still
  reads ``rope_scaling`` from config.json — but a ``rope_scaling`` without ``rope_theta`` next to a
  ``rope_parameters`` silently resets theta to 10,000. We write both, each with ``rope_theta``.
* POLARIS's ``attn_factor`` is the multiplier that vLLM releases of its time applied on top of YaRN's
  magnitude scaling ``0.1 ln(factor) + 1``. transformers 5 and vLLM 0.32 ignore ``attn_factor`` and
  read ``attention_factor``, the whole scaling. We write ``attn_factor`` (the recipe's value) and
  ``attention_factor = attn_factor * (0.1 ln(factor) + 1)``, so every engine applies the scaling
  POLARIS's engine applied. (transformers logs that it does not use ``attn_factor``; harmless.)
* vLLM 0.32 takes ``max_position_embeddings`` of a YaRN model as already scaled, and also caps the
  length at the tokenizer's ``model_max_length``; both are raised here.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any, Mapping

from .artifacts import write_json

ORIG_CONFIG = "config.orig.json"


class ContextLengthError(ValueError):
    """Prompt + new tokens do not fit the model's context; the message names the numbers."""


def yarn_mscale(factor: float) -> float:
    """YaRN's attention magnitude scaling for a scale factor (1.0 when not extending)."""
    return 1.0 if factor <= 1.0 else 0.1 * math.log(factor) + 1.0


def yarn_rope_scaling(factor: float, original_max_position_embeddings: int,
                      attn_factor: float = 1.0) -> dict:
    """The YaRN rope-scaling entry (see the module docstring for the key names)."""
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor < 1.0:
        raise ValueError(f"YaRN factor must be a number >= 1.0, got {factor!r}")
    if not isinstance(original_max_position_embeddings, int) or original_max_position_embeddings < 1:
        raise ValueError("original_max_position_embeddings must be a positive int, got "
                         f"{original_max_position_embeddings!r}")
    if not isinstance(attn_factor, (int, float)) or attn_factor <= 0:
        raise ValueError(f"attn_factor must be a positive number, got {attn_factor!r}")
    return {
        "rope_type": "yarn",
        "factor": float(factor),
        "original_max_position_embeddings": int(original_max_position_embeddings),
        "attn_factor": float(attn_factor),
        "attention_factor": float(attn_factor) * yarn_mscale(float(factor)),
    }


def required_factor(needed_len: int, original: int) -> float:
    """Smallest YaRN factor (2 decimals, rounded up) with ``factor * original >= needed_len``."""
    if original < 1:
        raise ValueError(f"original context must be positive, got {original}")
    if needed_len <= original:
        return 1.0
    f = math.ceil(needed_len / original * 100 - 1e-9) / 100
    while f * original < needed_len:   # guard against float rounding
        f = round(f + 0.01, 2)
    return f


# ----------------------------------------------------------------------------------------------
# reading configs

def read_config(model_dir_or_config: Any) -> dict:
    """A model config as a plain dict, from a folder, a config.json path, a dict or a
    transformers config object."""
    obj = model_dir_or_config
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "to_dict") and not isinstance(obj, (str, Path)):
        return obj.to_dict()
    p = Path(obj)
    if p.is_dir():
        p = p / "config.json"
    if not p.exists():
        raise FileNotFoundError(f"model config not found: {p}")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON: {e}") from e


def rope_settings(config: Mapping) -> dict:
    """The effective rope dict of a config (``rope_scaling`` wins over ``rope_parameters`` as in
    transformers 5), with ``rope_theta`` filled in from wherever the config keeps it."""
    params = dict(config.get("rope_parameters") or {})
    scaling = config.get("rope_scaling")
    out = dict(scaling) if isinstance(scaling, Mapping) and scaling else dict(params)
    if "type" in out and "rope_type" not in out:
        out["rope_type"] = out.pop("type")
    out.setdefault("rope_type", "default")
    theta = out.get("rope_theta", params.get("rope_theta", config.get("rope_theta")))
    if theta is not None:
        out["rope_theta"] = theta
    if "partial_rotary_factor" not in out:
        prf = params.get("partial_rotary_factor", config.get("partial_rotary_factor"))
        if prf is not None:
            out["partial_rotary_factor"] = prf
    return out


def context_limit(model_dir_or_config: Any) -> int:
    hf = read_config(model_dir_or_config)
    limit = hf.get("max_position_embeddings")
    if limit is None and isinstance(hf.get("text_config"), Mapping):
        limit = hf["text_config"].get("max_position_embeddings")
    if not isinstance(limit, int):
        raise ValueError(f"model config has no integer max_position_embeddings (got {limit!r})")
    return limit


def original_context(model_dir_or_config: Any) -> int:
    """The pre-scaling context: the YaRN entry's original_max_position_embeddings, if any, else
    max_position_embeddings."""
    cfg = read_config(model_dir_or_config)
    rope = rope_settings(cfg)
    if rope.get("rope_type") == "yarn" and rope.get("original_max_position_embeddings"):
        return int(rope["original_max_position_embeddings"])
    return context_limit(cfg)


def check_length(model_dir_or_config: Any, prompt_len: int, max_new_tokens: int, *,
                 name: str | None = None) -> int:
    """Raise :class:`ContextLengthError` unless prompt_len + max_new_tokens fits the config's
    max_position_embeddings; return the total otherwise."""
    cfg = read_config(model_dir_or_config)
    limit = context_limit(cfg)
    total = int(prompt_len) + int(max_new_tokens)
    if total <= limit:
        return total
    orig = original_context(cfg)
    f = required_factor(total, orig)
    who = name or (str(model_dir_or_config) if isinstance(model_dir_or_config, (str, Path))
                   else "the model")
    raise ContextLengthError(
        f"{who}: prompt ({prompt_len} tokens) + max_new_tokens ({max_new_tokens}) = {total} tokens "
        f"exceeds the model's max_position_embeddings = {limit}. A YaRN factor of {f} on "
        f"original_max_position_embeddings = {orig} covers {int(f * orig)} tokens: "
        f"polaris_repro.yarn.apply_yarn(model_dir, {f}, max_position_embeddings={total}); or raise "
        f"the limit without rope scaling (as POLARIS did before stage 2): "
        f"polaris_repro.yarn.extend_context(model_dir, {total}). Nothing was generated.")


# ----------------------------------------------------------------------------------------------
# patching configs

def config_overrides(config: Any, *, rope_scaling: Mapping | None = None,
                     max_position_embeddings: int | None = None) -> dict:
    """The config keys to set for a rope-scaling entry and/or a new context limit, as a dict
    usable as vLLM ``hf_overrides`` or transformers config kwargs (rope_theta kept)."""
    hf = read_config(config)
    out: dict = {}
    if rope_scaling:
        current = rope_settings(hf)
        entry = dict(rope_scaling)
        if "type" in entry and "rope_type" not in entry:
            entry["rope_type"] = entry.pop("type")
        for key in ("rope_theta", "partial_rotary_factor"):
            if key in current and key not in entry:
                entry[key] = current[key]
        out["rope_parameters"] = dict(entry)
        out["rope_scaling"] = dict(entry)
        if "rope_theta" in hf or "rope_theta" in entry:
            out["rope_theta"] = entry.get("rope_theta", hf.get("rope_theta"))
    if max_position_embeddings is not None:
        if not isinstance(max_position_embeddings, int) or max_position_embeddings < 1:
            raise ValueError("max_position_embeddings must be a positive int, got "
                             f"{max_position_embeddings!r}")
        out["max_position_embeddings"] = int(max_position_embeddings)
    return out


def _prepare_folder(model_dir: Path, out_dir: str | Path | None) -> Path:
    if not (model_dir / "config.json").exists():
        raise FileNotFoundError(f"{model_dir}: no config.json (not a model folder)")
    if out_dir is None:
        orig = model_dir / ORIG_CONFIG
        if not orig.exists():   # keep the very first config, never overwrite it
            shutil.copy2(model_dir / "config.json", orig)
        return model_dir
    out = Path(out_dir)
    if out.resolve() == model_dir.resolve():
        return _prepare_folder(model_dir, None)
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(model_dir, tmp, symlinks=False,
                    ignore=shutil.ignore_patterns(".git", ".cache", "*.lock"))
    if not (tmp / ORIG_CONFIG).exists():
        shutil.copy2(model_dir / "config.json", tmp / ORIG_CONFIG)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _write_config(folder: Path, updates: Mapping) -> None:
    cfg = read_config(folder)
    cfg.update(updates)
    write_json(folder / "config.json", cfg)
    # vLLM caps the context at the tokenizer's model_max_length; keep it from being the limit
    tok_cfg = folder / "tokenizer_config.json"
    new_max = updates.get("max_position_embeddings")
    if new_max and tok_cfg.exists():
        tc = json.loads(tok_cfg.read_text())
        mml = tc.get("model_max_length")
        if isinstance(mml, (int, float)) and mml < new_max:
            tc["model_max_length"] = int(new_max)
            write_json(tok_cfg, tc)


def apply_yarn(model_dir: str | Path, factor: float, *, out_dir: str | Path | None = None,
               attn_factor: float = 1.0, max_position_embeddings: int | None = None,
               original_max_position_embeddings: int | None = None) -> Path:
    """Add the YaRN entry to a checkpoint folder and raise ``max_position_embeddings`` to cover
    ``factor x original`` (or to ``max_position_embeddings`` when given).

    ``out_dir`` None patches in place, keeping the first config as ``config.orig.json``; otherwise
    the folder is copied to ``out_dir`` (replaced if present) and patched there. The original
    context defaults to the config's existing YaRN ``original_max_position_embeddings``, else its
    ``max_position_embeddings``. Returns the patched folder.
    """
    src = Path(model_dir)
    cfg = read_config(src)
    orig = int(original_max_position_embeddings or original_context(cfg))
    entry = yarn_rope_scaling(factor, orig, attn_factor)
    current = context_limit(cfg)
    new_max = int(max_position_embeddings) if max_position_embeddings is not None else \
        max(current, int(math.ceil(factor * orig)))
    if new_max < int(math.ceil(factor * orig)) and max_position_embeddings is not None:
        raise ValueError(f"max_position_embeddings={new_max} is below factor x original = "
                         f"{factor} x {orig}; leave it unset or raise it")
    updates = config_overrides(cfg, rope_scaling=entry, max_position_embeddings=new_max)
    folder = _prepare_folder(src, out_dir)
    _write_config(folder, updates)
    return folder


def extend_context(model_dir: str | Path, max_position_embeddings: int,
                   out_dir: str | Path | None = None) -> Path:
    """Raise ``max_position_embeddings`` without rope scaling (what POLARIS did before stage 2)."""
    src = Path(model_dir)
    cfg = read_config(src)
    if not isinstance(max_position_embeddings, int) or max_position_embeddings < 1:
        raise ValueError(f"max_position_embeddings must be a positive int, got {max_position_embeddings!r}")
    current = context_limit(cfg)
    if max_position_embeddings < current:
        raise ValueError(f"{src}: max_position_embeddings {max_position_embeddings} is below the "
                         f"current {current}; extend_context only raises the limit")
    folder = _prepare_folder(src, out_dir)
    _write_config(folder, {"max_position_embeddings": int(max_position_embeddings)})
    return folder
