"""The POLARIS accuracy log (``accuracy_log.jsonl``, one line per generated batch): the trainer's
writer (:class:`AccuracyLog`, resumable), the one reader of the format (:func:`read_accuracy_log`)
and the per-prompt mean it feeds (:func:`per_prompt_accuracy`, reference 3.6)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..artifacts import append_jsonl, atomic_path, read_jsonl


class AccuracyLog:
    """The stage's ``accuracy_log.jsonl``: one line per generated batch (skipped ones included).

    Lines carry the optimiser step they were generated at (``global_step``). A step's lines are
    final once that step's checkpoint is saved; on resume from the checkpoint of step ``N``
    :meth:`truncate_after(N)` removes the lines of steps > N (work the crash threw away and the
    resumed run redoes), so no line is lost or duplicated; :meth:`next_step` continues the batch
    numbering. The rewrite is atomic; appends are flushed and fsynced.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def append(self, record: Mapping) -> None:
        if "step" not in record or "index" not in record or "score" not in record:
            raise ValueError(f"{self.path}: an accuracy record needs step, index and score")
        if len(record["index"]) != len(record["score"]):
            raise ValueError(f"{self.path}: index and score lists differ in length")
        append_jsonl(self.path, dict(record))

    def read(self) -> list[dict]:
        """Every line as written (:func:`read_accuracy_log` with ``repeated="keep"``); [] before the
        first append."""
        return read_accuracy_log(self.path, repeated="keep") if self.path.exists() else []

    def next_step(self) -> int:
        """The batch number for the next line (1 + the largest logged)."""
        recs = read_jsonl(self.path) if self.path.exists() else []
        return 1 + max((int(r["step"]) for r in recs), default=0)

    def truncate_after(self, global_step: int) -> int:
        """Keep lines with ``global_step <= global_step`` (and drop a torn last line); returns the
        number of lines removed."""
        if not self.path.exists():
            return 0
        kept, removed = [], 0
        for rec in read_jsonl(self.path):
            if int(rec.get("global_step", rec.get("step", 0))) <= global_step:
                kept.append(rec)
            else:
                removed += 1
        raw_lines = [ln for ln in self.path.read_text().splitlines() if ln.strip()]
        if removed or len(raw_lines) != len(kept):
            with atomic_path(self.path) as tmp:
                with open(tmp, "w") as f:
                    for rec in kept:
                        f.write(json.dumps(rec) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            removed = len(raw_lines) - len(kept)
        return removed


REPEATED = ("last", "keep")


def read_accuracy_log(path: str | os.PathLike, *, repeated: str = "last") -> list[dict]:
    """The trainer's per-prompt accuracy log: JSON lines ``{step, index: [...], score: [...]}`` --
    the one reader of the format (the stage runner, drop-easy, the claims' mechanism check).

    ``repeated`` says what to do with lines repeated for a batch:

    * ``"last"`` (default; what a per-prompt statistic wants: drop-easy, the stages' accuracy
      table, the difficulty notebook): one record per batch, the last occurrence (a resumed run that
      replays steps supersedes them). A batch is identified by ``(step, attempt)``: the trainer logs
      skipped batches too (the recipe logs before the skip decision) and a log without ``attempt``
      is keyed by step alone. Records are normalised to ``step, attempt, index`` (ints), ``score``
      (floats), ``skipped`` and sorted.
    * ``"keep"`` (the trainer's own view: :meth:`AccuracyLog.read`, the claims' per-batch check):
      every line as written, every field kept (``global_step``, ``skip_unavailable``, ...). The log
      the trainer writes has no repeated lines (:meth:`AccuracyLog.truncate_after` on resume), so
      both give the same batches there.

    A torn last line is ignored; a missing file or anything else malformed raises an error naming
    the file and record.
    """
    if repeated not in REPEATED:
        raise ValueError(f"repeated must be one of {REPEATED}, got {repeated!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: accuracy log not found")
    kept: list[dict] = []
    by_batch: dict[tuple[int, int], dict] = {}
    for n, rec in enumerate(read_jsonl(path), 1):
        where = f"{path}: record {n}"
        if not isinstance(rec, dict) or not {"step", "index", "score"} <= set(rec):
            raise ValueError(f"{where}: expected keys step, index, score")
        idx, score = rec["index"], rec["score"]
        if not isinstance(idx, list) or not isinstance(score, list) or len(idx) != len(score):
            raise ValueError(f"{where}: 'index' and 'score' must be lists of equal length")
        try:
            floats = [float(s) for s in score]
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: non-numeric score ({e})") from e
        bad = [s for s in floats if not (0.0 <= s <= 1.0)]
        if bad:
            raise ValueError(f"{where}: scores must be accuracies in [0, 1], got {bad[:3]}")
        if repeated == "keep":
            kept.append(rec)
            continue
        try:
            step = int(rec["step"])
            idx = [int(i) for i in idx]
            attempt = int(rec.get("attempt") or 0)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: non-numeric step/index/attempt ({e})") from e
        by_batch[(step, attempt)] = {"step": step, "attempt": attempt, "index": idx, "score": floats,
                                     "skipped": bool(rec.get("skipped", False))}
    return kept if repeated == "keep" else [by_batch[b] for b in sorted(by_batch)]


def per_prompt_accuracy(records: Iterable[Mapping], *, include_skipped: bool = True) -> dict[Any, float]:
    """Mean logged accuracy of every dataset index over all its appearances (reference 3.6)."""
    sums: dict[Any, float] = {}
    counts: dict[Any, int] = {}
    for rec in records:
        if not include_skipped and rec.get("skipped"):
            continue
        for i, s in zip(rec["index"], rec["score"]):
            sums[i] = sums.get(i, 0.0) + float(s)
            counts[i] = counts.get(i, 0) + 1
    return {i: sums[i] / counts[i] for i in sums}
