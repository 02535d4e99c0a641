"""Claims: every number the README shows, traced to the artifact it comes from.

``claims.yaml`` (repository root) lists each claim: ``id``, ``label``, ``source`` (``measured`` — from
a run's artifacts — or ``reported`` — the POLARIS report's own number, shown for comparison),
``section`` (the notebook that produces it), ``params``, ``artifact`` (a JSON or CSV file relative to
the run folder), ``json_path`` (dotted keys, ``[i]`` for list items; a CSV is a list of row records), ``value``, ``tolerance`` (absolute) and
``fmt``. The README holds the rendered table between ``<!-- claims:begin -->`` and
``<!-- claims:end -->``.

    polaris-repro claims check  --run DIR   # recompute every measured claim from DIR; fail on drift
    polaris-repro claims update --run DIR   # write DIR's values into claims.yaml and the README table
    polaris-repro claims render             # re-render the README table from claims.yaml
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from .artifacts import REPO_ROOT, write_text

BEGIN, END = "<!-- claims:begin -->", "<!-- claims:end -->"
REQUIRED = ("id", "label", "source", "value")


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


def check(claims_file: str | Path, run_dir: str | Path, readme: str | Path | None = None) -> list[str]:
    """Return a list of problems (empty = every claim holds)."""
    data = load_claims(claims_file)
    run_dir = Path(run_dir)
    problems = []
    for c in data["claims"]:
        if c["source"] != "measured":
            continue
        try:
            got = measure(c, run_dir)
        except ClaimsError as e:
            problems.append(str(e))
            continue
        tol = float(c.get("tolerance", 0))
        if abs(got - float(c["value"])) > tol + 1e-12:
            problems.append(f"{c['id']}: {c['label']}: claimed {c['value']} ± {tol}, run has {got:g} "
                            f"({c['artifact']}:{c['json_path']})")
    if readme is not None:
        text = Path(readme).read_text()
        block = _block(text, readme)
        want = render_table(data)
        if block.strip() != want.strip():
            problems.append(f"{readme}: the claims table differs from {claims_file}; "
                            f"run `polaris-repro claims render`")
    return problems


def _fmt(c: dict, v: Any) -> str:
    if v is None:
        return "—"
    fmt = c.get("fmt")
    return format(v, fmt) if fmt else (f"{v:g}" if isinstance(v, float) else str(v))


def render_table(data: dict) -> str:
    rows = ["| claim | ours (measured) | reported by the authors | tolerance | source |",
            "|---|---|---|---|---|"]
    for c in data["claims"]:
        ours = _fmt(c, c["value"]) if c["source"] == "measured" else "—"
        paper = _fmt(c, c.get("paper", c["value"] if c["source"] == "reported" else None))
        where = (f"`{c.get('section')}` → `{c.get('artifact')}`" if c["source"] == "measured"
                 else c.get("ref", "POLARIS report"))
        tol = f"±{c.get('tolerance', 0):g}" if c["source"] == "measured" else ""
        rows.append(f"| {c['label']} | {ours} | {paper} | {tol} | {where} |")
    tier = data.get("tier")
    head = f"Measured at the `{tier}` tier (run `{data.get('run', '?')}`)." if tier else ""
    return "\n".join([head, "", *rows]) if head else "\n".join(rows)


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
    write_text(path, yaml.safe_dump(data, sort_keys=False, width=110))
    if readme is not None:
        render_readme(path, readme)
    return data


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="polaris-repro claims", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["check", "update", "render"])
    p.add_argument("--run", help="run folder (artifacts/<tier>/<run-id>)")
    p.add_argument("--claims", default=str(REPO_ROOT / "claims.yaml"))
    p.add_argument("--readme", default=str(REPO_ROOT / "README.md"),
                   help="README whose claims table is checked/rendered ('' to skip)")
    a = p.parse_args(argv)
    readme = a.readme or None
    try:
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
        problems = check(a.claims, a.run, readme)
    except ClaimsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = sum(c["source"] == "measured" for c in load_claims(a.claims)["claims"])
    if problems:
        print(f"claims check FAILED ({len(problems)} of {n} measured claims or the README drifted):")
        for pr in problems:
            print("  -", pr)
        return 1
    print(f"claims check passed: {n} measured claims match {a.run}")
    return 0
