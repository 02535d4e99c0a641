"""The verl CPU plugin (polaris_repro.verl_cpu): inert without VERL_PLATFORM=cpu, active with it,
batched rollout generation, the rollout server, and real verl GRPO runs on the tiny model that
prove actor->rollout weight sync (rollout and actor log-probs agree with sync, drift without)."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
LOCK = "/tmp/polaris-heavy.lock"


def _run_py(code: str, env_extra: dict | None = None, timeout: int = 180) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON line last."""
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "VERL_ENGINE_DEVICE")}
    env.update(env_extra or {})
    env["PYTHONWARNINGS"] = "ignore"
    proc = subprocess.run([PY, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ pure
def test_torch_threads_follow_the_cores_not_rays_omp_setting(monkeypatch):
    """Ray starts workers with OMP_NUM_THREADS=1; the plugin sets torch's threads to the cores
    (POLARIS_CPU_THREADS overrides; a bad value is named)."""
    import torch

    from polaris_repro.verl_cpu import patches

    old = torch.get_num_threads()
    try:
        monkeypatch.setenv("POLARIS_CPU_THREADS", "1")
        patches._set_torch_threads(torch)
        assert torch.get_num_threads() == 1
        monkeypatch.delenv("POLARIS_CPU_THREADS")
        patches._set_torch_threads(torch)
        assert torch.get_num_threads() == len(os.sched_getaffinity(0))
        monkeypatch.setenv("POLARIS_CPU_THREADS", "two")
        with pytest.raises(ValueError, match="POLARIS_CPU_THREADS"):
            patches.cpu_threads()
    finally:
        torch.set_num_threads(old)


def test_cpu_overrides_v0_and_v1():
    from polaris_repro.verl_cpu import cpu_overrides

    v0 = cpu_overrides()
    keys = dict(o.lstrip("+").split("=", 1) for o in v0)
    assert keys["actor_rollout_ref.rollout.name"] == "hf"
    assert keys["trainer.device"] == "cpu"
    assert keys["trainer.use_v1"] == "False"
    assert keys["actor_rollout_ref.model.override_config.attn_implementation"] == "sdpa"
    assert int(keys["ray_kwargs.ray_init.num_gpus"]) == int(keys["trainer.n_gpus_per_node"]) == 1
    assert int(keys["ray_kwargs.ray_init.num_cpus"]) >= 8
    assert len(keys) == len(v0), "an override key appears twice"
    v1 = dict(o.lstrip("+").split("=", 1) for o in cpu_overrides(trainer="v1", n_gpus=2))
    assert v1["trainer.use_v1"] == "True"
    assert v1["transfer_queue.backend.SimpleStorage.num_data_storage_units"] == "2"
    assert int(v1["ray_kwargs.ray_init.num_gpus"]) == 2
    assert int(v1["ray_kwargs.ray_init.num_cpus"]) >= 16
    assert "ray_kwargs.ray_init.num_cpus=3" in cpu_overrides(num_cpus=3)
    # fp32 actor/ref compute by default (matches the fp32 rollout); bf16 keeps verl's autocast
    mp = "actor_rollout_ref.actor.fsdp_config.mixed_precision"
    assert "param_dtype:fp32" in keys[mp]
    assert "param_dtype:fp32" in keys["actor_rollout_ref.ref.fsdp_config.mixed_precision"]
    assert not any(mp in o for o in cpu_overrides(precision="bf16"))
    # eager entropy (no inductor compile per launch) and one foreach AdamW dispatch per op
    assert keys["actor_rollout_ref.actor.use_torch_compile"] == "False"
    assert keys["actor_rollout_ref.actor.optim.override_optimizer_config"] == "{foreach:true}"
    for bad in ({"trainer": "v2"}, {"n_gpus": 0}, {"num_cpus": -1}, {"agent_workers": 0},
                {"precision": "fp16"}):
        with pytest.raises(ValueError):
            cpu_overrides(**bad)


def test_dedupe_backend():
    from polaris_repro.verl_cpu.patches import dedupe_backend

    assert dedupe_backend("cpu:gloo,cpu:gloo") == "cpu:gloo"
    assert dedupe_backend("cpu:gloo,cuda:nccl") == "cpu:gloo,cuda:nccl"
    assert dedupe_backend("gloo") == "gloo"
    assert dedupe_backend(None) is None


# ------------------------------------------------------------------------------------ plugin import
def test_plugin_inert_without_verl_platform():
    out = _run_py("""
        import json, os, torch.distributed as dist
        original = dist.init_process_group
        import verl                                    # loads the entry point
        import polaris_repro.verl_cpu as v
        st = v.status()
        from verl.plugin.platform import PlatformRegistry
        from verl.utils.device import get_device_name
        import verl.workers.rollout.base as base, verl.workers.rollout.replica as rep
        import verl.utils.fsdp_utils as fu
        print(json.dumps({
            "loaded_by_verl": "polaris_repro.verl_cpu" in __import__("sys").modules,
            "status": st, "platforms": list(PlatformRegistry.registered_names()),
            "device": get_device_name(),
            "init_pg_patched": dist.init_process_group is not original,
            "engine_env": os.environ.get("VERL_ENGINE_DEVICE"),
            "offload_policy": fu.CPUOffloadPolicy.__module__,
            "hf_adapter": base._ROLLOUT_REGISTRY.get(("hf", "async")),
            "hf_replica": rep.RolloutReplicaRegistry.get("hf").__name__,
            "vllm_kept": ("vllm", "async") in base._ROLLOUT_REGISTRY,
        }))
    """)
    assert out["loaded_by_verl"]
    assert out["status"]["active"] is False and out["status"]["platform_registered"] is False
    assert out["status"]["patches"] == [] and out["status"]["error"] is None
    assert "cpu" not in out["platforms"]
    assert out["device"] != "cpu"                      # stock detection untouched (falls back to cuda)
    assert out["init_pg_patched"] is False
    assert out["engine_env"] is None
    assert out["offload_policy"].startswith("torch.")
    # the only unconditional effect: the 'hf' rollout name
    assert out["hf_adapter"] == "polaris_repro.verl_cpu.hf_rollout.HFServerAdapter"
    assert out["hf_replica"] == "HFReplica" and out["vllm_kept"]


def test_plugin_active_with_verl_platform_cpu():
    out = _run_py("""
        import json, os, socket
        import verl, torch, torch.distributed as dist
        import polaris_repro.verl_cpu as v
        from verl.utils.device import get_device_name, get_nccl_backend, get_device_id, get_torch_device
        from verl.utils.distributed import initialize_global_process_group_ray
        from verl.utils.flops_counter import get_device_flops
        import verl.utils.fsdp_utils as fu
        import verl.workers.engine_workers as ew
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        os.environ.update(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        initialize_global_process_group_ray()          # builds "cpu:gloo,cpu:gloo"
        t = torch.ones(3); dist.all_reduce(t)
        print(json.dumps({
            "status": v.status(), "device": get_device_name(), "backend": get_nccl_backend(),
            "device_id": get_device_id(), "dist_backend": str(dist.get_backend()),
            "allreduce": t.tolist(), "flops": get_device_flops(),
            "device_name": get_torch_device().get_device_name(),
            "pin": fu.CPUOffloadPolicy(pin_memory=True).pin_memory,
            "engine_env": os.environ.get("VERL_ENGINE_DEVICE"),
            "ppo_loss_patched": getattr(ew.ppo_loss, "_polaris_cpu_patched", False),
        }))
        dist.destroy_process_group()
    """, env_extra={"VERL_PLATFORM": "cpu"})
    st = out["status"]
    assert st["active"] and st["platform_registered"] and st["error"] is None
    assert {"gloo_backend", "engine_device", "unpinned_offload_policy", "entropy_off_graph"} <= set(st["patches"])
    assert out["ppo_loss_patched"] is True  # the name the actor worker calls
    assert out["device"] == "cpu" and out["backend"] == "gloo" and out["device_id"] == "cpu"
    assert "gloo" in out["dist_backend"] and out["allreduce"] == [1.0, 1.0, 1.0]
    assert out["device_name"] == "CPU" and out["flops"] > 0     # flops counter no longer crashes
    assert out["pin"] is False and out["engine_env"] == "cuda"


# ------------------------------------------------------------------------------------ generation
@pytest.fixture(scope="module")
def tiny():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from polaris_repro.models import resolve_model_path

    path = resolve_model_path("builtin:tiny")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                 attn_implementation="sdpa").eval()
    tok = AutoTokenizer.from_pretrained(path)
    prompts = []
    for a, b in [(1, 2), (13, 45), (7, 8), (3, 9), (52, 17)]:
        ids = tok.apply_chat_template([{"role": "user", "content": f"What is {a} + {b}?"}],
                                      add_generation_prompt=True, tokenize=True, return_dict=False)
        prompts.append(list(ids))
    assert len({len(p) for p in prompts}) > 1, "want prompts of different lengths (left padding)"
    return path, model, tok, prompts


def _recomputed_logprobs(model, prompt, tokens, temperature):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([prompt + tokens])).logits[0, len(prompt) - 1:-1].float()
    t = temperature if temperature > 0 else 1.0
    return torch.log_softmax(logits / t, -1).gather(1, torch.tensor(tokens)[:, None]).squeeze(1)


