"""The papermill runner: stop at the first failure with the failing cell's error and the executed
notebook's path, then resume from the first unfinished section."""
import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.nbmake import make  # noqa: E402

from polaris_repro import runner  # noqa: E402
from polaris_repro.artifacts import Manifest  # noqa: E402


def _fake_sections(d: Path, fail_marker: Path):
    for s in runner.SECTIONS:
        body = (f"from pathlib import Path\nPath(run_dir, '{s}.done').write_text('x')\n"
                f"print('ran {s}')")
        if s == "03_training":
            body = (f"from pathlib import Path\nif Path(r'{fail_marker}').exists():\n"
                    f"    raise RuntimeError('stage 2 diverged')\n" + body)
        make(str(d / f"{s}.ipynb"), [("params", 'tier = "tiny"\nrun_dir = ""'), ("code", body)])


def test_reproduce_stops_at_failure_and_resumes(tmp_path, monkeypatch):
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    marker = tmp_path / "fail"
    marker.write_text("1")
    _fake_sections(nbdir, marker)
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", nbdir)
    monkeypatch.setenv("POLARIS_ARTIFACTS", str(tmp_path / "artifacts"))
    out = io.StringIO()
    with pytest.raises(runner.SectionFailed) as e:
        runner.reproduce("tiny", stream=out)
    assert "stage 2 diverged" in e.value.error and e.value.notebook.exists()
    assert "03_training: FAILED" in out.getvalue() and str(e.value.notebook) in out.getvalue()
    rdir = runner.latest_run("tiny")
    sections = Manifest(rdir).data["sections"]
    assert sections["02_temperature"]["status"] == "done" and sections["03_training"]["status"] == "failed"
    assert not (rdir / "04_evaluation.done").exists()
    # fix the cause and run again: the finished sections are skipped, the rest run
    marker.unlink()
    (rdir / "01_difficulty.done").unlink()
    out = io.StringIO()
    assert runner.reproduce("tiny", stream=out) == rdir
    assert "01_difficulty: already done" in out.getvalue()
    assert not (rdir / "01_difficulty.done").exists(), "a finished section must not re-run"
    assert all((rdir / f"{s}.done").exists() for s in runner.SECTIONS[2:])
    man = Manifest(rdir).data
    assert all(v["status"] == "done" for v in man["sections"].values())
    assert man["sections"]["03_training"].get("error") is None      # the failed attempt's error is gone
    # two attempts recorded; the run's wall time is their sum, not the last one's
    a1, a2 = man["attempts"]
    assert a1["status"] == "failed" and a1["sections"] == ["01_difficulty", "02_temperature"]
    assert a2["status"] == "finished" and a2["sections"] == list(runner.SECTIONS[2:])
    assert a1["elapsed_s"] > 0 and a2["elapsed_s"] > 0
    assert man["elapsed_s"] == pytest.approx(a1["elapsed_s"] + a2["elapsed_s"], abs=0.2)
    assert "attempt 2: resumed" in out.getvalue() and "over 2 attempts" in out.getvalue()


def test_unknown_section_is_named():
    with pytest.raises(ValueError, match="unknown section"):
        runner.resolve_section("06_dance")
    assert runner.resolve_section("training") == "03_training"


def test_seed_is_the_runs_own_and_reaches_every_section(tmp_path, monkeypatch):
    """`reproduce --seed N`: recorded in the manifest, seen by every section's config (through
    notebook.start), and a run of another seed is never resumed by it."""
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    for s in runner.SECTIONS:
        body = (f"from pathlib import Path\nfrom polaris_repro import notebook\n"
                f"sec = notebook.start('{s}', tier, run_dir)\n"
                f"Path(run_dir, '{s}.seed').write_text(str(sec.cfg['seed']))")
        make(str(nbdir / f"{s}.ipynb"), [("params", 'tier = "tiny"\nrun_dir = ""'), ("code", body)])
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", nbdir)
    monkeypatch.setenv("POLARIS_ARTIFACTS", str(tmp_path / "artifacts"))
    r7 = runner.reproduce("tiny", sections=runner.SECTIONS[:2], seed=7, stream=io.StringIO())
    man = Manifest(r7).data
    assert man["seed"] == 7 and man["overrides"] == ["seed=7"] and man["config"]["seed"] == 7
    assert [(r7 / f"{s}.seed").read_text() for s in runner.SECTIONS[:2]] == ["7", "7"]
    # an unfinished seed-7 run is not continued by a seed-8 request, and vice versa
    import time
    time.sleep(1.1)  # run folders are named by the second
    r8 = runner.reproduce("tiny", sections=runner.SECTIONS[:1], seed=8, stream=io.StringIO())
    assert r8 != r7 and (r8 / "01_difficulty.seed").read_text() == "8"
    with pytest.raises(ValueError, match="started with overrides"):
        runner.reproduce("tiny", r7, seed=8, stream=io.StringIO())
    # a section re-run alone in the run folder keeps the run's seed
    runner.run_section("02_temperature", "tiny", r8)
    assert (r8 / "02_temperature.seed").read_text() == "8"
