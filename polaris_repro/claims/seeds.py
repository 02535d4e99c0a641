"""Across seeds: each run's paired gain, the gain pooled over seeds with its two-level bootstrap
interval, the README's seed table and claims.yaml's ``across_seeds`` targets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .spec import ClaimsError, run_identity


def seed_gains(run_dir: str | Path, benchmark: str = "synthetic") -> np.ndarray:
    """Per-question trained − base accuracy (points) of one run, on the questions both models
    answered (04_evaluation/{base,trained}/questions.csv)."""
    import pandas as pd

    run_dir = Path(run_dir)
    frames = []
    for role in ("base", "trained"):
        f = run_dir / "04_evaluation" / role / "questions.csv"
        if not f.exists():
            raise ClaimsError(f"{f} not found (section 04_evaluation of {run_dir.name})")
        df = pd.read_csv(f)
        frames.append(df[df["benchmark"] == benchmark][["index", "accuracy"]])
    m = frames[1].merge(frames[0], on="index", suffixes=("_t", "_b"))
    if not len(m):
        raise ClaimsError(f"{run_dir.name}: no {benchmark} question answered by both base and trained")
    return 100.0 * (m["accuracy_t"] - m["accuracy_b"]).to_numpy(dtype=float)


def pooled_gain(run_dirs: list[str | Path], benchmark: str = "synthetic", *, resamples: int = 2000,
                seed: int = 0) -> dict:
    """The gain over seeds: the mean of the runs' paired gains (each seed weighs the same) with a 95 %
    interval from a two-level bootstrap (seeds with replacement, then questions within each drawn
    seed), so the interval carries both the training's seed-to-seed spread and each evaluation's
    question sampling. Also each run's own gain and question-level interval."""
    rng = np.random.default_rng(seed)
    gains = [seed_gains(r, benchmark) for r in run_dirs]
    per_run = []
    for r, g in zip(run_dirs, gains):
        boot = rng.choice(g, size=(resamples, len(g)), replace=True).mean(axis=1)
        per_run.append({"run": Path(r).name, "gain": float(g.mean()), "questions": len(g),
                        "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]})
    means = np.empty(resamples)
    for i in range(resamples):
        pick = rng.integers(len(gains), size=len(gains))
        means[i] = np.mean([rng.choice(gains[j], size=len(gains[j]), replace=True).mean() for j in pick])
    return {"benchmark": benchmark, "runs": per_run, "pooled_gain": float(np.mean([g.mean() for g in gains])),
            "pooled_ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
            "seeds": len(gains), "rule": "two-level bootstrap: seeds, then questions within each seed"}


def _run_facts(run_dir: Path) -> dict:
    """Seed, commit, wall time, base / trained accuracy, the paired interval and stage temperatures of
    a run, each read from the artifact that holds it (missing ones are None)."""
    import pandas as pd

    ident = run_identity(run_dir)
    man = ident["manifest"] if ident else {}
    facts = {"seed": man.get("seed"), "commit": (man.get("git_commit") or "")[:7] or None,
             "dirty": str(man.get("git_commit") or "").endswith("-dirty"),
             "minutes": round(man["elapsed_s"] / 60, 1) if man.get("elapsed_s") else None,
             # a resumed run: its attempts (runner.reproduce), their summed minutes and later commits
             "attempts": len(man.get("attempts") or []) or 1,
             "resumed_at": sorted({str(a.get("commit") or "")[:7] for a in (man.get("attempts") or [])[1:]}
                                  - {"", (man.get("git_commit") or "")[:7]}),
             "base": None, "trained": None, "reported_ci95": None, "temperatures": None}
    path = run_dir / "04_evaluation" / "summary.json"
    summ = json.loads(path.read_text()) if path.exists() else {}
    for role in ("base", "trained"):
        acc = (((summ.get("models") or {}).get(role) or {}).get("benchmarks") or {}).get("synthetic") or {}
        facts[role] = 100.0 * acc["avg@n"] if "avg@n" in acc else None
    paired = ((summ.get("paired_vs_base") or {}).get("trained") or {}).get("synthetic") or {}
    facts["reported_ci95"] = paired.get("ci95_points")     # the run's own interval (its report shows it)
    st = run_dir / "03_training" / "stage_summary.csv"
    if st.exists():
        facts["temperatures"] = [float(t) for t in pd.read_csv(st)["temperature"]]
    return facts


def seed_table(run_dirs: list[str | Path], held_out: set[int] = frozenset(), benchmark: str = "synthetic",
               *, resamples: int = 2000) -> dict:
    """The README's results table over seeds: one row per run (seed, base, trained, gain with its
    question-level 95 % interval -- the run's own, as its report shows it, when it has one -- stage
    temperatures, minutes, commit) and the pooled gain of all
    runs, of the tuning seeds and of the held-out seeds (``held_out``), each with its two-level
    interval; plus how many held-out runs have an interval above 0."""
    run_dirs = [Path(r) for r in run_dirs]
    pooled = pooled_gain(run_dirs, benchmark, resamples=resamples)
    rows = []
    for r, g in zip(run_dirs, pooled["runs"]):
        f = _run_facts(r)
        ci = f.pop("reported_ci95") or g["ci95"]
        rows.append({**f, "run": r.name, "gain": g["gain"], "ci95": [float(ci[0]), float(ci[1])],
                     "questions": g["questions"], "held_out": f["seed"] in held_out})
    groups = {"all": run_dirs,
              "tuning": [r for r, row in zip(run_dirs, rows) if not row["held_out"]],
              "held-out": [r for r, row in zip(run_dirs, rows) if row["held_out"]]}
    pools = {k: pooled if k == "all" else pooled_gain(v, benchmark, resamples=resamples)
             for k, v in groups.items() if v}
    ho = [row for row in rows if row["held_out"]]
    return {"rows": rows, "pooled": pools, "benchmark": benchmark,
            "held_out_above_zero": sum(row["ci95"][0] > 0 for row in ho), "held_out_runs": len(ho)}


def seed_table_markdown(table: dict) -> str:
    """``seed_table`` as the README's markdown table (held-out seeds marked) and pooled lines."""
    fmt = lambda x: "–" if x is None else f"{x:.1f}"
    lines = ["| seed | base % | trained % | trained − base, 95 % interval | questions | stage temperatures | minutes "
             "| commit |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(table["rows"], key=lambda r: (r["seed"] is None, r["seed"])):
        seed = f"{r['seed']} (held out)" if r["held_out"] else str(r["seed"])
        temps = " / ".join(f"{t:.2f}" for t in r["temperatures"]) if r["temperatures"] else "–"
        commit = ((r["commit"] or "–") + (" (dirty)" if r["dirty"] else "")
                  + (f", resumed at {', '.join(r['resumed_at'])}" if r["resumed_at"] else ""))
        minutes = fmt(r["minutes"]) + (f" ({r['attempts']} attempts)" if r["attempts"] > 1 else "")
        lines.append(f"| {seed} | {fmt(r['base'])} | {fmt(r['trained'])} | {r['gain']:+.1f} "
                     f"[{r['ci95'][0]:+.1f}, {r['ci95'][1]:+.1f}] | {r['questions']} | {temps} | {minutes} "
                     f"| {commit} |")
    lines.append("")
    for name, p in table["pooled"].items():
        lo, hi = p["pooled_ci95"]
        lines.append(f"- pooled, {name} ({p['seeds']} seed(s)): **{p['pooled_gain']:+.1f}** points [{lo:+.1f}, {hi:+.1f}]")
    if table["held_out_runs"]:
        lines.append(f"- held-out seeds whose interval is above 0: {table['held_out_above_zero']} of "
                     f"{table['held_out_runs']}")
    return "\n".join(lines) + "\n"


def seed_targets(data: dict, table: dict) -> tuple[list[str], list[str]]:
    """``claims.yaml``'s ``across_seeds`` targets against a :func:`seed_table`: (lines to print,
    problems). A target is judged only once every held-out seed has a run ("incomplete" otherwise)."""
    spec = data.get("across_seeds")
    if not spec:
        return [], []
    want = set(spec["held_out_seeds"])
    have = {r["seed"] for r in table["rows"] if r["held_out"]}
    lines, problems = [], []
    above, n = table["held_out_above_zero"], table["held_out_runs"]
    pooled = table["pooled"].get("held-out")
    lo = pooled["pooled_ci95"][0] if pooled else None
    if have != want:
        lines.append(f"across seeds: incomplete, held-out seeds run {sorted(have)} of {sorted(want)}; "
                     f"so far {above} of {n} intervals above 0"
                     + (f", pooled lower bound {lo:+.1f}" if lo is not None else ""))
        return lines, problems
    ok_above = above >= spec["min_held_out_above_zero"]
    ok_pool = lo >= spec["pooled_held_out_lower_bound"]
    lines.append(f"held-out intervals above 0: {above} of {n} (needs {spec['min_held_out_above_zero']}): "
                 f"{'pass' if ok_above else 'FAIL'}")
    lines.append(f"held-out pooled gain: lower bound {lo:+.1f} (needs {spec['pooled_held_out_lower_bound']:+g}): "
                 f"{'pass' if ok_pool else 'FAIL'}")
    problems += [] if ok_above else [f"across_seeds: {above} of {n} held-out intervals above 0"]
    problems += [] if ok_pool else [f"across_seeds: pooled held-out lower bound {lo:+.1f}"]
    return lines, problems
