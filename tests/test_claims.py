import json

import pytest
import yaml

from polaris_repro import claims


def _setup(tmp_path):
    run = tmp_path / "run"
    (run / "04_evaluation").mkdir(parents=True)
    (run / "04_evaluation" / "metrics.json").write_text(json.dumps({"synthetic": {"avg_at_n": 0.4, "k": [1, 2]}}))
    cf = tmp_path / "claims.yaml"
    cf.write_text(yaml.safe_dump({"tier": "smoke", "claims": [
        {"id": "acc", "label": "accuracy", "source": "measured", "section": "04_evaluation",
         "artifact": "04_evaluation/metrics.json", "json_path": "synthetic.avg_at_n",
         "value": 0.0, "tolerance": 0.01},
        {"id": "k2", "label": "second k", "source": "measured", "section": "04_evaluation",
         "artifact": "04_evaluation/metrics.json", "json_path": "synthetic.k[1]", "value": 2, "tolerance": 0},
        {"id": "paper", "label": "AIME24 POLARIS-4B", "source": "reported", "value": 81.2},
    ]}))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{claims.BEGIN}\nold\n{claims.END}\n\nrest\n")
    return run, cf, readme


def test_update_then_check_passes_and_drift_fails(tmp_path):
    run, cf, readme = _setup(tmp_path)
    assert claims.check(cf, run, None)  # value 0.0 vs 0.4: drift
    claims.update(cf, run, readme)
    assert claims.check(cf, run, readme) == []
    assert "81.2" in readme.read_text() and "rest" in readme.read_text()
    # the artifact changes -> the check names the claim
    (run / "04_evaluation" / "metrics.json").write_text(json.dumps({"synthetic": {"avg_at_n": 0.5, "k": [1, 2]}}))
    problems = claims.check(cf, run, readme)
    assert len(problems) == 1 and problems[0].startswith("acc:")
    # the README is edited by hand -> drift
    claims.update(cf, run, readme)
    readme.write_text(readme.read_text().replace("0.5", "0.9"))
    assert any("README" in p for p in claims.check(cf, run, readme))


def test_missing_artifact_and_bad_path_are_named(tmp_path):
    run, cf, readme = _setup(tmp_path)
    data = yaml.safe_load(cf.read_text())
    data["claims"][0]["json_path"] = "synthetic.nope"
    data["claims"][1]["artifact"] = "03_training/missing.json"
    cf.write_text(yaml.safe_dump(data))
    problems = claims.check(cf, run)
    assert any("nope" in p for p in problems) and any("missing.json" in p for p in problems)


