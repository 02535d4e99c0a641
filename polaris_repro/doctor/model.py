"""Checks of the model: its context against every stage's token budget and the evaluation (with
the tier's context extension and YaRN), its chat template and ``<think>`` tokens."""
from __future__ import annotations

import math

from ..resources import ModelSpec, local_model_folder
from .rows import Row, row


def _eval_limit(cfg: dict, native: int) -> tuple[int, int | None]:
    """(the evaluation's context limit, YaRN's nominal coverage or None) as evaluation sets them:
    max(context_extension, factor x original, native)."""
    ev = cfg.evaluation
    ext = int(cfg.model.context_extension.max_position_embeddings or 0)
    y = ev.yarn
    nominal = None
    if y.enabled:
        orig = int(y.original_max_position_embeddings or native)
        nominal = int(math.ceil(float(y.factor) * orig))
    return max(native, ext, nominal or 0), nominal


def check_model(cfg: dict, spec: ModelSpec | None) -> list[Row]:
    m, tr = cfg.model, cfg.training
    path = str(m.path)
    rows = []
    if spec is None:
        _, note = local_model_folder(path)
        rows.append(row("model config", "warn", f"{path}: {note}; not in resources.KNOWN_MODELS",
                         "download it first (huggingface-cli download) or pass a local folder"))
        native = m.max_position_embeddings
    else:
        rows.append(row("model config", "ok", f"{path}: {spec.layers} layers, {spec.kv_heads} KV heads x "
                         f"{spec.head_dim}, hidden {spec.hidden}, "
                         + (f"{spec.params / 1e9:.2f}B" if spec.params >= 1e9 else f"{spec.params / 1e6:.1f}M")
                         + f" params; {spec.source}"))
        native = spec.max_position_embeddings or m.max_position_embeddings
    if native:
        declared = m.max_position_embeddings
        if spec is not None and declared and spec.max_position_embeddings and declared != spec.max_position_embeddings \
                and spec.source.startswith("config.json"):
            rows.append(row("model context", "warn", f"config.json says {spec.max_position_embeddings}, the tier "
                             f"declares model.max_position_embeddings = {declared}", "correct the tier's value"))
        native = int(native)
        ext = int(m.context_extension.max_position_embeddings or 0)
        limit = max(native, ext)
        prompt = int(tr.max_prompt_length)
        stages = cfg.training.stages
        over = [s for s in stages if s.token_budget > limit]
        raised = [s.name for s in stages if native < s.token_budget <= limit]
        budgets = ", ".join(f"{s.name} {s.token_budget:,}" for s in stages)
        found = f"native {native:,}; stages {budgets}"
        if over:
            rows.append(row("model context: training", "fail", found + f"; {', '.join(s.name for s in over)} "
                             f"exceed {limit:,}", "set model.context_extension.max_position_embeddings to cover "
                             f"{max(s.token_budget for s in over):,} (issue #6 of the official repo)"))
        else:
            rows.append(row("model context: training", "ok", found + (
                f"; raised to {ext:,} before {', '.join(raised)} (model.context_extension)" if raised else "")))
        need = prompt + int(cfg.evaluation.max_new_tokens)
        elimit, nominal = _eval_limit(cfg, native)
        found = f"prompt {prompt:,} + max_new_tokens {int(cfg.evaluation.max_new_tokens):,} = {need:,}; limit {elimit:,}"
        if need > elimit:
            rows.append(row("model context: evaluation", "fail", found, "enable evaluation.yarn or raise "
                             "model.context_extension.max_position_embeddings, or lower evaluation.max_new_tokens"))
        else:
            note = ""
            if nominal and need > nominal:
                note = (f"; YaRN x{cfg.evaluation.yarn.factor} nominally covers {nominal:,}: the "
                        "positions beyond are used as the report did (reference 8)")
            elif nominal:
                note = f"; YaRN covers {nominal:,}"
            rows.append(row("model context: evaluation", "ok", found + note))
    # chat template and <think>
    if spec is None or spec.chat_template is None:
        rows.append(row("chat template", "warn", "not checked (model files not local)", ""))
    elif spec.chat_template:
        rows.append(row("chat template", "ok", "present" + (" (known model)" if spec.source.startswith("known") else "")))
    else:
        rows.append(row("chat template", "fail", "the tokenizer has no chat_template (verl applies it to every "
                         "prompt)", "use an instruct/chat checkpoint or add chat_template.jinja to the folder"))
    needs_think = bool(cfg.grading.require_think) or (bool(m.thinking) and m.family == "qwen3")
    if not needs_think:
        rows.append(row("<think> tokens", "ok", "not required (grading.require_think false, no thinking mode)"))
    elif spec is None or spec.think_tokens is None:
        rows.append(row("<think> tokens", "warn", "required but not checked (model files not local)", ""))
    elif spec.think_tokens:
        rows.append(row("<think> tokens", "ok", "<think> and </think> in the vocabulary; required by "
                         + ("grading.require_think" if cfg.grading.require_think else "thinking mode")))
    else:
        rows.append(row("<think> tokens", "fail", "grading.require_think is on but the tokenizer has no "
                         "<think>/</think>: every reward would be 0", "use a reasoning model, or -o "
                         "grading.require_think=false"))
    return rows
