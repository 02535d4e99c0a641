"""The checks of single settings, each named beside its field in :mod:`~polaris_repro.config.schema`
(``setting("positive")``): :func:`polaris_repro.config.validate` runs every field's check on the
resolved dict, then the checks that relate several settings. A field typed with a ``Literal`` of
:mod:`~polaris_repro.config.choices` is checked against its allowed values."""
from __future__ import annotations

from typing import Any, Callable

from .choices import ConfigError


def positive(value: Any, dotted: str, *, integer: bool = True) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or value <= 0:
        want = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"'{dotted}' must be {want}, got {value!r}")


def positive_number(value: Any, dotted: str) -> None:
    positive(value, dotted, integer=False)


def temperature(value: Any, dotted: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"'{dotted}' must be a temperature >= 0, got {value!r}")


def temperatures(value: Any, dotted: str) -> None:
    for i, t in enumerate(value):
        temperature(t, f"{dotted}[{i}]")


def confidence(value: Any, dotted: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value < 1:
        raise ConfigError(f"'{dotted}' must be a one-sided confidence in [0.5, 1), got {value!r}")


def relative_drop(value: Any, dotted: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"'{dotted}' must be a relative drop in [0, 1], got {value!r}")


def threshold(value: Any, dotted: str) -> None:
    if not 0 < value <= 1:
        raise ConfigError(f"'{dotted}' must lie in (0, 1]")


def difficulty_filter(value: Any, dotted: str) -> None:
    f = str(value)
    if not (f in ("drop_perfect", "none") or (f.startswith("gt:") and f[3:].isdigit())):
        raise ConfigError(f"'{dotted}' must be drop_perfect, none or gt:M, got {f!r}")


def flag(value: Any, dotted: str) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"'{dotted}' must be true or false, got {value!r}")


def sample_counts(value: Any, dotted: str) -> None:
    for name, n in (value or {}).items():
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ConfigError(f"'{dotted}.{name}' must be a positive sample count, got {n!r}")


def context_or_null(value: Any, dotted: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ConfigError(f"'{dotted}' must be a positive integer or null (the model's own limit), got {value!r}")


CHECKS: dict[str, Callable[[Any, str], None]] = {
    "positive": positive, "positive_number": positive_number, "temperature": temperature,
    "temperatures": temperatures, "confidence": confidence, "relative_drop": relative_drop,
    "threshold": threshold, "difficulty_filter": difficulty_filter, "flag": flag,
    "sample_counts": sample_counts, "context_or_null": context_or_null,
}
