"""Checks of what a stage consumes: GPU memory of the actor update and the vLLM rollout per stage
(:mod:`polaris_repro.resources`' memory model), and disk for the checkpoints verl keeps."""
from __future__ import annotations

import math
from typing import Iterable

from ..artifacts import artifacts_root
from ..resources import GB, ModelSpec, actor_memory, checkpoint_gb, is_gpu_tier, rollout_memory, world_size
from .hardware import Hardware, gpu_memory_gb
from .rows import Row, row


def check_memory(cfg: dict, hw: Hardware, spec: ModelSpec | None) -> list[Row]:
    if not is_gpu_tier(cfg):
        return [row("gpu memory", "ok", "not needed: CPU tier (the actor and the rollout model share host memory)")]
    if spec is None:
        return [row("gpu memory", "warn", f"model {cfg.model.path!r}: layers / KV heads unknown "
                     "(not a local folder, not cached, not in resources.KNOWN_MODELS)",
                     "pass a local model folder (-o model.path=/path) to check memory")]
    mem, name = gpu_memory_gb(hw)
    if mem is None:
        return [row("gpu memory", "warn", "no GPU visible to measure", "run on the training nodes")]
    rows = []
    for st in cfg.training.stages:
        a = actor_memory(spec, cfg, st)
        found = (f"{a['total']:.1f} of {mem:.0f} GB ({name}) at {a['tokens']:,} tokens/GPU: logits {a['logits']:.1f}, "
                 f"activations {a['activations']:.1f}, FSDP states {a['fsdp states']:.1f} over {world_size(cfg)} GPUs")
        label = f"gpu memory {st.name}: actor"
        if a["total"] > mem:
            rows.append(row(label, "fail", found, "raise ulysses_sp for the stage / more GPUs, keep "
                             "training.gradient_checkpointing on, or lower the stage's max_response_length (its token budget)"))
        elif a["total"] > 0.9 * mem:
            rows.append(row(label, "warn", found + " (> 90 %)", "little headroom: fragmentation may OOM"))
        else:
            rows.append(row(label, "ok", found))
        r = rollout_memory(spec, cfg, st, mem)
        label = f"gpu memory {st.name}: rollout"
        found = (f"KV cache {r['kv_cache']:.1f} GB = {r['kv_tokens']:,.0f} tokens ({r['kv_per_token_kib']:.0f} KiB/token)"
                 f" = {r['sequences']:.1f} sequences of {r['seq_tokens']:,}; rollout_n = {r['need_sequences']}")
        util_fix = "raise training.gpu_memory_utilization, use sampling.tensor_parallel_size 2, or more GPUs memory"
        if r["budget"] + r["resident"] > mem:
            rows.append(row(label, "fail", f"vLLM's {r['budget']:.1f} GB (gpu_memory_utilization) + "
                             f"{r['resident']:.1f} GB the actor keeps on the GPU > {mem:.0f} GB",
                             "turn training.param_offload / optimizer_offload on or lower training.gpu_memory_utilization"))
        elif r["sequences"] < 1:
            rows.append(row(label, "fail", found + ": vLLM refuses max_model_len", util_fix))
        elif r["sequences"] < r["need_sequences"]:
            rows.append(row(label, "warn", found + ": a full-length group does not fit at once (vLLM preempts; "
                             "slower, not an error)", util_fix))
        else:
            rows.append(row(label, "ok", found))
    return rows


def _ckpt_keep(verl_overrides: Iterable[str]) -> int | None:
    for item in verl_overrides:
        key, _, val = item.lstrip("+").partition("=")
        if key.strip() == "trainer.max_actor_ckpt_to_keep" and val.strip() not in ("", "null", "None"):
            return int(val)
    return None


def check_disk(cfg: dict, hw: Hardware, spec: ModelSpec | None, verl_overrides: Iterable[str] = ()) -> list[Row]:
    tr = cfg.training
    if spec is None:
        return [row("disk: checkpoints", "warn", "model size unknown", "pass a local model folder")]
    keep = _ckpt_keep(verl_overrides)
    if keep is None and tr.max_ckpt_to_keep is not None:
        keep = int(tr.max_ckpt_to_keep)
    per = checkpoint_gb(spec, cfg)
    merged = (4 if cfg.model.dtype == "float32" else 2) * spec.params / GB
    save = int(tr.save_freq)
    total, unknown, saves = 0.0, [], []
    for st in tr.stages:
        steps = st.steps
        if steps is None:
            unknown.append(st.name)
            continue
        n = math.ceil(int(steps) / save) if save > 0 else 1   # every save_freq steps and at the last step
        n = min(n, keep) if keep else n
        saves.append(n)
        total += n * per + merged
    if saves and not tr.keep_checkpoints:
        # each stage's checkpoints go once its model is merged: the peak is the largest stage's
        total -= (sum(saves) - max(saves)) * per
    free = hw.disk_free_gb
    def gb(x: float) -> str:
        return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"

    found = (f"{sum(saves)} checkpoint(s) x {gb(per)} GB + merged models = {gb(total)} GB"
             + (f" (kept: {keep} per stage)" if keep else " (verl keeps every checkpoint)")
             + ("" if tr.keep_checkpoints else
                "; removed after each stage's merge (training.keep_checkpoints=false): peak shown")
             + (f"; free {free:,.0f} GB under {hw.disk_path or artifacts_root()}" if free is not None else ""))
    fix = ("lower training.max_ckpt_to_keep (-o training.max_ckpt_to_keep=1), or put POLARIS_ARTIFACTS on a larger volume")
    if unknown:
        return [row("disk: checkpoints", "warn", found + f"; {', '.join(unknown)} have no step count: "
                     f"{per:.1f} GB every {save} steps", fix)]
    if free is None:
        return [row("disk: checkpoints", "warn", found + "; free space unknown", "")]
    if total > free:
        return [row("disk: checkpoints", "fail", found, fix)]
    if total > 0.8 * free:
        return [row("disk: checkpoints", "warn", found + " (> 80 % of the free space)", fix)]
    return [row("disk: checkpoints", "ok", found)]
