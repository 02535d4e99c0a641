"""The POLARIS mechanisms as plain functions over numpy arrays / torch tensors (no Ray, no verl).

A training batch is handled as two dicts, exactly like verl's ``DataProto``: ``tensors``
(name -> tensor with the rollout rows on dim 0: ``responses``, ``input_ids``, ``attention_mask``,
``position_ids``, ``prompts``, ``response_mask``, ``rm_scores`` ...) and ``non_tensors``
(name -> numpy object array: ``uid``, ``reward_model``, ``extra_info``, ``data_source``, the
reward's extra keys ``score``/``acc``/``pred``...). Rows of one prompt share a ``uid`` (a group).
The reward of a rollout is ``rm_scores.sum(-1)`` (verl writes it on the last response token).

Per training batch, :func:`process_batch` runs, in the order of the recipe (reference 5.2-5.5):

1. **accuracy record** -- each prompt's dataset index and mean reward over its n rollouts, taken
   *before* rescue and substitution; the trainer appends it to the stage's ``accuracy_log.jsonl``
   (:class:`~polaris_repro.training.accuracy_log.AccuracyLog`, re-exported here, flushed and
   fsynced; truncated to the resumed step on resume). Every
   generated batch gets a line, skipped ones included: ``step`` numbers the batches of the stage
   (unique, increasing), ``global_step`` is the optimiser step the batch belongs to (a skipped
   batch shares it with the batch that replaced it);
2. **rollout rescue** (optional) -- :class:`RescueBuffer` keeps the latest correct rollout of every
   prompt; a prompt whose n rollouts all fail gets one failed rollout replaced by it (reward 1);
3. **intra-batch informative substitution** -- :func:`plan_substitution` / :func:`apply_substitution`:
   every group whose rollouts all succeed or all fail is replaced by a copy of a random informative
   group. ``polaris`` mode copies every field of the donor rows (tokens, rewards, ground truth, reward
   extras) except the group id, so the copy is its own group with the donor's rewards and therefore
   the donor's advantages. ``released`` mode reproduces the official code (reference 5.4): only the
   token tensors are copied, then the reward is recomputed against the *replaced* prompt's ground
   truth (``rescore``), so copies mostly score 0 and carry no signal; the batch's accuracy-log
   line then lists every copied row as re-graded (``regraded``: prompt and donor index, both
   answers, the extracted answer, donor and re-graded reward). ``off`` does nothing. In
   ``polaris``/``released`` mode a batch with at most one third informative groups is skipped.

``correct`` means reward >= ``correct_threshold`` (0.5; POLARIS rewards are 0/1).

Before them, :func:`pool_duplicate_prompts` gives groups that share a prompt their rollouts in a
fixed split (the first group by position the lowest seed numbers), and :func:`canonical_row_order`
puts each group's rollouts in a fixed row order (they come back from the rollout server in an order
that varies between runs).

Every POLARIS mechanism is here as pure functions, so that the trainer, the CPU plugin's forced
outcomes and the tests all call the same code without Ray or verl; the accuracy log's writer and
reader are in :mod:`.accuracy_log`. The module is longer than 500 lines because of that: the
mechanisms share the batch helpers above them and are read as one sequence (5.2-5.5).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..artifacts import read_jsonl
from ..config import SUBSTITUTION_MODES
# the accuracy log, re-exported: M.AccuracyLog, M.read_accuracy_log, M.per_prompt_accuracy
from .accuracy_log import REPEATED, AccuracyLog, per_prompt_accuracy, read_accuracy_log  # noqa: F401

MODES = SUBSTITUTION_MODES   # training.substitution (defined in polaris_repro.config)
# tensor fields the released code overwrites (responses, input ids, attention mask, position ids,
# prompts) plus the masks/log-probs verl 0.9.1 derives from them
TOKEN_FIELDS = ("responses", "input_ids", "attention_mask", "position_ids", "prompts", "response_mask",
                "rollout_log_probs", "loss_mask")
REWARD_FIELDS = ("rm_scores", "token_level_scores", "token_level_rewards")
GROUP_KEY = "uid"
# the CPU rollout server's number of each row's seed among the rollouts of its prompt in the step
# (polaris_repro.verl_cpu.hf_rollout); absent from other rollout backends
SEED_INDEX_KEY = "rollout_seed_index"


# --------------------------------------------------------------------------------------------
# groups and rewards

def group_rows(uids: Sequence) -> list[np.ndarray]:
    """Row indices of each group, groups in order of first appearance."""
    order: dict[Any, list[int]] = {}
    for i, u in enumerate(uids):
        order.setdefault(u, []).append(i)
    return [np.asarray(v, dtype=np.int64) for v in order.values()]


# the row fields that tell a group's rollouts apart, in the order the canonical sort compares them
CANONICAL_KEYS = ("responses", "rollout_log_probs")


def canonical_row_order(uids: Sequence, tensors: Mapping[str, Any]) -> np.ndarray:
    """A permutation that puts each group's rows, inside the positions the group already holds, in
    a fixed order: by response tokens, then by the rollout's log-probs (bytes). Groups keep their
    places; ``perm[p]`` is the row that goes to position ``p``.

    Why: the n rollouts of a prompt are n requests the rollout server cannot tell apart; it hands
    them their n seeds in the order they arrive, and that order varies from run to run (the agent
    loop tokenises in a thread pool). The same completions then sit in other rows, the update sums
    the same numbers in another order, and the trajectory drifts (gradient norms differ in the
    fifth significant digit from step 1). Sorted, a rerun of a seed trains on the same batch, row
    for row."""
    n = len(uids)
    cols = [_np(tensors[k]).reshape(n, -1) for k in CANONICAL_KEYS if k in tensors]
    if not cols:
        raise KeyError(f"batch has none of {CANONICAL_KEYS} to order a group's rows by")
    perm = np.arange(n, dtype=np.int64)
    for g in group_rows(uids):
        if len(g) < 2:
            continue
        keys = {int(i): tuple(c[i].tobytes() if c.dtype.kind == "f" else tuple(c[i].tolist()) for c in cols)
                for i in g}
        perm[g] = sorted(keys, key=keys.__getitem__)
    return perm


def prompt_pool_keys(tensors: Mapping[str, Any], non_tensors: Mapping[str, np.ndarray]) -> list[bytes]:
    """A key per row that is equal for rows whose rollouts are interchangeable: the same prompt
    tokens, data source and ground truth (rows graded against other answers never share a key)."""
    prompts = _np(tensors["prompts"])
    n = len(prompts)
    ds = non_tensors.get("data_source", np.full(n, None, dtype=object))
    rm = non_tensors.get("reward_model", np.full(n, None, dtype=object))
    return [prompts[i].tobytes() + b"\0" + repr(ds[i]).encode() + b"\0" + repr(_ground_truth(rm[i])).encode()
            for i in range(n)]


def _ground_truth(reward_model: Any) -> Any:
    return reward_model.get("ground_truth") if isinstance(reward_model, Mapping) else reward_model


def pool_duplicate_prompts(uids: Sequence, pool_keys: Sequence, seed_index: Sequence) -> tuple[np.ndarray, int]:
    """A permutation of the rollouts (``perm[p]``: the row whose rollout goes to position ``p``)
    and how many groups share their prompt with another (0: the permutation is the identity). It splits the rollouts of groups sharing a prompt the same way in every run: the groups'
    rollouts are pooled and handed out by seed number, the lowest to the group that comes first in
    the batch. Groups with a prompt of their own are left alone.

    Why: the rollout server cannot tell two groups with one prompt apart (a batch may draw two
    dataset rows with the same problem); it numbers the prompt's 2n requests in the order they
    arrive, so which n completions a group gets depends on arrival order, i.e. on machine load, and
    so do the group's rewards, its advantages and the update (a held-out seed moved 0.4 points that
    way). Rollouts of one pool are interchangeable (same prompt, same ground truth,
    :func:`prompt_pool_keys`), so moving them between the groups keeps every reward valid; the
    caller moves the rollout fields and leaves the groups' own fields (uid, dataset index, ground
    truth) in place (:func:`move_rollouts`)."""
    n = len(uids)
    if len(pool_keys) != n or len(seed_index) != n:
        raise ValueError(f"pool_duplicate_prompts: {n} uids, {len(pool_keys)} pool keys and "
                         f"{len(seed_index)} seed numbers")
    perm, shared = np.arange(n, dtype=np.int64), 0
    pools: dict[Any, list[np.ndarray]] = {}
    for g in group_rows(uids):
        if len({pool_keys[int(i)] for i in g}) != 1:
            raise ValueError(f"pool_duplicate_prompts: group {uids[int(g[0])]!r} holds rows of different prompts")
        pools.setdefault(pool_keys[int(g[0])], []).append(g)
    for groups in pools.values():
        if len(groups) < 2:
            continue
        shared += len(groups)
        rows = np.concatenate(groups)          # positions, groups in batch order
        if any(seed_index[int(i)] is None for i in rows):
            raise ValueError("pool_duplicate_prompts: a row of a shared prompt has no seed number "
                             f"({SEED_INDEX_KEY}); its split cannot be made independent of arrival order")
        perm[rows] = sorted(rows.tolist(), key=lambda i: (int(seed_index[i]), i))
    return perm, shared


def move_rollouts(tensors: Mapping[str, Any], non_tensors: Mapping[str, np.ndarray], perm: np.ndarray,
                  group_fields: Sequence[str]) -> tuple[dict, dict]:
    """Apply a rollout permutation: every tensor and every non-tensor field moves with its rollout
    except ``group_fields`` (the group's own: uid and what the dataset row carried), which stay at
    their positions. Returns new dicts; the inputs are not modified."""
    keep = set(group_fields)
    t = {k: (v if k in keep else _gather(v, perm)) for k, v in tensors.items()}
    nt = {k: (v if k in keep else _gather(v, perm)) for k, v in non_tensors.items()}
    return t, nt


def row_rewards(tensors: Mapping[str, Any]) -> np.ndarray:
    """Scalar reward of every row: ``rm_scores`` summed over the response."""
    if "rm_scores" not in tensors:
        raise KeyError("batch has no 'rm_scores' tensor (rewards must be computed before the "
                       "POLARIS mechanisms run)")
    return _np(tensors["rm_scores"]).reshape(len(_np(tensors["rm_scores"])), -1).sum(-1).astype(np.float64)


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def dataset_indices(non_tensors: Mapping[str, np.ndarray], n_rows: int) -> list[Any]:
    """The dataset index of every row: ``extra_info['index']``, else the ``index`` column."""
    if "extra_info" in non_tensors:
        out = []
        for ei in non_tensors["extra_info"]:
            idx = ei.get("index") if isinstance(ei, Mapping) else None
            out.append(idx)
        if all(i is not None for i in out):
            return [_plain(i) for i in out]
    if "index" in non_tensors:
        return [_plain(i) for i in non_tensors["index"]]
    raise KeyError("batch rows carry no dataset index (extra_info.index or index)")


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    return x


@dataclass
class GroupStats:
    groups: list[np.ndarray]          # row indices per group
    rewards: list[np.ndarray]         # rewards per group
    index: list[Any]                  # dataset index per group
    threshold: float = 0.5

    @property
    def mean(self) -> np.ndarray:
        return np.array([r.mean() for r in self.rewards], dtype=np.float64)

    @property
    def n_correct(self) -> np.ndarray:
        return np.array([(r >= self.threshold).sum() for r in self.rewards], dtype=np.int64)

    @property
    def solve_none(self) -> np.ndarray:
        return self.n_correct == 0

    @property
    def solve_all(self) -> np.ndarray:
        return np.array([(r >= self.threshold).all() for r in self.rewards])

    @property
    def informative(self) -> np.ndarray:
        return ~(self.solve_none | self.solve_all)


def group_stats(tensors: Mapping, non_tensors: Mapping, threshold: float = 0.5) -> GroupStats:
    rewards = row_rewards(tensors)
    groups = group_rows(non_tensors[GROUP_KEY])
    idx = dataset_indices(non_tensors, len(rewards))
    return GroupStats(groups, [rewards[g] for g in groups], [idx[g[0]] for g in groups], threshold)


# --------------------------------------------------------------------------------------------
# 1. per-prompt accuracy log

def accuracy_record(step: int, stats: GroupStats, *, global_step: int | None = None,
                    **extra: Any) -> dict:
    """One accuracy-log line: batch number ``step``, optimiser step ``global_step``, and the
    parallel lists ``index`` and ``score`` (mean reward over the n rollouts)."""
    rec = {"step": int(step), "global_step": int(step if global_step is None else global_step),
           "index": [_plain(i) for i in stats.index],
           "score": [round(float(s), 6) for s in stats.mean]}
    rec.update(extra)
    return rec


# --------------------------------------------------------------------------------------------
# row operations on a {name: tensor} / {name: array} batch

def _gather(x, rows: np.ndarray):
    if hasattr(x, "index_select"):
        import torch

        return x.index_select(0, torch.as_tensor(rows, dtype=torch.long, device=x.device))
    return np.asarray(x)[rows]


def _set_rows(x, dst: np.ndarray, values):
    """Return ``x`` with rows ``dst`` set to ``values`` (a copy; x is not modified)."""
    if hasattr(x, "clone"):
        import torch

        y = x.clone()
        y[torch.as_tensor(dst, dtype=torch.long, device=x.device)] = values.to(y.dtype)
        return y
    y = np.asarray(x).copy()
    for k, d in enumerate(dst):
        y[d] = values[k]
    return y


def last_token_positions(tensors: Mapping) -> np.ndarray:
    """Position of the last valid response token of each row (where verl writes the reward)."""
    if "response_mask" in tensors:
        mask = _np(tensors["response_mask"])
        # the last 1 of an agent-loop response mask; attention-mask based like verl when absent
        lengths = mask.sum(-1)
    else:
        resp = _np(tensors["responses"])
        att = _np(tensors["attention_mask"])
        lengths = att[:, -resp.shape[1]:].sum(-1)
    return np.maximum(lengths.astype(np.int64) - 1, 0)


def _write_scalar_rewards(tensors: dict, rows: np.ndarray, values: Sequence[float]) -> None:
    import torch

    rm = tensors["rm_scores"].clone()
    pos = last_token_positions({k: _gather(v, rows) for k, v in tensors.items()
                                if k in ("response_mask", "responses", "attention_mask")})
    for r, p, v in zip(rows, pos, values):
        rm[int(r)] = 0
        rm[int(r), int(p)] = float(v)
    tensors["rm_scores"] = rm
    for key in REWARD_FIELDS[1:]:
        if key in tensors:
            tensors[key] = rm.clone().to(tensors[key].dtype) if isinstance(tensors[key], torch.Tensor) else rm


# --------------------------------------------------------------------------------------------
# 2. rollout rescue

class RescueBuffer:
    """Per-prompt sink of the latest correct rollout (reference 5.5, as the blog's figure shows:
    store if correct at epoch i, retrieve if all wrong at epoch j).

    A stored entry is a snapshot of one row: every tensor row and every non-tensor value except the
    group id. The rescued rollout was sampled by an older policy and is treated as on-policy (the
    blog describes no correction).
    """

    def __init__(self, seed: int = 0, threshold: float = 0.5):
        self.store: dict[Any, dict] = {}
        self.rng = np.random.default_rng(seed)
        self.threshold = threshold

    def __len__(self) -> int:
        return len(self.store)

    def state_dict(self) -> dict:
        """Everything a resumed stage needs to continue exactly (stored rows and the rng)."""
        return {"store": self.store, "rng": self.rng.bit_generator.state, "threshold": self.threshold}

    def load_state_dict(self, state: Mapping) -> None:
        self.store = dict(state["store"])
        self.rng.bit_generator.state = state["rng"]
        self.threshold = float(state.get("threshold", self.threshold))

    def update(self, tensors: Mapping, non_tensors: Mapping, stats: GroupStats) -> int:
        """Store one correct rollout (chosen at random) of every group that has one."""
        stored = 0
        for g, r, idx in zip(stats.groups, stats.rewards, stats.index):
            ok = np.flatnonzero(r >= self.threshold)
            if len(ok) == 0:
                continue
            row = int(g[int(self.rng.choice(ok))])
            self.store[idx] = {
                "tensors": {k: _gather(v, np.array([row]))[0] for k, v in tensors.items()},
                "non_tensors": {k: v[row] for k, v in non_tensors.items() if k != GROUP_KEY},
                "reward": float(r[int(np.flatnonzero(g == row)[0])]),
            }
            stored += 1
        return stored

    def rescue(self, tensors: dict, non_tensors: dict, stats: GroupStats) -> list[int]:
        """Replace one random failed rollout of every all-fail group whose prompt has a stored
        correct rollout; modifies ``tensors``/``non_tensors`` in place; returns the rows replaced."""
        rows = []
        for g, r, idx in zip(stats.groups, stats.rewards, stats.index):
            if (r >= self.threshold).any() or idx not in self.store:
                continue
            entry = self.store[idx]
            row = int(g[int(self.rng.integers(len(g)))])
            for k, v in entry["tensors"].items():
                if k in tensors:
                    if tuple(tensors[k].shape[1:]) != tuple(v.shape):
                        raise ValueError(f"rescue: stored field {k!r} has shape {tuple(v.shape)}, batch "
                                         f"rows have {tuple(tensors[k].shape[1:])} (stage lengths changed?)")
                    tensors[k] = _set_rows(tensors[k], np.array([row]), v.unsqueeze(0) if hasattr(v, "unsqueeze") else [v])
            for k, v in entry["non_tensors"].items():
                if k in non_tensors:
                    non_tensors[k] = _set_rows(non_tensors[k], np.array([row]), [v])
            rows.append(row)
        return rows


# --------------------------------------------------------------------------------------------
# 3. intra-batch informative substitution

@dataclass
class SubstitutionPlan:
    mode: str
    n_groups: int
    solve_none: int
    solve_all: int
    informative: int
    skip: bool
    donors: dict[int, int] = field(default_factory=dict)   # dead group -> donor group (positions)

    @property
    def informative_fraction(self) -> float:
        return self.informative / self.n_groups if self.n_groups else 0.0

    @property
    def substituted(self) -> int:
        return len(self.donors)


def skip_batch(n_informative: int, n_groups: int) -> bool:
    """The released rule: skip when at most one third of the groups are informative
    (``n_informative <= floor(n_groups / 3)``, i.e. 42 of 128)."""
    return n_informative <= n_groups // 3


def plan_substitution(stats: GroupStats, mode: str, rng: np.random.Generator) -> SubstitutionPlan:
    """Choose a donor (random informative group) for every dead group; decide the skip.

    Donors are drawn without replacement when there are at least as many informative groups as
    dead ones, otherwise with replacement (reference 5.2)."""
    if mode not in MODES:
        raise ValueError(f"substitution mode must be one of {MODES}, got {mode!r}")
    inf = stats.informative
    plan = SubstitutionPlan(mode, len(stats.groups), int(stats.solve_none.sum()),
                            int(stats.solve_all.sum()), int(inf.sum()), skip=False)
    if mode == "off":
        return plan
    plan.skip = skip_batch(plan.informative, plan.n_groups)
    if plan.skip:
        return plan
    dead = np.flatnonzero(~inf)
    live = np.flatnonzero(inf)
    if len(dead) == 0:
        return plan
    donors = rng.choice(live, size=len(dead), replace=len(live) < len(dead))
    plan.donors = {int(d): int(s) for d, s in zip(dead, donors)}
    return plan


def row_map(stats: GroupStats, plan: SubstitutionPlan) -> tuple[np.ndarray, np.ndarray]:
    """(dst rows, src rows): row k of a dead group takes row k of its donor group."""
    dst, src = [], []
    for d, s in plan.donors.items():
        gd, gs = stats.groups[d], stats.groups[s]
        if len(gd) != len(gs):
            raise ValueError(f"groups {d} and {s} differ in size ({len(gd)} vs {len(gs)})")
        dst.extend(gd.tolist())
        src.extend(gs.tolist())
    return np.asarray(dst, dtype=np.int64), np.asarray(src, dtype=np.int64)


RescoreFn = Callable[[int, int, dict, dict], "float | Mapping[str, Any]"]


def apply_substitution(tensors: dict, non_tensors: dict, stats: GroupStats, plan: SubstitutionPlan,
                       rescore: RescoreFn | None = None) -> tuple[dict, dict]:
    """Return new (tensors, non_tensors) with the plan applied.

    ``polaris``: every tensor and non-tensor field of the donor rows is copied except the group
    id, so rewards, ground truth and reward extras travel with the tokens. ``released``: only the
    token tensors are copied; ``rescore(dst_row, src_row, tensors, non_tensors)`` (called on the
    already-substituted batch) re-grades each copied row against the replaced prompt's ground
    truth, as the official code's second reward call does; it returns the reward or a dict with
    ``score`` and other reward-extra fields."""
    if plan.skip or not plan.donors or plan.mode == "off":
        return dict(tensors), dict(non_tensors)
    dst, src = row_map(stats, plan)
    t = dict(tensors)
    nt = dict(non_tensors)
    if plan.mode == "polaris":
        for k, v in tensors.items():
            t[k] = _set_rows(v, dst, _gather(v, src))
        for k, v in non_tensors.items():
            if k == GROUP_KEY:
                continue
            nt[k] = _set_rows(v, dst, [v[s] for s in src])
        return t, nt
    # released
    for k, v in tensors.items():
        if k in TOKEN_FIELDS:
            t[k] = _set_rows(v, dst, _gather(v, src))
    if rescore is None:
        raise ValueError("released-mode substitution needs a rescore function")
    values = []
    for d, s in zip(dst, src):
        out = rescore(int(d), int(s), t, nt)
        if isinstance(out, Mapping):
            for key, val in out.items():
                if key in nt and key != GROUP_KEY:
                    nt[key] = _set_rows(nt[key], np.array([d]), [val])
            out = out["score"]
        values.append(float(out))
    _write_scalar_rewards(t, dst, values)
    return t, nt


# --------------------------------------------------------------------------------------------
# the whole per-batch procedure

@dataclass
class BatchResult:
    tensors: dict
    non_tensors: dict
    record: dict                      # the accuracy-log line (pre-rescue, pre-substitution)
    plan: SubstitutionPlan
    rescued: int
    metrics: dict

    @property
    def skip(self) -> bool:
        return self.plan.skip


def process_batch(tensors: Mapping, non_tensors: Mapping, *, step: int, mode: str,
                  rng: np.random.Generator, rescue: RescueBuffer | None = None,
                  rescore: RescoreFn | None = None, threshold: float = 0.5,
                  global_step: int | None = None, attempt: int = 0) -> BatchResult:
    """Accuracy record, then rescue, then substitution/skip (reference 5.2, 5.5).

    ``step`` is the batch number written to the accuracy log, ``global_step`` the optimiser step
    (default: ``step``), ``attempt`` how many batches of this optimiser step were skipped before."""
    t, nt = dict(tensors), dict(non_tensors)
    stats = group_stats(t, nt, threshold)
    pre_mean = float(np.concatenate(stats.rewards).mean()) if stats.rewards else 0.0
    n_rescued = 0
    if rescue is not None:
        rescue.update(t, nt, stats)
        rows = rescue.rescue(t, nt, stats)
        n_rescued = len(rows)
        if rows:
            stats = group_stats(t, nt, threshold)
    plan = plan_substitution(stats, mode, rng)
    record_stats = group_stats(tensors, non_tensors, threshold)  # before rescue and substitution
    record = accuracy_record(step, record_stats, global_step=global_step, skipped=bool(plan.skip),
                             attempt=int(attempt))
    # what the copies would score had they kept their donors' rewards (the ``polaris`` mode's
    # post-substitution score on this batch and these donors); in ``released`` mode the trainer's
    # re-grading replaces them, and the gap is the official bug's effect (reference 5.4)
    donor_rewards = row_rewards(t)
    if plan.donors and not plan.skip and plan.mode != "off":
        dst, src = row_map(stats, plan)
        donor_rewards[dst] = donor_rewards[src]
    regraded: list[tuple[int, int, Any]] = []

    def logged_rescore(d: int, s: int, tt: dict, ntt: dict):
        out = rescore(d, s, tt, ntt)
        regraded.append((d, s, out))
        return out

    before_t, before_nt = t, nt
    t, nt = apply_substitution(t, nt, stats, plan, logged_rescore if rescore is not None else None)
    post = row_rewards(t)
    if regraded:
        # released mode: each copied row as re-graded (the accuracy log keeps it, for checks)
        idx_before = dataset_indices(before_nt, len(post))
        rew_before = row_rewards(before_t)
        record["regraded"] = [{
            "index": idx_before[d], "donor_index": idx_before[s],
            "ground_truth": _gt(before_nt, d), "donor_ground_truth": _gt(before_nt, s),
            "pred": (None if out.get("pred") is None else str(out.get("pred"))[:200])
            if isinstance(out, Mapping) else None,
            "donor_score": float(rew_before[s]), "score": float(post[d])} for d, s, out in regraded]
    metrics = {
        "batch/solve_none": int(record_stats.solve_none.sum()),
        "batch/solve_all": int(record_stats.solve_all.sum()),
        "polaris/solve_none_frac": float(record_stats.solve_none.mean()) if stats.groups else 0.0,
        "polaris/solve_all_frac": float(record_stats.solve_all.mean()) if stats.groups else 0.0,
        "polaris/informative_frac": plan.informative_fraction,
        "polaris/substituted": plan.substituted,
        "polaris/skipped": int(plan.skip),
        "polaris/rescued": n_rescued,
        "polaris/score_pre_substitution": pre_mean,
        "polaris/score_post_substitution": float(post.mean()) if len(post) else 0.0,
        "polaris/score_post_donor_rewards": float(donor_rewards.mean()) if len(post) else 0.0,
    }
    return BatchResult(t, nt, record, plan, n_rescued, metrics)


def _gt(non_tensors: Mapping, row: int) -> Any:
    rm = non_tensors.get("reward_model")
    gt = rm[row].get("ground_truth") if rm is not None and isinstance(rm[row], Mapping) else None
    if isinstance(gt, np.ndarray):
        gt = gt.tolist()
    return _plain(gt)


def grpo_advantages(rewards: np.ndarray, uids: Sequence, eps: float = 1e-6) -> np.ndarray:
    """Scalar GRPO advantages (r - mean_g) / (std_g + eps), unbiased std (reference 5.1); a
    single-member group gets mean 0, std 1. Used for checks; training uses verl's estimator."""
    rewards = np.asarray(rewards, dtype=np.float64)
    out = np.zeros_like(rewards)
    for g in group_rows(uids):
        r = rewards[g]
        if len(g) == 1:
            out[g] = r
            continue
        out[g] = (r - r.mean()) / (r.std(ddof=1) + eps)
    return out


def merge_attempt_logs(paths: Sequence[str | os.PathLike]) -> list[dict]:
    """Merge per-launch metric logs (verl's file logger writes one per launch): a later launch
    that resumed at step N supersedes the earlier launches' records of steps >= N."""
    merged: list[dict] = []
    for p in paths:
        recs = read_jsonl(p)
        if not recs:
            continue
        first = min(int(r.get("step", 0)) for r in recs)
        merged = [r for r in merged if int(r.get("step", 0)) < first] + recs
    return merged