def test_generate_batch_greedy_matches_hf_and_logprobs(tiny):
    import torch

    from polaris_repro.verl_cpu.hf_generate import GenRequest, generate_batch

    _, model, tok, prompts = tiny
    eos = tok.eos_token_id
    reqs = [GenRequest(p, max_new_tokens=30, temperature=0.0) for p in prompts]
    res = generate_batch(model, reqs, eos_token_ids=[eos], pad_token_id=tok.pad_token_id)
    assert any(r.finish_reason == "stop" for r in res), "warm-started tiny model should reach EOS"
    for p, r in list(zip(prompts, res))[:3]:  # transformers' generate is the slow part of this test
        ref = model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                             max_new_tokens=30, do_sample=False, eos_token_id=eos,
                             pad_token_id=tok.pad_token_id)[0, len(p):].tolist()
        assert r.token_ids == ref
        assert (r.finish_reason == "stop") == (r.token_ids[-1] == eos)
        lp = _recomputed_logprobs(model, p, r.token_ids, 0.0)
        assert torch.allclose(lp, torch.tensor(r.log_probs), atol=1e-4)


def test_generate_batch_per_request_params(tiny):
    import torch

    from polaris_repro.verl_cpu.hf_generate import GenRequest, generate_batch

    _, model, tok, prompts = tiny
    gen = torch.Generator().manual_seed(0)
    greedy = generate_batch(model, [GenRequest(prompts[0], max_new_tokens=12, temperature=0.0)],
                            eos_token_ids=[tok.eos_token_id], pad_token_id=tok.pad_token_id)[0]
    stop_tok = greedy.token_ids[2]
    reqs = [
        GenRequest(prompts[0], max_new_tokens=12, temperature=1.3, top_k=1),   # top-k 1 == greedy
        GenRequest(prompts[1], max_new_tokens=3, temperature=0.7),             # own budget
        GenRequest(prompts[0], max_new_tokens=12, temperature=0.0, stop_token_ids=frozenset({stop_tok})),
        GenRequest(prompts[2], max_new_tokens=12, temperature=0.9, top_p=0.8),
        GenRequest(prompts[3], max_new_tokens=12, temperature=1.0, ignore_eos=True),
    ]
    res = generate_batch(model, reqs, eos_token_ids=[tok.eos_token_id], pad_token_id=tok.pad_token_id,
                         generator=gen)
    assert res[0].token_ids == greedy.token_ids[:len(res[0].token_ids)]
    assert len(res[1].token_ids) == 3 and res[1].finish_reason == "length"
    assert res[2].token_ids == greedy.token_ids[:3] and res[2].finish_reason == "stop"
    assert len(res[4].token_ids) == 12 and res[4].finish_reason == "length"
    # reported log-probs are those of the temperature-scaled full distribution
    for q, r in zip(reqs, res):
        lp = _recomputed_logprobs(model, q.prompt_ids, r.token_ids, q.temperature)
        assert torch.allclose(lp, torch.tensor(r.log_probs), atol=1e-4)
    with pytest.raises(ValueError):
        GenRequest([], max_new_tokens=4)
    with pytest.raises(ValueError):
        GenRequest([1, 2], max_new_tokens=4, top_p=0.0)


