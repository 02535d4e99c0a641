"""Tier configurations: one YAML per tier under ``polaris_repro/configs/``, each stating only
what differs from ``base.yaml``.

``load_config("smoke")`` returns the resolved configuration as a plain nested dict;
``load_config("tiny", overrides=["training.lr=1e-3"])`` applies dotted overrides (values are
parsed as YAML literals). Unknown keys and invalid values raise :class:`ConfigError` naming the key.
``base.yaml`` is the one place defaults live; the allowed values of each enumerated setting are
defined here once (:data:`CHOICES`, the ``Literal`` types) and imported by every module that checks
them; :func:`config_sources` / :func:`explain_config` say which file (or ``-o``) set each value.

The module is longer than 500 lines because it holds the configuration's whole contract in one
place: loading and sources, the allowed values, the typed stage records, and the length checks
:func:`validate` runs.
"""
from __future__ import annotations

import copy
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, get_args

import yaml

from .models import SFT_SPECS

CONFIG_DIR = Path(__file__).parent / "configs"
TIERS = ("tiny", "smoke", "rehearsal", "gpu-smoke", "single-gpu", "paper-4b", "paper-7b", "paper-1.7b")
CPU_TIERS = ("tiny", "smoke", "rehearsal")

# The allowed values of each enumerated setting, defined here once: validate() checks them and every
# module that checks or offers one (CLI choices, the trainer, the reward, the CPU plugin) imports them.
SubstitutionMode = Literal["polaris", "released", "off"]      # training.substitution
TemperatureMode = Literal["config", "search"]                 # training.temperature_mode
CpuPrecision = Literal["auto", "fp32", "bf16"]                # training.cpu_precision
Precision = Literal["fp32", "bf16"]                           # training.cpu_precision once auto is resolved
OldLogProb = Literal["recompute", "rollout"]                  # training.old_log_prob
SamplingEngine = Literal["vllm", "hf"]                        # sampling.engine
AnswerExtraction = Literal["boxed", "boxed_or_last_number"]   # grading.answer_extraction
Checker = Literal["polaris", "deepscaler"]                    # grading.checker
OverlongPrompts = Literal["error", "skip"]                    # evaluation.overlong_prompts
SUBSTITUTION_MODES: tuple[str, ...] = get_args(SubstitutionMode)
TEMPERATURE_MODES: tuple[str, ...] = get_args(TemperatureMode)
CPU_PRECISIONS: tuple[str, ...] = get_args(CpuPrecision)
PRECISIONS: tuple[str, ...] = get_args(Precision)
OLD_LOG_PROB: tuple[str, ...] = get_args(OldLogProb)
SAMPLING_ENGINES: tuple[str, ...] = get_args(SamplingEngine)
ANSWER_EXTRACTIONS: tuple[str, ...] = get_args(AnswerExtraction)
CHECKERS: tuple[str, ...] = get_args(Checker)
OVERLONG_PROMPTS: tuple[str, ...] = get_args(OverlongPrompts)
# the enumerated settings and their allowed values (validate)
CHOICES: dict[str, tuple[str, ...]] = {
    "sampling.engine": SAMPLING_ENGINES, "grading.answer_extraction": ANSWER_EXTRACTIONS,
    "grading.checker": CHECKERS, "training.temperature_mode": TEMPERATURE_MODES,
    "training.cpu_precision": CPU_PRECISIONS, "training.old_log_prob": OLD_LOG_PROB,
    "training.substitution": SUBSTITUTION_MODES, "evaluation.overlong_prompts": OVERLONG_PROMPTS,
}


def one_of(allowed: Iterable[str]) -> str:
    """``a, b or c``: the allowed values of a setting, for a message."""
    allowed = list(allowed)
    return ", ".join(allowed[:-1]) + " or " + allowed[-1] if len(allowed) > 1 else allowed[0]


def check_choice(dotted: str, value: Any, allowed: Iterable[str] | None = None) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of the allowed values of ``dotted``
    (:data:`CHOICES`, or ``allowed``)."""
    allowed = tuple(CHOICES[dotted] if allowed is None else allowed)
    if value not in allowed:
        raise ConfigError(f"'{dotted}' must be {one_of(allowed)}, got {value!r}")

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


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key."""


class StageError(ConfigError):
    """A stage name/number or a stage value is invalid; the message names it."""


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


