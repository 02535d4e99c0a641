"""The typed configuration: what :func:`polaris_repro.config.load_config` returns.

One frozen dataclass per section of ``base.yaml`` (:class:`ModelSettings`, :class:`DataSettings`,
... :class:`ClusterSettings`) and :class:`Config` over them, with ``training.stages`` a tuple of
:class:`StageSpec`. The fields have no defaults: every value comes from the validated dict
(``base.yaml`` + the tier + overrides), so ``base.yaml`` stays the one place defaults live, and a
key of ``base.yaml`` without a field here (or a field without a key) is an error when the config is
built. Lists and mappings are read-only (a ``list`` / ``dict`` that refuses changes, still equal to
and serialised as one), so nothing can change a loaded config: a variant is a new one
(``dataclasses.replace`` of a section, :meth:`Config.updated`, or ``load_config`` with overrides).

Dataclasses rather than pydantic: the package already validates the resolved dict in one pass
whose messages name the key (tests pin them), the objects only need to be typed, frozen records
built from that dict, and the standard library's dataclasses add no dependency to the cluster's
environment (verl pins its own pydantic).

The allowed values of each enumerated setting are the ``Literal`` types of
:mod:`~polaris_repro.config.choices`, defined once and used as the fields' types here.

:meth:`Config.to_dict` gives the plain nested dict (a deep copy) for the manifest, the printed
config and hashing, so every artifact stays byte-identical. For modules not yet moved to attribute
access a :class:`Config` also answers the old mapping reads (``cfg["training"]["lr"]``,
``cfg.get("tier")``) with read-only views of that dict.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Iterator, Mapping, Sequence, get_type_hints

import yaml


from .choices import (AnswerExtraction, Checker, ConfigError, CpuPrecision, OldLogProb,  # noqa: F401
                      OverlongPrompts, SamplingEngine, StageError, SubstitutionMode, TemperatureMode)


# --------------------------------------------------------------------------------------------
# read-only views of the plain dict

_READ_ONLY = "a loaded configuration is read-only: build a new one (load_config with overrides)"


class FrozenDict(dict):
    """A read-only ``dict`` (still a dict for ``json`` and ``yaml``); ``copy.deepcopy`` keeps it."""

    def _read_only(self, *args, **kwargs):
        raise TypeError(_READ_ONLY)

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (FrozenDict, (dict(self),))


class FrozenList(list):
    """A read-only ``list`` (still a list for ``json`` and ``yaml``)."""

    def _read_only(self, *args, **kwargs):
        raise TypeError(_READ_ONLY)

    __setitem__ = __delitem__ = append = extend = insert = remove = pop = clear = sort = reverse = \
        __iadd__ = __imul__ = _read_only

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (FrozenList, (list(self),))


for _dumper in (yaml.SafeDumper, yaml.Dumper):
    _dumper.add_representer(FrozenDict, yaml.SafeDumper.represent_dict)
    _dumper.add_representer(FrozenList, yaml.SafeDumper.represent_list)


def freeze(value: Any) -> Any:
    """``value`` with every dict a :class:`FrozenDict` and every list a :class:`FrozenList`."""
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy of ``value`` (dicts and lists)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# the stage record

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


def stage_record(index: int, st: Mapping, max_prompt_length: int) -> StageSpec:
    """The :class:`StageSpec` of a stage's mapping (``training.stages[index]``)."""
    return StageSpec(index=index, name=st["name"], max_prompt_length=int(max_prompt_length),
                     max_response_length=int(st["max_response_length"]), temperature=float(st["temperature"]),
                     val_temperature=st.get("val_temperature"), ulysses_sp=int(st.get("ulysses_sp") or 1),
                     steps=st.get("steps"))


# --------------------------------------------------------------------------------------------
# the sections (fields in base.yaml's order; no defaults: base.yaml holds them)

def setting(check: str) -> Any:
    """A field with the check of its value beside it (a name in :data:`~polaris_repro.config.checks.CHECKS`,
    run by :func:`polaris_repro.config.validate`); still no default: the value comes from base.yaml."""
    return field(metadata={"check": check})


@dataclass(frozen=True)
class ContextExtension:
    max_position_embeddings: int | None
    rope_scaling: Mapping[str, Any] | None

    @classmethod
    def of(cls, ext: Mapping) -> "ContextExtension":
        """From a mapping with both keys (the sampler's context, decided at run time)."""
        return cls(max_position_embeddings=ext["max_position_embeddings"], rope_scaling=freeze(ext["rope_scaling"]))


@dataclass(frozen=True)
class ModelSettings:
    path: str | None
    family: str
    thinking: bool
    max_position_embeddings: int | None
    context_extension: ContextExtension
    dtype: str


@dataclass(frozen=True)
class TrainData:
    source: str | None
    path: str | None
    num_problems: int | None
    levels: Sequence[str] | None


@dataclass(frozen=True)
class ValData:
    benchmark: str
    num_problems: int | None