def test_generate_batch_prefills_each_distinct_prompt_once_with_the_same_rollouts(tiny, monkeypatch):
    """A GRPO group's n requests share their prompt: the decoder prefills each distinct prompt once
    and the rollouts (tokens and log-probs, drawn from the server's one generator) are bitwise what
    the prefill of every row gives."""
    import torch

    from polaris_repro.sampling import prefill as P
    from polaris_repro.verl_cpu.hf_generate import GenRequest, generate_batch

    _, model, tok, prompts = tiny
    reqs = [GenRequest(p, max_new_tokens=16, temperature=1.0) for p in prompts[:3] for _ in range(4)]
    kw = dict(eos_token_ids=[tok.eos_token_id], pad_token_id=tok.pad_token_id)
    prefill_rows: list[int] = []
    decoder = model.model.forward

    def counting(*args, **kwargs):
        prefill_rows.append(int(kwargs["input_ids"].shape[0]))
        return decoder(*args, **kwargs)

    monkeypatch.setattr(model.model, "forward", counting)
    shared = generate_batch(model, reqs, generator=torch.Generator().manual_seed(5), **kw)
    assert prefill_rows[0] == 3
    monkeypatch.setattr(P, "SPLITTABLE", ())            # every row prefilled, as before
    prefill_rows.clear()
    every = generate_batch(model, reqs, generator=torch.Generator().manual_seed(5), **kw)
    assert prefill_rows[0] == 12
    assert [(r.token_ids, r.log_probs, r.finish_reason) for r in shared] == \
        [(r.token_ids, r.log_probs, r.finish_reason) for r in every]
    assert len({tuple(r.token_ids) for r in shared}) > 3     # the copies sampled different rollouts


