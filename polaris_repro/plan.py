"""``polaris-repro plan``: what a tier's training will cost, before it starts.

``estimate(cfg, gpus=None, gpu_type=None)`` returns one row per stage and a total: prompts x rollouts
x expected response length = tokens generated per step, tokens the update processes per step, steps,
and wall-clock from the throughput model below. ``calibration()`` compares the model with every
figure the authors (and this package, for its CPU tiers) measured and prints the relative error;
``alternatives(cfg)`` prices smaller configurations (batch 64, the ``single-gpu`` tier).

The throughput model (every constant stated here, each with the figure it comes from):

* **expected response length** -- responses of a model are taken as exponentially distributed
  around its natural mean length ``m`` (:data:`NATURAL_RESPONSE_TOKENS`), cut at the cap ``c``
  (``max_response_length``): mean ``m (1 - exp(-c/m))``, share cut at the cap ``exp(-c/m)``.
  R1-Distill-Qwen-7B: m = 9,000 (report Fig. 14: 9.4K mean with ~23 % clipped at 16K at step 0,
  7.5K later); Qwen3-4B: m = 16,000 (Fig. 14: ~15K at a 24K cap at step 0); Qwen3-1.7B: no published
  length, m fitted to the 1 h step of issue #4; other models: ``c / 2``. The mean prompt is
  ``min(max_prompt_length, 256)`` tokens (templated math problems; the CPU tiers' 55-59 of 64).
* **generation (vLLM, GPU)** -- the slower of two bounds. *Latency*: the batch waits for its longest
  response, which runs to the cap (with 1,024 rollouts some always do), one decode step per token;
  the authors' stage scripts ran vLLM eagerly (``enforce_eager``), where a decode step costs
  :data:`DECODE_S_PER_LAYER` per layer, fitted to the 7B's 300 s of generation on 8 x H200 (issue
  #16: 15,360 tokens x 28 layers). *Bandwidth*: every generated token reads its sequence's KV cache
  (mean context prompt + response / 2) and a share of the weights from HBM at
  :data:`HBM_EFFICIENCY` of the data-sheet bandwidth (an assumption, not fitted).
* **update (FSDP, GPU)** -- update tokens x FLOPs per token / (GPUs x peak BF16 x :data:`MFU`);
  FLOPs per token = passes x (2 x params + 2 x layers x q_dim x sequence length) with passes =
  forward + backward (3) + the recomputation of gradient checkpointing (1) + the old-log-prob pass
  (1 when ``training.old_log_prob: recompute``). MFU fitted to the 7B's 300 s of update (issue #16).
* **validation** -- every ``test_freq`` steps, ``val_n`` samples of each validation problem at the
  stage's cap (same generation model), spread over the steps.
* **CPU tiers** -- measured on the 2-core development machine (a smoke run's logged step timings,
  AMD EPYC in bf16, 2026-12-07): a rollout decode step of all ``prompts x n`` sequences at
  :data:`CPU_DECODE_FLOPS`, the padded update at :data:`CPU_TRAIN_FLOPS`, :data:`CPU_STEP_OTHER_S`
  per step for rewards, POLARIS's per-batch work and verl's bookkeeping, and
  :data:`CPU_STAGE_START_S` per stage for the verl launch and the checkpoint merge.

The tiers run vLLM with CUDA graphs (``training.enforce_eager: false``), which shortens decode
steps; the latency bound keeps the eager constant, so generation times are upper bounds (not measured
with graphs here). Not modelled: skipped batches (each costs a generation without an update), checkpoint writes, the
stage start-up on GPUs (minutes), queueing.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from .config import Config, ConfigError, StageSpec, as_config, load_config
from .resources import GPU_TYPES, GPUType, ModelSpec, gpu_type as _gpu_type, is_gpu_tier, model_spec, \
    rollout_memory

# ------------------------------------------------------------------------------------------------
# constants (see the module docstring for where each comes from)

DECODE_S_PER_LAYER = 300.0 / (15360 * 28)   # 0.70 ms: 7B stage 1 on 8 x H200, 300 s of generation (issue #16)
HBM_EFFICIENCY = 0.5                        # share of the data-sheet HBM bandwidth paged-attention decode reaches
MFU = None                                  # set below: fitted to the 7B's 300 s of update (issue #16)
MEAN_PROMPT_CAP = 256                       # mean prompt tokens: min(max_prompt_length, this)
NATURAL_RESPONSE_TOKENS = {                 # natural mean response length m of a model (see above)
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": 9000,
    "Qwen/Qwen3-4B": 16000,
    "Qwen/Qwen3-1.7B": None,                # set below: fitted to issue #4's 1 h per step
}
VAL_PROBLEMS_DEFAULT = 30                   # AIME24 when data.val.num_problems is null
DEFAULT_GPU = {"paper-4b": "H800", "paper-7b": "H800", "paper-1.7b": "H800"}   # the authors' GPUs
FALLBACK_GPU = "H100"

# CPU tiers, measured (smoke stage 1, 2 AMD EPYC cores, bf16 autocast update, fp32 rollout; run
# 20261207-104641 at commit 0eda316, seed 10, verl's timing_s/* of its 5 steps: 31.5 s per step = rollout
# 11.3 s + update 17.0 s + the rest; each stage's launch, final checkpoint and shut-down beyond its steps
# 34.3 s (34.1-34.5 over the three stages), its merge 6.4 s)
CPU_SMOKE_STEP_S = 31.5
CPU_SMOKE_GEN_S = 11.3
CPU_SMOKE_UPDATE_S = 17.0
CPU_STEP_OTHER_S = CPU_SMOKE_STEP_S - CPU_SMOKE_GEN_S - CPU_SMOKE_UPDATE_S
CPU_STAGE_START_S = 34.3 + 6.4
CPU_DECODE_FLOPS = None                     # set below from the smoke rollout
CPU_TRAIN_FLOPS = None                      # set below from the smoke update


@dataclass(frozen=True)
class Compute:
    gpus: int
    gpu: GPUType | None       # None: the CPU tiers
    label: str


def expected_response(m: float, cap: int) -> tuple[float, float]:
    """(mean response tokens, share cut at the cap) for natural mean ``m`` and cap ``cap``."""
    if m <= 0:
        return float(cap), 1.0
    clip = math.exp(-cap / m)
    return m * (1 - clip), clip


def natural_length(cfg: Config, stage: Mapping) -> tuple[float, str]:
    path = str(cfg.model.path)
    m = NATURAL_RESPONSE_TOKENS.get(path)
    if m:
        return float(m), "natural length of " + path.split("/")[-1]
    return cfg.stage(stage).max_response_length / 2.0, "half the cap"


def _passes(cfg: Config) -> int:
    tr = cfg.training
    return 3 + (1 if tr.gradient_checkpointing else 0) + (1 if tr.old_log_prob == "recompute" else 0)


def _flops_per_token(spec: ModelSpec, seq: float, passes: int) -> float:
    return passes * (2.0 * spec.params + 2.0 * spec.layers * spec.q_dim * seq)


def _gen_seconds_gpu(spec: ModelSpec, cfg: Config, stage: Mapping, hw: Compute, seqs: int, mean_resp: float,
                     cap: int, prompt: float) -> tuple[float, str]:
    latency = cap * spec.layers * DECODE_S_PER_LAYER
    mem = rollout_memory(spec, cfg, stage, hw.gpu.memory_gb)
    per_gpu = seqs / hw.gpus
    conc = max(1.0, min(1024.0, mem["kv_tokens"] / max(1.0, prompt + mean_resp), per_gpu))
    tp = max(1, int(cfg.sampling.tensor_parallel_size))
    bytes_per_token = spec.kv_bytes_per_token(2, tp) * (prompt + mean_resp / 2) + 2.0 * spec.params / tp / conc
    tokens_per_gpu = per_gpu * mean_resp
    bandwidth = tokens_per_gpu * bytes_per_token / (hw.gpu.hbm_tbs * 1e12 * HBM_EFFICIENCY)
    return (latency, "latency") if latency >= bandwidth else (bandwidth, "bandwidth")


def _val_seconds(spec: ModelSpec, cfg: Config, stage: Mapping, hw: Compute, m: float) -> float:
    tr = cfg.training
    freq = int(tr.test_freq)
    if freq <= 0:
        return 0.0
    cap = cfg.stage(stage).max_response_length
    n_problems = int(cfg.data.val.num_problems or VAL_PROBLEMS_DEFAULT)
    seqs = n_problems * int(tr.val_n)
    mean, _ = expected_response(m, cap)
    prompt = min(int(tr.max_prompt_length), MEAN_PROMPT_CAP)
    if hw.gpu is None:
        return seqs * cap * 2.0 * spec.params / CPU_DECODE_FLOPS / freq
    gen, _ = _gen_seconds_gpu(spec, cfg, stage, hw, seqs, mean, cap, prompt)
    return gen / freq


def step_estimate(cfg: Config, stage: Mapping, hw: Compute, spec: ModelSpec) -> dict:
    """One GRPO step of ``stage`` on ``hw``: tokens and seconds by phase."""
    _fit()
    tr = cfg.training
    B, n = int(tr.train_batch_size), int(tr.rollout_n)
    seqs = B * n
    cap = cfg.stage(stage).max_response_length
    prompt = float(min(int(tr.max_prompt_length), MEAN_PROMPT_CAP))
    m, m_src = natural_length(cfg, stage)
    mean, clip = expected_response(m, cap)
    gen_tokens = seqs * mean
    if tr.use_remove_padding:
        upd_tokens = seqs * (prompt + mean)
    else:   # verl pads every sequence to max_prompt_length + max_response_length
        upd_tokens = seqs * (int(tr.max_prompt_length) + cap)
    seq_len = upd_tokens / seqs
    passes = _passes(cfg)
    flops = upd_tokens * _flops_per_token(spec, seq_len, passes)
    if hw.gpu is None:
        gen_s, bound = cap * seqs * 2.0 * spec.params / CPU_DECODE_FLOPS, "cpu"
        upd_s = flops / CPU_TRAIN_FLOPS
        other = CPU_STEP_OTHER_S
    else:
        gen_s, bound = _gen_seconds_gpu(spec, cfg, stage, hw, seqs, mean, cap, prompt)
        upd_s = flops / (hw.gpus * hw.gpu.tflops * 1e12 * MFU)
        other = 0.0
    val_s = _val_seconds(spec, cfg, stage, hw, m)
    return {"prompts x n": f"{B} x {n}", "cap": cap, "mean response": mean, "clipped": clip,
            "length model": m_src, "tokens generated/step": gen_tokens, "update tokens/step": upd_tokens,
            "gen s": gen_s, "gen bound": bound, "update s": upd_s, "val s": val_s, "other s": other,
            "s/step": gen_s + upd_s + val_s + other}


def hardware_for(cfg: Config, gpus: int | None = None, gpu_type: str | None = None) -> Compute:
    if not is_gpu_tier(cfg):
        if gpu_type:
            raise ValueError(f"tier {cfg.tier} is a CPU tier; --gpu-type applies to the GPU tiers")
        return Compute(1, None, "2 CPU cores (measured)")
    tr = cfg.training
    n = int(gpus) if gpus else int(tr.nnodes) * int(tr.n_gpus_per_node)
    if n <= 0:
        raise ValueError(f"--gpus must be a positive number, got {gpus}")
    g = _gpu_type(gpu_type or DEFAULT_GPU.get(cfg.tier, FALLBACK_GPU))
    return Compute(n, g, f"{n} x {g.name}")


def tier_model_spec(cfg: Config) -> ModelSpec:
    spec = model_spec(str(cfg.model.path))
    if spec is None:
        raise ValueError(f"model {cfg.model.path!r}: architecture unknown (not a local folder, not "
                         "cached, not in resources.KNOWN_MODELS); pass a local folder with -o model.path=...")
    return spec


def estimate(cfg: Config | str, gpus: int | None = None, gpu_type: str | None = None, *,
             overrides: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-stage cost of a tier (a name or a resolved config) and a ``total`` row."""
    cfg = load_config(cfg, overrides) if isinstance(cfg, str) else as_config(cfg)
    hw = hardware_for(cfg, gpus, gpu_type)
    spec = tier_model_spec(cfg)
    rows = []
    for st in cfg.training.stages:
        e = step_estimate(cfg, st, hw, spec)
        steps = st.steps
        start = CPU_STAGE_START_S if hw.gpu is None else 0.0
        hours = (e["s/step"] * int(steps) + start) / 3600 if steps is not None else float("nan")
        rows.append({"stage": st.name, "hardware": hw.label, **{k: e[k] for k in (
            "prompts x n", "cap", "mean response", "tokens generated/step", "update tokens/step")},
            "steps": steps, "gen s/step": e["gen s"], "update s/step": e["update s"],
            "val s/step": e["val s"], "other s/step": e["other s"], "s/step": e["s/step"], "hours": hours,
            "GPU hours": hours * hw.gpus if hw.gpu is not None else float("nan")})
    df = pd.DataFrame(rows)
    if len(df):
        known = df["steps"].notna()
        tot = {"stage": "total", "hardware": hw.label, "prompts x n": "",
               "steps": int(df.loc[known, "steps"].sum()) if known.all() else None,
               "tokens generated/step": float("nan"), "update tokens/step": float("nan"),
               "hours": df["hours"].sum() if known.all() else float("nan"),
               "GPU hours": df["GPU hours"].sum() if known.all() and hw.gpu is not None else float("nan")}
        if known.all() and tot["steps"]:   # step-weighted mean (stage start-ups excluded)
            tot["s/step"] = float((df["s/step"] * df["steps"].astype(float)).sum() / tot["steps"])
        df = pd.concat([df, pd.DataFrame([tot])], ignore_index=True)
    df.attrs.update({"tier": cfg.tier, "hardware": hw.label, "model": spec.name})
    return df


