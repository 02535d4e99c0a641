"""The verl overrides of one launch, built in one pass: every key has one owner and a recorded source.

A stage's Hydra overrides come from four places:

* the **recipe** (:func:`polaris_repro.training.verl_config.stage_overrides`): a value of the tier
  config (its source names the config key, e.g. ``training.lr``; :func:`explain` adds the file that
  set it: ``base.yaml``, the tier's file or a user ``-o``), a value of the stage's plan, a derived
  value or a constant of the recipe;
* the **CPU platform** (:func:`polaris_repro.verl_cpu.cpu_overrides`) on the CPU tiers;
* the **user** (``train --verl KEY=VALUE``), which may replace a package value on purpose.

:class:`OverrideSet` refuses a key set twice by the package (recipe and platform both, or one of
them twice) and a key given twice by the user; a key whose owner is another section is *reserved*
where the recipe lists it (:meth:`OverrideSet.reserve`), so the launch's order of keys does not
depend on who owns them. :meth:`OverrideSet.items` is the command line; :meth:`OverrideSet.explain`
prints each item with where it came from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

USER = "--verl"          # the source of a user's extra verl override
CPU_PLATFORM = "CPU platform (verl_cpu.cpu_overrides)"


class OverrideError(ValueError):
    """A verl override is malformed or set twice; the message names the key and its sources."""


def format_value(value: Any) -> str:
    """A Hydra override value: booleans lower-case, lists in brackets, risky strings quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    s = str(value)
    if s == "" or re.search(r"[\s,=\[\]{}()'\"\\:$*?]", s):
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return s


def split_item(item: str) -> tuple[str, str, str]:
    """``(prefix, key, raw value)`` of an override ``[+|++|~]key=value``."""
    if "=" not in item:
        raise OverrideError(f"override {item!r}: expected key=value")
    left, raw = item.split("=", 1)
    key = left.lstrip("+~")
    return left[:len(left) - len(key)], key, raw


@dataclass(frozen=True)
class Override:
    """One verl override: its key, Hydra prefix (``+`` adds a key verl does not have), the value as
    written on the command line, and where it came from (``source``; ``config_key`` when the value is
    a tier-config value, for :func:`explain` to name the file that set it)."""
    key: str
    value: str
    source: str
    prefix: str = ""
    config_key: str | None = None

    @property
    def item(self) -> str:
        return f"{self.prefix}{self.key}={self.value}"


class OverrideSet:
    """An ordered set of verl overrides, one owner per key (see the module docstring)."""

    def __init__(self) -> None:
        self._entries: dict[str, Override | None] = {}
        self._reserved: dict[str, str] = {}        # key -> the section that owns it
        self._replaced: dict[str, Override] = {}   # key -> the package value a user replaced

    def set(self, key: str, value: Any, source: str, *, prefix: str = "", config_key: str | None = None,
            raw: bool = False) -> None:
        """Set ``key`` (its value formatted by :func:`format_value` unless ``raw``); an error if it is set."""
        text = value if raw else format_value(value)
        prev = self._entries.get(key)
        if prev is not None:
            raise OverrideError(f"verl key '{key}' set twice: by {prev.source} ({prev.item}) and by {source} "
                                f"({prefix}{key}={text})")
        owner = self._reserved.get(key)
        if key in self._entries and owner is not None and owner != source:
            raise OverrideError(f"verl key '{key}' belongs to {owner}; {source} may not set it")
        self._entries[key] = Override(key, text, source, prefix, config_key)

    def reserve(self, key: str, owner: str) -> None:
        """Keep ``key``'s place in the order for ``owner``, the section that sets it."""
        if key in self._entries:
            raise OverrideError(f"verl key '{key}' reserved for {owner} but already listed")
        self._entries[key] = None
        self._reserved[key] = owner

    def add_items(self, items: Iterable[str], source: str) -> None:
        """Set each ``[+]key=value`` item as written (a section that builds its own items)."""
        for item in items:
            prefix, key, raw = split_item(item)
            self.set(key, raw, source, prefix=prefix, raw=True)

    def add_user(self, items: Iterable[str], source: str = USER) -> None:
        """The user's overrides: each replaces the package's value of its key in place (keeping a
        ``+`` the package needed) or is appended; a key the user gives twice is an error."""
        seen: set[str] = set()
        for item in items:
            prefix, key, raw = split_item(item)
            if key in seen:
                raise OverrideError(f"verl key '{key}' given twice by {source}")
            seen.add(key)
            prev = self._entries.get(key)
            if prev is not None:
                self._replaced[key] = prev
                if prev.prefix.startswith("+") and not prefix.startswith("+"):
                    prefix = prev.prefix
            self._entries[key] = Override(key, raw, source, prefix)

    def check_complete(self) -> None:
        missing = [f"{k} ({self._reserved[k]})" for k, v in self._entries.items() if v is None]
        if missing:
            raise OverrideError(f"verl key(s) reserved but never set: {', '.join(missing)}")

    def entries(self) -> list[Override]:
        self.check_complete()
        return [e for e in self._entries.values() if e is not None]

    def items(self) -> list[str]:
        """The command line's overrides, in order."""
        return [e.item for e in self.entries()]

    def replaced(self) -> dict[str, Override]:
        """The package values a user override replaced."""
        return dict(self._replaced)

    def explain(self, config_sources: Mapping[str, str] | None = None) -> list[str]:
        """Each override with its source (see :func:`explain`)."""
        return explain(self.entries(), config_sources, replaced=self._replaced)


def explain(entries: Iterable[Override], config_sources: Mapping[str, str] | None = None, *,
            replaced: Mapping[str, Override] | None = None) -> list[str]:
    """``item  # source`` lines; a tier-config value's source adds the file that set the key
    (``config_sources``: dotted key -> ``base.yaml`` / ``<tier>.yaml`` / ``-o KEY=VALUE``, from
    :func:`polaris_repro.config.config_sources`), a user's replacement names the value it replaced."""
    entries = list(entries)
    width = max((len(e.item) for e in entries), default=0)
    out = []
    for e in entries:
        where = e.source
        if e.config_key and config_sources is not None:
            origin = config_sources.get(e.config_key) or config_sources.get(e.config_key.split("[", 1)[0])
            if origin:
                where = f"{where} ({origin})"
        prev = (replaced or {}).get(e.key)
        if prev is not None:
            where = f"{where}, replacing {prev.value} from {prev.source}"
        out.append(f"{e.item:<{width}}  # {where}")
    return out