def test_seeded_requests_sample_the_same_whatever_shares_the_batch(tiny):
    """A request with a seed draws from its own generator: alone, in a batch with others, or in
    another position of the batch, it samples the same completion; another seed samples another."""
    import torch

    from polaris_repro.verl_cpu.hf_generate import GenRequest, generate_batch

    _, model, tok, prompts = tiny
    kw = dict(eos_token_ids=[tok.eos_token_id], pad_token_id=tok.pad_token_id)
    mine = GenRequest(prompts[0], max_new_tokens=12, temperature=1.0, seed=1234)
    others = [GenRequest(p, max_new_tokens=12, temperature=1.0, seed=7 + i) for i, p in enumerate(prompts[1:4])]
    alone = generate_batch(model, [mine], generator=torch.Generator().manual_seed(0), **kw)[0]
    first = generate_batch(model, [mine] + others, generator=torch.Generator().manual_seed(1), **kw)[0]
    last = generate_batch(model, others[::-1] + [mine], generator=torch.Generator().manual_seed(2), **kw)[-1]
    assert alone.token_ids == first.token_ids == last.token_ids
    assert max(abs(a - b) for a, b in zip(alone.log_probs, last.log_probs)) < 1e-4
    draws = {tuple(generate_batch(model, [GenRequest(prompts[0], max_new_tokens=12, temperature=1.0, seed=s)],
                                  **kw)[0].token_ids) for s in range(8)}
    assert len(draws) > 1  # the seed matters


def test_server_seeds_each_prompts_rollouts_independently_of_arrival_order(tiny):
    """verl sends no seeds: the server derives them from (rollout.seed, step, prompt, occurrence),
    so the n rollouts of a prompt are the same set of completions in any arrival order, differ
    from each other, and change with the global step."""
    from verl.workers.config import HFModelConfig, RolloutConfig

    from polaris_repro.verl_cpu.hf_rollout import SEED_INDEX_KEY, HFServer

    path, _, tok, prompts = tiny
    server = HFServer(RolloutConfig(name="hf", prompt_length=64, response_length=12),
                      HFModelConfig(path=path, override_config={"attn_implementation": "sdpa"}))
    sp = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}

    async def burst(order):
        outs = await asyncio.gather(*[server.generate(prompt_ids=prompts[j], sampling_params=dict(sp),
                                                      request_id=str(i)) for i, j in enumerate(order)])
        by_prompt: dict[int, dict] = {}
        for j, o in zip(order, outs):
            by_prompt.setdefault(j, {})[o.extra_fields[SEED_INDEX_KEY]] = tuple(o.token_ids)
        return by_prompt

    order = [0, 1, 0, 2, 1, 0, 2, 0]
    asyncio.run(server.set_global_steps(5))
    a = asyncio.run(burst(order))
    asyncio.run(server.set_global_steps(6))
    c = asyncio.run(burst(order))
    asyncio.run(server.set_global_steps(5))
    b = asyncio.run(burst(order[::-1]))
    # each rollout reports its seed's number; number k of a prompt is the same completion in any order
    assert {j: sorted(v) for j, v in a.items()} == {0: [0, 1, 2, 3], 1: [0, 1], 2: [0, 1]}
    assert a == b
    assert len(set(a[0].values())) > 1      # the 4 rollouts of prompt 0 are not copies of one another
    assert a != c                  # another step, other seeds
    # an explicit per-request seed is honoured
    one = asyncio.run(server.generate(prompt_ids=prompts[1], sampling_params={**sp, "seed": 99}, request_id="x"))
    two = asyncio.run(server.generate(prompt_ids=prompts[1], sampling_params={**sp, "seed": 99}, request_id="y"))
    assert one.token_ids == two.token_ids
    assert one.extra_fields[SEED_INDEX_KEY] is None     # a seed it was given is not one of its numbers