# ------------------------------------------------------------------------------------------------
# calibration against the published figures

def _stage(cfg: Config, name: str) -> StageSpec:
    return cfg.stage(name)


def _fit() -> None:
    """Fit MFU, the 1.7B's natural length and the CPU rates (module constants) once."""
    global MFU, CPU_DECODE_FLOPS, CPU_TRAIN_FLOPS
    if MFU is not None:
        return
    # MFU: 7B stage 1 on 8 x H200, update 300 s (issue #16)
    c7 = load_config("paper-7b")
    st = _stage(c7, "stage1")
    spec7 = KNOWN["7b"]()
    B = int(c7.training.train_batch_size) * int(c7.training.rollout_n)
    mean, _ = expected_response(NATURAL_RESPONSE_TOKENS["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"],
                                c7.stage(st).max_response_length)
    prompt = min(int(c7.training.max_prompt_length), MEAN_PROMPT_CAP)
    flops = B * (prompt + mean) * _flops_per_token(spec7, prompt + mean, _passes(c7))
    MFU = flops / (300.0 * 8 * GPU_TYPES["H200"].tflops * 1e12)
    # CPU: smoke stage 1 (4 x 8 sequences, cap 64, padded update over max_prompt 64 + 64)
    cs = load_config("smoke")
    st = cs.training.stages[0]
    specs = KNOWN["smoke"]()
    seqs = int(cs.training.train_batch_size) * int(cs.training.rollout_n)
    cap = cs.stage(st).max_response_length
    CPU_DECODE_FLOPS = cap * seqs * 2.0 * specs.params / CPU_SMOKE_GEN_S
    L = int(cs.training.max_prompt_length) + cap
    CPU_TRAIN_FLOPS = seqs * L * _flops_per_token(specs, L, _passes(cs)) / CPU_SMOKE_UPDATE_S
    # Qwen3-1.7B natural length: the m that gives 1 h per step at stage 1 on 2 x A100 (issue #4)
    c17 = load_config("paper-1.7b")
    hw = Compute(2, GPU_TYPES["A100"], "2 x A100")
    st = _stage(c17, "stage1")
    spec17 = KNOWN["1.7b"]()
    lo, hi = 500.0, 60000.0
    for _ in range(60):
        mid = (lo + hi) / 2
        NATURAL_RESPONSE_TOKENS["Qwen/Qwen3-1.7B"] = mid
        if step_estimate(c17, st, hw, spec17)["s/step"] > 3600:
            hi = mid
        else:
            lo = mid
    NATURAL_RESPONSE_TOKENS["Qwen/Qwen3-1.7B"] = round(lo, -1)