def test_cli_exit_codes(tmp_path):
    run, cf, readme = _setup(tmp_path)
    assert claims.cli(["check", "--run", str(run), "--claims", str(cf), "--readme", ""]) == 1
    assert claims.cli(["update", "--run", str(run), "--claims", str(cf), "--readme", str(readme)]) == 0
    assert claims.cli(["check", "--run", str(run), "--claims", str(cf), "--readme", str(readme)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims: [{id: x}]")
    assert claims.cli(["check", "--run", str(run), "--claims", str(bad), "--readme", ""]) == 2


def test_csv_artifacts_are_row_records(tmp_path):
    run, cf, readme = _setup(tmp_path)
    (run / "03_training").mkdir()
    (run / "03_training" / "stage_summary.csv").write_text("stage,reward last\nstage1,0.25\nstage2,0.5\n")
    c = {"id": "r", "label": "reward", "source": "measured", "artifact": "03_training/stage_summary.csv",
         "json_path": "[1].reward last", "value": 0.5}
    assert claims.measure(c, run) == 0.5


# ------------------------------------------------------------------------------------------------
# The repository's own claims.yaml and results page (docs/results.md) against a stored run

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from polaris_repro.artifacts import REPO_ROOT  # noqa: E402

CLAIMS = REPO_ROOT / "claims.yaml"
RESULTS = claims.RESULTS_PAGE   # docs/results.md: the claims block and the seed table

# The smoke run the results page cites (run 20261205-213820, seed 1 at commit e0e4342), as stored in its artifact files:
# (artifact, json_path) -> value. Typed in from that run's files (counts where the value is one:
# 16 problems in section 1, 32 rollouts per step in section 3, 64 problems x 4 samples in
# section 4), not read from claims.yaml. When claims.yaml is updated from another run, store that
# run's values here.
STORED_RUN = "20261205-233157"
STORED = {
    ("01_difficulty/pair_summary.csv", "[0].share_perfect"): 12 / 16,
    ("01_difficulty/pair_summary.csv", "[1].share_unsolved"): 12 / 16,
    ("02_temperature/choice.json", "temperature"): 0.4,
    ("02_temperature/choice.json", "diversity"): 0.80255,
    ("03_training/stage_summary.csv", "[0].reward first"): 21 / 32,
    ("04_evaluation/summary.json", "models.base.benchmarks.synthetic.avg@n"): 96 / 256,
    # read by the gain band (not an exact claim)
    ("04_evaluation/summary.json", "paired_vs_base.trained.synthetic.ci95_points[0]"): 100 * 104 / 256,
}


def _set_path(doc, dotted: str, value):
    """Set ``dotted`` (claims' json_path syntax) in a nested dict/list document, creating it."""
    import re

    keys = [int(p[1:-1]) if p.startswith("[") else p
            for p in re.findall(r"[^.\[\]]+|\[\d+\]", dotted)]
    node = doc
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(key, int):
            while len(node) <= key:
                node.append({})
            if last:
                node[key] = value
            else:
                node = node[key]
        elif last:
            node[key] = value
        else:
            node = node.setdefault(key, [] if isinstance(keys[i + 1], int) else {})
    return doc


def _write_stored_run(root: Path, values: dict) -> Path:
    """A run folder holding the stored run's artifacts (JSON documents and CSV tables of rows),
    with extra fields the real files carry around the claimed ones."""
    run = root / STORED_RUN
    docs: dict[str, object] = {}
    for (artifact, path), v in values.items():
        doc = docs.setdefault(artifact, [] if artifact.endswith(".csv") else {"written": "2026-12-02"})
        _set_path(doc, path, v)
    for artifact, doc in docs.items():
        f = run / artifact
        f.parent.mkdir(parents=True, exist_ok=True)
        if artifact.endswith(".csv"):
            rows = [{"row": i, **r} for i, r in enumerate(doc)]
            pd.DataFrame(rows).to_csv(f, index=False)
        else:
            f.write_text(json.dumps(doc, indent=1))
    return run


def _measured():
    return [c for c in claims.load_claims(CLAIMS)["claims"] if c["source"] == "measured"]


def _exact_only(tmp_path: Path) -> Path:
    """claims.yaml without its bands: the typed-in stored run holds only the exact claims' artifacts
    (the bands are tested below on runs that have the training logs they read)."""
    data = yaml.safe_load(CLAIMS.read_text())
    data.pop("bands")
    f = tmp_path / "claims-exact.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    return f


def test_results_page_claims_block_is_what_claims_render_writes(tmp_path):
    """Editing the results page's claims table by hand (or claims.yaml without re-rendering) fails."""
    assert RESULTS == REPO_ROOT / "docs" / "results.md"
    copy = tmp_path / "results.md"
    copy.write_text(RESULTS.read_text())
    assert claims.cli(["render", "--claims", str(CLAIMS), "--readme", str(copy)]) == 0
    assert copy.read_text() == RESULTS.read_text(), \
        "docs/results.md's claims block differs from `polaris-repro claims render` of claims.yaml"
    block = claims.claims_block(RESULTS.read_text(), RESULTS)
    assert claims.SEEDS_BEGIN in RESULTS.read_text() and claims.SEEDS_END in RESULTS.read_text()
    assert f"run `{STORED_RUN}`" in block and claims.load_claims(CLAIMS)["run"] == STORED_RUN
    # every measured claim's rendered value is in the block, e.g. "+19.8"
    for c in _measured():
        assert f"| {c['label']} | {claims.format_value(c, c['value'])} |" in block, c["id"]


def test_claims_hold_on_the_stored_run(tmp_path):
    """claims.yaml + results page against the stored run's artifact values (typed in above)."""
    want = {(c["artifact"], c["json_path"]) for c in _measured()}
    missing = want - set(STORED)
    assert not missing, f"claims.yaml claims values the stored run snapshot lacks: {sorted(missing)}"
    run = _write_stored_run(tmp_path, STORED)
    exact = _exact_only(tmp_path)
    assert claims.check(exact, run) == []
    assert claims.cli(["check", "--run", str(run), "--claims", str(exact), "--readme", ""]) == 0
    # with the bands, what the typed-in run lacks (training logs, the sweep's zones) is named, not passed
    problems = claims.check(CLAIMS, run, RESULTS)
    assert {p.split(":")[0] for p in problems} == {"temperature_zone", "cap_clip_falls", "mechanism_counts"}, problems


@pytest.mark.parametrize("claim_id", [c["id"] for c in _measured()])
def test_each_claim_fails_on_its_own_drift(tmp_path, claim_id):
    """Move one stored value just outside its tolerance: exactly that claim fails; just inside: none."""
    c = next(c for c in _measured() if c["id"] == claim_id)
    key, tol = (c["artifact"], c["json_path"]), float(c["tolerance"])
    assert tol > 0
    exact = _exact_only(tmp_path)
    outside = _write_stored_run(tmp_path / "outside", {**STORED, key: STORED[key] + 1.5 * tol})
    problems = claims.check(exact, outside)
    assert len(problems) == 1 and problems[0].startswith(f"{claim_id}:"), problems
    assert claims.cli(["check", "--run", str(outside), "--claims", str(exact), "--readme", ""]) == 1
    inside = _write_stored_run(tmp_path / "inside", {**STORED, key: STORED[key] - 0.5 * tol})
    assert claims.check(exact, inside) == []


def test_a_claim_edited_in_claims_yaml_fails_against_the_stored_run(tmp_path):
    run = _write_stored_run(tmp_path, STORED)
    data = yaml.safe_load(CLAIMS.read_text())
    target = next(c for c in data["claims"] if c["id"] == "eval_base_synthetic")
    target["value"] = round(target["value"] + 0.1, 6)
    edited = tmp_path / "claims.yaml"
    edited.write_text(yaml.safe_dump(data, sort_keys=False))
    data.pop("bands")
    edited.write_text(yaml.safe_dump(data, sort_keys=False))
    problems = claims.check(edited, run, RESULTS)
    assert any(p.startswith("eval_base_synthetic:") for p in problems), problems
    assert any(p.startswith(f"{RESULTS}:") for p in problems), "the results page still shows the old value"


# ------------------------------------------------------------------------------------------------
# Two kinds: exact claims apply to one seed on one kind of machine, bands to every run of a tier

def _stage(sdir: Path, batches: list, *, mode: str = "polaris", rescue: bool = False, clip: list | None = None,
           tamper: dict | None = None) -> None:
    """A stage folder as the trainer leaves it: stage.json, the accuracy log (one line per batch of
    per-group accuracies), the metrics log with the counts the trainer computes from them."""
    sdir.mkdir(parents=True)
    (sdir / "stage.json").write_text(json.dumps({"status": "done", "plan": {"substitution": mode, "rescue": rescue}}))
    (sdir / "metrics").mkdir()
    log, metrics, step, solved = [], [], 0, set()
    for b, scores in enumerate(batches):
        idx = [100 * b + g for g in range(len(scores))]
        dead = sum(1 for x in scores if x in (0.0, 1.0))
        skipped = dead >= len(scores) - len(scores) // 3
        step += 0 if skipped else 1
        log.append({"step": b + 1, "global_step": step, "index": idx, "score": scores, "skipped": skipped})
        if not skipped:
            data = {"polaris/substituted": dead, "polaris/rescued": 0,
                    "response_length/clip_ratio": (clip or [0.5] * 99)[step - 1]}
            data.update((tamper or {}).get(step, {}))
            metrics.append({"step": step, "data": data})
    (sdir / "accuracy_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    (sdir / "metrics" / "launch-001.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))


def _band_run(root: Path, *, tier="smoke", seed=7, numerics=None, gain_low=9.9, clip_last=0.1, tamper=None) -> Path:
    """A run folder (manifest with tier, seed and machine) holding what every band reads."""
    from polaris_repro.config import load_config
    from polaris_repro.machine import fingerprint

    run = root / f"{tier}-{seed}"
    cfg = load_config(tier, [f"seed={seed}"])
    fp = fingerprint()
    if numerics == "avx2":
        fp.update(capability="AVX2", native_bf16=False)
    (run / "02_temperature").mkdir(parents=True)
    (run / "04_evaluation").mkdir()
    (run / "manifest.json").write_text(json.dumps({"tier": tier, "seed": seed, "config": cfg.to_dict(), "machine": fp}))
    (run / "02_temperature" / "choice.json").write_text(json.dumps(
        {"temperature": 0.6, "diversity": 0.8, "zones": {"0.4": "Robust Generation", "0.6": "Controlled Exploration",
                                                       "1.2": "Performance Collapse"}}))
    (run / "04_evaluation" / "summary.json").write_text(json.dumps(
        {"paired_vs_base": {"trained": {"synthetic": {"diff_points": gain_low + 8, "ci95_points": [gain_low, gain_low + 16]}}}}))
    for i, st in enumerate(cfg["training"]["stages"]):
        batches = [[0.25, 0.5, 0.0, 1.0], [0.0, 0.0, 1.0, 0.25], [0.25, 0.75, 0.5, 0.0], [0.5, 0.25, 0.75, 0.0]]
        clip = [0.6, 0.5, 0.4] if i == 0 else [0.3, 0.2, clip_last]
        _stage(run / "03_training" / st["name"], batches, clip=clip, tamper=tamper if i == 1 else None)
    return run


def test_another_seed_is_checked_against_the_bands_only(tmp_path, capsys):
    run = _band_run(tmp_path, seed=7)
    results, ctx = claims.evaluate(CLAIMS, run)
    assert not ctx["exact_applies"] and "seed 7" in ctx["exact_why"]
    assert all(not r.applies and r.ok is None for r in results if r.kind == "exact")
    bands = [r for r in results if r.kind == "band"]
    assert [r.ok for r in bands] == [True] * 4, bands
    assert claims.check(CLAIMS, run) == []
    assert claims.cli(["check", "--run", str(run), "--claims", str(CLAIMS), "--readme", ""]) == 0
    out = capsys.readouterr().out
    assert "exact claims: do not apply (seed 7" in out and "n/a" in out and "reproduced the recipe" in out
    # the skipped batch (one informative group of four) was read as the skip rule says
    assert "3 stages" not in out and "9 steps as logged" in out


def test_a_gain_interval_that_includes_zero_fails_the_gain_band(tmp_path, capsys):
    run = _band_run(tmp_path, seed=11, gain_low=-3.1)
    problems = claims.check(CLAIMS, run)
    assert len(problems) == 1 and problems[0].startswith("gain_interval_above_zero:"), problems
    assert claims.cli(["check", "--run", str(run), "--claims", str(CLAIMS), "--readme", ""]) == 1
    results, ctx = claims.evaluate(CLAIMS, run)
    assert "did NOT reproduce" in claims.verdict(results, ctx) and "gain_interval_above_zero" in claims.verdict(results, ctx)


def test_the_claims_seed_on_other_kernels_is_checked_against_the_bands_only(tmp_path):
    run = _band_run(tmp_path, seed=1, numerics="avx2")
    results, ctx = claims.evaluate(CLAIMS, run)
    assert not ctx["exact_applies"] and "kernels AVX2" in ctx["exact_why"]
    assert claims.check(CLAIMS, run) == []


def test_a_tiny_run_is_checked_against_the_tiny_bands(tmp_path):
    run = _band_run(tmp_path, tier="tiny", seed=1, gain_low=-20.0, clip_last=0.9)
    results, ctx = claims.evaluate(CLAIMS, run)
    applies = {r.id for r in results if r.applies}
    assert applies == {"temperature_zone", "mechanism_counts"}, applies   # not the smoke tier's gain or clip bands
    assert claims.check(CLAIMS, run) == []


def test_the_band_checks_fail_when_the_run_breaks_them(tmp_path):
    assert claims.check(CLAIMS, _band_run(tmp_path / "a", clip_last=0.9)) == []    # mean of last 3 still lower
    flat = _band_run(tmp_path / "b")
    f = flat / "03_training" / "stage1" / "metrics" / "launch-001.jsonl"     # first steps: 0.6, 0.5, 0.4 -> 0.01
    for v in ("0.6", "0.5", "0.4"):
        f.write_text(f.read_text().replace(f'"response_length/clip_ratio": {v}', '"response_length/clip_ratio": 0.01'))
    assert [p.split(":")[0] for p in claims.check(CLAIMS, flat)] == ["cap_clip_falls"]
    # a substitution count the accuracy log does not call for
    bad = _band_run(tmp_path / "c", tamper={2: {"polaris/substituted": 0}})
    problems = claims.check(CLAIMS, bad)
    assert len(problems) == 1 and "mechanism_counts" in problems[0] and "substituted 0, the log calls for 1" in problems[0]
    # a temperature chosen in the collapse zone
    zone = _band_run(tmp_path / "d")
    choice = zone / "02_temperature" / "choice.json"
    choice.write_text(choice.read_text().replace('"temperature": 0.6', '"temperature": 1.2'))
    assert [p.split(":")[0] for p in claims.check(CLAIMS, zone)] == ["temperature_zone"]


def _eval_run(root: Path, name: str, base: list, trained: list) -> Path:
    run = root / name
    for role, acc in (("base", base), ("trained", trained)):
        d = run / "04_evaluation" / role
        d.mkdir(parents=True)
        pd.DataFrame({"benchmark": ["synthetic"] * len(acc) + ["aime24"], "index": list(range(len(acc))) + [0],
                      "accuracy": acc + [0.0]}).to_csv(d / "questions.csv", index=False)
    return run


def test_the_gain_pooled_over_seeds_carries_the_seed_to_seed_spread(tmp_path, capsys):
    rng = np.random.default_rng(3)
    base = [list(rng.integers(0, 5, 48) / 4) for _ in range(5)]
    # five seeds whose gains differ a lot (+5 .. +45 points on every question)
    runs = [_eval_run(tmp_path, f"s{i}", b, [min(1.0, x + 0.05 + 0.1 * i) for x in b]) for i, b in enumerate(base)]
    res = claims.pooled_gain(runs)
    per = [r["gain"] for r in res["runs"]]
    assert res["pooled_gain"] == pytest.approx(np.mean(per)) and per == sorted(per)
    lo, hi = res["pooled_ci95"]
    assert lo < res["pooled_gain"] < hi
    # seed-to-seed spread widens the pooled interval beyond any single seed's question-level one
    assert hi - lo > max(r["ci95"][1] - r["ci95"][0] for r in res["runs"])
    same = claims.pooled_gain([runs[2]] * 5)
    assert same["pooled_ci95"][1] - same["pooled_ci95"][0] < hi - lo
    assert claims.cli(["pool", *sum((["--run", str(r)] for r in runs), [])]) == 0
    assert "pooled over 5 run(s)" in capsys.readouterr().out
    with pytest.raises(claims.ClaimsError, match="questions.csv not found"):
        claims.pooled_gain([tmp_path / "nope"])


import numpy as np  # noqa: E402


def test_the_numerics_key_tells_amx_from_avx512_bf16_and_from_fp32_machines():
    """bf16 products accumulate differently on AMX tiles and on AVX-512 BF16 (a smoke gradient moved
    3e-3 between them), so exact claims made on one must not apply to the other; a cap that
    forbids AMX makes an AMX CPU an AVX-512 BF16 one."""
    from polaris_repro.machine import bf16_kernels, numerics_key

    amx = {"flags": ["avx2", "avx512f", "avx512_bf16", "amx_bf16"], "caps": {}, "capability": "AVX512",
           "native_bf16": True, "threads": 2, "torch": "2.13.0"}
    assert bf16_kernels(amx) == "AMX" and numerics_key(amx) == "AVX512+AMX-bf16, 2 threads, torch 2.13.0"
    capped = {**amx, "caps": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}}
    assert bf16_kernels(capped) == "AVX512-BF16" and numerics_key(capped).startswith("AVX512+bf16,")
    assert bf16_kernels({**amx, "caps": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}}) == "AMX"
    no_amx = {**amx, "flags": ["avx2", "avx512f", "avx512_bf16"]}
    assert bf16_kernels(no_amx) == "AVX512-BF16"
    avx2 = {**amx, "capability": "AVX2", "native_bf16": False}
    assert bf16_kernels(avx2) == "" and numerics_key(avx2) == "AVX2, 2 threads, torch 2.13.0"
    assert numerics_key(None) is None
    # an fp32 run names no bf16 kernels, whatever the machine has; auto resolves per machine
    assert numerics_key(amx, "fp32") == numerics_key(no_amx, "fp32") == "AVX512, 2 threads, torch 2.13.0"
    assert numerics_key(amx, "bf16") == "AVX512+AMX-bf16, 2 threads, torch 2.13.0"