def test_sampling_filters_respect_top_k_and_top_p():
    import torch

    from polaris_repro.verl_cpu.hf_generate import sample_next

    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]] * 3)
    gen = torch.Generator().manual_seed(1)
    seen = [set(), set(), set()]
    for _ in range(150):
        tok, lp = sample_next(logits, torch.tensor([1.0, 1.0, 1.0]), torch.tensor([2, -1, -1]),
                              torch.tensor([1.0, 0.5, 1.0]), torch.tensor([0.0, 0.0, 0.0]), gen)
        for i, t in enumerate(tok.tolist()):
            seen[i].add(t)
    assert seen[0] == {0, 1}                     # top-k 2
    assert seen[1] == {0}                        # p(token 0) = 0.64 >= top-p 0.5
    assert len(seen[2]) >= 4                     # unrestricted
    full = torch.log_softmax(logits[0], -1)
    tok, lp = sample_next(logits[:1], torch.tensor([0.0]), torch.tensor([-1]), torch.tensor([1.0]),
                          torch.tensor([0.0]))
    assert tok.item() == 0 and abs(lp.item() - full[0].item()) < 1e-6


def test_hf_server_coalesces_requests_and_loads_weights(tiny):
    import torch

    from verl.workers.config import HFModelConfig, RolloutConfig

    from polaris_repro.verl_cpu.hf_generate import GenRequest, generate_batch
    from polaris_repro.verl_cpu.hf_rollout import HFServer

    path, _, tok, prompts = tiny
    server = HFServer(RolloutConfig(name="hf", prompt_length=64, response_length=16),
                      HFModelConfig(path=path, override_config={"attn_implementation": "sdpa"}))

    async def burst(params):
        return await asyncio.gather(*[
            server.generate(prompt_ids=p, sampling_params=dict(sp), request_id=str(i))
            for i, (p, sp) in enumerate(params)])

    params = [(p, {"temperature": 0.0 if i % 2 else 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True,
                   "repetition_penalty": 1.0}) for i, p in enumerate(prompts)]
    params.append((prompts[0], {"temperature": 0.0, "max_tokens": 4, "logprobs": False}))
    outs = asyncio.run(burst(params))
    st = server.get_stats()
    assert st["requests"] == len(params) and st["batches"] == 1 and st["max_batch_seen"] == len(params)
    assert all(o.stop_reason == "completed" for o in outs)
    assert all(1 <= len(o.token_ids) <= 16 for o in outs)
    assert len(outs[-1].token_ids) == 4 and outs[-1].log_probs is None
    assert all(len(o.log_probs) == len(o.token_ids) for o in outs[:-1])
    # a greedy request inside the coalesced batch decodes exactly as it would alone
    alone = generate_batch(server.model, [GenRequest(prompts[0], max_new_tokens=4, temperature=0.0)],
                           eos_token_ids=server.eos_token_ids, pad_token_id=server.pad_token_id)[0]
    assert outs[-1].token_ids == alone.token_ids

    # weight sync: what the actor sends is what the server then uses
    name = "model.layers.0.mlp.down_proj.weight"
    before = server.get_param(name)
    new = before + 0.05
    assert asyncio.run(server.update_weights({name: new}, global_steps=3)) == 1
    assert torch.equal(server.get_param(name), new) and server.global_steps == 3
    greedy_before = outs[1].token_ids
    after = asyncio.run(burst([params[1]]))[0]
    assert after.extra_fields["global_steps"] == 3
    assert after.token_ids != greedy_before or after.log_probs != outs[1].log_probs
    # the adapter's wire format (numpy arrays: Ray's fast path through shared memory) lands the same
    from polaris_repro.verl_cpu.hf_rollout import _to_wire

    wired = _to_wire(before - 0.05)
    # a numpy array holding exactly the tensor's values (fp32 stays fp32); bf16, which numpy lacks,
    # travels as the tensor itself
    assert isinstance(wired, np.ndarray) and wired.dtype == np.float32 and wired.shape == tuple(before.shape)
    np.testing.assert_array_equal(wired, (before - 0.05).numpy())
    bf = _to_wire((before - 0.05).to(torch.bfloat16))
    assert isinstance(bf, torch.Tensor) and bf.dtype == torch.bfloat16
    assert torch.equal(bf, (before - 0.05).to(torch.bfloat16))
    assert asyncio.run(server.update_weights({name: wired}, global_steps=4)) == 1
    assert torch.equal(server.get_param(name), before - 0.05)
    with pytest.raises(KeyError):
        asyncio.run(server.update_weights({"not.a.param": new}))
    with pytest.raises(ValueError):
        asyncio.run(server.update_weights({name: new[:1]}))
    with pytest.raises(ValueError):
        asyncio.run(burst([(prompts[0], {"n": 2})]))


