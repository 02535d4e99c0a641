"""The POLARIS trainer: verl 0.9.1's PPO trainer with the POLARIS mechanisms wired in.

Imported only inside verl's TaskRunner (a Ray actor), through :mod:`.main_polaris`.

**Why verl's legacy trainer (``RayPPOTrainer``, ``trainer.use_v1=False``) and not the v1 trainer.**

* It is the path the CPU plugin (:mod:`polaris_repro.verl_cpu`, ``cpu_overrides()`` default
  ``trainer="v0"``) runs and tests on 2 cores; v1 additionally needs TransferQueue actors (more
  processes, ~12 s more start-up per launch, and twice the logical CPUs) on a machine where each
  verl launch already costs ~50 s.
* The mechanisms rewrite whole rollout rows (tokens, rewards, ground truth) and may *discard* a
  batch without advancing the step counter. In v0 the batch is one ``DataProto`` in the driver,
  so a row copy is an index operation; in v1 the rows live in TransferQueue as jagged tensors
  keyed by ``uid_session``, and a substitution would mean re-putting every field under other
  keys and editing the replay buffer's bookkeeping; its ``fit`` loop also advances
  ``global_steps`` after every ``step()``.
* The GPU path is the same code: only the tier's overrides differ (``rollout.name=vllm``).

**Where the mechanisms hook in.** v0's ``fit`` has no hooks, and copying its ~400 lines would
vendor verl. One overridable method sits exactly where POLARIS needs it: ``_balance_batch``
is called on the fully assembled batch right after generation (the agent loop has already
written ``rm_scores`` and the reward extras), before ``extract_reward``, old log-probs, the
advantage and the update; and it mutates the batch in place (its return value is ignored). So
:meth:`PolarisTrainer._balance_batch` runs, per batch: the accuracy log line, rollout rescue,
and substitution (``polaris`` / ``released`` / ``off``); then verl's own balancing.

**Skip rule.** When at most one third of the groups are informative the batch is discarded and
the next batch is drawn *within the same step* (from the same dataloader iterator, see
:class:`SharedIterLoader`), generated and processed, until an informative-enough batch arrives;
so the step counter does not advance and no update, checkpoint, validation or metrics line is
produced for the skipped batch, exactly as the released ``continue`` does. Every generated
batch gets its accuracy-log line (``skipped: true`` for discarded ones). If the epoch runs out
while skipping, the last batch is trained on as it is (``polaris/skip_unavailable = 1``).

**Resume.** ``trainer.resume_mode=auto`` restores the latest checkpoint (model, optimiser,
dataloader position); :meth:`_load_checkpoint` then truncates the accuracy log to the resumed
step. Metrics go through verl's ``file`` logger into one file per launch (``<metrics_dir>/
launch-NNN.jsonl``; verl's FileLogger truncates its file on open), merged by
:func:`polaris_repro.training.mechanisms.merge_attempt_logs`. The POLARIS state (rescue buffer,
substitution rng, batch counter) is saved as ``polaris_state.pt`` inside each checkpoint's
``global_step_N`` folder, written before verl's own files (so a checkpoint verl counts as complete
always has it) and restored with the checkpoint: a resumed stage rescues from the same buffer.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from verl import DataProto
from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_response_mask

from . import mechanisms as M
from . import time_limits as TL

POLARIS_STATE = "polaris_state.pt"


class SharedIterLoader:
    """Wraps the train dataloader so that ``fit``'s ``for batch in loader`` and the skip rule
    draw from one iterator (a skipped batch is consumed, as in the released code). State dict,
    length and attributes are the wrapped ``StatefulDataLoader``'s. ``fields`` collects the names a
    batch of the data set carries (the per-prompt fields that stay with a group when rollouts move
    between groups of one prompt, ``M.move_rollouts``)."""

    def __init__(self, loader):
        self._loader = loader
        self._it = None
        self.fields: set[str] = set()

    def __iter__(self):
        self._it = iter(self._loader)
        return self

    def __next__(self):
        if self._it is None:
            self._it = iter(self._loader)
        batch = next(self._it)
        if isinstance(batch, dict):
            self.fields.update(batch)
        return batch

    def next_batch(self):
        """The next batch of the current epoch (``StopIteration`` at its end)."""
        return self.__next__()

    def __len__(self):
        return len(self._loader)

    def state_dict(self):
        return self._loader.state_dict()

    def load_state_dict(self, state):
        return self._loader.load_state_dict(state)

    def __getattr__(self, name):
        return getattr(self._loader, name)


def polaris_settings(config) -> dict:
    pol = OmegaConf.to_container(config.polaris, resolve=True) if "polaris" in config else {}
    mode = pol.get("substitution", "polaris")
    if mode not in M.MODES:
        raise ValueError(f"polaris.substitution must be one of {M.MODES}, got {mode!r}")
    if not pol.get("accuracy_log"):
        raise ValueError("polaris.accuracy_log is not set (the stage's accuracy_log.jsonl)")
    return {
        "substitution": mode,
        "rescue": bool(pol.get("rescue", False)),
        "accuracy_log": str(pol["accuracy_log"]),
        "metrics_file": pol.get("metrics_file"),
        "seed": int(pol["seed"]),   # verl_config.stage_overrides writes it (+polaris.seed)
        "max_resample": pol.get("max_resample"),  # None = until the epoch ends
        "threshold": float(pol.get("correct_threshold", 0.5)),
        "stage": pol.get("stage"),
        "stop_file": pol.get("stop_file"),
    }


def metrics_launch_path(metrics_file: str | os.PathLike) -> Path:
    """``metrics.jsonl`` -> ``metrics/launch-NNN.jsonl`` with the next free NNN."""
    base = Path(metrics_file)
    d = base.with_suffix("")
    d.mkdir(parents=True, exist_ok=True)
    k = 1 + max((int(p.stem.split("-")[-1]) for p in d.glob("launch-*.jsonl")
                 if p.stem.split("-")[-1].isdigit()), default=0)
    return d / f"launch-{k:03d}.jsonl"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_step_line(stage: str | None, step: int, total: int | None, reward: float,
                     step_s: float, mean_step_s: float, details: str = "") -> str:
    """The trainer's line per step, printed once the step's batch is generated (before the
    update): ``[polaris] stage1 step 3/12 | reward 0.562 | 41 s/step | ETA 6.2 min | <details>``.

    ``step_s``: wall time since the previous step's line (the first: since ``fit()`` started);
    ``mean_step_s``: the mean over this launch's steps so far; ETA = the stage's remaining steps
    (``total - step``) x ``mean_step_s``."""
    per = f"{step_s:.1f}" if step_s < 10 else f"{step_s:.0f}"
    if total:
        eta = _duration(max(0, int(total) - int(step)) * mean_step_s)
        where = f"step {step}/{total}"
    else:
        eta, where = "?", f"step {step}"
    line = f"[polaris] {stage or 'stage'} {where} | reward {reward:.3f} | {per} s/step | ETA {eta}"
    return f"{line} | {details}" if details else line


def _where(_actor_self=None) -> dict:
    import ray

    ctx = ray.get_runtime_context()
    return {"node_id": ctx.get_node_id(), "pid": os.getpid(), "ip": ray.util.get_node_ip_address()}


def worker_placement(worker_group) -> list[dict]:
    """Where each FSDP rank of a verl worker group runs: ``[{rank, node_id, pid, ip}]`` (Ray's
    ``__ray_call__`` runs :func:`_where` inside each worker actor)."""
    import ray

    refs = [w.__ray_call__.remote(_where) for w in worker_group.workers]
    return [{"rank": r, **d} for r, d in enumerate(ray.get(refs))]


class _StageComplete(Exception):
    """Raised from ``_load_checkpoint`` when the checkpoint is the stage's last step."""