def test_auto_resolves_to_bf16_where_it_pays_in_the_manifests_reading():
    """What a run trained in, read back from its manifest: `auto` is bf16 where the fingerprint says
    AMX, or AVX-512 BF16 on an AMD CPU; fp32 on Intel's AVX-512 BF16 without AMX and without native
    bf16; a manifest from before that rule (no `auto_precision`) was bf16 wherever bf16 was native;
    an explicit precision wins."""
    from polaris_repro.machine import auto_precision, run_precision

    amx = {"vendor": "GenuineIntel", "flags": ["avx512_bf16", "amx_bf16"], "caps": {}, "capability": "AVX512",
           "native_bf16": True}
    no_amx = {**amx, "flags": ["avx512_bf16"]}
    capped = {**amx, "caps": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}}
    avx2 = {**amx, "capability": "AVX2", "native_bf16": False}
    amd = {**no_amx, "vendor": "AuthenticAMD"}
    amd_avx2 = {**amd, "capability": "AVX2", "native_bf16": False}
    assert [auto_precision(f) for f in (amx, no_amx, capped, avx2, amd, amd_avx2)] == \
        ["bf16", "fp32", "fp32", "fp32", "bf16", "fp32"]
    assert auto_precision({**no_amx, "vendor": ""}) == "fp32"  # vendor unknown: the safe choice
    for fp in (amx, no_amx, capped, avx2, amd, amd_avx2):
        assert run_precision({**fp, "auto_precision": auto_precision(fp)}, "auto") == auto_precision(fp)
        assert run_precision(fp, "fp32") == "fp32" and run_precision(fp, "bf16") == "bf16"
    assert run_precision(no_amx, "auto") == "bf16" and run_precision(avx2, "auto") == "fp32"  # old manifests
    assert run_precision(None, "auto") is None


