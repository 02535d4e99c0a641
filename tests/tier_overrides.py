"""A tier's verl overrides of one stage as a dict (the dry run's), for the tests that compare tiers."""
from polaris_repro.config import load_config
from polaris_repro.training import stages as S
from polaris_repro.training import verl_config as vc


def stage_overrides(tier: str, stage: int, overrides=()) -> dict:
    cfg = load_config(tier, list(overrides))
    plan = S.plan_stage(cfg, "RUN", stage, dry_run=True, log=lambda s: None)
    return vc.overrides_to_dict(S.overrides_for(cfg, plan))
