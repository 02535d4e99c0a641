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
    assert all(v["status"] == "done" for v in Manifest(rdir).data["sections"].values())


def test_unknown_section_is_named():
    with pytest.raises(ValueError, match="unknown section"):
        runner.resolve_section("06_dance")
    assert runner.resolve_section("training") == "03_training"