def test_the_seed_table_marks_held_out_seeds_and_pools_each_group(tmp_path, capsys):
    """The results page's ten-seed table: a row per run read from its own artifacts, the held-out seeds
    marked and pooled apart from the tuning seeds, and the count of held-out intervals above 0."""
    rng = np.random.default_rng(5)
    runs = []
    for seed, lift in ((1, 0.3), (2, 0.25), (6, 0.3), (7, 0.0)):
        b = list(rng.integers(0, 3, 48) / 4)
        run = _eval_run(tmp_path, f"s{seed}", b, [min(1.0, x + lift) for x in b])
        (run / "manifest.json").write_text(json.dumps({"seed": seed, "git_commit": "abcdef0123-dirty",
                                                       "elapsed_s": 1140}))
        accs = {"base": np.mean(b), "trained": np.mean([min(1.0, x + lift) for x in b])}
        (run / "04_evaluation" / "summary.json").write_text(json.dumps(
            {"models": {m: {"benchmarks": {"synthetic": {"avg@n": a}}} for m, a in accs.items()}}))
        (run / "03_training").mkdir()
        pd.DataFrame({"stage": ["stage1", "stage2"], "temperature": [0.4, 0.55]}).to_csv(
            run / "03_training" / "stage_summary.csv", index=False)
        runs.append(run)
    table = claims.seed_table(runs, held_out={6, 7}, resamples=500)
    assert [r["held_out"] for r in table["rows"]] == [False, False, True, True]
    assert all(r["trained"] > r["base"] for r in table["rows"][:3]) and table["rows"][3]["trained"] == table["rows"][3]["base"]
    assert table["held_out_runs"] == 2 and table["held_out_above_zero"] == 1      # seed 7 gained nothing
    assert set(table["pooled"]) == {"all", "tuning", "held-out"}
    assert table["pooled"]["held-out"]["pooled_gain"] == pytest.approx(np.mean([r["gain"] for r in table["rows"][2:]]))
    md = claims.seed_table_markdown(table)
    assert "| 6 (held out) |" in md and "0.40 / 0.55" in md and "abcdef0 (dirty)" in md and "| 19.0 |" in md
    assert "held-out seeds whose interval is above 0: 1 of 2" in md
    assert claims.cli(["seeds", "--held-out", "6,7", *sum((["--run", str(r)] for r in runs), [])]) == 0
    assert "| 7 (held out) | " in capsys.readouterr().out
    # a resumed run: minutes summed over its attempts, the commit it was resumed at named
    man = runs[1] / "manifest.json"
    man.write_text(json.dumps({"seed": 2, "git_commit": "abcdef0123", "elapsed_s": 1200,
                               "attempts": [{"commit": "abcdef0123", "elapsed_s": 800},
                                            {"commit": "1234567890", "elapsed_s": 400}]}))
    md = claims.seed_table_markdown(claims.seed_table(runs, held_out={6, 7}, resamples=200))
    row = next(ln for ln in md.splitlines() if ln.startswith("| 2 |"))
    assert "| 20.0 (2 attempts) |" in row and "| abcdef0, resumed at 1234567 |" in row


