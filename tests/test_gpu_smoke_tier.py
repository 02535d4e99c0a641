"""The gpu-smoke tier (issue 31, item 5) is paper-4b's GPU path at the smoke tier's sizes: its verl
overrides differ from paper-4b's only in the keys listed here, each with its reason, so that a pass
of ``make gpu-smoke`` on one cluster node exercises what the paper tiers run there (vLLM rollout
with CUDA graphs and sleep mode, remove-padding with flash-attn, FSDP2 with offload, bf16). No GPU
here: the tier is composed against verl's schema and validated by verl (also in the dry-run goldens)."""
from polaris_repro.config import load_config
from polaris_repro.resources import is_gpu_tier
from polaris_repro.training import stages as S
from polaris_repro.training import verl_config as vc
from tier_overrides import stage_overrides as _overrides

SIZE = "size: the smoke model on synthetic arithmetic, 3 stages of 2 steps on one GPU"
ALLOWED = {
    "data.train_batch_size": SIZE, "data.max_prompt_length": SIZE, "data.max_response_length": SIZE,
    "actor_rollout_ref.actor.ppo_mini_batch_size": SIZE, "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": SIZE,
    "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu": SIZE, "actor_rollout_ref.rollout.max_model_len": SIZE,
    "actor_rollout_ref.rollout.max_num_batched_tokens": SIZE,
    "actor_rollout_ref.rollout.max_num_seqs": SIZE + " (vLLM requires max_num_seqs <= max_num_batched_tokens)", "actor_rollout_ref.rollout.val_kwargs.n": SIZE,
    "trainer.total_training_steps": SIZE, "trainer.save_freq": "a checkpoint every step: the save path runs too",
    "trainer.test_freq": SIZE, "trainer.experiment_name": "name", "trainer.project_name": "name",
    "actor_rollout_ref.actor.optim.lr": "the smoke tier's rate for a 135M model",
    "actor_rollout_ref.model.path": "size: SmolLM2-135M (builtin:smoke) instead of Qwen/Qwen3-4B",
    "actor_rollout_ref.rollout.gpu_memory_utilization": "a 135M model needs little of the GPU",
    "actor_rollout_ref.rollout.temperature": "the smoke model's temperatures",
    "actor_rollout_ref.rollout.val_kwargs.temperature": "the smoke model's temperatures",
    "trainer.nnodes": "one node", "actor_rollout_ref.actor.ulysses_sequence_parallel_size": "one GPU: no SP=4",
    "reward.custom_reward_function.reward_kwargs.mode": "the smoke model rarely writes \\boxed{} (as the smoke tier)",
    "reward.custom_reward_function.reward_kwargs.require_think": "the smoke model never writes </think> (smoke tier)",
    "trainer.n_gpus_per_node": "one GPU",
}




def test_gpu_smoke_differs_from_paper_4b_only_in_sizes(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert is_gpu_tier(load_config("gpu-smoke"))
    seen = set()
    for stage in range(3):
        paper, smoke = _overrides("paper-4b", stage), _overrides("gpu-smoke", stage)
        for key in sorted(set(paper) | set(smoke)):
            a, b = paper.get(key), smoke.get(key)
            if a == b:
                continue
            assert key in ALLOWED, f"stage {stage + 1}: {key} = {b!r} in gpu-smoke, {a!r} in paper-4b (not allowed)"
            seen.add(key)
    unused = set(ALLOWED) - seen
    assert not unused, f"allowed differences that no longer differ (remove them): {sorted(unused)}"
    smoke = _overrides("gpu-smoke", 0)
    for key, value in (("actor_rollout_ref.rollout.name", "vllm"), ("actor_rollout_ref.rollout.enforce_eager", "false"),
                       ("actor_rollout_ref.model.use_remove_padding", "true"),
                       ("actor_rollout_ref.actor.strategy", "fsdp2"),
                       ("actor_rollout_ref.actor.fsdp_config.param_offload", "true"),
                       ("trainer.n_gpus_per_node", "1")):
        assert str(smoke[key]).lower() == value, (key, smoke[key])


def test_gpu_smoke_composes_and_passes_verls_validation(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = load_config("gpu-smoke")
    plan = S.plan_stage(cfg, "RUN", 2, dry_run=True, log=lambda s: None)
    conf = vc.compose(S.overrides_for(cfg, plan))
    vc.check_with_verl(conf)
    assert conf.actor_rollout_ref.rollout.name == "vllm" and conf.trainer.n_gpus_per_node == 1
