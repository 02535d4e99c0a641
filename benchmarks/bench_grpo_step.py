"""Seconds per GRPO step: the real verl trainer on the CPU plugin versus a plain batched
transformers GRPO step doing the same work, on the smoke model and the smoke batch, in one run.

    python benchmarks/bench_grpo_step.py              # smoke tier, 4 verl steps (~6-8 min on 2 cores)
    python benchmarks/bench_grpo_step.py --steps 3    # fewer steps
    python benchmarks/bench_grpo_step.py --json out.json

verl path: stage 1 of the tier, launched through the package's stage runner exactly as
``make reproduce`` launches it (Ray, FSDP2 actor, hf rollout server, agent loop, reward workers,
the POLARIS trainer), with checkpointing and validation only at the end. Per step we take verl's
own ``timing_s/step`` (rollout + rewards + log-probs + advantage + update + weight sync); the first
step is reported but left out of the mean (warm-up). The launch cost of a stage (Ray start, worker
spawn, model loads, the final checkpoint and its merge to HF format) is reported separately.

Plain path: the same prompts as verl drew at each step (read from its accuracy log), the same n,
response cap, temperature, compute precision (``training.cpu_precision``), micro-batch size, loss (PPO clip, token-mean over the
batch), optimiser (AdamW, same lr / weight decay / grad clip) and threads, in one process: one
batched ``model.generate``, rewards with the package's grader, group-normalised advantages, one
forward/backward per micro-batch and one optimiser step. Last line: ``ratio <verl/plain>``
(mean seconds per step, steady state); target <= 1.5.
Wrap in ``flock /tmp/polaris-heavy.lock`` on a shared machine.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET = 1.5


def verl_steps(cfg: dict, steps: int, workdir: Path) -> dict:
    """Run stage 1 of ``cfg`` for ``steps`` steps through the stage runner; per-step timings."""
    from polaris_repro.training import stages as S

    t0 = time.time()
    rec = S.run_stage(cfg, workdir, 0, temperature_mode="config", log=lambda s: None)
    wall = time.time() - t0
    m = S.stage_metrics(S.stage_dir(cfg, workdir, 0))
    step_s = [float(x) for x in m["timing_s/step"]]
    phases = {}
    for key in ("gen", "old_log_prob", "update_actor", "update_weights", "reward", "adv"):
        col = f"timing_s/{key}"
        if col in m.columns:
            phases[key] = [round(float(x), 2) for x in m[col].fillna(0)]
    # POLARIS's skip rule regenerates a batch with too few informative groups inside the step
    # (outside verl's "gen" timer): count it, so a slow step can be told apart from a resampled one
    if "polaris/batches_generated" in m.columns:
        phases["batches_generated"] = [int(x) for x in m["polaris/batches_generated"].fillna(1)]
    return {"step_s": step_s, "phases": phases, "launch_wall_s": round(rec["train_s"], 1),
            "merge_s": rec.get("merge_s"), "stage_wall_s": round(wall, 1),
            "launch_overhead_s": round(rec["train_s"] - sum(step_s), 1),
            "tokens": [int(x) for x in m["perf/total_num_tokens"]] if "perf/total_num_tokens" in m else [],
            "accuracy_log": str(S.stage_dir(cfg, workdir, 0) / "accuracy_log.jsonl"),
            "train_file": str(S.stage_dir(cfg, workdir, 0) / "train.parquet"),
            "temperature": float(S.read_stage(S.stage_dir(cfg, workdir, 0))["plan"]["temperature"])}


def plain_steps(cfg: dict, prompts_per_step: list[list[dict]], temperature: float) -> dict:
    """The plain batched GRPO loop over the same prompts (one list of rows per step)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from polaris_repro.models import resolve_model_path
    from polaris_repro.reward import compute_score, reward_kwargs
    from polaris_repro.verl_cpu.patches import cpu_threads

    torch.set_num_threads(cpu_threads())
    tr = cfg.training
    st = tr.stages[0]
    n, resp_len, mb = int(tr.rollout_n), int(st.max_response_length), int(tr.micro_batch_size_per_gpu)
    path = resolve_model_path(str(cfg.model.path))
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    opt = torch.optim.AdamW(model.parameters(), lr=float(tr.lr), betas=(0.9, 0.999),
                            weight_decay=float(tr.weight_decay))
    eps_lo, eps_hi = float(tr.clip_ratio_low), float(tr.clip_ratio_high)
    rkw = reward_kwargs(cfg)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    # the actor's compute precision as verl runs it (training.cpu_precision): fp32, or bf16 autocast
    # over fp32 weights (FSDP2's bf16 mixed precision); generation stays fp32 like the rollout server
    from polaris_repro.verl_cpu import resolve_precision

    bf16 = resolve_precision(tr.cpu_precision) == "bf16"      # auto: as the stage launch resolves it
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    out = {"step_s": [], "gen_s": [], "update_s": [], "reward": [], "tokens": []}
    gen = torch.Generator().manual_seed(int(cfg.seed))
    for rows in prompts_per_step:
        t0 = time.time()
        # ---- rollout: n samples per prompt, one batched generate
        model.eval()
        texts = [tok.apply_chat_template(list(r["prompt"]), add_generation_prompt=True, tokenize=False)
                 for r in rows]
        ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        ids = [x for x in ids for _ in range(n)]
        width = max(map(len, ids))
        inp = torch.full((len(ids), width), pad, dtype=torch.long)
        att = torch.zeros_like(inp)
        for i, x in enumerate(ids):
            inp[i, width - len(x):] = torch.tensor(x)
            att[i, width - len(x):] = 1
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        with torch.no_grad():
            seq = model.generate(input_ids=inp, attention_mask=att, do_sample=True, temperature=temperature,
                                 top_k=0, top_p=1.0, max_new_tokens=resp_len, pad_token_id=pad,
                                 eos_token_id=tok.eos_token_id)
        resp = seq[:, width:]
        # response mask: up to and including the first EOS
        is_eos = resp == tok.eos_token_id
        first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full((len(ids),), resp.shape[1]))
        rmask = (torch.arange(resp.shape[1])[None, :] <= first[:, None]).float()
        rmask = rmask * (torch.arange(resp.shape[1])[None, :] < resp.shape[1]).float()
        t_gen = time.time() - t0
        # ---- rewards and group-normalised advantages
        texts = tok.batch_decode([r[: int(m.sum())] for r, m in zip(resp, rmask)], skip_special_tokens=True)
        truths = [r["reward_model"]["ground_truth"] for r in rows for _ in range(n)]
        scores = torch.tensor([compute_score("synthetic", t, g, **rkw)["score"] for t, g in zip(texts, truths)])
        grp = scores.view(-1, n)
        adv = ((grp - grp.mean(1, keepdim=True)) / (grp.std(1, keepdim=True) + 1e-6)).view(-1)
        # ---- one PPO-clip update (on-policy: old log-probs = the current ones, detached)
        t1 = time.time()
        model.train()
        full = torch.cat([inp, resp], 1)
        fatt = torch.cat([att, rmask.long()], 1)
        pos = (fatt.cumsum(1) - 1).clamp(min=0)
        n_tok = rmask.sum()
        opt.zero_grad(set_to_none=True)
        for s in range(0, len(ids), mb):
            sl = slice(s, s + mb)
            with autocast():
                logits = model(input_ids=full[sl], attention_mask=fatt[sl], position_ids=pos[sl]).logits
            logits = logits[:, width - 1:-1].float()
            lp = torch.log_softmax(logits, -1).gather(-1, resp[sl, :, None]).squeeze(-1)
            ratio = torch.exp(lp - lp.detach())
            a = adv[sl, None]
            loss_tok = -torch.min(ratio * a, ratio.clamp(1 - eps_lo, 1 + eps_hi) * a)
            loss = (loss_tok * rmask[sl]).sum() / n_tok
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(tr.grad_clip))
        opt.step()
        out["update_s"].append(round(time.time() - t1, 2))
        out["gen_s"].append(round(t_gen, 2))
        out["step_s"].append(time.time() - t0)
        out["reward"].append(round(float(scores.mean()), 3))
        out["tokens"].append(int(att.sum() + rmask.sum()))
    return out


