"""Tier configurations: one YAML per tier under ``polaris_repro/configs/``, each stating only
what differs from ``base.yaml``.

``load_config("smoke")`` returns the resolved configuration as a typed, frozen
:class:`~polaris_repro.config.schema.Config` (``cfg.training.lr``, ``cfg.stage("stage2")``;
``cfg.to_dict()`` is the plain nested dict the manifest records);
``load_config("tiny", overrides=["training.lr=1e-3"])`` applies dotted overrides (values are
parsed as YAML literals). Unknown keys and invalid values raise :class:`ConfigError` naming the key.
``base.yaml`` is the one place defaults live; the allowed values of each enumerated setting are
defined once (:mod:`~polaris_repro.config.schema`: :data:`CHOICES`, the ``Literal`` types) and
imported by every module that checks them; :func:`config_sources` / :func:`explain_config` say
which file (or ``-o``) set each value. This package is the only place that reads the plain dict.
"""
from __future__ import annotations

import copy
import functools
import math
import re
from pathlib import Path
from dataclasses import fields, is_dataclass
from typing import Any, Callable, Iterable, Literal, Mapping, get_args, get_origin, get_type_hints

import yaml

from ..models import SFT_SPECS
from .checks import CHECKS, temperature as check_temperature
from .choices import (ANSWER_EXTRACTIONS, CHECKERS, CHOICES, CPU_PRECISIONS, OLD_LOG_PROB,  # noqa: F401
                      OVERLONG_PROMPTS, PRECISIONS, SAMPLING_ENGINES, SUBSTITUTION_MODES, TEMPERATURE_MODES,
                      AnswerExtraction, Checker, ConfigError, CpuPrecision, OldLogProb, OverlongPrompts, Precision,
                      SamplingEngine, StageError, SubstitutionMode, TemperatureMode, check_choice, one_of)
from .schema import (ClusterSettings, Config, ContextExtension, DataSettings, DifficultySettings,  # noqa: F401
                     EvaluationSettings, GradingSettings, ModelSettings, SamplingSettings, StageSpec,
                     TemperatureSearchSettings, TrainData, TrainingSettings, ValData, YarnSettings,
                     freeze, stage_record)

CONFIG_DIR = Path(__file__).parent.parent / "configs"
TIERS = ("tiny", "smoke", "rehearsal", "gpu-smoke", "single-gpu", "paper-4b", "paper-7b", "paper-1.7b")
CPU_TIERS = ("tiny", "smoke", "rehearsal")

# keys whose value is a free-form mapping (not checked against base)
_FREE_KEYS = {
    "model.context_extension.rope_scaling",
    "evaluation.benchmarks",
}
# Context limits of known models, the one table the config-time length check reads:
# ``max_position_embeddings`` as the checkpoint's config.json ships it, and ``native`` -- the
# pre-training context the model's documentation gives (the base a YaRN entry scales), where it
# gives one. A model not listed here (a local folder, another hub id) is checked by
# check_lengths() when its config.json is first read (evaluation, before anything is generated).
_QWEN3 = {"max_position_embeddings": 40960, "native": 32768,
          "source": "Qwen3 model cards: 32,768 tokens natively, 131,072 with YaRN; config.json 40,960"}
_R1_DISTILL = {"max_position_embeddings": 131072, "native": None,
               "source": "config.json (reference 7.1: R1-Distill-Qwen-7B already has 131,072)"}
MODEL_CONTEXT: dict[str, dict] = {
    **{f"Qwen/Qwen3-{size}": _QWEN3 for size in ("0.6B", "1.7B", "4B", "8B", "14B", "32B", "30B-A3B",
                                                 "235B-A22B")},
    **{f"deepseek-ai/DeepSeek-R1-Distill-Qwen-{size}": _R1_DISTILL for size in ("1.5B", "7B", "14B", "32B")},
    "POLARIS-Project/Polaris-4B-Preview": {
        "max_position_embeddings": 131072, "native": 32768,
        "source": "released config.json (reference issue #6: 131,072 with a rope_scaling entry); Qwen3-4B base"},
    "builtin:tiny": {"max_position_embeddings": 256, "native": 256, "source": "polaris_repro.models.TINY_SPEC"},
    "builtin:smoke": {"max_position_embeddings": 8192, "native": 8192,
                      "source": "SmolLM2-135M-Instruct config (polaris_repro.models.build_smoke)"},
}
# the *-sft variants keep their base model's context
MODEL_CONTEXT.update({f"builtin:{name}": MODEL_CONTEXT[f"builtin:{spec['base']}"]
                      for name, spec in SFT_SPECS.items()})
