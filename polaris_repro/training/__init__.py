"""Section 3: stage-wise GRPO training on verl 0.9.1.

* :mod:`.verl_config` -- the Hydra overrides of one stage, from the tier config (``--dry-run``);
* :mod:`.mechanisms`  -- the POLARIS mechanisms as pure functions (accuracy log, intra-batch
  informative substitution, rollout rescue), unit-tested without Ray;
* :mod:`.trainer`     -- verl's trainer with those mechanisms wired in (imported only inside verl);
* :mod:`.main_polaris` -- ``python -m polaris_repro.training.main_polaris <overrides>``;
* :mod:`.stages`      -- the stage runner (data, temperature, merged checkpoints, resume);
* :mod:`.launch`      -- SLURM / ``ray job submit`` templates for the paper tiers;
* :mod:`.cli`         -- ``polaris-repro train``.
"""
