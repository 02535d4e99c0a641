"""The verl 0.9.1 configuration of one POLARIS stage, as Hydra overrides.

``stage_overrides(cfg, i, train_files=..., val_files=..., model_path=..., output_dir=...)`` turns
the tier config (``cfg.training`` and its ``stages``) into the complete list of Hydra
overrides for ``python -m polaris_repro.training.main_polaris``. For ``paper-4b`` it carries every
value of the official stage scripts (reference polaris-recipe.md section 9); key names follow
verl 0.9.1's schema (``verl/trainer/config/_generated_ppo_trainer.yaml``), and
:func:`compose` checks them by composing the config with Hydra against verl's own config folder
(no Ray, no GPU).

Script values with no verl 0.9.1 key are noted where they would go: ``rollout.min_p = 0.0`` (no
key; 0 is vLLM's default), ``rollout.mode = sync`` (0.9.1 only has async rollout servers),
``load_format = dummy_dtensor`` (now ``dummy``, the default), ``trainer.dyn_sampling_polaris``
(our ``+polaris.substitution``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..artifacts import REPO_ROOT
from ..config import CPU_TIERS, StageError  # noqa: F401 (StageError: re-exported)
from .overrides import CPU_PLATFORM, OverrideError, OverrideSet, format_value  # noqa: F401 (OverrideError: re-exported)
from .time_limits import STOP_FILE

REWARD_PATH = REPO_ROOT / "polaris_repro" / "reward.py"
POLARIS_PREFIX = "polaris."

# Script names of the POLARIS tiers (wandb project of the official scripts, reference 9.1)
PROJECT_NAMES = {"paper-4b": "Polaris-Reproduce-4B", "paper-7b": "Polaris-Reproduce-R1-distill-7B",
                 "paper-1.7b": "Polaris-Reproduce-1.7B"}


# the FSDP strategy of every tier (see stage_overrides)
FSDP_STRATEGY = "fsdp2"
# keys the launch platform owns: the recipe sets them on GPUs; on the CPU tiers the CPU platform
# (verl_cpu.cpu_overrides) does, in the recipe's place in the order
PLATFORM_KEYS = frozenset({"trainer.nnodes", "trainer.n_gpus_per_node", "trainer.use_v1",
                           "actor_rollout_ref.rollout.name", "actor_rollout_ref.rollout.tensor_model_parallel_size"})


_fmt = format_value   # a Hydra override value (kept under its old name)


def resolve_stage(cfg: dict, stage: int | str) -> int:
    """The 0-based index of a stage as a user gives it -- its name or its 1-based number (``2`` or
    ``"2"``): :meth:`Config.stage <polaris_repro.config.schema.Config.stage>` of the number's text."""
    return cfg.stage(stage if isinstance(stage, str) else str(stage)).index


def override_key(item: str) -> str:
    """The config key of an override, without Hydra's ``+``/``++``/``~`` prefixes."""
    return item.split("=", 1)[0].lstrip("+~")


def merge_overrides(*groups: Iterable[str]) -> list[str]:
    """Concatenate override lists; a later entry for the same key replaces an earlier one (in
    place of the earlier one, so the order of first appearance is kept)."""
    out: dict[str, str] = {}
    for group in groups:
        for item in group:
            if "=" not in item:
                raise StageError(f"override {item!r}: expected key=value")
            key = override_key(item)
            if key in out:
                prev = out[key]
                # keep the '+' (append) form if the earlier entry needed it
                if prev.startswith("+") and not item.startswith("+"):
                    item = "+" + item if not prev.startswith("++") else "++" + item
            out[key] = item
    return list(out.values())


def overrides_to_dict(overrides: Sequence[str]) -> dict[str, str]:
    """``{key: raw value}`` of an override list (last one wins)."""
    out = {}
    for item in overrides:
        key = override_key(item)
        out[key] = item.split("=", 1)[1]
    return out


def project_name(cfg: dict) -> str:
    return PROJECT_NAMES.get(cfg.tier, f"polaris-repro-{cfg.tier}")


