"""Throughput of the verl CPU plugin's ``hf`` rollout server versus a plain batched generate loop,
on the smoke model (SmolLM2-135M), in one run.

    python benchmarks/bench_hf_rollout.py            # 4 prompts x 8 rollouts, 64 new tokens, T=0.7
    python benchmarks/bench_hf_rollout.py --quick    # 2 x 8, 32 tokens
    python benchmarks/bench_hf_rollout.py --json out.json

verl's agent loop sends one request per rollout. The server (polaris_repro.verl_cpu.hf_rollout)
coalesces concurrent requests into one KV-cached batched decode. This script sends the workload
the way the agent loop does (all requests concurrently, each with its own sampling parameters,
in-process, without Ray's RPC) and compares its tokens/s with one ``model.generate`` call over the
same sequences (the "plain batched loop", verl-on-cpu.md §8), plus the batch-1 rate a server without
coalescing would get. Target: server within 1.5x of the plain loop (ratio plain/server tok/s <= 1.5).
Wrap in `flock /tmp/polaris-heavy.lock` on a shared machine.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET = 1.5


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", default="builtin:smoke")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import torch
    from verl.workers.config import HFModelConfig, RolloutConfig

    from polaris_repro.data import synthetic_problems
    from polaris_repro.models import resolve_model_path
    from polaris_repro.verl_cpu.hf_rollout import HFServer

    prompts_n, n, max_new, temp = (2, 8, 32, 0.7) if args.quick else (4, 8, 64, 0.7)
    path = resolve_model_path(args.model)
    t = time.perf_counter()
    server = HFServer(RolloutConfig(name="hf", prompt_length=256, response_length=max_new, seed=0),
                      HFModelConfig(path=path, override_config={"attn_implementation": "sdpa"}))
    load_s = time.perf_counter() - t
    tok = server.model_config.tokenizer
    rows = synthetic_problems(prompts_n, ["add1", "mul1"], seed=7)
    chats = [list(p) for p in rows["prompt"]]
    prompt_ids = [list(tok.apply_chat_template(c, add_generation_prompt=True, tokenize=True,
                                               return_dict=False)) for c in chats]
    requests = [p for p in prompt_ids for _ in range(n)]
    sp = {"temperature": temp, "top_p": 1.0, "top_k": -1, "logprobs": True, "max_tokens": max_new}

    async def burst(reqs):
        return await asyncio.gather(*[server.generate(prompt_ids=p, sampling_params=dict(sp),
                                                      request_id=str(i)) for i, p in enumerate(reqs)])

    asyncio.run(burst(requests[:2]))  # warm-up
    t = time.perf_counter()
    outs = asyncio.run(burst(requests))
    server_s = time.perf_counter() - t
    server_tokens = sum(len(o.token_ids) for o in outs)
    batches = server.get_stats()["batches"] - 1

    # plain batched loop: one left-padded model.generate over the same sequences
    model = server.model
    width = max(len(p) for p in requests)
    pad = server.pad_token_id
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in requests])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in requests])
    torch.manual_seed(0)
    t = time.perf_counter()
    with torch.inference_mode():
        gen = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=temp,
                             top_p=1.0, top_k=0, max_new_tokens=max_new, pad_token_id=pad,
                             eos_token_id=sorted(server.eos_token_ids))
    plain_s = time.perf_counter() - t
    new = gen[:, width:]
    plain_tokens = 0
    for row in new.tolist():
        for k, tkn in enumerate(row):
            if tkn in server.eos_token_ids:
                plain_tokens += k + 1
                break
        else:
            plain_tokens += len(row)

    # batch 1 (what a server without coalescing does), on a few requests
    few = requests[:2]
    t = time.perf_counter()

    async def one_by_one():
        res = []
        for i, p in enumerate(few):
            res.append(await server.generate(prompt_ids=p, sampling_params=dict(sp), request_id=str(i)))
        return res

    single = asyncio.run(one_by_one())
    single_s = time.perf_counter() - t
    single_tokens = sum(len(o.token_ids) for o in single)

    r_server = server_tokens / server_s
    r_plain = plain_tokens / plain_s
    r_single = single_tokens / single_s
    ratio = r_plain / r_server
    print(f"model {path}, load {load_s:.1f}s, {torch.get_num_threads()} threads, {len(requests)} "
          f"requests ({prompts_n} prompts x {n}), max_new_tokens {max_new}, T={temp}")
    print(f"{'':28} {'tokens':>6} {'sec':>7} {'tok/s':>7}")
    print(f"{'hf server (coalesced)':28} {server_tokens:>6} {server_s:>7.2f} {r_server:>7.1f}"
          f"   ({batches} batch(es))")
    print(f"{'plain batched generate':28} {plain_tokens:>6} {plain_s:>7.2f} {r_plain:>7.1f}")
    print(f"{'server at batch 1':28} {single_tokens:>6} {single_s:>7.2f} {r_single:>7.1f}")
    ok = ratio <= TARGET
    print(f"plain / server tok/s = {ratio:.2f}x (target <= {TARGET}x): {'PASS' if ok else 'BELOW TARGET'}; "
          f"server / batch-1 = {r_server / r_single:.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "server": {"tokens": server_tokens, "seconds": server_s, "batches": batches},
            "plain": {"tokens": plain_tokens, "seconds": plain_s},
            "batch1": {"tokens": single_tokens, "seconds": single_s},
            "ratio_plain_over_server": ratio, "target": TARGET, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count()}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
