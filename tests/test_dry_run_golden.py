"""``polaris-repro train --dry-run`` output of every tier, compared byte for byte with the outputs
stored in ``tests/golden/dry_run/<tier>.txt`` (a refactor must not change what a stage launches).

One thing is normalised, because it legitimately differs between checkouts: the absolute path of
this repository (the reward function's path, ``reward.custom_reward_function.path``) is written
as ``<REPO>``. One is fixed, because it legitimately differs between machines: the dry runs are
made as on a CPU with AMX, where ``cpu_precision: auto`` trains the smoke actor in bf16. Nothing else varies per invocation: the dry run's run folder is the literal
``RUN_DIR`` and it prints no timestamps.

Regenerate the stored outputs (only when a change is meant to alter what is launched)::

    python tests/test_dry_run_golden.py
"""
from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "dry_run"
TIERS = ("tiny", "smoke", "gpu-smoke", "single-gpu", "paper-4b", "paper-7b", "paper-1.7b")


def dry_run_text(tier: str) -> str:
    """The stdout of ``polaris-repro train --tier TIER --dry-run`` (all stages, composed and
    validated by verl), with the repository's absolute path replaced by ``<REPO>``."""
    import polaris_repro.machine as machine
    from polaris_repro.training.cli import cli

    buf = io.StringIO()
    pays = machine.bf16_pays
    machine.bf16_pays = lambda: True  # the stored runs' machine class (auto -> bf16)
    try:
        with contextlib.redirect_stdout(buf):
            rc = cli(["--tier", tier, "--dry-run"])
    finally:
        machine.bf16_pays = pays
    assert rc == 0, f"dry run of {tier} exited {rc}"
    return buf.getvalue().replace(str(REPO), "<REPO>")


@pytest.mark.parametrize("tier", TIERS)
def test_dry_run_matches_stored_output(tier):
    stored = (GOLDEN / f"{tier}.txt").read_text()
    assert dry_run_text(tier) == stored, (
        f"`polaris-repro train --tier {tier} --dry-run` differs from tests/golden/dry_run/{tier}.txt")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for t in TIERS:
        (GOLDEN / f"{t}.txt").write_text(dry_run_text(t))
        print(GOLDEN / f"{t}.txt")
