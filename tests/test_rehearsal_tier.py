"""The rehearsal tier is paper-4b at small sizes (issue 25, item 2): its verl overrides differ from
paper-4b's only in the keys listed here, each with its reason. A new switch in paper-4b that the
rehearsal does not carry (or a new difference) fails this test."""
from polaris_repro.config import load_config
from polaris_repro.training import stages as S
from polaris_repro.training import verl_config as vc
from tier_overrides import stage_overrides as _overrides

SIZE = "size (tiny model and data on 2 CPU cores)"
CPU = "CPU: verl's CPU path (polaris_repro.verl_cpu.cpu_overrides)"
SHAPE = "cluster shape: 2 nodes x 1 rank instead of 4 x 8"
ALLOWED = {
    # sizes
    "data.train_batch_size": SIZE, "data.val_batch_size": SIZE, "data.max_prompt_length": SIZE,
    "data.max_response_length": SIZE, "actor_rollout_ref.actor.ppo_mini_batch_size": SIZE,
    "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": SIZE,
    "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu": SIZE,
    "actor_rollout_ref.rollout.max_model_len": SIZE, "actor_rollout_ref.rollout.max_num_batched_tokens": SIZE,
    "actor_rollout_ref.rollout.max_num_seqs": SIZE + " (vLLM requires max_num_seqs <= max_num_batched_tokens)",
    "actor_rollout_ref.rollout.n": SIZE, "actor_rollout_ref.rollout.val_kwargs.n": SIZE,
    "trainer.total_training_steps": SIZE,
    "actor_rollout_ref.actor.optim.lr": "size: a 2M-parameter random model needs a larger step than Qwen3-4B",
    "actor_rollout_ref.model.path": "size: builtin:tiny instead of Qwen/Qwen3-4B",
    "trainer.save_freq": "the rehearsal checkpoints every step, to kill a stage mid-way and resume it",
    "trainer.test_freq": "size: validation every 2 of the stage's 1-2 steps instead of every 10 of ~450",
    "trainer.experiment_name": "name", "trainer.project_name": "name",
    "trainer.nnodes": SHAPE, "trainer.n_gpus_per_node": SHAPE,
    # what a CPU cannot do
    "actor_rollout_ref.rollout.name": "CPU: vLLM does not run inside verl on CPU (README); the hf rollout",
    "actor_rollout_ref.rollout.dtype": "CPU: fp32 rollouts, as the CPU actor computes in fp32 (bf16 on GPUs)",
    "actor_rollout_ref.rollout.enforce_eager": "CPU: no CUDA graphs (paper-4b runs vLLM with them)",
    "actor_rollout_ref.model.use_remove_padding": "CPU: verl's remove-padding path needs flash-attention "
                                                  "varlen kernels (CUDA); sdpa attention here",
    "actor_rollout_ref.actor.fsdp_config.param_offload": "CPU: parameters already live in host memory",
    "actor_rollout_ref.actor.fsdp_config.optimizer_offload": "CPU: optimizer state already in host memory",
    "actor_rollout_ref.actor.ulysses_sequence_parallel_size": "CPU: stage 3's Ulysses SP=4 needs 4 ranks "
                                                              "per sequence group; the rehearsal has 2",
}
CPU_PREFIXES = ("ray_kwargs.", "trainer.device", "actor_rollout_ref.model.override_config.",
                "actor_rollout_ref.rollout.agent.num_workers", "reward.num_workers",
                "data.dataloader_num_workers", "actor_rollout_ref.actor.use_torch_compile",
                "actor_rollout_ref.actor.fsdp_config.use_torch_compile",
                "actor_rollout_ref.ref.fsdp_config.use_torch_compile",
                "actor_rollout_ref.actor.fsdp_config.mixed_precision",
                "actor_rollout_ref.ref.fsdp_config.mixed_precision",
                "actor_rollout_ref.actor.optim.override_optimizer_config",
                "actor_rollout_ref.rollout.calculate_log_probs", "actor_rollout_ref.rollout.load_format",
                "actor_rollout_ref.rollout.data_parallel_size", "actor_rollout_ref.rollout.pipeline_model_parallel_size")


def _norm(v: str | None):
    return None if v is None else {"true": "true", "false": "false"}.get(v.lower(), v)




# `make rehearse-vllm`: the rehearsal with verl's vLLM rollout (vLLM 0.24.0's CPU build)
VLLM_OVERRIDES = ("training.rollout_name=vllm", "training.old_log_prob=recompute")
ALLOWED_VLLM = {k: v for k, v in ALLOWED.items() if k != "actor_rollout_ref.rollout.name"}
ALLOWED_VLLM["actor_rollout_ref.rollout.enable_sleep_mode"] = (
    "CPU: vLLM's CPU platform has no sleep mode (paper-4b: verl's default, on)")


def _differences(monkeypatch, allowed: dict, overrides=()) -> dict:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    seen = set()
    for stage in range(3):
        paper, reh = _overrides("paper-4b", stage), _overrides("rehearsal", stage, overrides)
        for key in sorted(set(paper) | set(reh)):
            a, b = _norm(paper.get(key)), _norm(reh.get(key))
            if a == b:
                continue
            if key.startswith(CPU_PREFIXES) and a is None:
                seen.add("cpu")
                continue                      # added by the CPU path only
            assert key in allowed, f"stage {stage + 1}: {key} = {b!r} in rehearsal, {a!r} in paper-4b (not an allowed difference)"
            seen.add(key)
    unused = set(allowed) - seen
    assert not unused, f"allowed differences that no longer differ (remove them): {sorted(unused)}"
    return reh


def test_rehearsal_with_vllm_differs_from_paper_4b_only_in_sizes_and_the_cpu(monkeypatch):
    reh = _differences(monkeypatch, ALLOWED_VLLM, VLLM_OVERRIDES)
    assert _norm(reh["actor_rollout_ref.rollout.name"]) == "vllm"
    assert _norm(reh["actor_rollout_ref.rollout.enable_sleep_mode"]) == "false"
    assert "algorithm.rollout_correction.bypass_mode" not in reh   # old log-probs recomputed, as paper-4b


def test_rehearsal_dry_run_differs_from_paper_4b_only_in_sizes(monkeypatch):
    _differences(monkeypatch, ALLOWED)
    # the paper's switches the rehearsal exists to run
    reh = _overrides("rehearsal", 0)
    for key, value in (("actor_rollout_ref.actor.use_dynamic_bsz", "true"),
                       ("actor_rollout_ref.model.enable_gradient_checkpointing", "true"),
                       ("actor_rollout_ref.actor.strategy", "fsdp2"), ("trainer.max_actor_ckpt_to_keep", "2"),
                       ("trainer.nnodes", "2"), ("actor_rollout_ref.rollout.log_prob_use_dynamic_bsz", "true")):
        assert _norm(reh[key]) == value, key
