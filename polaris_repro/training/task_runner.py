"""verl's v0 TaskRunner, building a :class:`~polaris_repro.training.trainer.PolarisTrainer`.

This lives in an importable module (not ``__main__``) so Ray pickles the class by reference and
every process runs the same code. verl's ``TaskRunner.run`` builds the trainer through the
module-level name ``RayPPOTrainer`` of ``verl.trainer.main_ppo_v0``; rebinding that name in the
TaskRunner process and calling verl's own ``run`` is the least code that swaps the trainer class
without copying verl's setup (workers, datasets, resource pools).

Note: ``verl.trainer.main_ppo_v0.TaskRunner`` is a Ray ``ActorClass`` wrapper, so a subclass of
its ``__ray_actor_class__`` would be pickled *by value* together with a private copy of
``run``'s globals, and the rebinding would not reach it; hence the explicit call of the real
function below.
"""
from __future__ import annotations

import ray
from verl.trainer.main_ppo_v0 import BaseTaskRunner


class _PolarisTaskRunner(BaseTaskRunner):
    def run(self, config):
        import verl.trainer.main_ppo_v0 as v0

        from .trainer import PolarisTrainer

        v0.RayPPOTrainer = PolarisTrainer
        run = v0.TaskRunner.__ray_actor_class__.run
        assert run.__globals__ is vars(v0), "verl's TaskRunner.run does not read main_ppo_v0's globals"
        return run(self, config)


PolarisTaskRunner = ray.remote(_PolarisTaskRunner)
