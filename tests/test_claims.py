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