def update_profile(step_s: list[float], update_s: list[float], tokens: list[int]) -> dict:
    """Where the next gain is: per steady-state step (the first, warm-up, left out) the actor update's
    share of the step and its throughput in real tokens (prompt + response, no padding: verl's
    ``perf/total_num_tokens``) per second; and the means."""
    rows = list(zip(step_s, update_s, tokens))[1:]
    if not rows or any(u <= 0 or s <= 0 for s, u, _ in rows):
        return {"update_share": [], "real_tokens_per_s": [], "mean_update_share": None,
                "mean_real_tokens_per_s": None}
    share = [u / s for s, u, _ in rows]
    tps = [t / u for _, u, t in rows]
    return {"update_share": [round(x, 3) for x in share], "real_tokens_per_s": [round(x, 1) for x in tps],
            "mean_update_share": round(sum(share) / len(share), 3),
            "mean_real_tokens_per_s": round(sum(t for *_, t in rows) / sum(u for _, u, _ in rows), 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tier", default="smoke")
    ap.add_argument("--steps", type=int, default=4, help="verl steps (>= 2; the first is warm-up)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.steps < 2:
        ap.error("--steps must be >= 2 (the first step is left out of the mean)")

    from polaris_repro.artifacts import read_jsonl
    from polaris_repro.config import load_config
    import pandas as pd

    cfg = load_config(args.tier)
    st = dataclasses.replace(cfg.stage(0), steps=args.steps)
    cfg = dataclasses.replace(cfg, training=dataclasses.replace(
        cfg.training, stages=(st,),
        save_freq=args.steps,          # one checkpoint, at the end (as a stage ends)
        test_freq=-1))                 # no validation passes inside the measurement
    with tempfile.TemporaryDirectory(prefix="bench_grpo_") as tmp:
        print(f"[bench] verl: stage 1 of {args.tier}, {args.steps} steps ...", flush=True)
        v = verl_steps(cfg, args.steps, Path(tmp))
        train = pd.read_parquet(v["train_file"])
        by_index = {int(r["extra_info"]["index"]): r for r in train.to_dict("records")}
        log = [r for r in read_jsonl(v["accuracy_log"]) if not r.get("skipped")]
        prompts = [[by_index[int(i)] for i in r["index"]] for r in log][: args.steps]
        print(f"[bench] plain: the same {len(prompts)} batches ...", flush=True)
        p = plain_steps(cfg, prompts, v["temperature"])
    verl_mean = sum(v["step_s"][1:]) / len(v["step_s"][1:])
    plain_mean = sum(p["step_s"][1:]) / len(p["step_s"][1:])
    ratio = verl_mean / plain_mean
    prof = update_profile(v["step_s"], v["phases"].get("update_actor", []), v["tokens"])
    res = {"tier": args.tier, "steps": args.steps, "verl": v, "plain": p, "update": prof,
           "verl_mean_step_s": round(verl_mean, 1), "plain_mean_step_s": round(plain_mean, 1),
           "ratio": round(ratio, 2), "target": TARGET}
    print(f"verl  s/step: {[round(x, 1) for x in v['step_s']]} (first = warm-up); phases {v['phases']}")
    print(f"plain s/step: {[round(x, 1) for x in p['step_s']]}; generate {p['gen_s']}, update {p['update_s']}")
    print(f"tokens per step (prompt + response, unpadded): verl {v['tokens']}, plain {p['tokens']}")
    if prof["mean_update_share"] is not None:
        print(f"actor update: {prof['mean_update_share']:.0%} of a steady-state step "
              f"({prof['update_share']}), {prof['mean_real_tokens_per_s']:.0f} real tokens/s "
              f"({prof['real_tokens_per_s']}; prompt + response, no padding)")
    print(f"stage launch: {v['launch_wall_s']} s in verl of which {v['launch_overhead_s']} s outside the steps "
          f"(Ray, workers, model loads, final checkpoint); merge to HF {v['merge_s']} s")
    print(f"steady state: verl {verl_mean:.1f} s/step, plain {plain_mean:.1f} s/step "
          f"({'MET' if ratio <= TARGET else 'NOT MET'}: target <= {TARGET})")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print(f"ratio {ratio:.2f}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
