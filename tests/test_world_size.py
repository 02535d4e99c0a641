"""World size from the tier on CPU tiers, threads per rank, one FSDP strategy (issue 25, item 1)."""
import pytest

from polaris_repro.config import load_config
from polaris_repro.training import verl_config as vc
from polaris_repro.verl_cpu import cpu_overrides, rank_threads


def _keys(ov):
    return vc.overrides_to_dict(ov)


def _stage(cfg, extra=()):
    return _keys(vc.stage_overrides(cfg, 0, train_files="t.parquet", val_files="v.parquet",
                                    model_path="m", output_dir="/tmp/o", extra=extra))


def test_cpu_overrides_world_size_threads_and_cluster(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("POLARIS_CPU_THREADS", raising=False)
    k = _keys(cpu_overrides(nnodes=2, n_gpus=1, threads=3))
    assert k["trainer.nnodes"] == "2" and k["trainer.n_gpus_per_node"] == "1"
    assert k["ray_kwargs.ray_init.num_gpus"] == "2"           # one fake GPU per rank, private Ray
    assert k["ray_kwargs.ray_init.runtime_env.env_vars.VERL_PLATFORM"] == "cpu"
    assert k["ray_kwargs.ray_init.runtime_env.env_vars.POLARIS_CPU_THREADS"] == "'3'"
    # joining a cluster: Ray refuses num_cpus / num_gpus, the nodes declare their own
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6391")
    k = _keys(cpu_overrides(nnodes=2))
    assert "ray_kwargs.ray_init.num_cpus" not in k and "ray_kwargs.ray_init.num_gpus" not in k
    assert k["ray_kwargs.ray_init.runtime_env.env_vars.VERL_PLATFORM"] == "cpu"
    for bad in ({"nnodes": 0}, {"threads": 0}, {"nnodes": "2"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            cpu_overrides(**bad)


def test_rank_threads_divides_the_cores(monkeypatch):
    monkeypatch.delenv("POLARIS_CPU_THREADS", raising=False)
    assert rank_threads(2, cores=2) == 1 and rank_threads(1, cores=2) == 2 and rank_threads(4, cores=2) == 1
    assert rank_threads(2, cores=16) == 8
    monkeypatch.setenv("POLARIS_CPU_THREADS", "5")
    assert rank_threads(2, cores=2) == 5


def test_cpu_tier_takes_world_size_from_tier_and_verl(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("POLARIS_CPU_THREADS", raising=False)
    cfg = load_config("tiny", ["training.nnodes=2", "training.micro_batch_size_per_gpu=4"])
    k = _stage(cfg)
    assert k["trainer.nnodes"] == "2" and k["trainer.n_gpus_per_node"] == "1"
    assert k["ray_kwargs.ray_init.num_gpus"] == "2"
    k = _stage(load_config("tiny", ["training.micro_batch_size_per_gpu=4"]),
               extra=["trainer.n_gpus_per_node=2", "trainer.nnodes=2"])
    assert k["trainer.nnodes"] == "2" and k["trainer.n_gpus_per_node"] == "2"
    assert k["ray_kwargs.ray_init.num_gpus"] == "4"             # was forced to 1 before issue 25
    with pytest.raises(vc.StageError, match="trainer.nnodes"):
        _stage(load_config("tiny"), extra=["trainer.nnodes=zero"])


def test_one_fsdp_strategy_on_cpu_and_gpu_tiers():
    for tier in ("tiny", "smoke", "paper-4b", "paper-7b", "paper-1.7b", "single-gpu"):
        k = _stage(load_config(tier))
        assert k["actor_rollout_ref.actor.strategy"] == vc.FSDP_STRATEGY == "fsdp2", tier


def test_worker_env_vars_compose_as_strings(monkeypatch):
    """Ray rejects a non-string env_vars value (TypeError in ray.init): the composed config must hold
    strings."""
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6391")
    cfg = load_config("rehearsal")
    ov = vc.stage_overrides(cfg, 0, train_files="t.parquet", val_files="v.parquet", model_path="m",
                            output_dir="/tmp/o")
    env = vc.compose(ov).ray_kwargs.ray_init.runtime_env.env_vars
    assert env.VERL_PLATFORM == "cpu" and isinstance(env.POLARIS_CPU_THREADS, str)
    assert int(env.POLARIS_CPU_THREADS) >= 1


def test_micro_batch_that_does_not_divide_a_rank_share_is_an_error_naming_it(monkeypatch):
    """tiny on 2 ranks: 4 x 4 = 16 sequences, 8 per rank, micro-batch 16 -> verl would assert
    mid-launch ("data size must be divisible by ... micro_batch_size_per_gpu"); fail before."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(vc.StageError, match=r"micro_batch_size_per_gpu = 16 .* 8\b.*=8"):
        _stage(load_config("tiny"), extra=["trainer.n_gpus_per_node=2"])
    k = _stage(load_config("tiny", ["training.micro_batch_size_per_gpu=8"]), extra=["trainer.n_gpus_per_node=2"])
    assert k["trainer.n_gpus_per_node"] == "2"
    _stage(load_config("rehearsal"))       # dynamic batch size: no fixed micro-batch to check
