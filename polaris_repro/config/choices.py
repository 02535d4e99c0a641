"""The allowed values of each enumerated setting, defined here once (the ``Literal`` types, and
:data:`CHOICES` by dotted key): :func:`polaris_repro.config.validate` checks them, the typed
configuration's fields are typed with them, and every module that checks or offers one (CLI
choices, the trainer, the reward, the CPU plugin) imports them. Also the configuration's errors.
"""
from __future__ import annotations

from typing import Any, Iterable, Literal, get_args


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key."""


class StageError(ConfigError):
    """A stage name/number or a stage value is invalid; the message names it."""


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
