"""Sampling throughput of the transformers engine on the smoke model (SmolLM2-135M), in one run:
batch 1, the engine before rows left the batch (transformers' generate in calls of 64 rows), and
the engine now (rows that stop leave the batch; the batch size it chooses from the smoke tier's
memory budget).

    python benchmarks/bench_sampling.py            # 16 prompts x 8 samples (section 1's profile)
    python benchmarks/bench_sampling.py --quick    # fewer prompts and tokens
    python benchmarks/bench_sampling.py --json out.json

Workload: synthetic arithmetic chats, temperature 0.6, the smoke tier's difficulty budget of new
tokens. Prints completions/s and tokens/s and the ratios (targets: batched >= 4x batch 1; the
engine's loop at least as fast as generate's, with the same completions). 2 AMD EPYC cores, 16 x 8
rows of 48 tokens: generate in calls of 64 rows 31.1 s, the engine 18.5 s (1.69x).
Wrap in `flock /tmp/polaris-heavy.lock` on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET = 4.0


PREVIOUS_BATCH = 64      # the engine's cap before rows left the batch


def measure(sampler, prompts, *, n, max_new_tokens, batch_size, seed=0, loop="rows-leave"):
    """(figures of one ``generate`` call, its completions)."""
    sampler.batch_size = batch_size
    sampler.loop = loop
    t = time.perf_counter()
    res = sampler.generate(prompts, n=n, temperature=0.6, max_new_tokens=max_new_tokens, seed=seed)
    dt = time.perf_counter() - t
    comps = [c for g in res for c in g]
    tokens = sum(c.num_tokens for c in comps)
    return {"batch_size": min(sampler.last_batch_size, len(prompts) * n), "prompts": len(prompts), "n": n,
            "completions": len(comps), "tokens": tokens, "seconds": round(dt, 2),
            "completions_per_s": len(comps) / dt, "tokens_per_s": tokens / dt,
            "stopped": sum(c.finish_reason == "stop" for c in comps)}, res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller workload (about a minute)")
    ap.add_argument("--model", default=None, help="model (default: the smoke tier's, builtin:smoke)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    from polaris_repro.config import load_config
    from polaris_repro.data import synthetic_problems
    from polaris_repro.sampling import make_sampler

    cfg = load_config("smoke")
    max_new = 32 if args.quick else int(cfg.difficulty.max_new_tokens)
    n = 4 if args.quick else int(cfg.difficulty.k)
    batched_prompts = 4 if args.quick else 16
    problems = synthetic_problems(batched_prompts, cfg.data.train.levels, seed=5)
    prompts = list(problems["prompt"])

    t = time.perf_counter()
    sampler = make_sampler(cfg, model=args.model, progress=False)
    load_s = time.perf_counter() - t
    auto = sampler.rows_per_call(max(len(sampler.encode(p)) for p in prompts), max_new)
    # warm-up (first-call allocations, thread pools) on both paths
    measure(sampler, prompts[:1], n=1, max_new_tokens=4, batch_size=1)
    one, _ = measure(sampler, prompts[:1], n=n, max_new_tokens=max_new, batch_size=1)
    before, before_res = measure(sampler, prompts, n=n, max_new_tokens=max_new,
                                 batch_size=PREVIOUS_BATCH, loop="transformers")
    many, many_res = measure(sampler, prompts, n=n, max_new_tokens=max_new, batch_size="auto")
    same = many_res == before_res
    sampler.close()

    ratio_c = many["completions_per_s"] / one["completions_per_s"]
    ratio_t = many["tokens_per_s"] / one["tokens_per_s"]
    ratio_loop = before["seconds"] / many["seconds"]
    import torch

    print(f"model {sampler.model_path} ({cfg.model.dtype}), load {load_s:.1f} s, "
          f"{os.cpu_count()} cores, torch threads {sampler.threads or torch.get_num_threads()}, "
          f"max_new_tokens {max_new}, T=0.6, n={n}")
    print(f"memory budget {cfg.sampling.memory_budget_gb} GB -> auto batch size {auto}")
    print(f"{'':16} {'batch':>5} {'compl':>5} {'tokens':>6} {'sec':>7} {'compl/s':>8} {'tok/s':>7}")
    for name, r in (("batch 1", one), ("generate (before)", before), ("engine, auto", many)):
        print(f"{name:16} {r['batch_size']:>5} {r['completions']:>5} {r['tokens']:>6} "
              f"{r['seconds']:>7.2f} {r['completions_per_s']:>8.2f} {r['tokens_per_s']:>7.1f}")
    ok = ratio_t >= TARGET and ratio_loop >= 1.0 and same
    print(f"ratio batched / batch 1: completions/s {ratio_c:.1f}x, tokens/s {ratio_t:.1f}x "
          f"(target >= {TARGET:.0f}x)")
    print(f"ratio engine / generate in calls of {PREVIOUS_BATCH}: {ratio_loop:.2f}x faster (target >= 1), "
          f"same completions: {same}")
    print("PASS" if ok else "BELOW TARGET")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": sampler.model_path, "machine": platform.machine(), "cores": os.cpu_count(),
            "max_new_tokens": max_new, "n": n, "auto_batch_size": auto, "batch1": one,
            "batched": many, "ratio_completions_per_s": ratio_c, "ratio_tokens_per_s": ratio_t,
            "generate_before": before, "ratio_engine_vs_generate": ratio_loop, "same_completions": same,
            "target": TARGET, "quick": args.quick}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