# ------------------------------------------------------------------------------------ real verl runs
REWARD_FN = '''
def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):
    """Shaped so that a random-ish policy still gets non-zero GRPO advantages."""
    frac = sum(c.isdigit() for c in solution_str) / max(1, len(solution_str))
    acc = float(str(ground_truth) in solution_str)
    return {"score": acc + 0.1 * frac, "acc": acc}
'''


def _own_ray_pids(temp_dir: str) -> list[int]:
    """PIDs whose command line mentions this run's private Ray temp dir."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if temp_dir in cmd:
            pids.append(int(d.name))
    return pids


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants (our own launch only)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _verl_run(tmp: Path, name: str, *, steps: int, lr: float, skip_sync: bool) -> dict:
    """One `python -m verl.trainer.main_ppo` launch on the tiny model; returns metrics per step."""
    from polaris_repro.data import synthetic_problems, to_verl_parquet
    from polaris_repro.models import resolve_model_path
    from polaris_repro.verl_cpu import cpu_overrides

    model = resolve_model_path("builtin:tiny")
    train, val = tmp / "train.parquet", tmp / "val.parquet"
    if not train.exists():
        to_verl_parquet(synthetic_problems(16, ["add1", "mul1"], seed=3), train)
        to_verl_parquet(synthetic_problems(4, ["add1"], split="test", seed=3), val)
        (tmp / "reward_fn.py").write_text(REWARD_FN)
    out = tmp / name
    out.mkdir()
    ray_tmp = f"/tmp/ray_vcpu_{uuid.uuid4().hex[:8]}"
    args = [
        "algorithm.adv_estimator=grpo",
        f"data.train_files={train}", f"data.val_files={val}",
        "data.train_batch_size=4", "data.max_prompt_length=64", "data.max_response_length=16",
        f"actor_rollout_ref.model.path={model}", "actor_rollout_ref.model.use_remove_padding=False",
        "actor_rollout_ref.actor.strategy=fsdp2",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=16",
        f"actor_rollout_ref.actor.optim.lr={lr}", "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.rollout.temperature=1.0",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16",
        f"reward.custom_reward_function.path={tmp / 'reward_fn.py'}",
        "reward.custom_reward_function.name=compute_score",
        "trainer.logger=[console,file]", f"trainer.total_training_steps={steps}",
        "trainer.val_before_train=False", "trainer.test_freq=-1", "trainer.save_freq=-1",
        "trainer.project_name=verl_cpu_test", f"trainer.experiment_name={name}",
        f"trainer.default_local_dir={out / 'ckpt'}",
        f"++ray_kwargs.ray_init._temp_dir={ray_tmp}",
        *cpu_overrides(),
    ]
    env = {k: v for k, v in os.environ.items() if k != "VERL_HF_ROLLOUT_SKIP_SYNC"}
    env.update(VERL_PLATFORM="cpu", VERL_FILE_LOGGER_PATH=str(out / "metrics.jsonl"),
               PYTHONWARNINGS="ignore", RAY_DEDUP_LOGS="0")
    if skip_sync:
        env["VERL_HF_ROLLOUT_SKIP_SYNC"] = "1"
    started = out / "lock_acquired"
    cmd = ["flock", LOCK, "sh", "-c", 'date +%s.%N > "$0"; exec timeout -k 10 420 "$@"', str(started),
           PY, "-m", "verl.trainer.main_ppo", *args]
    t0 = time.time()
    with open(out / "log.txt", "w") as log:
        # same process group as pytest: an outer `timeout pytest ...` also stops this run
        proc = subprocess.Popen(cmd, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=1200)   # includes waiting for the shared heavy-job lock
        except BaseException:
            _kill_tree(proc.pid)
            proc.wait()
            raise
    t_end = time.time()
    wall = t_end - (float(started.read_text()) if started.exists() else t0)  # excludes lock wait
    # the local Ray cluster must exit with its driver; reap (and report) anything left over
    deadline = time.time() + 20
    while _own_ray_pids(ray_tmp) and time.time() < deadline:
        time.sleep(0.5)
    leftovers = _own_ray_pids(ray_tmp)
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(ray_tmp, ignore_errors=True)
    log_text = (out / "log.txt").read_text(errors="replace")
    metrics = {}
    if (out / "metrics.jsonl").exists():
        for line in (out / "metrics.jsonl").read_text().splitlines():
            rec = json.loads(line)
            metrics[rec["step"]] = rec["data"]
    return {"rc": rc, "wall": wall, "metrics": metrics, "leftovers": leftovers, "log": log_text}


@pytest.fixture(scope="module")
def verl_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verl_cpu")
    lr = 2e-2  # large, so that a rollout that misses the update is visibly off-policy after 1 step
    return {"sync": _verl_run(tmp, "sync", steps=2, lr=lr, skip_sync=False),
            "skip": _verl_run(tmp, "skip", steps=2, lr=lr, skip_sync=True)}


def _show(run):
    return run["log"][-6000:]


@pytest.mark.slow
def test_grpo_runs_through_real_verl_on_cpu(verl_runs):
    run = verl_runs["sync"]
    assert run["rc"] == 0, _show(run)
    assert run["leftovers"] == [], "Ray processes outlived the driver"
    m = run["metrics"]
    assert sorted(m) == [1, 2], _show(run)
    for step in (1, 2):
        assert m[step]["response_length/mean"] > 0
        assert m[step]["actor/grad_norm"] > 0           # GRPO produced a real gradient
        # the actor -> rollout weight push was timed, and is part of the step
        assert 0 < m[step]["timing_s/update_weights"] < m[step]["timing_s/step"], m[step]
    assert "coalesced" in run["log"], "the rollout server never batched requests"
    batch_sizes = [int(line.split("coalesced ")[1].split()[0])
                   for line in run["log"].splitlines() if "coalesced " in line]
    assert max(batch_sizes) > 1, batch_sizes
    print(f"\nverl CPU run: wall {run['wall']:.1f}s, step times "
          f"{[round(m[s]['timing_s/step'], 2) for s in (1, 2)]}, rollout batches {batch_sizes}")


@pytest.mark.slow
def test_weight_sync_is_real(verl_runs):
    sync, skip = verl_runs["sync"], verl_runs["skip"]
    assert sync["rc"] == 0, _show(sync)
    assert skip["rc"] == 0, _show(skip)
    assert skip["leftovers"] == []
    assert "NOT pushing actor weights" in skip["log"]
    key = "training/rollout_probs_diff_max"
    with_sync = [sync["metrics"][s][key] for s in (1, 2)]
    without = [skip["metrics"][s][key] for s in (1, 2)]
    print(f"\n{key}: with sync {with_sync}, without sync {without}")
    # with sync, rollout (server, fp32) and actor (FSDP, fp32) probabilities agree at every step
    # (measured ~1e-6; the issue asks for ~1e-4)
    assert max(with_sync) < 1e-4
    # before any update both runs sample from the same weights
    assert without[0] < 1e-4
    # after one update at lr 2e-2 the unsynced rollout is clearly off-policy (measured ~1.0)
    assert without[1] > 1e-2 and without[1] > 100 * max(with_sync)


def test_forced_outcomes_fix_the_composition_of_each_batch_and_keep_the_policys_logprobs(tiny, tmp_path):
    """The e2e tests' hook (polaris_repro.verl_cpu.forced): the plan fixes the outcome of each
    rollout of the r-th group of the b-th batch; forced responses are graded by the real reward
    function; their log-probs are the policy's; prompts outside the plan and batches after it
    sample."""
    import torch
    from verl.workers.config import HFModelConfig, RolloutConfig

    from polaris_repro.reward import compute_score
    from polaris_repro.verl_cpu.forced import ForcedPlan, PlanError
    from polaris_repro.verl_cpu.hf_rollout import HFServer

    path, model, tok, prompts = tiny
    pairs = [(1, 2), (13, 45), (7, 8), (3, 9), (52, 17)]
    truth = {i: str(a + b) for i, (a, b) in enumerate(pairs)}
    questions = {f"What is {a} + {b}?": str(a + b) for a, b in pairs[:4]}
    plan = ForcedPlan(questions, "-1", [["1100", "0000"], ["1111", "1."], ["10", "0"]], "t")
    server = HFServer(RolloutConfig(name="hf", prompt_length=64, response_length=16, n=4,
                                    custom={"forced_outcomes": str(plan.dump(tmp_path / "plan.json"))}),
                      HFModelConfig(path=path, override_config={"attn_implementation": "sdpa"}))
    sp = {"temperature": 0.9, "top_p": 1.0, "top_k": -1, "logprobs": True}

    async def batch(js):
        """One batch: 4 requests per prompt, interleaved as verl's agent loop sends them."""
        await server.set_global_steps(1)
        reqs = [(j, k) for k in range(4) for j in js]
        outs = await asyncio.gather(*[server.generate(prompt_ids=prompts[j], sampling_params=dict(sp),
                                                      request_id=f"{j}{k}") for j, k in reqs])
        got: dict = {}
        for (j, k), o in zip(reqs, outs):
            got.setdefault(j, []).append(o)
        return got

    def scores(outs, j):
        return [compute_score("synthetic", tok.decode(o.token_ids, skip_special_tokens=True), truth[j])["score"]
                for o in outs]

    # batch 1: prompt 2 arrives first (rank 0), then prompt 0 (rank 1); prompt 4 is outside the plan
    b1 = asyncio.run(batch([2, 4, 0]))
    assert sorted(scores(b1[2], 2)) == [0.0, 0.0, 1.0, 1.0] and scores(b1[0], 0) == [0.0] * 4
    assert all("forced" not in tok.decode(o.token_ids) for o in b1[4])
    assert tok.decode(b1[0][0].token_ids, skip_special_tokens=True).endswith("\\boxed{-1}")
    for j in (2, 0):
        for o in b1[j]:
            assert o.token_ids[-1] == tok.eos_token_id
            lp = _recomputed_logprobs(model, prompts[j], list(o.token_ids), 0.9)
            assert torch.allclose(lp, torch.tensor(o.log_probs), atol=1e-4)
    # batch 2: the same prompt 2 again is a new group; '.' samples; batch 3: short patterns repeat
    b2 = asyncio.run(batch([1, 2]))
    assert scores(b2[1], 1) == [1.0] * 4
    assert sum("forced" in tok.decode(o.token_ids) for o in b2[2]) == 2
    b3 = asyncio.run(batch([3, 1]))
    assert sorted(scores(b3[3], 3)) == [0.0, 0.0, 1.0, 1.0] and scores(b3[1], 1) == [0.0] * 4
    # batches after the plan sample
    assert all("forced" not in tok.decode(o.token_ids) for o in asyncio.run(batch([0, 3]))[0])
    assert [e[:2] for e in server._forced.log[:1]] == [(1, 0)] and len(server._forced.log) == 4 + 4 + 4 + 2 + 4 + 4
    # bad plans name the file and the field
    with pytest.raises(PlanError, match="wrong"):
        ForcedPlan(questions, "3", [["1"]], "p.json")
    with pytest.raises(PlanError, match=r"batches\[0\]\[0\]"):
        ForcedPlan(questions, "-1", [["12"]], "p.json")
    with pytest.raises(PlanError, match="same number of groups"):
        ForcedPlan(questions, "-1", [["1", "0"], ["1"]], "p.json")
    (tmp_path / "bad.json").write_text('{"answers": {}}')
    with pytest.raises(PlanError, match="bad.json: missing field 'wrong'"):
        ForcedPlan.load(tmp_path / "bad.json")