def load_config(tier: str, overrides: Iterable[str] | Mapping | None = None) -> dict:
    """Resolve ``base.yaml`` + ``<tier>.yaml`` + overrides, validate, and return a dict."""
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
    validate(cfg)
    _derive_stage_keys(cfg)
    return cfg


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
        spec = stage_spec(cfg, i)
        out = {}
        for k, v in st.items():
            out[k] = v
            if k == "max_response_length":
                out["token_budget"] = spec.token_budget
        stages[i] = out


@dataclass(frozen=True)
class StageSpec:
    """One training stage as the tier configures it, typed: its lengths, the token budget derived
    from them, and its configured temperature (``temperature_source`` says where a temperature
    came from once a plan replaces it: ``config`` here)."""
    index: int
    name: str
    max_prompt_length: int
    max_response_length: int
    temperature: float
    val_temperature: float | None = None
    ulysses_sp: int = 1
    steps: int | None = None
    temperature_source: str = "config"

    @property
    def token_budget(self) -> int:
        """Tokens of one sequence, prompt + response: verl's ``ppo_max_token_len_per_gpu`` and the
        rollout's ``max_num_batched_tokens`` (derived, not a setting)."""
        return self.max_prompt_length + self.max_response_length


def stage_spec(cfg: dict, stage: "int | str | Mapping | StageSpec") -> StageSpec:
    """The one stage lookup: the typed record of a stage of ``cfg``.

    A stage is its **name** (``"stage2"``), its **index** -- an ``int``, 0-based, the position in
    ``training.stages`` and :attr:`StageSpec.index` -- or, as typed on a command line or in the
    training notebook's ``stages`` parameter, its **number**: a string of digits, 1-based (``"2"``
    is the second stage). Its mapping (``cfg["training"]["stages"][i]``) and a :class:`StageSpec`
    are accepted as they are. Raises :class:`StageError` naming the stages there are."""
    if isinstance(stage, StageSpec):
        return stage
    stages = cfg["training"]["stages"]
    names = [s["name"] for s in stages]
    if not stages:
        raise StageError(f"tier {cfg.get('tier')!r} defines no training.stages")
    if isinstance(stage, Mapping):
        i = next((k for k, s in enumerate(stages) if s.get("name") == stage.get("name")), -1)
        st = stage
    elif isinstance(stage, str) and stage in names:
        i = names.index(stage)
        st = stages[i]
    elif isinstance(stage, str) and stage.strip().isdigit():
        k = int(stage)
        if not 1 <= k <= len(stages):
            raise StageError(f"stage number {k} out of range 1..{len(stages)} (stages: {names})")
        i, st = k - 1, stages[k - 1]
    elif isinstance(stage, int) and not isinstance(stage, bool):
        if not 0 <= stage < len(stages):
            raise StageError(f"stage index {stage} out of range 0..{len(stages) - 1} (stages: {names})")
        i, st = stage, stages[stage]
    else:
        raise StageError(f"unknown stage {stage!r}; expected one of {names} or 1..{len(stages)}")
    return StageSpec(index=i, name=st["name"], max_prompt_length=int(cfg["training"]["max_prompt_length"]),
                     max_response_length=int(st["max_response_length"]), temperature=float(st["temperature"]),
                     val_temperature=st.get("val_temperature"), ulysses_sp=int(st.get("ulysses_sp") or 1),
                     steps=st.get("steps"))


def stage_specs(cfg: dict) -> list[StageSpec]:
    return [stage_spec(cfg, i) for i in range(len(cfg["training"]["stages"]))]


def _positive(cfg: dict, dotted: str, allow_zero: bool = False, integer: bool = True) -> None:
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    ok_type = isinstance(node, int) if integer else isinstance(node, (int, float))
    if isinstance(node, bool) or not ok_type or node < 0 or (node == 0 and not allow_zero):
        want = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"'{dotted}' must be {want}, got {node!r}")


def _temperature(value: Any, dotted: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"'{dotted}' must be a temperature >= 0, got {value!r}")


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
    from . import yarn as Y

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


