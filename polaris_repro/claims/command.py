"""``polaris-repro claims check | update | render | pool | seeds`` (the package docstring is its help)."""
from __future__ import annotations

import argparse
import sys

from ..artifacts import REPO_ROOT
from .checking import evaluate, problems_of, readme_problems, verdict
from .render import RESULTS_PAGE, SEEDS_BEGIN, SEEDS_END, render_readme, update, write_seed_block
from .seeds import pooled_gain, seed_table, seed_table_markdown, seed_targets
from .spec import ClaimsError, load_claims


def cli(argv: list[str]) -> int:
    from .. import claims

    p = argparse.ArgumentParser(prog="polaris-repro claims", description=claims.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["check", "update", "render", "pool", "seeds"])
    p.add_argument("--run", action="append", help="run folder (artifacts/<tier>/<run-id>); "
                   "pool: repeat it, one per seed")
    p.add_argument("--benchmark", default="synthetic", help="pool: the benchmark whose gain is pooled")
    p.add_argument("--write-readme", action="store_true",
                   help="seeds: also write the table into the results page (--readme) between " + "<!-- seeds:begin --> and <!-- seeds:end -->")
    p.add_argument("--held-out", default="", help="seeds: comma list of the held-out seeds (default: claims.yaml's "
                   "across_seeds.held_out_seeds, whose targets are then checked: exit 1 on a failed one)")
    p.add_argument("--claims", default=str(REPO_ROOT / "claims.yaml"))
    p.add_argument("--readme", default=str(RESULTS_PAGE),
                   help="the page whose claims table is checked/rendered (default docs/results.md; '' to skip)")
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
        print(f"claims check FAILED ({len(problems)} problem(s) with claims that apply, or the results page drifted):")
        for pr in problems:
            print("  -", pr)
        return 1
    n = sum(1 for r in results if r.applies)
    print(f"claims check passed: {n} claims that apply hold on {a.run}")
    return 0
