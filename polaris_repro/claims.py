"""Claims: every number the README shows, traced to the artifact it comes from, in two kinds.

``claims.yaml`` (repository root) lists

* ``claims``: each with ``id``, ``label``, ``source`` (``measured`` -- from a run's artifacts -- or
  ``reported`` -- the POLARIS report's own number, shown for comparison), ``section`` (the notebook
  that produces it), ``artifact`` (a JSON or CSV file relative to the run folder), ``json_path``
  (dotted keys, ``[i]`` for list items; a CSV is a list of row records), ``value``, ``tolerance``
  (absolute) and ``fmt``. Measured claims are **exact**: one seed's value on one kind of machine.
  They apply only to a run of the file's ``tier`` with the seed and kernels of the top-level
  ``exact`` block (``seed``, ``numerics`` = :func:`polaris_repro.machine.numerics_key`, ``machine``
  in words): the same seed on other kernels follows another trajectory from the first update on
  (bf16 and fp32 sums differ by CPU), so its values are not expected to match.
* ``bands``: what **any** run of the listed ``tiers`` must show, whatever its seed or machine. Each
  is a value (``artifact`` + ``json_path``) with ``above`` / ``below`` / ``within: [lo, hi]``, or a
  named ``check`` (:data:`CHECKS`: the chosen temperature's zone, the cap-clip share falling, the
  mechanism counts equal to what the accuracy logs call for), and a ``rule`` saying what set it.

A run without a manifest (e.g. a typed-in set of artifacts) is checked against everything.
The README holds the rendered table between ``<!-- claims:begin -->`` and ``<!-- claims:end -->``.

    polaris-repro claims check  --run DIR   # both kinds on DIR; exit 1 on a failed claim that applies
    polaris-repro claims update --run DIR   # write DIR's values into claims.yaml and the README table
    polaris-repro claims render             # re-render the README table from claims.yaml
    polaris-repro claims pool --run A --run B ...   # the gain pooled over seeds, with its interval
    polaris-repro claims seeds --run A ...  # the README's table over seeds + across_seeds targets

The module is longer than 500 lines because it is the claims' one pipeline (loading claims.yaml,
measuring each claim, the custom checks, the verdict, the README table) that the CLI, the report
and the tests share.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .artifacts import REPO_ROOT, write_text

BEGIN, END = "<!-- claims:begin -->", "<!-- claims:end -->"
REQUIRED = ("id", "label", "source", "value")
BAND_REQUIRED = ("id", "label", "tiers", "rule")


class ClaimsError(ValueError):
    pass


def load_claims(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ClaimsError(f"{path}: claims file not found")
    data = yaml.safe_load(path.read_text()) or {}
    claims = data.get("claims")
    if not isinstance(claims, list):
        raise ClaimsError(f"{path}: expected a top-level 'claims' list")
    for i, c in enumerate(claims):
        missing = [k for k in REQUIRED if k not in c]
        if missing:
            raise ClaimsError(f"{path}: claims[{i}] misses {missing}")
        if c["source"] not in ("measured", "reported"):
            raise ClaimsError(f"{path}: claims[{i}] ({c['id']}): source must be measured or reported")
        if c["source"] == "measured" and not (c.get("artifact") and c.get("json_path")):
            raise ClaimsError(f"{path}: claims[{i}] ({c['id']}): a measured claim needs artifact and json_path")
    for i, b in enumerate(data.get("bands") or []):
        missing = [k for k in BAND_REQUIRED if k not in b]
        if missing:
            raise ClaimsError(f"{path}: bands[{i}] misses {missing}")
        if "check" in b:
            if b["check"] not in CHECKS:
                raise ClaimsError(f"{path}: bands[{i}] ({b['id']}): unknown check {b['check']!r}; "
                                  f"expected one of {sorted(CHECKS)}")
        else:
            if not (b.get("artifact") and b.get("json_path")):
                raise ClaimsError(f"{path}: bands[{i}] ({b['id']}): needs a check, or artifact and json_path")
            if not any(k in b for k in ("above", "below", "within")):
                raise ClaimsError(f"{path}: bands[{i}] ({b['id']}): needs above, below or within: [lo, hi]")
    seeds = data.get("across_seeds")
    if seeds is not None:
        missing = [k for k in ("tier", "tuning_seeds", "held_out_seeds", "min_held_out_above_zero",
                               "pooled_held_out_lower_bound", "rule") if k not in seeds]
        if missing:
            raise ClaimsError(f"{path}: across_seeds misses {missing}")
        if set(seeds["tuning_seeds"]) & set(seeds["held_out_seeds"]):
            raise ClaimsError(f"{path}: across_seeds: a seed cannot be both tuning and held out")
    return data


def get_path(obj: Any, dotted: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", dotted):
        if part.startswith("["):
            obj = obj[int(part[1:-1])]
        else:
            if not isinstance(obj, dict) or part not in obj:
                raise KeyError(part)
            obj = obj[part]
    return obj


def measure(claim: dict, run_dir: Path) -> float:
    path = run_dir / claim["artifact"]
    if not path.exists():
        raise ClaimsError(f"{claim['id']}: artifact {path} not found (section {claim.get('section')})")
    try:
        if path.suffix == ".csv":  # a table: rows as records, e.g. json_path "[0].reward last"
            import pandas as pd

            doc = pd.read_csv(path).to_dict(orient="records")
        else:
            doc = json.loads(path.read_text())
        value = get_path(doc, claim["json_path"])
    except (KeyError, IndexError, TypeError) as e:
        raise ClaimsError(f"{claim['id']}: {path} has no '{claim['json_path']}' ({e})") from e
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ClaimsError(f"{claim['id']}: {path}:{claim['json_path']} is {value!r}, not a number")
    return float(value)


# --------------------------------------------------------------------------------------------
# named checks of the bands: (run folder, manifest or None) -> (holds, what was measured)

def _run_config(run_dir: Path, man: dict | None) -> dict:
    cfg = (man or {}).get("config")
    if not cfg:
        raise ClaimsError(f"{run_dir}: no manifest.json with the run's config (needed for this check)")
    return cfg


def check_temperature_zone(run_dir: Path, man: dict | None) -> tuple[bool, str]:
    """The stage-1 temperature lies in the Robust Generation or Controlled Exploration zone of its
    own sweep (the temperature section's choice, manifest output stage1_temperature)."""
    from .sections import STAGE1_TEMPERATURE, output_record
    from .temperature import EXPLORE, ROBUST

    rec = output_record(run_dir, STAGE1_TEMPERATURE)
    if rec is None:
        raise ClaimsError(f"temperature_zone: no temperature choice in {run_dir} (section 02_temperature)")
    t = float(rec["temperature"])
    zone = (rec.get("zones") or {}).get(f"{t:g}")
    return zone in (ROBUST, EXPLORE), f"T {t:g}: {zone or 'no zone recorded'}"


def check_cap_clip_falls(run_dir: Path, man: dict | None) -> tuple[bool, str]:
    """The share of rollouts cut at the length cap is lower over the run's last three training
    steps than over its first three (the model learns to finish inside the budget)."""
    from .training import stages as S

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
    from .artifacts import read_jsonl
    from .training import stages as S

    st = S.read_stage(sdir)
    plan = st.get("plan") or {}
    mode, rescue = plan.get("substitution", "polaris"), bool(plan.get("rescue"))
    recs = read_jsonl(sdir / "accuracy_log.jsonl") if (sdir / "accuracy_log.jsonl").exists() else []
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
        skip = mode != "off" and informative <= len(sc) // 3
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
    from .training import stages as S

    cfg = _run_config(run_dir, man)
    problems, n_steps = [], 0
    for i in range(len(cfg["training"]["stages"])):
        sdir = S.stage_dir(cfg, run_dir, i)
        if not (sdir / "accuracy_log.jsonl").exists():
            raise ClaimsError(f"mechanism_counts: {sdir}/accuracy_log.jsonl not found (section 03_training)")
        found, steps = mechanism_count_problems(sdir)
        problems += found
        n_steps += steps
    return not problems, (f"{n_steps} steps as logged" if not problems else "; ".join(problems[:3]))


CHECKS = {"temperature_zone": check_temperature_zone, "cap_clip_falls": check_cap_clip_falls,
          "mechanism_counts": check_mechanism_counts}
CHECK_EXPECT = {"temperature_zone": "Robust or Controlled zone", "cap_clip_falls": "last 3 steps < first 3",
                "mechanism_counts": "equal, every step"}


# --------------------------------------------------------------------------------------------
# evaluation

@dataclass
class Result:
    id: str
    label: str
    kind: str                 # "exact" | "band"
    applies: bool
    ok: bool | None           # None: not measurable (artifact missing) or not applicable
    measured: str             # the run's value, formatted
    expected: str             # the claim: "0.677 ± 0.001" or "> 0"
    note: str = ""


def run_identity(run_dir: Path) -> dict | None:
    """tier, seed and kernels (:func:`polaris_repro.machine.numerics_key`) of a run; None without a
    manifest."""
    from .machine import numerics_key, run_precision

    path = Path(run_dir) / "manifest.json"
    if not path.exists():
        return None
    man = json.loads(path.read_text())
    fp = man.get("machine")
    precision = run_precision(fp, ((man.get("config") or {}).get("training") or {}).get("cpu_precision"))
    return {"tier": man.get("tier"), "seed": man.get("seed"), "numerics": numerics_key(fp, precision),
            "manifest": man}


def exact_applies(data: dict, ident: dict | None) -> tuple[bool, str]:
    """Whether the exact claims apply to a run, and if not, why (one clause)."""
    if ident is None:
        return True, "no manifest: checked as the claims' own run"
    ex = data.get("exact") or {}
    if data.get("tier") and ident["tier"] != data["tier"]:
        return False, f"a `{ident['tier']}` run; the exact claims are the `{data['tier']}` tier's"
    if ex.get("seed") is not None and ident["seed"] != ex["seed"]:
        return False, f"seed {ident['seed']}; the exact claims are seed {ex['seed']}'s"
    if ex.get("numerics") and ident["numerics"] != ex["numerics"]:
        return False, (f"kernels {ident['numerics'] or 'not recorded'}; the exact claims were measured on "
                       f"{ex['numerics']}")
    return True, "same tier, seed and kernels as the exact claims"


def _band_expected(b: dict) -> str:
    if "check" in b:
        return CHECK_EXPECT[b["check"]]
    if "within" in b:
        lo, hi = b["within"]
        return f"in [{format_value(b, lo)}, {format_value(b, hi)}]"
    parts = []
    if "above" in b:
        parts.append(f"> {format_value(b, b['above'])}")
    if "below" in b:
        parts.append(f"< {format_value(b, b['below'])}")
    return " and ".join(parts)


def _band_holds(b: dict, v: float) -> bool:
    if "within" in b and not (float(b["within"][0]) <= v <= float(b["within"][1])):
        return False
    if "above" in b and not v > float(b["above"]):
        return False
    return not ("below" in b and not v < float(b["below"]))


def evaluate(claims_file: str | Path, run_dir: str | Path) -> tuple[list[Result], dict]:
    """Every measured claim and band against a run: (results, context) where context has the
    run's identity and whether/why the exact claims apply."""
    data = load_claims(claims_file)
    run_dir = Path(run_dir)
    ident = run_identity(run_dir)
    applies, why = exact_applies(data, ident)
    out = []
    for c in data["claims"]:
        if c["source"] != "measured":
            continue
        tol = float(c.get("tolerance", 0))
        expected = f"{format_value(c, c['value'])} ± {tol:g}"
        try:
            got = measure(c, run_dir)
        except ClaimsError as e:
            out.append(Result(c["id"], c["label"], "exact", applies, None, "—", expected, str(e)))
            continue
        ok = abs(got - float(c["value"])) <= tol + 1e-12
        out.append(Result(c["id"], c["label"], "exact", applies, ok if applies else None, format_value(c, got), expected,
                          "" if ok or not applies else
                          f"claimed {c['value']} ± {tol}, run has {got:g} ({c['artifact']}:{c['json_path']})"))
    tier = ident["tier"] if ident else data.get("tier")
    for b in data.get("bands") or []:
        b_applies = tier in b["tiers"]
        expected = _band_expected(b)
        try:
            if "check" in b:
                ok, shown = CHECKS[b["check"]](run_dir, ident["manifest"] if ident else None)
            else:
                v = measure(b, run_dir)
                ok, shown = _band_holds(b, v), format_value(b, v)
        except ClaimsError as e:
            out.append(Result(b["id"], b["label"], "band", b_applies, None, "—", expected, str(e)))
            continue
        out.append(Result(b["id"], b["label"], "band", b_applies, ok if b_applies else None, shown, expected,
                          "" if ok or not b_applies else f"{b['label']}: {shown}, the band is {expected} ({b['rule']})"))
    return out, {"identity": ident, "exact_applies": applies, "exact_why": why, "tier": tier, "data": data}


def problems_of(results: list[Result]) -> list[str]:
    """The failed or unmeasurable claims among those that apply to the run."""
    problems = []
    for r in results:
        if not r.applies:
            continue
        if r.ok is None:
            problems.append(r.note if r.note.startswith(f"{r.id}:") else f"{r.id}: {r.note}")
        elif not r.ok:
            problems.append(f"{r.id}: {r.note}")
    return problems


def readme_problems(claims_file: str | Path, readme: str | Path) -> list[str]:
    """The README's claims block, if it is not what ``claims render`` writes."""
    block = _block(Path(readme).read_text(), readme)
    if block.strip() != render_table(load_claims(claims_file)).strip():
        return [f"{readme}: the claims table differs from {claims_file}; run `polaris-repro claims render`"]
    return []


def check(claims_file: str | Path, run_dir: str | Path, readme: str | Path | None = None) -> list[str]:
    """Return a list of problems (empty = every claim that applies to the run holds)."""
    problems = problems_of(evaluate(claims_file, run_dir)[0])
    return problems + (readme_problems(claims_file, readme) if readme is not None else [])


def verdict(results: list[Result], ctx: dict) -> str:
    """One sentence for a run's reader: did the recipe reproduce, and against what was it checked."""
    ident = ctx["identity"]
    bands = [r for r in results if r.kind == "band" and r.applies]
    exact = [r for r in results if r.kind == "exact" and r.applies]
    bad_b = [r for r in bands if r.ok is not True]
    bad_e = [r for r in exact if r.ok is not True]
    who = (f"This `{ident['tier']}` run (seed {ident['seed']}, {ident['numerics'] or 'kernels not recorded'})"
           if ident else "This run")
    if ctx["exact_applies"]:
        kinds = f"{len(exact)} exact claims and {len(bands)} bands"
    else:
        kinds = f"the `{ctx['tier']}` tier's {len(bands)} bands only ({ctx['exact_why']})"
    if not exact and not bands:
        return f"{who}: no claim of `claims.yaml` applies to it ({ctx['exact_why']})."
    if not bad_b and not bad_e:
        return f"{who} reproduced the recipe: it meets {kinds}."
    failed = ", ".join(r.id for r in bad_b + bad_e)
    return f"{who} did NOT reproduce the recipe: checked against {kinds}, {len(bad_b) + len(bad_e)} failed ({failed})."


def format_value(c: dict, v: Any) -> str:
    """A claim's (or band's) value as the README and the report show it: its ``fmt``, else ``:g``."""
    if v is None:
        return "—"
    fmt = c.get("fmt")
    return format(v, fmt) if fmt else (f"{v:g}" if isinstance(v, float) else str(v))


def render_table(data: dict) -> str:
    rows = ["| claim | ours (measured) | reported by the authors | tolerance | source |",
            "|---|---|---|---|---|"]
    for c in data["claims"]:
        ours = format_value(c, c["value"]) if c["source"] == "measured" else "—"
        paper = format_value(c, c.get("paper", c["value"] if c["source"] == "reported" else None))
        where = (f"`{c.get('section')}` → `{c.get('artifact')}`" if c["source"] == "measured"
                 else c.get("ref", "POLARIS report"))
        tol = f"±{c.get('tolerance', 0):g}" if c["source"] == "measured" else ""
        rows.append(f"| {c['label']} | {ours} | {paper} | {tol} | {where} |")
    tier = data.get("tier")
    ex = data.get("exact") or {}
    head = ""
    if tier:
        head = f"Measured at the `{tier}` tier (run `{data.get('run', '?')}`)."
        if ex:
            head = (f"**Exact claims**, measured at the `{tier}` tier, seed {ex.get('seed')}, on {ex.get('machine')} "
                    f"(run `{data.get('run', '?')}`" + (f" at commit `{ex['commit']}`" if ex.get("commit") else "")
                    + f"; kernels `{ex.get('numerics')}`). They apply to a run with that "
                    f"seed on those kernels; other seeds and machines follow other trajectories and are checked "
                    f"against the bands below." + (f" {ex['scope']}" if ex.get("scope") else ""))
    out = [head, "", *rows] if head else rows
    bands = data.get("bands") or []
    if bands:
        out += ["", "**Bands**: what every run of the tier must show, on any seed and machine "
                "(`polaris-repro claims check --run DIR` checks both kinds).", "",
                "| band | tiers | must be | rule that set it |", "|---|---|---|---|"]
        out += [f"| {b['label']} | {', '.join(b['tiers'])} | {_band_expected(b)} | {b['rule']} |" for b in bands]
    seeds = data.get("across_seeds")
    if seeds:
        out += ["", f"**Across seeds** (`polaris-repro claims seeds --run DIR ...`, one run per seed, all at one "
                f"commit): seeds {_seed_list(seeds['tuning_seeds'])} tune the `{seeds['tier']}` recipe, seeds "
                f"{_seed_list(seeds['held_out_seeds'])} are held out (run once each at the final commit). Held out, "
                f"the paired 95 % interval is above 0 on at least {seeds['min_held_out_above_zero']} of "
                f"{len(seeds['held_out_seeds'])}, and the gain pooled over them has a 95 % lower bound of at least "
                f"{seeds['pooled_held_out_lower_bound']:+g} points. Rule: {seeds['rule']}"]
    return "\n".join(out)


def _seed_list(seeds: list[int]) -> str:
    return f"{seeds[0]}–{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


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


def _block(text: str, where: Any) -> str:
    if BEGIN not in text or END not in text:
        raise ClaimsError(f"{where}: no {BEGIN} ... {END} block")
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def render_readme(claims_file: str | Path, readme: str | Path) -> None:
    data = load_claims(claims_file)
    text = Path(readme).read_text()
    old = _block(text, readme)
    write_text(readme, text.replace(BEGIN + old + END, f"{BEGIN}\n{render_table(data)}\n{END}"))


def update(claims_file: str | Path, run_dir: str | Path, readme: str | Path | None = None) -> dict:
    """Take every measured value from a run (keeping tolerances), then re-render the README."""
    path = Path(claims_file)
    data = load_claims(path)
    run_dir = Path(run_dir)
    for c in data["claims"]:
        if c["source"] == "measured":
            v = measure(c, run_dir)
            c["value"] = round(v, 6)
    data["run"] = run_dir.name
    ident = run_identity(run_dir)
    if ident is not None:   # the run becomes the exact claims' reference: its tier, seed and kernels
        from .machine import describe

        ex = data.setdefault("exact", {})
        if ident["numerics"] != ex.get("numerics"):
            ex["machine"] = describe(ident["manifest"].get("machine"))
        data["tier"] = ident["tier"]
        ex.update(seed=ident["seed"], numerics=ident["numerics"],
                  commit=str(ident["manifest"].get("git_commit") or "?").replace("-dirty", "")[:7])
    write_text(path, yaml.safe_dump(data, sort_keys=False, width=110))
    if readme is not None:
        render_readme(path, readme)
    return data


# --------------------------------------------------------------------------------------------
# across seeds

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


SEEDS_BEGIN, SEEDS_END = "<!-- seeds:begin -->", "<!-- seeds:end -->"


def write_seed_block(readme: str | Path, markdown: str) -> None:
    """Replace the README's seed table (between :data:`SEEDS_BEGIN` and :data:`SEEDS_END`)."""
    readme = Path(readme)
    text = readme.read_text()
    if SEEDS_BEGIN not in text or SEEDS_END not in text:
        raise ClaimsError(f"{readme}: no {SEEDS_BEGIN} ... {SEEDS_END} block")
    head, rest = text.split(SEEDS_BEGIN, 1)
    write_text(readme, head + SEEDS_BEGIN + "\n" + markdown.rstrip("\n") + "\n" + SEEDS_END + rest.split(SEEDS_END, 1)[1])


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="polaris-repro claims", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["check", "update", "render", "pool", "seeds"])
    p.add_argument("--run", action="append", help="run folder (artifacts/<tier>/<run-id>); "
                   "pool: repeat it, one per seed")
    p.add_argument("--benchmark", default="synthetic", help="pool: the benchmark whose gain is pooled")
    p.add_argument("--write-readme", action="store_true",
                   help="seeds: also write the table into the README between " + "<!-- seeds:begin --> and <!-- seeds:end -->")
    p.add_argument("--held-out", default="", help="seeds: comma list of the held-out seeds (default: claims.yaml's "
                   "across_seeds.held_out_seeds, whose targets are then checked: exit 1 on a failed one)")
    p.add_argument("--claims", default=str(REPO_ROOT / "claims.yaml"))
    p.add_argument("--readme", default=str(REPO_ROOT / "README.md"),
                   help="README whose claims table is checked/rendered ('' to skip)")
    a = p.parse_args(argv)
    readme = a.readme or None
    try:
        if a.action == "seeds":
            if not a.run:
                p.error("seeds needs --run for every seed")
            data = load_claims(a.claims)
            try:
                held = ({int(x) for x in a.held_out.split(",") if x.strip()} if a.held_out
                        else set((data.get("across_seeds") or {}).get("held_out_seeds", [])))
            except ValueError:
                p.error(f"--held-out: expected a comma list of seeds, got {a.held_out!r}")
            table = seed_table(a.run, held, a.benchmark)
            print(seed_table_markdown(table), end="")
            lines, problems = seed_targets(data, table) if not a.held_out else ([], [])
            for line in lines:
                print(line)
            if a.write_readme:
                write_seed_block(a.readme, seed_table_markdown(table) + "".join(f"- {l}\n" for l in lines))
                print(f"wrote the table into {a.readme} ({SEEDS_BEGIN} ... {SEEDS_END})")
            return 1 if problems else 0
        if a.action == "pool":
            if not a.run:
                p.error("pool needs --run for every seed")
            res = pooled_gain(a.run, a.benchmark)
            for r in res["runs"]:
                print(f"  {r['run']:<24} {r['gain']:+6.1f} [{r['ci95'][0]:+.1f}, {r['ci95'][1]:+.1f}]  "
                      f"({r['questions']} questions)")
            lo, hi = res["pooled_ci95"]
            print(f"pooled over {res['seeds']} run(s): {res['pooled_gain']:+.1f} points, 95 % interval "
                  f"[{lo:+.1f}, {hi:+.1f}] ({res['rule']})")
            return 0
        if a.run and len(a.run) > 1:
            p.error(f"{a.action} takes one --run")
        a.run = a.run[0] if a.run else None
        if a.action == "render":
            render_readme(a.claims, a.readme)
            print(f"rendered the claims table into {a.readme}")
            return 0
        if not a.run:
            p.error("--run is required for check and update")
        if a.action == "update":
            data = update(a.claims, a.run, readme)
            print(f"updated {sum(c['source'] == 'measured' for c in data['claims'])} claims from {a.run}")
            return 0
        results, ctx = evaluate(a.claims, a.run)
        problems = problems_of(results) + (readme_problems(a.claims, readme) if readme is not None else [])
    except ClaimsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"exact claims: {'apply' if ctx['exact_applies'] else 'do not apply'} ({ctx['exact_why']})")
    for kind in ("exact", "band"):
        rows = [r for r in results if r.kind == kind]
        if not rows:
            continue
        print(f"\n{'exact claims (one seed on one kind of machine)' if kind == 'exact' else 'bands (any seed, any machine)'}:")
        for r in rows:
            state = ("pass" if r.ok else "FAIL" if r.ok is False else "missing") if r.applies else "n/a"
            print(f"  {state:<7} {r.id:<28} run {r.measured:<18} claim {r.expected}")
    print()
    print(verdict(results, ctx))
    if problems:
        print(f"claims check FAILED ({len(problems)} problem(s) with claims that apply, or the README drifted):")
        for pr in problems:
            print("  -", pr)
        return 1
    n = sum(1 for r in results if r.applies)
    print(f"claims check passed: {n} claims that apply hold on {a.run}")
    return 0
