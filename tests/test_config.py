import subprocess
import sys

import pytest

import yaml

from polaris_repro import yarn as Y
from polaris_repro.config import (_FREE_KEYS, CONFIG_DIR, MODEL_CONTEXT, TIERS, ConfigError, check_lengths,
                                  load_config, model_context, tier_delta)


def _repeats(delta, base, prefix=""):
    """Dotted keys whose value a tier file repeats verbatim from base.yaml (nested mappings walked;
    lists and free-form mappings compared whole)."""
    out = []
    for key, value in delta.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(base.get(key), dict) and dotted not in _FREE_KEYS:
            out += _repeats(value, base[key], dotted + ".")
        elif key in base and value == base[key]:
            out.append(dotted)
    return out


@pytest.mark.parametrize("tier", TIERS)
def test_every_tier_resolves(tier):
    cfg = load_config(tier)
    assert cfg["tier"] == tier
    assert cfg["training"]["stages"], "every tier has stages"


@pytest.mark.parametrize("tier", TIERS)
def test_tiers_state_only_differences_from_base(tier):
    """A tier file states only what differs from base.yaml: no key repeats base's value verbatim."""
    base = yaml.safe_load((CONFIG_DIR / "base.yaml").read_text())
    assert _repeats(tier_delta(tier), base) == []


def test_the_repeat_check_catches_a_repeat():
    base = {"a": 1, "m": {"x": [1, 2], "y": 2}, "evaluation": {"benchmarks": {"aime24": 32}}}
    assert _repeats({"a": 1, "m": {"x": [1, 2], "y": 3}}, base) == ["a", "m.x"]
    assert _repeats({"evaluation": {"benchmarks": {"aime24": 32}}}, base) == ["evaluation.benchmarks"]
    assert _repeats({"evaluation": {"benchmarks": {"aime24": 8}}}, base) == []


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


def test_token_budget_is_derived_not_set():
    """Each stage's token budget is max_prompt_length + max_response_length: the typed stage record
    derives it, the resolved config shows it, and a tier or override that sets it is refused."""
    from polaris_repro.config import ConfigError, stage_spec, stage_specs

    for tier in ("tiny", "smoke", "single-gpu", "paper-4b", "paper-7b", "paper-1.7b"):
        cfg = load_config(tier)
        for s, raw in zip(stage_specs(cfg), cfg["training"]["stages"]):
            assert s.token_budget == cfg["training"]["max_prompt_length"] + s.max_response_length
            assert raw["token_budget"] == s.token_budget and s.temperature_source == "config"
    cfg = load_config("paper-4b", ["training.max_prompt_length=2048"])
    assert stage_spec(cfg, "stage1").token_budget == 2048 + 39936
    with pytest.raises(ConfigError, match="derived"):
        load_config("tiny", ["training.stages=[{name: s1, max_response_length: 40, token_budget: 104, "
                             "temperature: 0.8}]"])


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


# ---- impossible length settings fail when the config is loaded (issue 13 §3) --------------------
def _base_and_need(cfg, max_new):
    limit = cfg["model"]["max_position_embeddings"] or MODEL_CONTEXT[cfg["model"]["path"]]["max_position_embeddings"]
    return limit, cfg["training"]["max_prompt_length"] + max_new


@pytest.mark.parametrize("tier", TIERS)
def test_evaluation_longer_than_the_context_fails_at_load_with_yarn_off(tier):
    cfg = load_config(tier)
    too_long = model_context(cfg) + 1
    limit, need = _base_and_need(cfg, too_long)
    with pytest.raises(ConfigError) as e:
        load_config(tier, ["evaluation.yarn.enabled=false", "evaluation.yarn_ablation=false",
                           f"evaluation.max_new_tokens={too_long}"])
    msg = str(e.value)
    for s in ("evaluation.max_new_tokens", str(need), str(model_context(cfg)), "evaluation.yarn.enabled",
              f"factor {Y.required_factor(need, limit):g}"):
        assert s in msg, (s, msg)


@pytest.mark.parametrize("tier", TIERS)
def test_a_yarn_factor_that_cannot_cover_the_evaluation_fails_at_load(tier):
    cfg = load_config(tier)
    limit, _ = _base_and_need(cfg, 0)
    orig = cfg["evaluation"]["yarn"]["original_max_position_embeddings"] or limit
    too_long = max(model_context(cfg), int(1.01 * orig) + 1) + 1
    _, need = _base_and_need(cfg, too_long)
    on = ["evaluation.yarn.enabled=true", "evaluation.yarn_ablation=false", f"evaluation.max_new_tokens={too_long}"]
    with pytest.raises(ConfigError) as e:
        load_config(tier, on + ["evaluation.yarn.factor=1.01"])
    msg = str(e.value)
    cover = Y.required_factor(need, orig)
    for s in ("evaluation.yarn.factor", "= 1.01", str(need), str(orig), f"factor {cover:g} covers"):
        assert s in msg, (s, msg)
    with pytest.raises(ConfigError, match=r"'evaluation\.yarn\.factor' = 1\.0 .*scales nothing"):
        load_config(tier, ["evaluation.yarn.enabled=true", "evaluation.yarn.factor=1.0"])
    # the factor the message names does cover it
    assert load_config(tier, on + [f"evaluation.yarn.factor={cover}"])["evaluation"]["yarn"]["factor"] == cover


