"""The verl overrides are built in one pass (issue 35 item 2): each key has one owner and a recorded
source, a key set twice is an error, and ``config --explain`` / ``train --dry-run --explain`` print
every value with where it came from."""
from __future__ import annotations

import contextlib
import io

import pytest

from polaris_repro.config import config_sources, explain_config, load_config
from polaris_repro.training import verl_config as vc
from polaris_repro.training.overrides import CPU_PLATFORM, USER, OverrideError, OverrideSet


def _set(tier, extra=(), overrides=None):
    cfg = load_config(tier, overrides)
    return cfg, vc.stage_override_set(cfg, 0, train_files="/d/t.parquet", val_files="/d/v.parquet",
                                      model_path="m", output_dir="/o/stage1", extra=extra)


def test_a_key_set_twice_is_an_error():
    ov = OverrideSet()
    ov.set("trainer.nnodes", 1, "recipe")
    with pytest.raises(OverrideError, match="trainer.nnodes.*set twice.*recipe.*CPU platform"):
        ov.add_items(["trainer.nnodes=2"], CPU_PLATFORM)
    ov = OverrideSet()
    ov.reserve("trainer.nnodes", CPU_PLATFORM)
    with pytest.raises(OverrideError, match="belongs to"):
        ov.set("trainer.nnodes", 1, "recipe")
    ov.add_items(["trainer.nnodes=2"], CPU_PLATFORM)
    assert ov.items() == ["trainer.nnodes=2"]
    ov = OverrideSet()
    ov.reserve("trainer.use_v1", CPU_PLATFORM)
    with pytest.raises(OverrideError, match="never set"):
        ov.items()
    with pytest.raises(OverrideError, match="given twice"):
        _set("tiny", extra=["trainer.total_training_steps=3", "trainer.total_training_steps=4"])


@pytest.mark.parametrize("tier", ["tiny", "smoke", "gpu-smoke", "paper-4b"])
def test_every_override_has_a_source_and_one_owner(tier):
    cfg, ov = _set(tier)
    entries = ov.entries()
    assert [e.item for e in entries] == ov.items()
    assert len({e.key for e in entries}) == len(entries)
    assert all(e.source for e in entries)
    owner = {e.key: e.source for e in entries}
    cpu = cfg["training"]["rollout_name"] == "hf"
    for key in vc.PLATFORM_KEYS:
        assert (owner[key] == CPU_PLATFORM) == cpu, (key, owner[key])
    # a tier-config value names its key and, explained, the file that set it
    lines = ov.explain(config_sources(tier))
    assert len(lines) == len(entries) and all("  # " in line for line in lines)
    lr = next(line for line in lines if line.startswith("actor_rollout_ref.actor.optim.lr="))
    assert "training.lr" in lr and ("base.yaml" in lr or f"{tier}.yaml" in lr)


def test_user_overrides_replace_in_place_and_are_recorded():
    _, base = _set("tiny")
    _, ov = _set("tiny", extra=["trainer.total_training_steps=5", "+x.y=1"])
    items = ov.items()
    assert items[:-1] == [i if not i.startswith("trainer.total_training_steps=") else
                          "trainer.total_training_steps=5" for i in base.items()]
    assert items[-1] == "+x.y=1"
    e = {x.key: x for x in ov.entries()}
    assert e["trainer.total_training_steps"].source == USER and e["x.y"].source == USER
    line = next(x for x in ov.explain() if x.startswith("trainer.total_training_steps="))
    assert "replacing 2 from tier config training.stages[0].steps" in line


def test_config_sources_and_explain():
    src = config_sources("tiny", ["training.lr=2e-4"])
    assert src["training.lr"] == "-o training.lr=2e-4"
    assert src["training.rollout_n"] == "tiny.yaml"
    assert src["training.clip_ratio_high"] == "base.yaml"
    lines = explain_config("tiny", ["training.lr=2e-4"])
    assert all("  # " in line for line in lines)
    assert any(line.startswith("training.lr: 0.0002") and line.endswith("# -o training.lr=2e-4") for line in lines)
    assert any(line.startswith("training.stages[0].token_budget: 104") and "derived" in line for line in lines)


def test_cli_explain():
    from polaris_repro.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["config", "--tier", "tiny", "--explain"]) == 0
    assert "training.rollout_n: 4" in buf.getvalue() and "# tiny.yaml" in buf.getvalue()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["train", "--tier", "tiny", "--stage", "1", "--dry-run", "--no-compose", "--explain",
                     "-o", "training.lr=2e-4"]) == 0
    out = buf.getvalue()
    assert "actor_rollout_ref.actor.optim.lr=0.0002" in out and "(-o training.lr=2e-4)" in out
    assert "trainer.device=cpu" in out and CPU_PLATFORM in out


def test_one_stage_lookup():
    """config.stage_spec is the one lookup: an int is the 0-based index, a string the name or (as
    typed on a command line) the 1-based number; the CLI helper delegates to it."""
    from polaris_repro.config import StageError, stage_spec

    cfg = load_config("tiny")
    assert stage_spec(cfg, 1).name == stage_spec(cfg, "stage2").name == stage_spec(cfg, "2").name == "stage2"
    assert vc.resolve_stage(cfg, 2) == vc.resolve_stage(cfg, "stage2") == 1
    with pytest.raises(StageError, match="stage index 3"):
        stage_spec(cfg, 3)
    with pytest.raises(StageError, match="stage number 4"):
        stage_spec(cfg, "4")
    with pytest.raises(StageError, match="unknown stage"):
        stage_spec(cfg, "stage9")


def test_allowed_values_are_defined_once():
    from polaris_repro import config as C
    from polaris_repro import reward
    from polaris_repro.grading import MODES
    from polaris_repro.training import mechanisms as M

    assert M.MODES is C.SUBSTITUTION_MODES and MODES is C.ANSWER_EXTRACTIONS and reward.CHECKERS is C.CHECKERS
    with pytest.raises(C.ConfigError, match="'training.substitution' must be polaris, released or off"):
        load_config("tiny", ["training.substitution=other"])
    with pytest.raises(C.ConfigError, match="'evaluation.overlong_prompts' must be error or skip"):
        load_config("tiny", ["evaluation.overlong_prompts=drop"])


def test_temperature_rule_defaults_are_base_yaml():
    from polaris_repro.config import base_setting
    from polaris_repro.temperature import rule

    assert rule.DEFAULT_PLATEAU_DROP == base_setting("temperature_search.plateau_drop")
    assert rule.DEFAULT_COLLAPSE_DROP == base_setting("temperature_search.collapse_drop")
    assert rule.DEFAULT_CONFIDENCE == base_setting("temperature_search.confidence")
    assert rule.DEFAULT_BOOTSTRAP == base_setting("temperature_search.bootstrap")
