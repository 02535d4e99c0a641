"""The smoke tier's training update in fp32 versus bf16 autocast, on this CPU and under kernel caps.

    python benchmarks/bench_cpu_precision.py                 # this CPU, then capped to AVX2 (~3 min)
    python benchmarks/bench_cpu_precision.py --caps native   # this CPU only

What ``training.cpu_precision`` costs: a forward + backward of one smoke micro-batch (8 sequences of
the stage-3 length, 146 tokens, on SmolLM2-135M = ``builtin:smoke``) timed in fp32 and in bf16 (verl's
mixed precision on CPU: bf16 parameters under bf16 autocast), each in a fresh process whose kernels are capped with
``ATEN_CPU_CAPABILITY`` / ``ONEDNN_MAX_CPU_ISA`` (how a CPU without AVX-512 BF16 or AMX computes).
Per cap it prints seconds per micro-batch for both precisions, the ratio bf16/fp32 (< 1: bf16
pays), what :func:`polaris_repro.verl_cpu.native_bf16` says for that cap, and the largest difference
of the loss's gradient between the cap and the uncapped run (how far one update moves between
machines). A bf16 pass more than 5x slower than fp32 ends that measurement (emulated bf16). Last line: ``auto picks the faster precision under every cap: yes|NO``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GIVE_UP = 5.0       # a bf16 pass this many times slower than fp32 ends the bf16 measurement
CAPS = {"native": {},
        "avx512bf16": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"},  # no AMX
        "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
        # a full AVX2 cap: ATen, oneDNN and MKL (torch's fp32 GEMM), as on an AVX2-only laptop CPU
        "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}


def child(reps: int, out: str) -> None:
    import copy
    import time

    import torch
    from transformers import AutoModelForCausalLM

    from polaris_repro.models import resolve_model_path
    from polaris_repro.verl_cpu import native_bf16, resolve_precision

    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
    model = AutoModelForCausalLM.from_pretrained(resolve_model_path("builtin:smoke"), dtype=torch.float32)
    model.train()
    ids = torch.randint(0, model.config.vocab_size, (int(os.environ.get("BENCH_ROWS", 8)), 146), generator=torch.Generator().manual_seed(1))
    res = {"native_bf16": native_bf16(), "capability": torch.backends.cpu.get_cpu_capability(),
           "auto": resolve_precision("auto")}
    # verl's bf16 on CPU is FSDP2's mixed precision: the parameters are cast to bf16 once per forward
    # (param_dtype) and the actor runs under bf16 autocast, so the products see bf16 weights; fp32
    # keeps fp32 everywhere. (Autocast over fp32 weights alone re-casts every weight in every op and
    # measured 3x slower than fp32 here, which is not what the actor does.)
    models = {"fp32": model, "bf16": copy.deepcopy(model).to(torch.bfloat16)}
    for prec in ("fp32", "bf16"):
        m, times, grad = models[prec], [], None
        for r in range(reps + 1):
            m.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
                loss = m(input_ids=ids, labels=ids).loss
            loss.backward()
            dt = time.perf_counter() - t0
            print(f"  [{os.environ.get('ONEDNN_MAX_CPU_ISA', 'native')}] {prec} pass {r}: {dt:.2f} s", flush=True)
            if r:                       # the first pass warms the kernels up
                times.append(dt)
            w = m.lm_head.weight if m.lm_head.weight.grad is not None else m.get_input_embeddings().weight
            grad = w.grad.float()
            if prec == "bf16" and dt > GIVE_UP * res["fp32"]["s"]:
                times = [dt]            # emulated bf16: one pass says enough
                break
        res[prec] = {"s": sorted(times)[len(times) // 2], "loss": float(loss.detach()),
                     "grad": grad.detach().flatten()[:200000].tolist()}
    Path(out).write_text(json.dumps(res))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--caps", default="native,avx2", help=f"comma list of {sorted(CAPS)}")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--rows", type=int, default=8, help="sequences per micro-batch (the smoke tier's: 8)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.reps, a.child)
        return 0
    import tempfile

    import numpy as np

    results = {}
    for cap in a.caps.split(","):
        if cap not in CAPS:
            ap.error(f"--caps: unknown cap {cap!r}; expected {sorted(CAPS)}")
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            env = {k: v for k, v in os.environ.items()
                   if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")}
            env.update(CAPS[cap])
            env["BENCH_ROWS"] = str(a.rows)
            subprocess.run([sys.executable, __file__, "--child", f.name, "--reps", str(a.reps)], env=env, check=True,
                           timeout=1800)
            results[cap] = json.loads(Path(f.name).read_text())
    ok = True
    ref = results.get("native")
    print(f"{'cap':<8} {'capability':<12} {'native bf16':<12} {'fp32 s':>8} {'bf16 s':>8} {'bf16/fp32':>10} "
          f"{'auto picks':<10} {'max |grad - native| fp32':>26} {'bf16':>10}")
    for cap, r in results.items():
        ratio = r["bf16"]["s"] / r["fp32"]["s"]
        pick = r["auto"]  # the launch's own rule under this cap
        faster = "bf16" if ratio < 1 else "fp32"
        ok &= pick == faster or abs(ratio - 1) < 0.1
        dev = {p: (float(np.max(np.abs(np.array(r[p]["grad"]) - np.array(ref[p]["grad"])))) if ref else float("nan"))
               for p in ("fp32", "bf16")}
        print(f"{cap:<8} {r['capability']:<12} {str(r['native_bf16']):<12} {r['fp32']['s']:8.2f} {r['bf16']['s']:8.2f} "
              f"{ratio:10.2f} {pick:<10} {dev['fp32']:26.2e} {dev['bf16']:10.2e}")
    print(f"auto picks the faster precision under every cap: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