@dataclass(frozen=True)
class DataSettings:
    train: TrainData
    val: ValData
    benchmarks_dir: str | None


@dataclass(frozen=True)
class SamplingSettings:
    engine: SamplingEngine
    batch_size: int | str
    memory_budget_gb: float
    tensor_parallel_size: int = setting("positive")
    data_parallel_size: int = setting("positive")
    gpu_memory_utilization: float = setting("threshold")
    enable_prefix_caching: bool
    max_num_batched_tokens: int


@dataclass(frozen=True)
class GradingSettings:
    answer_extraction: AnswerExtraction
    require_think: bool
    timeout_s: float
    checker: Checker


@dataclass(frozen=True)
class DifficultySettings:
    k: int = setting("positive")
    temperature: float = setting("temperature")
    top_p: float
    top_k: int
    max_new_tokens: int = setting("positive")
    filter: str = setting("difficulty_filter")
    drop_easy_threshold: float = setting("threshold")
    models: Sequence[str]
    datasets: Sequence[str]
    expect_shapes: Sequence[str] | None
    num_problems: int | None


@dataclass(frozen=True)
class TemperatureSearchSettings:
    benchmark: str
    n: int = setting("positive")
    max_new_tokens: int = setting("positive")
    top_p: float
    top_k: int
    grid: Sequence[float] = setting("temperatures")
    wide_grid: Sequence[float]
    num_problems: int | None
    plateau_drop: float = setting("relative_drop")
    collapse_drop: float = setting("relative_drop")
    confidence: float = setting("confidence")
    bootstrap: int = setting("positive")
    step: float


@dataclass(frozen=True)
class TrainingSettings:
    adv_estimator: str
    norm_adv_by_std_in_grpo: bool
    train_batch_size: int = setting("positive")
    rollout_n: int = setting("positive")
    ppo_mini_batch_size: int = setting("positive")
    ppo_epochs: int = setting("positive")
    lr: float = setting("positive_number")
    weight_decay: float
    lr_warmup_steps_ratio: float
    grad_clip: float
    clip_ratio_low: float
    clip_ratio_high: float
    clip_ratio_c: float
    loss_agg_mode: str
    entropy_coeff: float
    use_kl_loss: bool
    kl_loss_coef: float
    use_kl_in_reward: bool
    max_prompt_length: int = setting("positive")
    top_p: float
    top_k: int
    val_n: int = setting("positive")
    val_top_p: float
    val_top_k: int
    use_dynamic_bsz: bool
    micro_batch_size_per_gpu: int
    val_batch_size: int
    save_hf_model: bool
    use_remove_padding: bool
    gradient_checkpointing: bool
    param_offload: bool
    optimizer_offload: bool
    gpu_memory_utilization: float
    enable_chunked_prefill: bool
    enforce_eager: bool
    save_freq: int
    max_ckpt_to_keep: int | None
    keep_checkpoints: bool = setting("flag")
    test_freq: int
    val_before_train: bool
    total_epochs: int
    old_log_prob: OldLogProb
    cpu_precision: CpuPrecision
    substitution: SubstitutionMode
    rescue: bool
    temperature_mode: TemperatureMode
    shuffle: bool
    n_gpus_per_node: int
    nnodes: int
    rollout_name: str
    logger: Sequence[str]
    stages: tuple[StageSpec, ...]


@dataclass(frozen=True)
class YarnSettings:
    enabled: bool
    factor: float
    attn_factor: float
    original_max_position_embeddings: int | None = setting("context_or_null")


@dataclass(frozen=True)
class EvaluationSettings:
    temperature: float = setting("temperature")
    top_p: float
    top_k: int
    max_new_tokens: int = setting("positive")
    yarn: YarnSettings
    benchmarks: Mapping[str, int] = setting("sample_counts")
    num_problems: int | None
    synthetic_levels: Sequence[str] | None
    baselines: Sequence[Any]
    yarn_ablation: bool
    length_buckets: Sequence[int]
    budgets: Sequence[int]
    bootstrap: int = setting("positive")
    overlong_prompts: OverlongPrompts


@dataclass(frozen=True)
class ClusterSettings:
    nnodes: int
    gpus_per_node: int
    partition: str | None
    ray_port: int = setting("positive")
    dashboard_port: int = setting("positive")


