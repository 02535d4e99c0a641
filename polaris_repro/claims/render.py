"""The results page's (``docs/results.md``) generated blocks: the claims table (between :data:`BEGIN` and :data:`END`, from
claims.yaml) and the seed table (between :data:`SEEDS_BEGIN` and :data:`SEEDS_END`); ``update``
takes a run's values into claims.yaml and re-renders."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..artifacts import REPO_ROOT, write_text
from .spec import ClaimsError, band_expected, format_value, load_claims, measure, run_identity

BEGIN, END = "<!-- claims:begin -->", "<!-- claims:end -->"
RESULTS_PAGE = REPO_ROOT / "docs" / "results.md"  # the page holding the claims and seed tables
SEEDS_BEGIN, SEEDS_END = "<!-- seeds:begin -->", "<!-- seeds:end -->"


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
        out += [f"| {b['label']} | {', '.join(b['tiers'])} | {band_expected(b)} | {b['rule']} |" for b in bands]
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


def claims_block(text: str, where: Any) -> str:
    if BEGIN not in text or END not in text:
        raise ClaimsError(f"{where}: no {BEGIN} ... {END} block")
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def render_readme(claims_file: str | Path, readme: str | Path) -> None:
    data = load_claims(claims_file)
    text = Path(readme).read_text()
    old = claims_block(text, readme)
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
        from ..machine import describe

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


def write_seed_block(readme: str | Path, markdown: str) -> None:
    """Replace the README's seed table (between :data:`SEEDS_BEGIN` and :data:`SEEDS_END`)."""
    readme = Path(readme)
    text = readme.read_text()
    if SEEDS_BEGIN not in text or SEEDS_END not in text:
        raise ClaimsError(f"{readme}: no {SEEDS_BEGIN} ... {SEEDS_END} block")
    head, rest = text.split(SEEDS_BEGIN, 1)
    write_text(readme, head + SEEDS_BEGIN + "\n" + markdown.rstrip("\n") + "\n" + SEEDS_END + rest.split(SEEDS_END, 1)[1])