def test_auto_precision_trains_in_bf16_only_where_it_pays():
    """cpu_precision: auto -> bf16 where bf16 products run on AMX tiles or on AMD's AVX-512 BF16
    under the current kernel caps (where bf16 beat fp32); on Intel's AVX-512 BF16 without AMX, and
    capped to AVX2 (a laptop CPU's kernels), it is fp32. The caps are real: each case runs in a
    fresh process."""
    import subprocess
    import sys

    from polaris_repro.machine import auto_precision, bf16_pays, fingerprint
    from polaris_repro.verl_cpu import resolve_precision

    assert resolve_precision("auto") == ("bf16" if bf16_pays() else "fp32") == auto_precision(fingerprint())
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    with pytest.raises(ValueError, match="auto, fp32 or bf16"):
        resolve_precision("fp16")
    code = ("from polaris_repro.verl_cpu import resolve_precision, native_bf16;"
            "from polaris_repro.machine import amx_bf16, fingerprint;"
            "print(native_bf16(), amx_bf16(), resolve_precision('auto'), fingerprint()['vendor'], sep='|')")
    caps = {"AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
            "AVX512_CORE_BF16": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}}
    for cap, extra in caps.items():
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **extra}, capture_output=True,
                             text=True, timeout=120)
        native, amx, got, vendor = out.stdout.strip().split('|')
        pays = native == "True" and vendor == "AuthenticAMD"
        assert amx == "False" and got == ("bf16" if pays else "fp32"), (cap, out.stdout, out.stderr[-2000:])
        if cap == "AVX2":
            assert native == "False"