@dataclass(frozen=True)
class Config:
    """A resolved, validated tier configuration (:func:`polaris_repro.config.load_config`)."""
    tier: str
    seed: int
    description: str
    model: ModelSettings
    data: DataSettings
    sampling: SamplingSettings
    grading: GradingSettings
    difficulty: DifficultySettings
    temperature_search: TemperatureSearchSettings
    training: TrainingSettings
    evaluation: EvaluationSettings
    cluster: ClusterSettings
    plain: FrozenDict = field(repr=False, compare=False)   # the resolved dict, read-only

    def __post_init__(self):
        # the dict always follows the typed fields (a section replaced with dataclasses.replace
        # shows in to_dict() and in the mapping reads); a stage keeps its mapping as the tier wrote it
        given = list((self.plain or {}).get("training", {}).get("stages", []))
        object.__setattr__(self, "plain", freeze(_plain(self, given)))

    @classmethod
    def from_dict(cls, data: Mapping) -> "Config":
        """The typed record of a resolved config dict (``load_config`` validates it first)."""
        return _build(cls, {**data, "plain": freeze(data)}, "")

    def updated(self, delta: Mapping) -> "Config":
        """A new config: this one's settings with ``delta`` (a nested mapping, as ``load_config``'s
        overrides) merged in, validated again. (``dataclasses.replace`` on a section builds a
        variant of that section only; a whole config is built here, so its dict stays its own.)"""
        from . import resolve

        return resolve(self.to_dict(), delta)

    def to_dict(self) -> dict:
        """The plain nested dict (a deep copy): for the manifest, the printed config, hashing."""
        return thaw(self.plain)

    def stage(self, stage: "int | str | Mapping | StageSpec") -> StageSpec:
        """The one stage lookup: the typed record of a stage.

        A stage is its **name** (``"stage2"``) or its **index**: an ``int``, 0-based, the position
        in ``training.stages`` and :attr:`StageSpec.index`. A string of digits that is no stage's
        name is the stage's number as a person types it (command line, the training notebook's
        ``stages``), 1-based (``"2"`` is the second stage). A stage's mapping and a
        :class:`StageSpec` are accepted as they are. Raises :class:`StageError` naming the stages
        there are."""
        if isinstance(stage, StageSpec):
            return stage
        stages = self.training.stages
        names = [s.name for s in stages]
        if not stages:
            raise StageError(f"tier {self.tier!r} defines no training.stages")
        if isinstance(stage, Mapping):
            i = next((s.index for s in stages if s.name == stage.get("name")), -1)
            return stage_record(i, stage, self.training.max_prompt_length)
        if isinstance(stage, str) and stage in names:
            return stages[names.index(stage)]
        if isinstance(stage, str) and stage.strip().isdigit():
            k = int(stage)
            if not 1 <= k <= len(stages):
                raise StageError(f"stage number {k} out of range 1..{len(stages)} (stages: {names})")
            return stages[k - 1]
        if isinstance(stage, int) and not isinstance(stage, bool):
            if not 0 <= stage < len(stages):
                raise StageError(f"stage index {stage} out of range 0..{len(stages) - 1} (stages: {names})")
            return stages[stage]
        raise StageError(f"unknown stage {stage!r}; expected one of {names} or 1..{len(stages)}")

    # the old mapping reads, read-only, for modules not yet on attribute access
    def __getitem__(self, key: str) -> Any:
        return self.plain[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.plain.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.plain

    def __iter__(self) -> Iterator[str]:
        return iter(self.plain)

    def keys(self):
        return self.plain.keys()

    def items(self):
        return self.plain.items()


def _plain(obj: Any, stage_dicts: list) -> Any:
    """The plain value of a typed field (sections in field order, tuples as lists)."""
    if isinstance(obj, StageSpec):
        given = stage_dicts[obj.index] if 0 <= obj.index < len(stage_dicts) else None
        if given is not None and dataclasses.replace(stage_record(obj.index, given, obj.max_prompt_length),
                                                     temperature_source=obj.temperature_source) == obj:
            return thaw(given)
        out = {f.name: getattr(obj, f.name) for f in fields(obj) if f.name not in ("index", "max_prompt_length",
                                                                                  "temperature_source")}
        return {"name": out.pop("name"), "max_response_length": out.pop("max_response_length"),
                "token_budget": obj.token_budget, **out}
    if is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name), stage_dicts) for f in fields(obj) if f.name != "plain"}
    if isinstance(obj, Mapping):
        return {k: _plain(v, stage_dicts) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, stage_dicts) for v in obj]
    return obj


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _build(cls: type, data: Mapping, where: str) -> Any:
    """``cls`` filled from ``data``: every field from its key (nested sections recursively)."""
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    keys = set(data) - ({"plain"} if cls is Config else set())
    missing, unknown = [n for n in names if n not in data], sorted(keys - set(names))
    if missing or unknown:
        raise ConfigError(f"'{where or 'config'}': the typed configuration's fields and the settings differ "
                          f"(missing {missing}, unknown {unknown})")
    out = {}
    for name in names:
        value, hint = data[name], hints[name]
        if cls is TrainingSettings and name == "stages":
            out[name] = tuple(stage_record(i, st, data["max_prompt_length"]) for i, st in enumerate(value))
        elif name == "plain":
            out[name] = value
        elif isinstance(hint, type) and is_dataclass(hint):
            out[name] = _build(hint, value, f"{where}{name}.")
        else:
            out[name] = freeze(value)
    return cls(**out)
