"""Forced outcomes: a test hook that makes a GRPO event certain inside a real verl run.

Whether a training run shows rollout rescue (a 0/n group whose prompt was solved earlier in the
stage), an intra-batch substitution or a skipped batch depends on what the policy samples, and
that differs between CPUs (kernel choice, summation order). End-to-end tests must not rest on one
machine's draw, so they hand the ``hf`` rollout server a *plan* that fixes the outcome of chosen
rollouts; everything after generation (the real grader, the POLARIS hook, verl's advantage,
old-log-prob and update) runs unchanged on those responses.

The plan is a JSON file named by ``actor_rollout_ref.rollout.custom.forced_outcomes`` (verl's
extension point for rollout settings; it travels with the stage's overrides to every node)::

    {"answers": {"What is 8 + 5?": "13", ...},   # question -> ground truth (a prompt containing it)
     "wrong": "-1",                               # an answer no question has
     "batches": [["1100", "1000", "0000", "1111"], ...]}

``batches[b][r]`` is the pattern of the ``r``-th group of the ``b``-th batch the server generates
in this launch (batch ``b + 1`` of the stage's accuracy log, skipped batches included): groups are
numbered in order of arrival, a group being ``rollout.n`` requests for one prompt, and every batch
of the plan has the same number of groups (the training batch size). Character ``k`` of a pattern
is rollout ``k`` of the group: ``1`` a response whose boxed answer is the ground truth, ``0`` one
whose boxed answer is ``wrong``, ``.`` sampled by the model as usual. Batches after the plan's last,
and prompts whose question the plan does not list (validation prompts; they take no rank), are
sampled. Which prompt gets which rank depends on arrival order; what a plan fixes is the
*composition* of each batch (e.g. two informative groups, one all-correct, one all-wrong), which is
what the mechanisms act on. Counting starts at each launch (a resumed stage starts the plan over).

A forced response is fed to the model token by token like a sampled one, so its log-probs are the
policy's own (what verl's ``old_log_prob: rollout`` mode trains against).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

CONFIG_KEY = "forced_outcomes"          # under actor_rollout_ref.rollout.custom
OVERRIDE = f"++actor_rollout_ref.rollout.custom.{CONFIG_KEY}"
PATTERN_CHARS = frozenset("10.")
TEMPLATE = "<think>forced</think>\\boxed{{{answer}}}"


def prompt_key(prompt_ids: Sequence[int]) -> str:
    """A prompt's identity within a launch (also keys the rollout server's derived seeds)."""
    return hashlib.sha1(np.asarray(list(prompt_ids), dtype=np.int64).tobytes()).hexdigest()


class PlanError(ValueError):
    """A forced-outcome plan that cannot be used (names the file and the field)."""


@dataclass
class ForcedPlan:
    answers: dict[str, str]
    wrong: str
    batches: list[list[str]]
    source: str = "<plan>"

    def __post_init__(self):
        where = self.source
        if not self.answers:
            raise PlanError(f"{where}: 'answers' is empty (expected question text -> ground truth)")
        if str(self.wrong) in {str(a) for a in self.answers.values()}:
            raise PlanError(f"{where}: 'wrong' ({self.wrong!r}) is the ground truth of a question; "
                            "it must be an answer no question has")
        if not self.batches or len({len(b) for b in self.batches}) != 1 or not self.batches[0]:
            raise PlanError(f"{where}: 'batches' must be a non-empty list of batches with the same number "
                            f"of groups each (the training batch size), got sizes {[len(b) for b in self.batches]}")
        for i, pats in enumerate(self.batches):
            for r, p in enumerate(pats):
                if not p or set(p) - PATTERN_CHARS:
                    raise PlanError(f"{where}: batches[{i}][{r}] = {p!r}; expected a non-empty string of "
                                    "'1' (correct), '0' (wrong), '.' (sampled)")

    @property
    def batch_size(self) -> int:
        return len(self.batches[0])

    @classmethod
    def from_dict(cls, d: dict, source: str = "<plan>") -> "ForcedPlan":
        for key in ("answers", "wrong", "batches"):
            if key not in d:
                raise PlanError(f"{source}: missing field {key!r}")
        if not isinstance(d["batches"], list) or not all(isinstance(b, list) for b in d["batches"]):
            raise PlanError(f"{source}: 'batches' must be a list of lists of patterns")
        return cls({str(q): str(a) for q, a in dict(d["answers"]).items()}, str(d["wrong"]),
                   [[str(p) for p in b] for b in d["batches"]], source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ForcedPlan":
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise PlanError(f"forced-outcome plan {path}: cannot read it ({e})") from e
        return cls.from_dict(d, str(path))

    def dump(self, path: str | os.PathLike) -> Path:
        Path(path).write_text(json.dumps({"answers": self.answers, "wrong": self.wrong,
                                          "batches": self.batches}, indent=1))
        return Path(path)


@dataclass
class ForcedRollouts:
    """Decides, per generation request, whether its response is forced and to which tokens."""

    plan: ForcedPlan
    tokenizer: Any
    eos_token_id: int
    group_size: int
    _count: dict = field(default_factory=dict)     # prompt key -> requests seen in this launch
    _group: dict = field(default_factory=dict)     # prompt key -> number of its current group
    _groups: int = 0
    log: list = field(default_factory=list)        # (batch, rank, k, outcome, question) per forced response

    def question_of(self, prompt_ids: Sequence[int]) -> Optional[str]:
        """The plan's question this prompt asks (the longest one it contains), or None."""
        text = self.tokenizer.decode(list(prompt_ids), skip_special_tokens=False)
        hits = [q for q in self.plan.answers if q in text]
        return max(hits, key=len) if hits else None

    def response_ids(self, prompt_ids: Sequence[int]) -> Optional[list[int]]:
        """The forced response (token ids ending with EOS) for this request, or None to sample."""
        q = self.question_of(prompt_ids)
        if q is None:
            return None
        key = prompt_key(prompt_ids)
        c = self._count.get(key, 0)
        self._count[key] = c + 1
        if c % self.group_size == 0:            # the first request of a new group of this prompt
            self._group[key], self._groups = self._groups, self._groups + 1
        batch, rank = divmod(self._group[key], self.plan.batch_size)
        if batch >= len(self.plan.batches):
            return None
        pattern, k = self.plan.batches[batch][rank], c % self.group_size
        outcome = pattern[k % len(pattern)]
        if outcome == ".":
            return None
        answer = self.plan.answers[q] if outcome == "1" else self.plan.wrong
        self.log.append((batch + 1, rank, k, outcome, q))
        ids = self.tokenizer.encode(TEMPLATE.format(answer=answer), add_special_tokens=False)
        return [int(t) for t in ids] + [int(self.eos_token_id)]


def from_rollout_config(config, tokenizer, eos_token_ids) -> Optional[ForcedRollouts]:
    """A :class:`ForcedRollouts` when the rollout config names a plan, else None."""
    custom = getattr(config, "custom", None) or {}
    path = custom.get(CONFIG_KEY) if hasattr(custom, "get") else None
    if not path:
        return None
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        eos = min(eos_token_ids)
    return ForcedRollouts(ForcedPlan.load(path), tokenizer, int(eos), int(getattr(config, "n", 1) or 1))