KNOWN = {"7b": lambda: model_spec("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"),
         "4b": lambda: model_spec("Qwen/Qwen3-4B"), "1.7b": lambda: model_spec("Qwen/Qwen3-1.7B"),
         "smoke": lambda: model_spec("builtin:smoke")}

# The reported figures: (label, tier, stage or None = step-weighted over all stages, GPUs, GPU type,
# phase, reported seconds, source, what the model fitted on it)
REPORTED = (
    ("4B, 32 x H800, mean step over the 3 stages", "paper-4b", None, 32, "H800", "s/step", 0.33 * 3600,
     "issue #18, README (~0.33 h/step, 10 days)", "nothing (out of sample)"),
    ("7B stage 1, 8 x H200, generation", "paper-7b", "stage1", 8, "H200", "gen s", 300.0, "issue #16",
     "DECODE_S_PER_LAYER"),
    ("7B stage 1, 8 x H200, update", "paper-7b", "stage1", 8, "H200", "update s", 300.0, "issue #16", "MFU"),
    ("1.7B stage 1, 2 x A100 80GB, step", "paper-1.7b", "stage1", 2, "A100", "s/step", 3600.0, "issue #4",
     "Qwen3-1.7B natural length"),
    ("smoke, 2 CPU cores, step", "smoke", "stage1", 1, None, "s/step", CPU_SMOKE_STEP_S,
     "run 20261207-104641 (AMD EPYC, bf16; stage 1's 5 steps)", "the CPU constants"),
    # the only tiny step after a launch's first (which carries the start-up): verl's timing_s/step
    ("tiny, 2 CPU cores, step", "tiny", "stage1", 1, None, "s/step", 4.17,
     "tiny run 20261202-193023 (stage 1 step 2; machine shared)", "nothing (out of sample)"),
)


