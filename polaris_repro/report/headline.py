"""The report's headline: the claims measured on the run with the verdict, the paired gains to
the base model, the stage temperatures, the run's identity and the sections' times."""
from __future__ import annotations

from pathlib import Path

from ..artifacts import Manifest
from ..sections import SECTIONS, STAGE1_TEMPERATURE
from .tables import Table, format_seconds, is_missing
from .view import REPORT_SECTION, RunView


def claims_rows(run_dir: Path, claims_file: Path | None) -> tuple[Table | None, str]:
    """The claims table of this run (exact claims, then bands, then the authors' numbers) and one
    sentence telling the reader whether the recipe reproduced (:func:`polaris_repro.claims.verdict`)."""
    from .. import claims as C

    if claims_file is None or not Path(claims_file).exists():
        return None, "No claims file: nothing to check."
    data = C.load_claims(claims_file)
    results, ctx = C.evaluate(claims_file, run_dir)
    rows, classes, notes = [], [], []
    by_id = {c["id"]: c for c in data["claims"]}
    for r in results:
        c = by_id.get(r.id, {})
        paper = c.get("paper")
        report = C.format_value(c, paper) if paper is not None else "—"
        if not r.applies:
            check, cls = "not checked", "other"
        elif r.ok is None:
            notes.append(r.note)
            check, cls = f"missing [{len(notes)}]", "fail"
        elif r.ok:
            check, cls = "pass", "pass"
        else:
            check, cls = "FAIL", "fail"
        kind = "exact" if r.kind == "exact" else "band"
        rows.append([r.label, kind, r.measured, r.expected, report, check])
        classes.append(cls)
    for c in data["claims"]:
        if c["source"] == "reported":
            rows.append([c["label"], "authors", "—", "—", C.format_value(c, c.get("paper", c["value"])), "authors' number"])
            classes.append("reported")
    ex = data.get("exact") or {}
    title = f"Claims (`claims.yaml`, tier {data.get('tier')}" + (
        f"; exact: seed {ex.get('seed')} on {ex.get('numerics')}; bands: any run of their tiers)" if ex else ")")
    table = Table(title, ["claim", "kind", "this run", "claimed", "paper", "check"], rows,
                  [False, False, True, True, True, False], id="claims", row_classes=classes, notes=notes)
    return table, C.verdict(results, ctx)


def gain_lines(v: RunView) -> list[str]:
    """Every paired difference to the base model (04_evaluation/summary.json), with its interval."""
    if not v.exists("04_evaluation/summary.json"):
        return ["No evaluation in this run (section 4 not run): no held-out gain to show."]
    from ..reference_results import BENCHMARK_TITLES

    s = v.json("04_evaluation/summary.json")
    out, others = [], 0
    for model, per in (s.get("paired_vs_base") or {}).items():
        info = s["models"].get(model, {})
        if info.get("role", "trained") != "trained" or info.get("yarn"):   # baselines, YaRN ablations: section 4
            others += len(per)
            continue
        for bench, p in per.items():
            lo, hi = p["ci95_points"]
            m = s["models"].get(model, {}).get("benchmarks", {}).get(bench, {})
            base = s["models"].get(p["vs"], {}).get("benchmarks", {}).get(bench, {})
            size = (f"{int(p['questions'])} questions × {int(m['n'])} sample{'s' if int(m['n']) != 1 else ''}"
                    if m.get("n") else
                    f"{int(p['questions'])} questions")
            if is_missing(lo) or is_missing(hi):
                verdict = "too few questions for an interval"
            elif lo > 0:
                verdict = "the interval is above 0: a gain beyond question-level noise"
            elif hi < 0:
                verdict = "the interval is below 0: a loss beyond question-level noise"
            else:
                verdict = "the interval includes 0: no change detectable at this size"
            acc = (f" ({100 * base['avg@n']:.1f} % → {100 * m['avg@n']:.1f} %)"
                   if "avg@n" in m and "avg@n" in base else "")
            out.append(f"**{model} − {p['vs']}** on {BENCHMARK_TITLES.get(bench, bench)} ({size}): "
                       f"**{p['diff_points']:+.1f} points**, paired 95 % interval "
                       f"[{lo:+.1f}, {hi:+.1f}]{acc}; {verdict}.")
    if others:
        out.append(f"Section 4's results table has {others} more paired "
                   f"comparison{'' if others == 1 else 's'} (baselines, the YaRN ablation).")
    return out or ["No trained model was evaluated against the base model: no paired difference."]


def temperature_line(v: RunView) -> str | None:
    parts = []
    if v.exists("03_training/stage_summary.csv"):
        df = v.csv("03_training/stage_summary.csv")
        for r in df.to_dict("records"):
            if not is_missing(r.get("temperature")):
                src = r.get("T source")
                parts.append(f"{r['stage']} {float(r['temperature']):.2f}"
                             + (f" ({src})" if isinstance(src, str) and src else ""))
    elif v.output_record(STAGE1_TEMPERATURE) is not None:
        parts.append(f"stage 1 {float(v.output_record(STAGE1_TEMPERATURE)['temperature']):.2f} (02_temperature)")
    if not parts:
        return None
    try:
        from ..config import load_config

        paper = [float(s["temperature"]) for s in load_config("paper-4b")["training"]["stages"]]
        ref = "; the report, POLARIS-4B: " + " → ".join(f"{t:.2f}" for t in paper)
    except Exception:   # the comparison is context; the run's own temperatures are the point
        ref = ""
    return "Rollout temperatures: " + ", ".join(parts) + ref + "."


def identity(run_dir: Path) -> dict:
    m = Manifest(run_dir).data
    secs = m.get("sections", {})
    done = [s for s in SECTIONS if secs.get(s, {}).get("status") == "done"]
    total = sum(float(secs[s].get("elapsed_s") or 0) for s in done)
    return {"run": run_dir.name, "tier": m.get("tier"), "seed": m.get("seed"), "commit": m.get("git_commit"),
            "version": m.get("version"), "created": m.get("created"),
            "total": format_seconds(total) if done else "—",
            "total_note": (f"sum of the {len(done)} finished sections" if len(done) < len(SECTIONS)
                           else "sum of all sections")}


def times_table(run_dir: Path) -> Table:
    secs = Manifest(run_dir).data.get("sections", {})
    rows = []
    for s in SECTIONS:
        st = secs.get(s)
        if st is None:
            rows.append([s, "not run", "—", "—", "—"])
            continue
        status = st.get("status", "?")
        elapsed = format_seconds(st.get("elapsed_s"))
        if s == REPORT_SECTION and status == "running":
            status, elapsed = "running (this report; the runner rewrites it with the time when it ends)", "—"
        rows.append([s, status, str(st.get("started") or "—"), str(st.get("ended") or "—"), elapsed])
    return Table("Sections and times", ["section", "status", "started", "ended", "time"], rows,
                 [False, False, False, False, True], id="times")
