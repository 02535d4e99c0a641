"""The bands' named checks: (run folder, manifest or None) -> (holds, what was measured)."""
from __future__ import annotations

from pathlib import Path

from ..config import Config, as_config
from .spec import CHECK_EXPECT, ClaimsError


def _run_config(run_dir: Path, man: dict | None) -> Config:
    cfg = (man or {}).get("config")
    if not cfg:
        raise ClaimsError(f"{run_dir}: no manifest.json with the run's config (needed for this check)")
    return as_config(cfg)


def check_temperature_zone(run_dir: Path, man: dict | None) -> tuple[bool, str]:
    """The stage-1 temperature lies in the Robust Generation or Controlled Exploration zone of its
    own sweep (the temperature section's choice, manifest output stage1_temperature)."""
    from ..sections import STAGE1_TEMPERATURE, output_record
    from ..temperature import EXPLORE, ROBUST

    rec = output_record(run_dir, STAGE1_TEMPERATURE)
    if rec is None:
        raise ClaimsError(f"temperature_zone: no temperature choice in {run_dir} (section 02_temperature)")
    t = float(rec["temperature"])
    zone = (rec.get("zones") or {}).get(f"{t:g}")
    return zone in (ROBUST, EXPLORE), f"T {t:g}: {zone or 'no zone recorded'}"


def check_cap_clip_falls(run_dir: Path, man: dict | None) -> tuple[bool, str]:
    """The share of rollouts cut at the length cap is lower over the run's last three training
    steps than over its first three (the model learns to finish inside the budget)."""
    from ..training import stages as S

    m = S.all_metrics(_run_config(run_dir, man), run_dir)
    col = S.find_metric(m, "response_length/clip_ratio") if len(m) else None
    if col is None or len(m) < 6:
        raise ClaimsError(f"cap_clip_falls: {run_dir}/03_training has no clip-ratio metric over >= 6 steps")
    v = m.sort_values("global_step")[col].to_numpy(dtype=float)
    first, last = float(v[:3].mean()), float(v[-3:].mean())
    return last < first, f"{100 * first:.0f} % -> {100 * last:.0f} %"


def mechanism_count_problems(sdir: Path) -> tuple[list[str], int]:
    """Where a stage's per-step counts differ from what its accuracy log calls for: a batch is
    skipped iff at most a third of its groups are informative after rescue (substitution on);
    every dead group of a trained batch gets a donor; with rescue on, every 0/n group whose prompt
    had a correct rollout earlier in the stage (or this batch) is rescued. Returns (problems, trained
    steps read)."""
    from ..training import stages as S
    from ..training.accuracy_log import read_accuracy_log
    from ..training.mechanisms import skip_batch

    st = S.read_stage(sdir)
    plan = st.get("plan") or {}
    mode, rescue = plan.get("substitution", "polaris"), bool(plan.get("rescue"))
    log = sdir / "accuracy_log.jsonl"
    recs = read_accuracy_log(log, repeated="keep") if log.exists() else []   # every batch, as logged
    m = S.stage_metrics(sdir)
    if not recs or not len(m):
        return [f"{sdir.name}: no accuracy log or metrics"], 0
    by_step = {int(r["step"]): r for _, r in m.iterrows()}
    problems, solved = [], set()
    for r in recs:
        sc = [float(x) for x in r["score"]]
        solved |= {i for i, x in zip(r["index"], sc) if x > 0}
        none = [x == 0 for x in sc]
        rescued = sum(1 for i, n0 in zip(r["index"], none) if n0 and i in solved) if rescue else 0
        dead = sum(1 for x in sc if x in (0.0, 1.0)) - rescued
        informative = len(sc) - dead
        skip = mode != "off" and skip_batch(informative, len(sc))
        where = f"{sdir.name} batch {r['step']} (step {r['global_step']})"
        if bool(r.get("skipped")) != (skip and not r.get("skip_unavailable")):
            problems.append(f"{where}: skipped={r.get('skipped')}, the rule says {skip}")
        if r.get("skipped"):
            continue
        row = by_step.get(int(r["global_step"]))
        if row is None:
            problems.append(f"{where}: no metrics line")
            continue
        want_sub = 0 if mode == "off" or skip else dead
        if int(row.get("polaris/substituted", 0)) != want_sub:
            problems.append(f"{where}: substituted {int(row.get('polaris/substituted', 0))}, the log calls for {want_sub}")
        if rescue and int(row.get("polaris/rescued", 0)) != rescued:
            problems.append(f"{where}: rescued {int(row.get('polaris/rescued', 0))}, the log calls for {rescued}")
    return problems, len(m)


def check_mechanism_counts(run_dir: Path, man: dict | None) -> tuple[bool, str]:
    """Every stage's substitutions, skips and rescues are the ones its accuracy log calls for."""
    from ..training import stages as S

    cfg = _run_config(run_dir, man)
    problems, n_steps = [], 0
    for st in cfg.training.stages:
        sdir = S.stage_dir(cfg, run_dir, st.index)
        if not (sdir / "accuracy_log.jsonl").exists():
            raise ClaimsError(f"mechanism_counts: {sdir}/accuracy_log.jsonl not found (section 03_training)")
        found, steps = mechanism_count_problems(sdir)
        problems += found
        n_steps += steps
    return not problems, (f"{n_steps} steps as logged" if not problems else "; ".join(problems[:3]))


CHECKS = {"temperature_zone": check_temperature_zone, "cap_clip_falls": check_cap_clip_falls,
          "mechanism_counts": check_mechanism_counts}
assert set(CHECKS) == set(CHECK_EXPECT), "every named check says what it expects (spec.CHECK_EXPECT)"