def calibration() -> pd.DataFrame:
    """Every reported figure next to the model's estimate, with the relative error."""
    _fit()
    rows = []
    for label, tier, stage, gpus, gname, phase, reported, source, fitted in REPORTED:
        cfg = load_config(tier)
        hw = Compute(gpus, GPU_TYPES[gname] if gname else None, label)
        spec = tier_model_spec(cfg)
        if stage is None:
            tot = sum(step_estimate(cfg, s, hw, spec)[phase] * int(s.steps) for s in cfg.training.stages)
            est = tot / sum(int(s.steps) for s in cfg.training.stages)
        else:
            est = step_estimate(cfg, _stage(cfg, stage), hw, spec)[phase]
        rows.append({"figure": label, "phase": phase.replace(" s", ""), "reported s": reported,
                     "estimated s": est, "relative error": est / reported - 1, "source": source,
                     "constant fitted on it": fitted})
    return pd.DataFrame(rows)


def alternatives(cfg: Config | str, gpus: int | None = None, gpu_type: str | None = None) -> pd.DataFrame:
    """The cost of smaller configurations of the same recipe: the tier at batch 64 (the authors:
    "bsz 64 is OK", issue #18) on the same GPUs, and the ``single-gpu`` tier on one GPU."""
    cfg = load_config(cfg) if isinstance(cfg, str) else as_config(cfg)
    if not is_gpu_tier(cfg):
        return pd.DataFrame(columns=["configuration", "hardware", "steps", "s/step", "hours", "GPU hours"])
    options = []
    base_hw = hardware_for(cfg, gpus, gpu_type)
    options.append((f"{cfg.tier} as configured", cfg, gpus, gpu_type))
    if int(cfg.training.train_batch_size) > 64:
        c64 = load_config(cfg.tier, {"training": {"train_batch_size": 64, "ppo_mini_batch_size": 64}})
        options.append((f"{cfg.tier}, batch 64 x {cfg.training.rollout_n}", c64, gpus, gpu_type))
    if cfg.tier != "single-gpu":
        options.append(("single-gpu tier (Qwen3-1.7B, 8K/10K/12K, batch 32)", load_config("single-gpu"), 1,
                        gpu_type or base_hw.gpu.name))
        c64 = load_config("single-gpu", {"training": {"train_batch_size": 64, "ppo_mini_batch_size": 64}})
        options.append(("single-gpu tier at batch 64", c64, 1, gpu_type or base_hw.gpu.name))
    rows = []
    for label, c, g, t in options:
        e = estimate(c, g, t)
        total = e.iloc[-1]
        rows.append({"configuration": label, "hardware": total["hardware"], "steps": total["steps"],
                     "s/step": total.get("s/step"), "hours": total["hours"], "GPU hours": total["GPU hours"]})
    return pd.DataFrame(rows)