def test_the_yarn_ablation_setting_is_checked_too():
    # paper-7b evaluates with YaRN; its ablation runs without: 140K new tokens fit 1.5 x 131,072 only
    with pytest.raises(ConfigError, match="evaluation.yarn_ablation"):
        load_config("paper-7b", ["evaluation.max_new_tokens=140000"])
    load_config("paper-7b", ["evaluation.max_new_tokens=140000", "evaluation.yarn_ablation=false"])


def test_paper_4b_needs_its_raised_limit_for_the_90k_evaluation():
    # factor 1.5 on 32,768 covers 49,152: without the raised limit the 91,024 tokens do not fit
    cfg = load_config("paper-4b")
    assert cfg["model"]["context_extension"]["max_position_embeddings"] == 131072
    bad = {**cfg, "model": {**cfg["model"], "context_extension": {"max_position_embeddings": None}}}
    with pytest.raises(ConfigError, match=r"factor' = 1\.5 on original_max_position_embeddings 32768 covers 49152"):
        check_lengths(bad)


def test_an_unknown_model_is_checked_when_its_config_is_read():
    cfg = load_config("tiny", ["model.path=/somewhere/my-model", "model.max_position_embeddings=null"])
    check_lengths(cfg)                                                  # nothing known: nothing to check yet
    check_lengths(cfg, {"max_position_embeddings": 4096})              # its config.json: fits
    with pytest.raises(ConfigError, match=r"my-model.*exceed the model's context 100"):
        check_lengths(cfg, {"max_position_embeddings": 100})


def test_the_context_table_knows_the_tiers_models():
    from polaris_repro.models import TINY_SPEC

    assert MODEL_CONTEXT["builtin:tiny"]["max_position_embeddings"] == TINY_SPEC["max_position_embeddings"]
    for tier in TIERS:
        cfg = load_config(tier)
        known = MODEL_CONTEXT.get(cfg["model"]["path"])
        assert known is not None, tier
        if cfg["model"]["max_position_embeddings"]:
            assert known["max_position_embeddings"] == cfg["model"]["max_position_embeddings"], tier


def test_paper_tiers_state_the_yarn_base_in_their_yaml():
    for tier, base in (("paper-4b", 32768), ("paper-1.7b", 32768), ("paper-7b", 131072)):
        assert tier_delta(tier)["evaluation"]["yarn"]["original_max_position_embeddings"] == base
        text = (CONFIG_DIR / f"{tier}.yaml").read_text()
        assert "YaRN base" in text, tier                      # with its source in a comment


def test_cli_config_rejects_impossible_lengths():
    bad = subprocess.run([sys.executable, "-m", "polaris_repro.cli", "config", "--tier", "paper-4b",
                          "-o", "evaluation.yarn.factor=1.0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "evaluation.yarn.factor" in bad.stderr and "2.78" in bad.stderr


def test_an_override_in_e_notation_without_a_dot_is_a_number():
    """``-o training.lr=3e-5``: YAML 1.1 reads it as a string; the override takes it as 3e-05."""
    from polaris_repro.config import load_config, parse_override

    assert parse_override("training.lr=3e-5") == (["training", "lr"], 3e-5)
    assert parse_override("training.lr=1.0e-6")[1] == 1e-6
    assert parse_override("model.path=e5-large")[1] == "e5-large"
    assert load_config("smoke", ["training.lr=3e-5"])["training"]["lr"] == 3e-5


def test_each_enumerated_setting_is_a_literal_field_checked_beside_it():
    # the typed config's Literal fields are exactly CHOICES' keys, with the same allowed values
    from typing import Literal, get_args, get_origin

    from polaris_repro.config import CHOICES, field_checks
    from polaris_repro.config.schema import Config

    def literals(cls, prefix=""):
        from dataclasses import fields, is_dataclass
        from typing import get_type_hints
        hints = get_type_hints(cls)
        for f in fields(cls):
            h = hints[f.name]
            if isinstance(h, type) and is_dataclass(h):
                yield from literals(h, f"{prefix}{f.name}.")
            elif get_origin(h) is Literal:
                yield f"{prefix}{f.name}", get_args(h)

    assert dict(literals(Config)) == CHOICES
    checked = dict(field_checks())
    assert set(CHOICES) <= set(checked) and "training.lr" in checked and "evaluation.benchmarks" in checked
    with pytest.raises(ConfigError, match=r"'sampling\.engine' must be vllm or hf, got 'tgi'"):
        load_config("tiny", ["sampling.engine=tgi"])