BUILTIN_CONTEXT = {k: v["max_position_embeddings"] for k, v in MODEL_CONTEXT.items() if k.startswith("builtin:")}
STAGE_KEYS = {"name", "max_response_length", "temperature", "val_temperature", "ulysses_sp", "steps"}
DERIVED_STAGE_KEYS = ("token_budget",)   # written into the resolved config by load_config, never set


def _read_yaml(path: Path) -> dict:
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:  # pragma: no cover - message passthrough
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at top level, got {type(data).__name__}")
    return data


def _merge(base: dict, delta: Mapping, prefix: str, source: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in delta.items():
        dotted = f"{prefix}{key}"
        if key not in out:
            raise ConfigError(f"{source}: unknown key '{dotted}' (not in base.yaml)")
        if (isinstance(out[key], dict) and isinstance(value, Mapping)
                and dotted not in _FREE_KEYS):
            out[key] = _merge(out[key], value, dotted + ".", source)
        elif isinstance(out[key], dict) and value is not None and not isinstance(value, Mapping) \
                and dotted not in _FREE_KEYS:
            raise ConfigError(f"{source}: '{dotted}' must be a mapping, got {value!r}")
        else:
            out[key] = copy.deepcopy(value)
    return out


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override '{item}': expected key.path=value")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        value = float(value)      # YAML 1.1 reads 3e-5 (no dot) as a string; a user means the number
    return key.strip().split("."), value


def _nest(path: list[str], value: Any) -> dict:
    out: Any = value
    for part in reversed(path):
        out = {part: out}
    return out


@functools.lru_cache(maxsize=None)
def _base() -> dict:
    return _read_yaml(CONFIG_DIR / "base.yaml")


def base_setting(dotted: str) -> Any:
    """A setting's value in ``base.yaml``, the one place defaults live: for code that needs a
    default without a tier (e.g. the temperature rule's thresholds as keyword defaults)."""
    node: Any = _base()
    for part in dotted.split("."):
        node = node[part]
    return copy.deepcopy(node)


def tier_file(tier: str) -> Path:
    path = CONFIG_DIR / f"{tier}.yaml"
    if tier == "base" or not path.exists():
        raise ConfigError(f"unknown tier '{tier}'; expected one of {', '.join(TIERS)}")
    return path


def load_config(tier: str, overrides: Iterable[str] | Mapping | None = None) -> Config:
    """Resolve ``base.yaml`` + ``<tier>.yaml`` + overrides, validate, and return the typed, frozen
    :class:`~polaris_repro.config.schema.Config` (``.to_dict()``: the plain dict)."""
    base = _read_yaml(CONFIG_DIR / "base.yaml")
    path = tier_file(tier)
    cfg = _merge(base, _read_yaml(path), "", path.name)
    if overrides:
        if isinstance(overrides, Mapping):
            cfg = _merge(cfg, overrides, "", "overrides")
        else:
            for item in overrides:
                keys, value = parse_override(item)
                cfg = _merge(cfg, _nest(keys, value), "", f"override '{item}'")
    cfg["tier"] = tier
    return _finish(cfg)


def resolve(cfg: Mapping, delta: Mapping) -> Config:
    """A resolved config dict (``Config.to_dict()``) with ``delta`` merged in, validated and typed
    (:meth:`Config.updated`)."""
    out = copy.deepcopy(dict(cfg))
    out["training"] = {**out["training"], "stages": [{k: v for k, v in st.items() if k not in DERIVED_STAGE_KEYS}
                                                    for st in out["training"]["stages"]]}
    return _finish(_merge(out, delta, "", "overrides"))


def _finish(cfg: dict) -> Config:
    validate(cfg)
    _derive_stage_keys(cfg)
    return Config.from_dict(cfg)


def _leaves(d: Mapping, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """``(dotted key, value)`` of every setting of a (partial) config; a free-form mapping
    (:data:`_FREE_KEYS`) and a list are one setting each."""
    for key, value in d.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and dotted not in _FREE_KEYS:
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted, value


def config_sources(tier: str, overrides: Iterable[str] | Mapping | None = None) -> dict[str, str]:
    """Where each setting of ``load_config(tier, overrides)`` comes from: ``base.yaml``, the tier's
    file (``tiny.yaml``), or the user's ``-o KEY=VALUE`` (``overrides`` for a mapping); the last
    one to set a key names it."""
    path = tier_file(tier)
    out = {k: "base.yaml" for k, _ in _leaves(_read_yaml(CONFIG_DIR / "base.yaml"))}
    out.update({k: path.name for k, _ in _leaves(_read_yaml(path))})
    if isinstance(overrides, Mapping):
        out.update({k: "overrides" for k, _ in _leaves(overrides)})
    else:
        for item in overrides or ():
            keys, value = parse_override(item)
            out.update({k: f"-o {item}" for k, _ in _leaves(_nest(keys, value))})
    out["tier"] = "--tier"
    return out


def explain_config(tier: str, overrides: Iterable[str] | Mapping | None = None) -> list[str]:
    """``key: value  # source`` for every setting of the resolved config (``config --explain``)."""
    cfg = load_config(tier, overrides)
    src = config_sources(tier, overrides)
    rows = []
    for key, value in _leaves(cfg):
        origin = src.get(key)
        if origin is None and key.startswith("training.stages"):
            origin = src.get("training.stages")
        if key == "training.stages":
            for i, st in enumerate(value):
                for k, v in st.items():
                    rows.append((f"training.stages[{i}].{k}", v,
                                 "derived: max_prompt_length + max_response_length" if k in DERIVED_STAGE_KEYS
                                 else origin))
            continue
        rows.append((key, value, origin))
    text = [(f"{k}: {yaml.safe_dump(v, default_flow_style=True, width=10**6, sort_keys=False).strip().removesuffix(chr(10) + '...')}",
             o) for k, v, o in rows]
    width = max(len(t) for t, _ in text)
    return [f"{t:<{width}}  # {o}" for t, o in text]


def _derive_stage_keys(cfg: dict) -> None:
    """Write each stage's derived ``token_budget`` (= max_prompt_length + max_response_length) into
    the resolved config, after its ``max_response_length``, so that the printed config and the
    run's manifest show it; code reads it from :class:`StageSpec`."""
    stages = cfg["training"]["stages"]
    for i, st in enumerate(stages):
        spec = stage_record(i, st, cfg["training"]["max_prompt_length"])
        out = {}
        for k, v in st.items():
            out[k] = v
            if k == "max_response_length":
                out["token_budget"] = spec.token_budget
        stages[i] = out


def as_config(cfg: "Config | Mapping") -> Config:
    """``cfg`` as a :class:`Config`. A plain dict (a run's manifest ``config``, a partial dict
    built by hand) is completed from ``base.yaml`` -- the one place defaults live -- and typed,
    not validated; keys ``base.yaml`` does not have are left out."""
    return cfg if isinstance(cfg, Config) else Config.from_dict(_complete(_base(), cfg, ""))


def _complete(base: Mapping, given: Mapping, prefix: str) -> dict:
    out = {}
    for key, default in base.items():
        if key not in given:
            out[key] = copy.deepcopy(default)
        elif isinstance(default, dict) and isinstance(given[key], Mapping) and f"{prefix}{key}" not in _FREE_KEYS:
            out[key] = _complete(default, given[key], f"{prefix}{key}.")
        else:
            out[key] = given[key]
    return out


def stage_spec(cfg: "Config | Mapping", stage: "int | str | Mapping | StageSpec") -> StageSpec:
    """``cfg.stage(stage)`` (:meth:`Config.stage`, the one stage lookup; the package calls it
    directly), for callers holding a config that may be a plain resolved dict."""
    return as_config(cfg).stage(stage)


def stage_specs(cfg: "Config | Mapping") -> list[StageSpec]:
    return list(as_config(cfg).training.stages)


def known_context(path: Any) -> dict | None:
    """The :data:`MODEL_CONTEXT` entry of a model path (None for a model not in the table)."""
    return MODEL_CONTEXT.get(str(path)) if path is not None else None


def native_context(cfg: dict) -> int | None:
    """The model's ``max_position_embeddings`` before extension: the tier's value, else the table's."""
    m = cfg["model"]
    return m.get("max_position_embeddings") or (known_context(m.get("path")) or {}).get("max_position_embeddings")


def model_context(cfg: dict) -> int | None:
    """The context the model allows after any configured extension."""
    m = cfg["model"]
    native = native_context(cfg)
    ext = (m.get("context_extension") or {}).get("max_position_embeddings")
    return max(x for x in (native, ext) if x) if (native or ext) else None


def check_lengths(cfg: dict, model_config: Mapping | None = None, *, yarn: bool | None = None,
                  name: str | None = None) -> None:
    """Raise :class:`ConfigError` when the evaluation cannot fit the model's context.

    Prompt (``training.max_prompt_length``) + ``evaluation.max_new_tokens`` must fit:

    * YaRN on (``evaluation.yarn.enabled``, or ``yarn=True``): the context the evaluation builds,
      ``max(factor x original_max_position_embeddings, model.context_extension.max_position_embeddings,
      the model's own limit)`` (what evaluation.generation.context_extension writes), with a factor
      above 1.0 (1.0 scales nothing);
    * YaRN off: the model's limit, raised by ``model.context_extension.max_position_embeddings``.

    The model's limit comes from ``model_config`` (its config.json, when the caller has read it),
    else the tier's ``model.max_position_embeddings``, else :data:`MODEL_CONTEXT`. For a model
    known nowhere the check is skipped here and made when its config.json is read. With
    ``evaluation.yarn_ablation`` the other YaRN setting is checked too (the ablation runs it).
    The message names the key, the lengths and the factor that would cover them.
    """
    from .. import yarn as Y

    m, ev = cfg["model"], cfg["evaluation"]
    who = name or str(m.get("path"))
    if model_config is not None:
        limit = Y.context_limit(model_config)
        base = Y.original_context(model_config)
    else:
        limit = native_context(cfg)
        base = limit
    if limit is None:
        return
    ext = (m.get("context_extension") or {}).get("max_position_embeddings") or 0
    prompt = int(cfg["training"]["max_prompt_length"])
    need = prompt + int(ev["max_new_tokens"])
    lengths = (f"training.max_prompt_length {prompt} + evaluation.max_new_tokens {ev['max_new_tokens']} "
               f"= {need} tokens")
    y = ev.get("yarn") or {}
    settings = [bool(y.get("enabled")) if yarn is None else bool(yarn)]
    if yarn is None and ev.get("yarn_ablation"):
        settings.append(not settings[0])
    for on in settings:
        what = "" if len(settings) == 1 or on == settings[0] else " (the YaRN ablation, evaluation.yarn_ablation)"
        if on:
            orig = int(y.get("original_max_position_embeddings") or base)
            factor = y.get("factor")
            cover = Y.required_factor(need, orig)
            if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 1.0:
                raise ConfigError(
                    f"{who}: 'evaluation.yarn.factor' = {factor!r} with YaRN on{what} scales nothing (a factor must "
                    f"exceed 1.0); the evaluation needs {lengths} on original_max_position_embeddings {orig}: "
                    f"factor {max(cover, 1.01):g} covers them")
            covered = max(int(math.ceil(factor * orig)), int(ext), int(limit))
            if covered < need:
                raise ConfigError(
                    f"{who}: 'evaluation.yarn.factor' = {factor:g} on original_max_position_embeddings {orig} "
                    f"covers {int(math.ceil(factor * orig))} tokens (model context {limit}, "
                    f"model.context_extension.max_position_embeddings {ext or None}) but the evaluation{what} needs "
                    f"{lengths}; factor {cover:g} covers them, or raise "
                    f"model.context_extension.max_position_embeddings to >= {need}")
        else:
            ctx = max(int(limit), int(ext))
            if need > ctx:
                raise ConfigError(
                    f"{who}: 'evaluation.max_new_tokens' = {ev['max_new_tokens']}: {lengths} exceed the model's "
                    f"context {ctx} (model.max_position_embeddings {limit}, model.context_extension."
                    f"max_position_embeddings {ext or None}) with 'evaluation.yarn.enabled' false{what}; YaRN "
                    f"factor {Y.required_factor(need, int(base)):g} on {int(base)} covers them, or raise "
                    f"model.context_extension.max_position_embeddings to >= {need}")


def field_checks(cls: type = Config, prefix: str = "") -> Iterable[tuple[str, Callable[[Any, str], None]]]:
    """``(dotted key, check)`` of every setting with a check beside its field in the schema: the
    named ones (``setting("positive")``) and each ``Literal``-typed one (its allowed values)."""
    hints = get_type_hints(cls)
    for f in fields(cls):
        hint, dotted = hints[f.name], f"{prefix}{f.name}"
        if isinstance(hint, type) and is_dataclass(hint):
            yield from field_checks(hint, dotted + ".")
        elif f.metadata.get("check"):
            yield dotted, CHECKS[f.metadata["check"]]
        elif get_origin(hint) is Literal:
            yield dotted, functools.partial(_choice, allowed=get_args(hint))


def _choice(value: Any, dotted: str, allowed: tuple[str, ...]) -> None:
    check_choice(dotted, value, allowed)


def _value(cfg: Mapping, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def validate(cfg: dict) -> None:
    """Raise :class:`ConfigError` naming the first invalid setting: each field's own check (beside
    it in the schema), then the checks that relate settings (the stages against the context)."""
    for dotted, check in field_checks():
        check(_value(cfg, dotted), dotted)
    ts = cfg["temperature_search"]
    if ts["plateau_drop"] > ts["collapse_drop"]:
        raise ConfigError("'temperature_search.plateau_drop' must not exceed 'temperature_search.collapse_drop'")
    checker = cfg["grading"]["checker"]
    if checker == "deepscaler" and (cfg["grading"]["require_think"] is not True
                                    or cfg["grading"]["answer_extraction"] != "boxed"):
        raise ConfigError("'grading.checker: deepscaler' (DeepScaleR's rules) always requires </think> and "
                          "a boxed answer: set 'grading.require_think' to true and "
                          "'grading.answer_extraction' to boxed, or use 'grading.checker: polaris'")
    if cfg["training"]["old_log_prob"] == "rollout" and cfg["training"]["rollout_name"] != "hf":
        raise ConfigError("'training.old_log_prob: rollout' reuses the rollout's log-probs as the PPO old "
                          "log-probs, exact only for the CPU rollout (training.rollout_name: hf, the actor's "
                          f"fp32 copy); with rollout_name {cfg['training']['rollout_name']!r} use recompute")
    if cfg["training"]["train_batch_size"] % cfg["training"]["ppo_mini_batch_size"]:
        raise ConfigError("'training.train_batch_size' must be a multiple of "
                          "'training.ppo_mini_batch_size'")
    stages = cfg["training"]["stages"]
    if not isinstance(stages, list):
        raise ConfigError("'training.stages' must be a list")
    ctx = model_context(cfg)
    prompt = cfg["training"]["max_prompt_length"]
    for i, st in enumerate(stages):
        where = f"training.stages[{i}]"
        if not isinstance(st, dict):
            raise ConfigError(f"'{where}' must be a mapping")
        derived = set(st) & set(DERIVED_STAGE_KEYS)
        if derived:
            raise ConfigError(f"'{where}.token_budget' is derived (max_prompt_length + max_response_length), "
                              "not a setting: remove it")
        unknown = set(st) - STAGE_KEYS
        if unknown:
            raise ConfigError(f"'{where}': unknown key(s) {sorted(unknown)}; expected {sorted(STAGE_KEYS)}")
        missing = {"name", "max_response_length", "temperature"} - set(st)
        if missing:
            raise ConfigError(f"'{where}': missing key(s) {sorted(missing)}")
        check_temperature(st["temperature"], f"{where}.temperature")
        if st.get("val_temperature") is not None:
            check_temperature(st["val_temperature"], f"{where}.val_temperature")
        v = st["max_response_length"]
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"'{where}.max_response_length' must be a positive integer, got {v!r}")
        budget = prompt + v
        if ctx is not None and budget > ctx:
            raise ConfigError(
                f"'{where}': the token budget max_prompt_length + max_response_length = {budget} exceeds "
                f"the model's context {ctx} (model.max_position_embeddings); set model.context_extension."
                f"max_position_embeddings (and optionally rope_scaling) to cover it")
    check_lengths(cfg)


def dump(cfg: "Config | dict") -> str:
    cfg = cfg.to_dict() if isinstance(cfg, Config) else cfg
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, width=100)


def tier_delta(tier: str) -> dict:
    """What a tier file states (its difference from base)."""
    return _read_yaml(tier_file(tier))