@dataclass
class Plan:
    stages: pd.DataFrame
    calibration: pd.DataFrame
    alternatives: pd.DataFrame


def plan(tier: str | dict, overrides: Sequence[str] | None = None, *, gpus: int | None = None,
         gpu_type: str | None = None) -> Plan:
    cfg = load_config(tier, overrides) if isinstance(tier, str) else as_config(tier)
    _fit()
    return Plan(estimate(cfg, gpus, gpu_type), calibration(), alternatives(cfg, gpus, gpu_type))


def plan_table(tier: str | dict, overrides: Sequence[str] | None = None, *, gpus: int | None = None,
               gpu_type: str | None = None) -> pd.DataFrame:
    """The per-stage table of :func:`plan`, rounded for reading (what notebook 03 shows before
    training): tokens as integers, seconds to 0.1, hours to 0.01; no GPU column at the CPU tiers."""
    cfg = load_config(tier, overrides) if isinstance(tier, str) else as_config(tier)
    _fit()
    df = estimate(cfg, gpus, gpu_type)
    out = df.copy()
    for col in ("cap", "mean response", "tokens generated/step", "update tokens/step", "steps"):
        out[col] = df[col].round().astype("Int64")
    for col in ("gen s/step", "update s/step", "val s/step", "other s/step", "s/step"):
        out[col] = df[col].astype(float).round(1)
    for col in ("hours", "GPU hours"):
        out[col] = df[col].astype(float).round(2)
    if df["GPU hours"].isna().all():
        out = out.drop(columns=["GPU hours"])
    out.attrs.update(df.attrs)
    return out


