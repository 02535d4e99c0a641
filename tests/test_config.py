import subprocess
import sys

import pytest

from polaris_repro.config import TIERS, ConfigError, load_config, tier_delta


@pytest.mark.parametrize("tier", TIERS)
def test_every_tier_resolves(tier):
    cfg = load_config(tier)
    assert cfg["tier"] == tier
    assert cfg["training"]["stages"], "every tier has stages"
    # a tier states only what differs from base: no key repeats base's value verbatim at top level
    assert "training" in tier_delta(tier) or tier == "base"


def test_paper_4b_stages_match_reference():
    st = load_config("paper-4b")["training"]["stages"]
    assert [s["max_response_length"] for s in st] == [39936, 48128, 52224]
    assert [s["token_budget"] for s in st] == [40960, 49152, 53248]
    assert [s["temperature"] for s in st] == [1.4, 1.45, 1.5]
    assert [s["val_temperature"] for s in st] == [1.2, 1.4, 1.4]
    assert [s["ulysses_sp"] for s in st] == [1, 1, 4]
    tr = load_config("paper-4b")["training"]
    assert (tr["train_batch_size"], tr["rollout_n"], tr["ppo_mini_batch_size"]) == (128, 8, 128)
    assert (tr["lr"], tr["clip_ratio_low"], tr["clip_ratio_high"]) == (1e-6, 0.2, 0.28)
    assert not tr["use_kl_loss"] and tr["entropy_coeff"] == 0 and tr["loss_agg_mode"] == "token-mean"


def test_cpu_tiers_keep_the_stage_structure():
    for tier in ("tiny", "smoke"):
        st = load_config(tier)["training"]["stages"]
        lens = [s["max_response_length"] for s in st]
        assert len(st) == 3 and lens == sorted(lens) and len(set(lens)) == 3
        temps = [s["temperature"] for s in st]
        assert temps == sorted(temps)


@pytest.mark.parametrize("override,key", [
    ("difficulty.temperature=-0.5", "difficulty.temperature"),
    ("training.rollout_n=0", "training.rollout_n"),
    ("training.nonsense=1", "training.nonsense"),
    ("evaluation.temperature=hot", "evaluation.temperature"),
    ("training.substitution=sometimes", "training.substitution"),
    ("sampling.engine=tpu", "sampling.engine"),
])
def test_invalid_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("tiny", [override])


def test_stage_beyond_context_without_extension_fails():
    with pytest.raises(ConfigError, match="context"):
        load_config("paper-4b", ["model.context_extension.max_position_embeddings=null"])
    # the 4B stage 1 alone fits the native 40,960
    cfg = load_config("paper-4b")
    assert cfg["model"]["max_position_embeddings"] == 40960


def test_unknown_tier():
    with pytest.raises(ConfigError, match="unknown tier"):
        load_config("huge")


def test_cli_config_prints_paper_stages():
    out = subprocess.run([sys.executable, "-m", "polaris_repro.cli", "config", "--tier", "paper-4b"],
                         capture_output=True, text=True, check=True).stdout
    for value in ("39936", "48128", "52224", "1.45"):
        assert value in out
    bad = subprocess.run([sys.executable, "-m", "polaris_repro.cli", "config", "--tier", "tiny",
                          "-o", "training.rollout_n=0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "training.rollout_n" in bad.stderr
