"""claims.yaml: loading and validating it, measuring a claim or band on a run, formatting a value;
the run's identity and whether the exact claims apply to it."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REQUIRED = ("id", "label", "source", "value")
BAND_REQUIRED = ("id", "label", "tiers", "rule")
# the named checks of the bands (:data:`polaris_repro.claims.checks.CHECKS`) and what each must show
CHECK_EXPECT = {"temperature_zone": "Robust or Controlled zone", "cap_clip_falls": "last 3 steps < first 3",
                "mechanism_counts": "equal, every step"}


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
            if b["check"] not in CHECK_EXPECT:
                raise ClaimsError(f"{path}: bands[{i}] ({b['id']}): unknown check {b['check']!r}; "
                                  f"expected one of {sorted(CHECK_EXPECT)}")
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


def format_value(c: dict, v: Any) -> str:
    """A claim's (or band's) value as the README and the report show it: its ``fmt``, else ``:g``."""
    if v is None:
        return "—"
    fmt = c.get("fmt")
    return format(v, fmt) if fmt else (f"{v:g}" if isinstance(v, float) else str(v))


def band_expected(b: dict) -> str:
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


def run_identity(run_dir: Path) -> dict | None:
    """tier, seed and kernels (:func:`polaris_repro.machine.numerics_key`) of a run; None without a
    manifest."""
    from ..machine import numerics_key, run_precision

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