# ------------------------------------------------------------------------------------------------
# printing

def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_seconds(s) -> str:
    if _missing(s):
        return "-"
    s = float(s)
    if s < 600:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _fmt_n(x) -> str:
    if _missing(x):
        return "-"
    x = float(x)
    if x >= 1e6:
        return f"{x / 1e6:.1f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}K"
    return f"{x:,.0f}"


def fmt_hours(x) -> str:
    if _missing(x):
        return "-"
    x = float(x)
    if x < 2:
        return f"{x * 60:.0f} min"
    return f"{x:,.1f} h" if x < 48 else f"{x:,.0f} h ({x / 24:.1f} d)"


def format_plan(p: Plan) -> str:
    from tabulate import tabulate

    st = p.stages
    rows = [[r["stage"], r.get("prompts x n", ""), _fmt_n(r.get("cap")), _fmt_n(r.get("mean response")),
             _fmt_n(r["tokens generated/step"]), _fmt_n(r["update tokens/step"]),
             "-" if r["steps"] is None or (isinstance(r["steps"], float) and math.isnan(r["steps"])) else int(r["steps"]),
             fmt_seconds(r.get("gen s/step")), fmt_seconds(r.get("update s/step")), fmt_seconds(r.get("val s/step")),
             fmt_seconds(r.get("s/step")), fmt_hours(r["hours"]), fmt_hours(r["GPU hours"])] for _, r in st.iterrows()]
    out = [f"plan --tier {st.attrs.get('tier')} on {st.attrs.get('hardware')} (model {st.attrs.get('model')})",
           tabulate(rows, headers=["stage", "prompts x n", "cap", "mean resp", "gen tok/step", "upd tok/step",
                                   "steps", "gen/step", "update/step", "val/step", "per step", "wall clock",
                                   "GPU time"], tablefmt="simple", disable_numparse=True)]
    if st["steps"].isna().any() if len(st) else False:
        out.append("(stages without a step count: per-step cost only; set training.stages[i].steps)")
    cal = p.calibration
    out += ["", "calibration: the model against the reported figures",
            tabulate([[r["figure"], fmt_seconds(r["reported s"]), fmt_seconds(r["estimated s"]),
                       f"{r['relative error']:+.0%}", r["source"], r["constant fitted on it"]]
                      for _, r in cal.iterrows()],
                     headers=["figure", "reported", "estimate", "error", "source", "fitted on it"],
                     tablefmt="simple", disable_numparse=True)]
    if len(p.alternatives):
        out += ["", "smaller configurations",
                tabulate([[r["configuration"], r["hardware"], "-" if pd.isna(r["steps"]) else int(r["steps"]),
                           fmt_seconds(r["s/step"]), fmt_hours(r["hours"]), fmt_hours(r["GPU hours"])]
                          for _, r in p.alternatives.iterrows()],
                         headers=["configuration", "hardware", "steps", "per step", "wall clock", "GPU time"],
                         tablefmt="simple", disable_numparse=True)]
    out += ["", f"constants: decode {DECODE_S_PER_LAYER * 1e3:.2f} ms/layer/step (eager vLLM, fitted; the tiers use CUDA graphs: an upper bound), HBM efficiency "
            f"{HBM_EFFICIENCY:.0%}, MFU {MFU:.0%}, natural response lengths "
            + ", ".join(f"{k.split('/')[-1]} {v:,.0f}" for k, v in NATURAL_RESPONSE_TOKENS.items())
            + f"; CPU: decode {CPU_DECODE_FLOPS / 1e9:.0f} GFLOP/s, update {CPU_TRAIN_FLOPS / 1e9:.0f} GFLOP/s, "
            f"{CPU_STEP_OTHER_S:.1f} s/step other, {CPU_STAGE_START_S:.0f} s/stage start (polaris_repro/plan.py)"]
    return "\n".join(out)


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="polaris-repro plan", description=__doc__.split("\n\n")[0])
    p.add_argument("--tier", required=True)
    p.add_argument("--gpus", type=int, default=None, help="GPUs in all (default: the tier's nnodes x n_gpus_per_node)")
    p.add_argument("--gpu-type", default=None, help=f"one of {', '.join(GPU_TYPES)} (default: the authors' H800 "
                   "for the paper tiers, H100 otherwise)")
    p.add_argument("-o", "--override", action="append", default=[], help="tier config key.path=value")
    p.add_argument("--time", default=None, metavar="D-HH:MM:SS",
                   help="a site's time limit per job: how many submissions the run needs, what a stop costs")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.tier, args.override)
        if args.time is not None:
            from .training.time_limits import parse_slurm_time, time_limit_lines

            parse_slurm_time(args.time)
            time_lines = time_limit_lines(cfg, args.time, gpus=args.gpus, gpu_type=args.gpu_type)
        print(format_plan(plan(cfg, gpus=args.gpus, gpu_type=args.gpu_type)))
        if args.time is not None:
            print("\n" + "\n".join(time_lines))
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
