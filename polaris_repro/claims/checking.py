"""A run checked against claims.yaml: every measured claim and band, the problems, the verdict."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .checks import CHECKS
from .render import claims_block, render_table
from .spec import ClaimsError, band_expected, exact_applies, format_value, load_claims, measure, run_identity


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
        expected = band_expected(b)
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
    block = claims_block(Path(readme).read_text(), readme)
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
