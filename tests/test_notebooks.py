"""Every section notebook runs at the tiny tier: papermill executes them in order into one run
folder (each section feeds the next), then nbval (lax) re-executes each executed copy in a fresh
kernel. Re-execution reuses the run folder, so finished work (sampling files, trained stages) is
resumed rather than redone — which also exercises resume.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from polaris_repro.runner import NOTEBOOK_DIR
from polaris_repro.sections import SECTIONS

NOTEBOOKS = [*SECTIONS, "00_reproduce"]


def _parameters_cells(nb):
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_has_one_literal_parameters_cell(name):
    import ast

    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    cells = _parameters_cells(nb)
    assert len(cells) == 1, f"{name}: expected exactly one cell tagged 'parameters', found {len(cells)}"
    tree = ast.parse(cells[0].source)
    names = set()
    for node in tree.body:
        assert isinstance(node, ast.Assign), f"{name}: parameters cell must hold assignments only"
        ast.literal_eval(node.value)  # literals only
        names |= {t.id for t in node.targets}
    assert {"tier", "run_dir"} <= names
    # papermill cannot parse (and warns about) a parameter line holding more than one '='
    bad = [l for l in cells[0].source.splitlines() if l.count("=") > 1]
    assert not bad, f"{name}: parameter lines papermill cannot parse: {bad}"
    assert nb.metadata["kernelspec"]["name"] == "python3"


# the run's own override, recorded in its manifest as `polaris-repro reproduce -o ...` records it:
# stages 2-3 search their temperature on the model they start from (the smoke tier's mode), so the
# temperatures verl receives differ from the tier's stage table; the report must show the former
RUN_OVERRIDES = ["training.temperature_mode=search"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from polaris_repro.artifacts import Manifest
    from polaris_repro.config import load_config

    root = tmp_path_factory.mktemp("nbrun")
    os.environ["POLARIS_ARTIFACTS"] = str(root / "artifacts")
    run = root / "artifacts" / "tiny" / "nbtest"
    man = Manifest(run, load_config("tiny", RUN_OVERRIDES))
    man.data["overrides"] = list(RUN_OVERRIDES)
    man.save()
    return run


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes_at_tiny_tier_and_passes_nbval(name, tiny_run):
    from polaris_repro.artifacts import Manifest
    from polaris_repro.runner import run_section

    if name == "00_reproduce":
        # the master notebook over the same run folder: every section is already done, so it must
        # resume (skip them all) and finish
        import papermill as pm

        executed = tiny_run / "notebooks" / "00_reproduce.ipynb"
        pm.execute_notebook(str(NOTEBOOK_DIR / "00_reproduce.ipynb"), str(executed),
                            parameters={"tier": "tiny", "run_dir": str(tiny_run)},
                            kernel_name="python3", cwd=str(NOTEBOOK_DIR), progress_bar=False)
    else:
        idx = SECTIONS.index(name)
        done = Manifest(tiny_run).data["sections"] if (tiny_run / "manifest.json").exists() else {}
        missing = [s for s in SECTIONS[:idx] if done.get(s, {}).get("status") != "done"]
        if missing:
            pytest.fail(f"{name} needs the earlier sections, which failed: {missing}")
        executed = run_section(name, "tiny", tiny_run)
    nb = nbformat.read(executed, as_version=4)
    assert any(o.get("output_type") in ("display_data", "execute_result", "stream")
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])), \
        f"{name} showed nothing"
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--nbval-lax", str(executed)], capture_output=True, text=True,
                         cwd=str(executed.parent), timeout=1200)
    assert res.returncode == 0, f"nbval failed for {name}:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}"


@pytest.mark.slow
def test_the_report_shows_the_configuration_each_stage_launched_with(tiny_run):
    """The stage table (03_training/stage_config.csv and the report's copy) holds the temperatures
    verl received, from each stage's launch overrides, not the tier's stage table."""
    import pandas as pd

    from polaris_repro.config import load_config
    from polaris_repro.training import stages as S, verl_config as vc

    if not (tiny_run / "05_report" / "report.html").exists():
        pytest.fail("the tiny notebook chain did not produce a report")
    cfg = load_config("tiny", RUN_OVERRIDES)
    launched = [float(vc.overrides_to_dict(S.read_stage(S.stage_dir(cfg, tiny_run, i))["overrides"])
                      ["actor_rollout_ref.rollout.temperature"]) for i in range(3)]
    configured = [float(st["temperature"]) for st in cfg["training"]["stages"]]
    assert launched[1:] != configured[1:], (launched, configured)   # the search changed them
    table = pd.read_csv(tiny_run / "03_training" / "stage_config.csv")
    assert table["rollout T"].astype(float).tolist() == launched
    assert [str(s).startswith("search") for s in table["T source"]][1:] == [True, True]
    html = (tiny_run / "05_report" / "report.html").read_text()
    part = html.split("Configuration of each stage")[1].split("</table>")[0]
    for t in launched:
        assert f">{t:.2f}<" in part, (t, part[:2000])


def test_claims_check_on_the_tiny_run(tiny_run, tmp_path):
    """The README's claims resolve against a real (tiny) run: take the run's values, then check."""
    import shutil

    from polaris_repro import claims
    from polaris_repro.artifacts import REPO_ROOT

    if not (tiny_run / "04_evaluation").exists():
        pytest.fail("the tiny notebook chain did not produce a run")
    cf = tmp_path / "claims.yaml"
    shutil.copy(REPO_ROOT / "claims.yaml", cf)
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{claims.BEGIN}\n{claims.END}\n")
    assert claims.cli(["update", "--run", str(tiny_run), "--claims", str(cf), "--readme", str(readme)]) == 0
    assert claims.check(cf, tiny_run, readme) == []
    # drift in an artifact is caught
    choice = tiny_run / "02_temperature" / "choice.json"
    data = json.loads(choice.read_text())
    data["temperature"] += 0.5
    choice.write_text(json.dumps(data))
    assert any(p.startswith("temperature_choice") for p in claims.check(cf, tiny_run, readme))