def stage_seed(cfg: dict, stage_index: int) -> int:
    """The seed of one stage of a run: its data order, its rollout sampling and its substitution
    draws. It depends on the run's ``seed`` *and* the stage, so consecutive stages (which may train
    on the same prompts when drop-easy removes none) draw their own order and rollouts instead of
    replaying the previous stage's. Stage 1 keeps the run's seed (the official scripts' data seed
    for the paper tiers); stage k adds 1000 * (k - 1)."""
    return int(cfg.seed) + 1000 * int(stage_index)


def stage_overrides(cfg: dict, stage_index: int, **kwargs) -> list[str]:
    """The complete Hydra overrides of stage ``stage_index`` (0-based) of the tier config ``cfg``:
    :func:`stage_override_set`'s items, in order (the arguments are its)."""
    return stage_override_set(cfg, stage_index, **kwargs).items()


def stage_override_set(cfg: dict, stage_index: int, *, train_files: str | os.PathLike,
                    val_files: str | os.PathLike, model_path: str | os.PathLike,
                    output_dir: str | os.PathLike, temperature: float | None = None,
                    val_temperature: float | None = None, total_training_steps: int | None = None,
                    accuracy_log: str | os.PathLike | None = None,
                    metrics_file: str | os.PathLike | None = None,
                    substitution: str | None = None, rescue: bool | None = None,
                    resume_mode: str = "auto", logger: Sequence[str] | None = None,
                    cpu: bool | None = None, extra: Iterable[str] = (),
                    temperature_source: str | None = None) -> OverrideSet:
    """The Hydra overrides of stage ``stage_index`` (0-based) of the tier config ``cfg``, built in
    one pass with each key's source (:class:`~polaris_repro.training.overrides.OverrideSet`).

    ``temperature`` overrides the stage's configured rollout temperature (e.g. the temperature
    section's choice; ``temperature_source`` says where it came from); ``cpu`` (default: the tier
    is a CPU tier, ``training.rollout_name == hf``) hands :data:`PLATFORM_KEYS` to the CPU platform
    (``polaris_repro.verl_cpu.cpu_overrides()``) and adds its other keys; ``extra`` (``--verl``) is
    the user's: it replaces a value in place or is appended. A key set twice by the recipe and the
    platform, or given twice by the user, raises :class:`OverrideError`.
    """
    tr = cfg.training
    extra = list(extra)
    st = cfg.stage(int(stage_index))

    def stage_key(name: str) -> str:
        return f"cfg:training.stages[{stage_index}].{name}"

    T_SOURCE = stage_key("temperature") if temperature is None or temperature_source in (None, "config") \
        else f"stage plan: {temperature_source}"
    if temperature is not None and temperature_source is None:
        T_SOURCE = "caller: temperature"
    SEED = "cfg:seed (+ 1000 x stage index)"
    BUDGET = "derived: token budget (training.max_prompt_length + max_response_length)"
    T = st.temperature if temperature is None else float(temperature)
    val_T = st.val_temperature
    val_T_source = stage_key("val_temperature") if val_T is not None else "rollout temperature (no val_temperature)"
    val_T = (T if val_T is None else val_T) if val_temperature is None else float(val_temperature)
    if val_temperature is not None:
        val_T_source = "caller: val_temperature"
    budget = st.token_budget
    resp = st.max_response_length
    sp = st.ulysses_sp
    steps = total_training_steps if total_training_steps is not None else st.steps
    output_dir = Path(output_dir)
    grading = cfg.grading
    rollout_name = tr.rollout_name
    if cpu is None:
        cpu = rollout_name == "hf" or cfg.tier in CPU_TIERS
    save_contents = ["model", "optimizer", "extra"] + (["hf_model"] if tr.save_hf_model else [])
    loggers = list(logger if logger is not None else tr.logger)
    mb = int(tr.micro_batch_size_per_gpu)

    a = "actor_rollout_ref.actor."
    r = "actor_rollout_ref.rollout."
    m = "actor_rollout_ref.model."
    o: list[tuple[str, Any, str]] = [
        # --- algorithm (reference 5.1, 9.2)
        ("algorithm.adv_estimator", tr.adv_estimator, "cfg:training.adv_estimator"),
        ("algorithm.norm_adv_by_std_in_grpo", tr.norm_adv_by_std_in_grpo, "cfg:training.norm_adv_by_std_in_grpo"),
        ("algorithm.gamma", 1.0, "recipe constant"),
        ("algorithm.lam", 1.0, "recipe constant"),
        ("algorithm.use_kl_in_reward", tr.use_kl_in_reward, "cfg:training.use_kl_in_reward"),
        ("algorithm.kl_ctrl.kl_coef", 0.001, "recipe constant"),  # inert (no KL in reward), as in the scripts
        # --- data
        ("data.train_files", str(train_files), "stage plan: training data"),
        ("data.val_files", str(val_files), "stage plan: validation data"),
        ("data.train_batch_size", tr.train_batch_size, "cfg:training.train_batch_size"),
        ("data.val_batch_size", tr.val_batch_size, "cfg:training.val_batch_size"),
        ("data.max_prompt_length", tr.max_prompt_length, "cfg:training.max_prompt_length"),
        ("data.max_response_length", resp, stage_key("max_response_length")),
        ("data.filter_overlong_prompts", True, "recipe constant"),
        ("data.truncation", "error", "recipe constant"),
        ("data.shuffle", tr.shuffle, "cfg:training.shuffle"),
        ("data.seed", stage_seed(cfg, stage_index), SEED),
        # --- model
        (m + "path", str(model_path), "stage plan: input model"),
        (m + "use_remove_padding", tr.use_remove_padding, "cfg:training.use_remove_padding"),
        (m + "enable_gradient_checkpointing", tr.gradient_checkpointing, "cfg:training.gradient_checkpointing"),
        # --- actor: optimiser, PPO loss, batch sizes
        # FSDP2 on every tier (GPU and CPU), so the CPU tests run the code a cluster runs. The stage
        # scripts used FSDP (v1); verl 0.9.1 supports both and is moving to FSDP2 (its dp_actor.yaml:
        # "TODO: switch to fsdp2"; its docs recommend fsdp2 for throughput/memory and DTensor-based
        # offload), and FSDP1 cannot shard CPU modules, so one strategy for all means fsdp2.
        (a + "strategy", FSDP_STRATEGY, "recipe constant"),
        (a + "optim.lr", float(tr.lr), "cfg:training.lr"),
        (a + "optim.weight_decay", float(tr.weight_decay), "cfg:training.weight_decay"),
        (a + "optim.betas", [0.9, 0.999], "recipe constant"),
        (a + "optim.lr_warmup_steps_ratio", float(tr.lr_warmup_steps_ratio), "cfg:training.lr_warmup_steps_ratio"),
        (a + "optim.lr_scheduler_type", "constant", "recipe constant"),
        (a + "optim.clip_grad", float(tr.grad_clip), "cfg:training.grad_clip"),
        (a + "grad_clip", float(tr.grad_clip), "cfg:training.grad_clip"),
        (a + "ppo_mini_batch_size", tr.ppo_mini_batch_size, "cfg:training.ppo_mini_batch_size"),
        (a + "ppo_epochs", tr.ppo_epochs, "cfg:training.ppo_epochs"),
        (a + "ppo_micro_batch_size_per_gpu", mb, "cfg:training.micro_batch_size_per_gpu"),
        (a + "use_dynamic_bsz", tr.use_dynamic_bsz, "cfg:training.use_dynamic_bsz"),
        (a + "ppo_max_token_len_per_gpu", budget, BUDGET),
        (a + "clip_ratio_low", float(tr.clip_ratio_low), "cfg:training.clip_ratio_low"),
        (a + "clip_ratio_high", float(tr.clip_ratio_high), "cfg:training.clip_ratio_high"),
        (a + "clip_ratio_c", float(tr.clip_ratio_c), "cfg:training.clip_ratio_c"),
        (a + "loss_agg_mode", tr.loss_agg_mode, "cfg:training.loss_agg_mode"),
        (a + "entropy_coeff", float(tr.entropy_coeff), "cfg:training.entropy_coeff"),
        (a + "use_kl_loss", tr.use_kl_loss, "cfg:training.use_kl_loss"),
        (a + "kl_loss_coef", float(tr.kl_loss_coef), "cfg:training.kl_loss_coef"),
        (a + "ulysses_sequence_parallel_size", sp, stage_key("ulysses_sp")),
        (a + "fsdp_config.param_offload", tr.param_offload, "cfg:training.param_offload"),
        (a + "fsdp_config.optimizer_offload", tr.optimizer_offload, "cfg:training.optimizer_offload"),
        (a + "checkpoint.save_contents", save_contents, "cfg:training.save_hf_model"),
        (a + "checkpoint.load_contents", ["model", "optimizer", "extra"], "recipe constant"),
        # --- rollout
        (r + "name", rollout_name, "cfg:training.rollout_name"),
        (r + "n", tr.rollout_n, "cfg:training.rollout_n"),
        (r + "temperature", float(T), T_SOURCE),
        (r + "top_p", float(tr.top_p), "cfg:training.top_p"),
        (r + "top_k", int(tr.top_k), "cfg:training.top_k"),
        (r + "do_sample", True, "recipe constant"),
        (r + "seed", stage_seed(cfg, stage_index), SEED),
        (r + "dtype", cfg.model.dtype, "cfg:model.dtype"),
        (r + "tensor_model_parallel_size", int(cfg.sampling.tensor_parallel_size), "cfg:sampling.tensor_parallel_size"),
        (r + "gpu_memory_utilization", float(tr.gpu_memory_utilization), "cfg:training.gpu_memory_utilization"),
        (r + "enable_chunked_prefill", tr.enable_chunked_prefill, "cfg:training.enable_chunked_prefill"),
        (r + "enforce_eager", bool(tr.enforce_eager), "cfg:training.enforce_eager"),
        (r + "free_cache_engine", True, "recipe constant"),
        # vLLM requires max_num_batched_tokens >= max_num_seqs; only the tiny tiers' budgets are below 1024
        (r + "max_num_seqs", min(1024, budget), "derived: min(1024, token budget)"),
        (r + "enable_prefix_caching", True, "recipe constant"),
        (r + "max_num_batched_tokens", budget, BUDGET),
        (r + "max_model_len", budget, BUDGET),
        (r + "log_prob_micro_batch_size_per_gpu", mb, "cfg:training.micro_batch_size_per_gpu"),
        (r + "log_prob_use_dynamic_bsz", tr.use_dynamic_bsz, "cfg:training.use_dynamic_bsz"),
        (r + "log_prob_max_token_len_per_gpu", budget, BUDGET),
        # validation sampling (AIME24 avg@n in the paper tiers)
        (r + "val_kwargs.n", tr.val_n, "cfg:training.val_n"),
        (r + "val_kwargs.temperature", float(val_T), val_T_source),
        (r + "val_kwargs.top_p", float(tr.val_top_p), "cfg:training.val_top_p"),
        (r + "val_kwargs.top_k", int(tr.val_top_k), "cfg:training.val_top_k"),
        (r + "val_kwargs.do_sample", True, "recipe constant"),
        # --- reward: our grader (reference 4), kwargs from cfg.grading
        ("reward.custom_reward_function.path", str(REWARD_PATH), "recipe constant"),
        ("reward.custom_reward_function.name", "compute_score", "recipe constant"),
        ("+reward.custom_reward_function.reward_kwargs.require_think", bool(grading.require_think), "cfg:grading.require_think"),
        ("+reward.custom_reward_function.reward_kwargs.mode", grading.answer_extraction, "cfg:grading.answer_extraction"),
        ("+reward.custom_reward_function.reward_kwargs.timeout_s", float(grading.timeout_s), "cfg:grading.timeout_s"),
        ("+reward.custom_reward_function.reward_kwargs.checker", grading.checker, "cfg:grading.checker"),  # polaris | deepscaler
        # --- trainer
        ("trainer.project_name", project_name(cfg), "recipe: project name of the tier"),
        ("trainer.experiment_name", f"{cfg.tier}-{st.name}", "recipe: tier-stage"),
        ("trainer.logger", loggers, "cfg:training.logger" if logger is None else "stage runner: training.logger + its file logger"),
        ("trainer.n_gpus_per_node", int(tr.n_gpus_per_node), "cfg:training.n_gpus_per_node"),
        ("trainer.nnodes", int(tr.nnodes), "cfg:training.nnodes"),
        ("trainer.total_epochs", int(tr.total_epochs), "cfg:training.total_epochs"),
        ("trainer.total_training_steps", None if steps is None else int(steps), stage_key("steps") if total_training_steps is None else "caller: total_training_steps"),
        ("trainer.save_freq", int(tr.save_freq), "cfg:training.save_freq"),
        ("trainer.max_actor_ckpt_to_keep", None if tr.max_ckpt_to_keep is None else int(tr.max_ckpt_to_keep), "cfg:training.max_ckpt_to_keep"),
        ("trainer.test_freq", int(tr.test_freq), "cfg:training.test_freq"),
        ("trainer.val_before_train", bool(tr.val_before_train), "cfg:training.val_before_train"),
        ("trainer.critic_warmup", 0, "recipe constant"),
        ("trainer.balance_batch", True, "recipe constant"),  # POLARIS default; our mechanisms hook in here (trainer.py)
        ("trainer.default_local_dir", str(output_dir / "checkpoints"), "stage plan: stage folder"),
        ("trainer.resume_mode", resume_mode, "caller: resume_mode"),
        # the POLARIS trainer (trainer.py) runs on verl's legacy loop; see trainer.py for why
        ("trainer.use_v1", False, "recipe constant"),
        # --- POLARIS mechanisms (read by polaris_repro.training.main_polaris)
        ("+polaris.substitution", substitution if substitution is not None else tr.substitution, "cfg:training.substitution" if substitution is None else "stage plan: substitution"),
        ("+polaris.rescue", bool(tr.rescue if rescue is None else rescue), "cfg:training.rescue" if rescue is None else "stage plan: rescue"),
        ("+polaris.accuracy_log", str(accuracy_log or output_dir / "accuracy_log.jsonl"), "stage plan: stage folder"),
        ("+polaris.metrics_file", str(metrics_file or output_dir / "metrics.jsonl"), "stage plan: stage folder"),
        ("+polaris.stage", st.name, stage_key("name")),
        ("+polaris.seed", stage_seed(cfg, stage_index), SEED),
        # the run's stop request (a time limit's warning): checkpoint at the next step boundary, end
        ("+polaris.stop_file", str(output_dir.parent / STOP_FILE), "recipe: the run's stop file"),
    ]
    nnodes, per_node = world_shape(cfg, extra)
    _check_micro_batches(tr, nnodes * per_node, sp)
    if tr.old_log_prob == "rollout":
        # one PPO epoch over one mini-batch is on-policy: the "old" policy is the rollout policy. When
        # the rollout model is the actor's own fp32 copy (CPU tiers) its log-probs are the old
        # log-probs (to ~1e-4), so verl's bypass mode skips a second forward pass over the batch.
        # Entropy is then computed in the update pass (it was a by-product of the skipped pass).
        rc = "cfg:training.old_log_prob"
        o += [("algorithm.rollout_correction.bypass_mode", True, rc),
              ("algorithm.rollout_correction.loss_type", "ppo_clip", rc),
              ("algorithm.rollout_correction.rollout_is", None, rc),
              ("algorithm.rollout_correction.rollout_rs", None, rc),
              (a + "calculate_entropy", True, rc)]
    ov = OverrideSet()
    for key, value, origin in o:
        prefix, key = ("+", key[1:]) if key.startswith("+") else ("", key)
        if cpu and key in PLATFORM_KEYS:
            ov.reserve(key, CPU_PLATFORM)    # the CPU platform sets it, in the recipe's place
        elif origin.startswith("cfg:"):
            ov.set(key, value, f"tier config {origin[4:]}", prefix=prefix, config_key=origin[4:].split(" ")[0])
        else:
            ov.set(key, value, origin, prefix=prefix)
    if cpu:
        from ..verl_cpu import cpu_overrides, resolve_precision  # the CPU platform + hf rollout plugin

        ov.add_items(cpu_overrides(precision=resolve_precision(tr.cpu_precision), nnodes=nnodes,
                                   n_gpus=per_node, rollout=rollout_name), CPU_PLATFORM)
    ov.add_user(extra)
    ov.check_complete()
    return ov