def test_the_across_seeds_targets_are_judged_once_every_held_out_seed_has_run(tmp_path, capsys):
    """claims.yaml's across_seeds: held-out intervals above 0 on at least 4 of 5 and a pooled lower
    bound of at least +10; with a held-out seed missing the verdict is 'incomplete', never a pass."""
    data = claims.load_claims(CLAIMS)
    spec = data["across_seeds"]
    assert set(spec["held_out_seeds"]) == {6, 7, 8, 9, 10} and not set(spec["tuning_seeds"]) & {6, 7, 8, 9, 10}
    rng = np.random.default_rng(9)

    def runs(lifts, root):
        out = []
        for seed, lift in lifts:
            b = list(rng.integers(0, 3, 64) / 4)
            run = _eval_run(root, f"s{seed}", b, [min(1.0, x + lift) for x in b])
            (run / "manifest.json").write_text(json.dumps({"seed": seed}))
            out.append(run)
        return out

    good = runs([(s, 0.3) for s in (1, 6, 7, 8, 9, 10)], tmp_path / "good")
    lines, problems = claims.seed_targets(data, claims.seed_table(good, set(spec["held_out_seeds"]), resamples=300))
    assert problems == [] and [l.endswith("pass") for l in lines] == [True, True]
    weak = runs([(6, 0.3), (7, 0.3), (8, 0.0), (9, 0.0), (10, 0.3)], tmp_path / "weak")
    lines, problems = claims.seed_targets(data, claims.seed_table(weak, set(spec["held_out_seeds"]), resamples=300))
    assert len(problems) == 2 and "3 of 5 held-out intervals above 0" in problems[0]
    assert claims.cli(["seeds", *sum((["--run", str(r)] for r in weak), [])]) == 1
    part = good[:3]
    lines, problems = claims.seed_targets(data, claims.seed_table(part, set(spec["held_out_seeds"]), resamples=300))
    assert problems == [] and lines[0].startswith("across seeds: incomplete, held-out seeds run [6, 7]")
    capsys.readouterr()
    assert claims.cli(["seeds", *sum((["--run", str(r)] for r in part), [])]) == 0
    assert "incomplete" in capsys.readouterr().out
    bad = yaml.safe_load(CLAIMS.read_text())
    bad["across_seeds"]["tuning_seeds"] = [1, 6]
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(bad))
    with pytest.raises(claims.ClaimsError, match="both tuning and held out"):
        claims.load_claims(f)


def test_the_seed_table_is_written_between_the_readme_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- seeds:begin -->\nold\n<!-- seeds:end -->\nafter\n")
    claims.write_seed_block(readme, "| seed |\n|---|\n| 1 |\n")
    assert readme.read_text() == "intro\n<!-- seeds:begin -->\n| seed |\n|---|\n| 1 |\n<!-- seeds:end -->\nafter\n"
    readme.write_text("no markers\n")
    with pytest.raises(claims.ClaimsError, match="no <!-- seeds:begin -->"):
        claims.write_seed_block(readme, "x")
