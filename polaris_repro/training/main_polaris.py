"""``python -m polaris_repro.training.main_polaris <hydra overrides>``: verl's PPO entry point with
the POLARIS trainer (:class:`polaris_repro.training.trainer.PolarisTrainer`).

The config is verl 0.9.1's own ``ppo_trainer`` (composed by Hydra from verl's config folder) plus
the ``polaris.*`` keys, passed as ``+polaris.substitution=polaris|released|off``,
``+polaris.rescue=true|false``, ``+polaris.accuracy_log=PATH``, ``+polaris.metrics_file=PATH``,
``+polaris.seed=N`` (``verl_config.stage_overrides`` writes them all). On CPU tiers set
``VERL_PLATFORM=cpu`` (the plugin in :mod:`polaris_repro.verl_cpu`).
"""
from __future__ import annotations

import sys

import hydra
import ray

from .task_runner import PolarisTaskRunner
from .verl_config import verl_config_dir


def run(config) -> None:
    from verl.trainer.main_ppo import run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    from .trainer import polaris_settings

    if config.trainer.use_v1:
        raise SystemExit("main_polaris: the POLARIS trainer runs on verl's legacy loop; set "
                         "trainer.use_v1=False (see polaris_repro/training/trainer.py for why)")
    polaris_settings(config)  # fail early on a bad polaris.* value
    if not config.trainer.balance_batch:
        raise SystemExit("main_polaris: the POLARIS mechanisms run in the trainer's batch-balancing "
                         "hook; keep trainer.balance_batch=True (the POLARIS default)")
    auto_set_device(config)
    validate_config(config=config, use_reference_policy=need_reference_policy(config),
                    use_critic=need_critic(config))
    run_ppo(config, task_runner_class=PolarisTaskRunner)


@hydra.main(config_path=verl_config_dir(), config_name="ppo_trainer", version_base=None)
def main(config):
    from ..signals import install

    # SIGTERM / SIGHUP (the stage runner stopping this launch, or its parent dying) raise
    # KeyboardInterrupt here, so Ray's exit handlers run: a private Ray instance is shut down, and
    # on a cluster the job ends and Ray stops its workers on every node
    install()
    run(config)


if __name__ == "__main__":
    sys.exit(main())