def _check_micro_batches(tr: dict, world: int, sp: int) -> None:
    """Without dynamic batch size verl splits each rank's share of a batch into micro-batches of
    ``micro_batch_size_per_gpu`` sequences and asserts they divide it ("data size must be divisible
    by ... micro_batch_size_per_gpu"); fail before launching, naming the parameter."""
    if tr.use_dynamic_bsz:
        return
    dp = max(1, world // max(1, sp))
    mb = int(tr.micro_batch_size_per_gpu)
    for name in ("ppo_mini_batch_size", "train_batch_size"):
        seqs = int(getattr(tr, name)) * int(tr.rollout_n)
        if seqs % dp or (seqs // dp) % mb:
            fits = [d for d in range(1, seqs // dp + 1) if (seqs // dp) % d == 0 and d <= mb] if seqs % dp == 0 else []
            hint = f"; e.g. -o training.micro_batch_size_per_gpu={fits[-1]}" if fits else ""
            raise StageError(
                f"training.micro_batch_size_per_gpu = {mb} does not divide the sequences each of the {dp} "
                f"data-parallel rank(s) gets (training.{name} {getattr(tr, name)} x rollout_n {tr.rollout_n} / {dp} "
                f"= {seqs / dp:g}); change it or the world size (trainer.nnodes x trainer.n_gpus_per_node), "
                f"or set training.use_dynamic_bsz{hint}")


def world_shape(cfg: dict, extra: Iterable[str] = ()) -> tuple[int, int]:
    """``(trainer.nnodes, trainer.n_gpus_per_node)`` of a launch: the tier's ``training.nnodes`` /
    ``training.n_gpus_per_node``, unless an extra verl override (``--verl``) sets them."""
    d = overrides_to_dict(list(extra))
    out = []
    for key, default in (("trainer.nnodes", cfg.training.nnodes),
                         ("trainer.n_gpus_per_node", cfg.training.n_gpus_per_node)):
        raw = d.get(key, default)
        try:
            v = int(raw)
        except (TypeError, ValueError):
            raise StageError(f"{key} must be a positive integer, got {raw!r}") from None
        if v < 1:
            raise StageError(f"{key} must be a positive integer, got {raw!r}")
        out.append(v)
    return out[0], out[1]


def verl_config_dir() -> str:
    import verl

    return str(Path(verl.__file__).parent / "trainer" / "config")


def compose(overrides: Sequence[str], *, polaris_keys: bool = True):
    """Compose verl's ``ppo_trainer`` config with ``overrides`` through Hydra (no launch).

    Raises Hydra's error if an override names a key that verl 0.9.1 does not have (without a
    ``+``) or has a value of the wrong type."""
    from hydra import compose as _compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=verl_config_dir(), version_base=None):
        conf = _compose(config_name="ppo_trainer", overrides=list(overrides))
    return conf


def check_with_verl(conf) -> None:
    """Run verl's own config validation and dataclass conversion on a composed config (what
    ``main_ppo`` does before starting Ray), so a dry run fails the way a launch would."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    validate_config(config=conf, use_reference_policy=need_reference_policy(conf),
                    use_critic=need_critic(conf))
    omega_conf_to_dataclass(conf.actor_rollout_ref.actor)
    omega_conf_to_dataclass(conf.actor_rollout_ref.rollout)
    omega_conf_to_dataclass(conf.algorithm)


def summary_row(cfg: dict, stage_index: int, overrides: Sequence[str]) -> dict:
    """One row of the per-stage configuration table (notebook / dry-run)."""
    d = overrides_to_dict(overrides)
    st = cfg.stage(stage_index)
    keys = {
        "rollout T": "actor_rollout_ref.rollout.temperature",
        "val T": "actor_rollout_ref.rollout.val_kwargs.temperature",
        "max response": "data.max_response_length",
        "token budget": "actor_rollout_ref.actor.ppo_max_token_len_per_gpu",
        "ulysses SP": "actor_rollout_ref.actor.ulysses_sequence_parallel_size",
        "batch": "data.train_batch_size",
        "n": "actor_rollout_ref.rollout.n",
        "lr": "actor_rollout_ref.actor.optim.lr",
        "steps": "trainer.total_training_steps",
        "substitution": "polaris.substitution",
        "rescue": "polaris.rescue",
    }
    row = {"stage": st.name}
    row.update({k: d.get(v) for k, v in keys.items()})
    return row