class _StopAtBoundary(Exception):
    """Raised at the start of the step after a stop request was honoured (checkpoint saved)."""


class PolarisTrainer(RayPPOTrainer):
    """``RayPPOTrainer`` + accuracy log, rollout rescue, intra-batch substitution and skip."""

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.polaris = polaris_settings(config)
        self.train_dataloader = SharedIterLoader(self.train_dataloader)
        self.pol_rng = np.random.default_rng(self.polaris["seed"])
        self.pol_rescue = M.RescueBuffer(seed=self.polaris["seed"] + 1,
                                         threshold=self.polaris["threshold"]) if self.polaris["rescue"] else None
        self.pol_log = M.AccuracyLog(self.polaris["accuracy_log"])
        self.pol_batch_no = 0
        self._pol_reward_fn = None
        print(f"[polaris] substitution={self.polaris['substitution']} rescue={self.polaris['rescue']} "
              f"accuracy_log={self.polaris['accuracy_log']}", flush=True)

    # ------------------------------------------------------------------ placement
    def init_workers(self):
        super().init_workers()
        self.placement = worker_placement(self.actor_rollout_wg)
        nodes = sorted({p["node_id"] for p in self.placement})
        for p in self.placement:
            print(f"[polaris] placement: rank {p['rank']} pid {p['pid']} on node {p['node_id']} "
                  f"(ip {p['ip']})", flush=True)
        print(f"[polaris] placement: {len(self.placement)} FSDP rank(s) on {len(nodes)} Ray node(s)", flush=True)

    # ------------------------------------------------------------------ run / resume
    def fit(self):
        self._pol_t_fit = self._pol_t_last = time.time()   # for the step line's s/step and ETA
        self._pol_steps_timed = 0
        if self.polaris.get("metrics_file"):
            path = metrics_launch_path(self.polaris["metrics_file"])
            os.environ["VERL_FILE_LOGGER_PATH"] = str(path)
            print(f"[polaris] metrics of this launch: {path}", flush=True)
        try:
            return super().fit()
        except (_StageComplete, _StopAtBoundary) as done:
            print(f"[polaris] {done}", flush=True)
            wg = getattr(self, "actor_rollout_wg", None)
            if hasattr(wg, "async_calls_finalize_fn_exec"):   # an asynchronous checkpoint save finishes
                wg.async_calls_finalize_fn_exec(blocking=True)
            if hasattr(self, "_dump_executor"):
                self._shutdown_dump_executor()
            return None

    # ------------------------------------------------------------------ stop request (time limit)
    def _update_actor(self, batch):
        """verl's update, then the stop request (:mod:`.time_limits`): when one is present the step
        that just updated is checkpointed (by verl where its save rule saves this step anyway) and
        the launch ends before the next step starts (:meth:`_start_profiling`)."""
        out = super()._update_actor(batch)
        reason = TL.stop_reason(self.polaris["stop_file"]) if self.polaris.get("stop_file") else None
        if reason is not None and not getattr(self, "_pol_stop", None):
            freq = int(self.config.trainer.save_freq)
            total = getattr(self, "total_training_steps", None)
            verl_saves = freq > 0 and ((total is not None and self.global_steps >= int(total))
                                       or self.global_steps % freq == 0)
            if not verl_saves:
                self._save_checkpoint()
            TL.write_stopped(Path(self.polaris["accuracy_log"]).parent, step=self.global_steps, total=total,
                             reason=reason, saved=not verl_saves)
            self._pol_stop = (self.global_steps, reason)
            print(f"[polaris] stop requested ({reason}): step {self.global_steps} checkpointed"
                  f"{'' if verl_saves else ' now'}; the launch ends after this step", flush=True)
        return out

    def _start_profiling(self, do_profile: bool) -> None:
        stop = getattr(self, "_pol_stop", None)
        if stop is not None:   # called by fit at the top of every step: the boundary after the stop
            raise _StopAtBoundary(f"stopped at step {stop[0]} on request ({stop[1]}); resume continues "
                                  f"from step {stop[0]}")
        return super()._start_profiling(do_profile)

    def _step_folder(self) -> Path:
        root = Path(self.config.trainer.default_local_dir)
        if not root.is_absolute():
            root = Path(os.getcwd()) / root  # as verl resolves it
        return root / f"global_step_{self.global_steps}"

    def _save_checkpoint(self):
        folder = self._step_folder()
        folder.mkdir(parents=True, exist_ok=True)
        state = {"pol_rng": self.pol_rng.bit_generator.state, "pol_batch_no": self.pol_batch_no,
                 "rescue": self.pol_rescue.state_dict() if self.pol_rescue is not None else None}
        tmp = folder / (POLARIS_STATE + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, folder / POLARIS_STATE)
        return super()._save_checkpoint()

    def _load_checkpoint(self):
        out = super()._load_checkpoint()
        resumed = int(self.global_steps or 0)
        removed = self.pol_log.truncate_after(resumed)
        self.pol_batch_no = self.pol_log.next_step() - 1
        restored = "none (fresh start)"
        if resumed:
            path = self._step_folder() / POLARIS_STATE
            if path.exists():
                # our own file inside the run's checkpoint folder (holds numpy objects: not weights-only)
                state = torch.load(path, weights_only=False)
                self.pol_rng.bit_generator.state = state["pol_rng"]
                if self.pol_rescue is not None and state.get("rescue") is not None:
                    self.pol_rescue.load_state_dict(state["rescue"])
                restored = f"{path.name} (rescue buffer {len(self.pol_rescue) if self.pol_rescue is not None else 'off'})"
            else:
                restored = f"missing ({path}): rescue buffer starts empty"
        print(f"[polaris] resumed at step {resumed}; accuracy log: {removed} line(s) of later steps "
              f"removed, next batch number {self.pol_batch_no + 1}; POLARIS state: {restored}", flush=True)
        total = getattr(self, "total_training_steps", None)
        if resumed and total is not None and resumed >= int(total):
            # verl's fit adds 1 to the resumed step and trains before it checks for the last step, so a
            # launch killed after its final checkpoint (a time limit during the merge) would train one
            # step more than planned when resumed; the stage is complete: nothing to train
            raise _StageComplete(f"resumed at step {resumed} of {total}: the stage's last step is "
                                 f"checkpointed, nothing left to train")
        return out

    # ------------------------------------------------------------------ the hook
    def _balance_batch(self, batch: DataProto, metrics, logging_prefix="global_seqlen", keep_minibatch=False):
        if logging_prefix == "global_seqlen":
            self._polaris_process(batch, metrics)
        return super()._balance_batch(batch, metrics, logging_prefix=logging_prefix,
                                      keep_minibatch=keep_minibatch)

    def _polaris_process(self, batch: DataProto, metrics: dict) -> None:
        if "rm_scores" not in batch.batch.keys():
            raise RuntimeError("POLARIS mechanisms need rewards computed during rollout (rm_scores); "
                               "a colocated reward model is not supported")
        mode = self.polaris["substitution"]
        rescore = self._rescore if mode == "released" else None
        skipped, t0, fallback = 0, time.time(), 0
        max_resample = self.polaris["max_resample"]
        while True:
            # groups sharing a prompt split its rollouts by seed number, whatever order they arrived in
            pooled = self._pool_duplicate_prompts(batch)
            if pooled is not None:
                metrics["polaris/pooled_groups"] = pooled
            # the rollouts of each prompt in a fixed row order, whatever order they arrived in
            # (M.canonical_row_order): a rerun of a seed trains on the same batch, row for row
            perm = M.canonical_row_order(batch.non_tensor_batch[M.GROUP_KEY],
                                         {k: batch.batch[k] for k in M.CANONICAL_KEYS if k in batch.batch.keys()})
            if not np.array_equal(perm, np.arange(len(perm))):
                batch.reorder(torch.as_tensor(perm))
            self.pol_batch_no += 1
            tensors = {k: batch.batch[k] for k in batch.batch.keys()}
            res = M.process_batch(tensors, dict(batch.non_tensor_batch), step=self.pol_batch_no,
                                  global_step=self.global_steps, mode=mode, rng=self.pol_rng,
                                  rescue=self.pol_rescue, rescore=rescore,
                                  threshold=self.polaris["threshold"], attempt=skipped)
            if not res.skip:
                self.pol_log.append(res.record)
                break
            batch_dict = None
            if max_resample is None or skipped < int(max_resample):
                try:
                    batch_dict = self.train_dataloader.next_batch()
                except StopIteration:
                    batch_dict = None
            if batch_dict is None:
                # nothing left to draw this epoch: train on this batch as it is (logged as trained)
                fallback = 1
                res.record.update(skipped=False, skip_unavailable=True)
                self.pol_log.append(res.record)
                print(f"[polaris] step {self.global_steps}: only {res.plan.informative}/{res.plan.n_groups} "
                      f"groups informative, no batch left to draw -> trained on as it is", flush=True)
                break
            self.pol_log.append(res.record)
            print(f"[polaris] step {self.global_steps}: only {res.plan.informative}/{res.plan.n_groups} "
                  f"groups informative -> batch skipped", flush=True)
            skipped += 1
            new = self._polaris_generate(batch_dict)
            batch.batch, batch.non_tensor_batch, batch.meta_info = new.batch, new.non_tensor_batch, new.meta_info
        for k, v in res.tensors.items():
            batch.batch[k] = v
        batch.non_tensor_batch.update(res.non_tensors)
        metrics.update(res.metrics)
        metrics["polaris/skipped"] = skipped
        metrics["polaris/skip_unavailable"] = fallback
        metrics["polaris/batches_generated"] = skipped + 1
        metrics["polaris/resample_s"] = round(time.time() - t0, 3) if skipped else 0.0
        if self.pol_rescue is not None:
            metrics["polaris/rescue_buffer"] = len(self.pol_rescue)
        m = res.metrics
        now = time.time()
        t_fit = getattr(self, "_pol_t_fit", None) or now
        step_s = now - (getattr(self, "_pol_t_last", None) or t_fit)
        self._pol_t_last, self._pol_steps_timed = now, getattr(self, "_pol_steps_timed", 0) + 1
        details = (f"solve-none {m['batch/solve_none']}, solve-all {m['batch/solve_all']}, informative "
                   f"{m['polaris/informative_frac']:.2f}, substituted {m['polaris/substituted']}, skipped {skipped}"
                   + (f", rescued {res.rescued}" if self.pol_rescue is not None else ""))
        print(format_step_line(self.polaris.get("stage"), self.global_steps,
                               getattr(self, "total_training_steps", None),
                               m["polaris/score_pre_substitution"], step_s,
                               (now - t_fit) / self._pol_steps_timed, details), flush=True)

    # ------------------------------------------------------------------ helpers
    def _pool_duplicate_prompts(self, batch: DataProto) -> int | None:
        """Give groups that share a prompt fixed rollouts (``M.pool_duplicate_prompts``): the
        rollout fields move, the groups' own fields (uid and the data set's) stay. Returns how many
        groups shared their prompt with another (0: the batch is unchanged), or None where the
        rollout backend does not number its seeds (vLLM): the batch is left as it is."""
        nt = batch.non_tensor_batch
        if M.SEED_INDEX_KEY not in nt:
            return None
        tensors = {k: batch.batch[k] for k in batch.batch.keys()}
        perm, shared = M.pool_duplicate_prompts(nt[M.GROUP_KEY], M.prompt_pool_keys(tensors, nt),
                                                nt[M.SEED_INDEX_KEY])
        if not shared:
            return 0
        if not self.train_dataloader.fields:
            raise RuntimeError("cannot move rollouts between groups of one prompt: the data set's fields "
                               "are unknown (no batch came through the train dataloader)")
        fields = self.train_dataloader.fields | {M.GROUP_KEY}
        t, moved = M.move_rollouts(tensors, nt, perm, fields)
        for k in batch.batch.keys():
            if k not in fields:
                batch.batch[k] = t[k]
        for k in nt:
            nt[k] = moved[k]
        return shared

    def _polaris_generate(self, batch_dict) -> DataProto:
        """Generate rollouts for a replacement batch, as ``fit`` does for its own batches."""
        # fit put the rollout replicas to sleep after its generation; wake them with the current
        # (unchanged) weights
        self.checkpoint_manager.update_weights(self.global_steps)
        batch = DataProto.from_single_dict(batch_dict)
        batch.meta_info["temperature"] = self.config.actor_rollout_ref.rollout.temperature
        batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch.batch))],
                                                 dtype=object)
        gen_batch = self._get_gen_batch(batch)
        gen_batch.meta_info["global_steps"] = self.global_steps
        n = self.config.actor_rollout_ref.rollout.n
        gen_out = self.async_rollout_manager.generate_sequences(gen_batch.repeat(repeat_times=n, interleave=True))
        self.checkpoint_manager.sleep_replicas()
        gen_out.meta_info.pop("timing", None)
        batch = batch.repeat(repeat_times=n, interleave=True).union(gen_out)
        if "response_mask" not in batch.batch.keys():
            batch.batch["response_mask"] = compute_response_mask(batch)
        return batch

    def _reward_fn(self):
        if self._pol_reward_fn is None:
            from verl.trainer.ppo.reward import get_custom_reward_fn

            fn = get_custom_reward_fn(self.config)
            if fn is None:
                from verl.utils.reward_score import default_compute_score as fn
            self._pol_reward_fn = fn
        return self._pol_reward_fn

    def _rescore(self, dst: int, src: int, tensors: dict, non_tensors: dict) -> Any:
        """``released`` mode: grade the copied response against the row's own (the replaced
        prompt's) ground truth, as the official second reward call did (reference 5.4)."""
        resp = tensors["responses"][dst]
        valid = int(tensors["attention_mask"][dst][-resp.shape[-1]:].sum())
        text = self.tokenizer.decode(resp[:valid], skip_special_tokens=True)
        out = self._reward_fn()(data_source=non_tensors["data_source"][dst], solution_str=text,
                                ground_truth=non_tensors["reward_model"][dst]["ground_truth"],
                                extra_info=dict(non_tensors["extra_info"][dst] or {}))
        return out if isinstance(out, dict) else {"score": float(out)}