def validate(cfg: dict) -> None:
    for key in ("training.train_batch_size", "training.rollout_n", "training.ppo_mini_batch_size",
                "training.ppo_epochs", "training.max_prompt_length", "training.val_n",
                "difficulty.k", "difficulty.max_new_tokens", "temperature_search.n",
                "temperature_search.max_new_tokens", "evaluation.max_new_tokens"):
        _positive(cfg, key)
    _positive(cfg, "training.lr", integer=False)
    for key in ("difficulty.temperature", "evaluation.temperature"):
        sect, name = key.split(".")
        _temperature(cfg[sect][name], key)
    for i, t in enumerate(cfg["temperature_search"]["grid"]):
        _temperature(t, f"temperature_search.grid[{i}]")
    ts = cfg["temperature_search"]
    _positive(cfg, "temperature_search.bootstrap")
    q = ts["confidence"]
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.5 <= q < 1:
        raise ConfigError(f"'temperature_search.confidence' must be a one-sided confidence in [0.5, 1), got {q!r}")
    for key in ("plateau_drop", "collapse_drop"):
        v = ts[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ConfigError(f"'temperature_search.{key}' must be a relative drop in [0, 1], got {v!r}")
    if ts["plateau_drop"] > ts["collapse_drop"]:
        raise ConfigError("'temperature_search.plateau_drop' must not exceed 'temperature_search.collapse_drop'")
    if not 0 < cfg["difficulty"]["drop_easy_threshold"] <= 1:
        raise ConfigError("'difficulty.drop_easy_threshold' must lie in (0, 1]")
    f = str(cfg["difficulty"]["filter"])
    if not (f in ("drop_perfect", "none") or (f.startswith("gt:") and f[3:].isdigit())):
        raise ConfigError(f"'difficulty.filter' must be drop_perfect, none or gt:M, got {f!r}")
    for dotted in CHOICES:
        sect, name = dotted.split(".")
        check_choice(dotted, cfg[sect][name])
    checker = cfg["grading"]["checker"]
    if checker == "deepscaler" and (cfg["grading"]["require_think"] is not True
                                    or cfg["grading"]["answer_extraction"] != "boxed"):
        raise ConfigError("'grading.checker: deepscaler' (DeepScaleR's rules) always requires </think> and "
                          "a boxed answer: set 'grading.require_think' to true and "
                          "'grading.answer_extraction' to boxed, or use 'grading.checker: polaris'")
    if not isinstance(cfg["training"]["keep_checkpoints"], bool):
        raise ConfigError("'training.keep_checkpoints' must be true or false, "
                          f"got {cfg['training']['keep_checkpoints']!r}")
    if cfg["training"]["old_log_prob"] == "rollout" and cfg["training"]["rollout_name"] != "hf":
        raise ConfigError("'training.old_log_prob: rollout' reuses the rollout's log-probs as the PPO old "
                          "log-probs, exact only for the CPU rollout (training.rollout_name: hf, the actor's "
                          f"fp32 copy); with rollout_name {cfg['training']['rollout_name']!r} use recompute")
    if cfg["training"]["train_batch_size"] % cfg["training"]["ppo_mini_batch_size"]:
        raise ConfigError("'training.train_batch_size' must be a multiple of "
                          "'training.ppo_mini_batch_size'")
    for name, n in (cfg["evaluation"]["benchmarks"] or {}).items():
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ConfigError(f"'evaluation.benchmarks.{name}' must be a positive sample count, got {n!r}")
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
        _temperature(st["temperature"], f"{where}.temperature")
        if st.get("val_temperature") is not None:
            _temperature(st["val_temperature"], f"{where}.val_temperature")
        v = st["max_response_length"]
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"'{where}.max_response_length' must be a positive integer, got {v!r}")
        budget = prompt + v
        if ctx is not None and budget > ctx:
            raise ConfigError(
                f"'{where}': the token budget max_prompt_length + max_response_length = {budget} exceeds "
                f"the model's context {ctx} (model.max_position_embeddings); set model.context_extension."
                f"max_position_embeddings (and optionally rope_scaling) to cover it")
    y = cfg["evaluation"]["yarn"]
    o = y.get("original_max_position_embeddings")
    if o is not None and (isinstance(o, bool) or not isinstance(o, int) or o <= 0):
        raise ConfigError("'evaluation.yarn.original_max_position_embeddings' must be a positive integer "
                          f"or null (the model's own limit), got {o!r}")
    check_lengths(cfg)


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, width=100)


def tier_delta(tier: str) -> dict:
    """What a tier file states (its difference from base)."""
    return _read_yaml(tier_file(tier))
