"""Visible progress (issue 17): what the terminal shows while sections run.

* the runner streams which cell runs and the cells' own output lines, live, with no kernel
  warnings and a bounded number of lines per tqdm bar;
* the trainer's per-step line (stage, step/total, reward, s/step, ETA);
* a verl launch says it is starting and keeps saying so while verl is silent.

Notebooks here are two-cell fakes (one kernel start each), not the real sections: the real ones
run at the tiny tier in test_notebooks.py.
"""
import io
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.nbmake import make  # noqa: E402

from polaris_repro import runner  # noqa: E402


# --------------------------------------------------------------------------------------------
# the runner's stream


@pytest.fixture
def fake_section(tmp_path, monkeypatch):
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make(str(nbdir / "05_report.ipynb"), [
        ("md", "# 5. Report"),
        ("params", 'tier = "tiny"\nrun_dir = ""'),
        ("md", "## Build the report"),
        ("code", "import sys\nimport time\nimport tqdm.auto  # warns about ipywidgets in a kernel, unless silenced\n"
                 "print('report line from the cell')\nprint('a stderr line', file=sys.stderr)"),
        ("code", "# a long loop with a bar\nfrom polaris_repro.sampling.base import progress_bar\n"
                 "for _ in progress_bar(range(40), desc='sweep tiny T=0.6', unit='compl'):\n"
                 "    time.sleep(0.05)\n"
                 "time.sleep(2.5)\nprint('after the loop')"),
    ])
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", nbdir)
    monkeypatch.setenv("POLARIS_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path


def test_runner_streams_cells_output_and_no_kernel_warnings(fake_section, capfd):
    out = io.StringIO()
    nb = runner.run_section("05_report", "tiny", fake_section / "run", stream=out,
                            label="[5/5] 05_report", heartbeat_s=1.0)
    text = out.getvalue()
    lines = text.splitlines()
    assert "[5/5] 05_report  cell 1/4: parameters" in lines
    assert "[5/5] 05_report  cell 2/4: injected parameters" in lines
    assert "[5/5] 05_report  cell 3/4: Build the report | print('report line from the cell')" in lines
    assert "[5/5] 05_report  cell 4/4: Build the report | a long loop with a bar" in lines
    # the cells' own output, live and clean (no logger prefixes)
    assert "    report line from the cell" in lines and "    a stderr line" in lines
    assert "    after the loop" in lines and "INFO" not in text and "papermill" not in text
    # the bar: its final state once, not one line per update
    bars = [l for l in lines if l.startswith("    sweep tiny T=0.6")]
    assert any("40/40" in l for l in bars) and len(bars) <= 4, bars
    assert sum("40/40" in l for l in bars) == 1, bars
    # the silent 2.5 s at the end of the last cell: a heartbeat
    beats = [l for l in lines if l.startswith("[5/5] 05_report  cell 4/4 still running (")]
    assert beats and "; last output: " in beats[-1], beats
    # no kernel security warning / ipywidgets warning, neither in the stream nor on the terminal
    err = capfd.readouterr()
    for noise in ("without encryption", "IProgress", "TqdmWarning", "Warning"):
        assert noise not in text, noise
        assert noise not in err.err and noise not in err.out, (noise, err.err[-2000:])
    assert nb.exists()


def test_reproduce_stream_shows_cell_lines(tmp_path, monkeypatch):
    """reproduce(stream=...) passes its stream and the [i/n] label down to every section."""
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make(str(nbdir / "01_difficulty.ipynb"), [("params", 'tier = "tiny"\nrun_dir = ""'),
                                              ("code", "print('difficulty says hi')")])
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", nbdir)
    monkeypatch.setenv("POLARIS_ARTIFACTS", str(tmp_path / "artifacts"))
    out = io.StringIO()
    runner.reproduce("tiny", sections=("01_difficulty",), stream=out)
    lines = out.getvalue().splitlines()
    assert "[1/1] 01_difficulty: running ..." in lines
    assert "[1/1] 01_difficulty  cell 3/3: print('difficulty says hi')" in lines
    assert "    difficulty says hi" in lines


def test_cell_progress_bar_lines_are_rate_limited():
    """tqdm redraws with '\\r': off a TTY one state per interval (and the final one) is printed."""
    out = io.StringIO()
    p = runner.CellProgress(out, "[x]", heartbeat_s=0, bar_interval_s=3600)
    p.write("stderr", "\rbar   0%| 0/100")
    for i in range(1, 100):
        p.write("stderr", f"\rbar {i:3d}%| {i}/100")
    p.write("stderr", "\rbar 100%| 100/100\n")
    p.write("stdout", "plain line\npartial")
    p.close()
    assert out.getvalue().splitlines() == ["    bar   0%| 0/100", "    bar 100%| 100/100",
                                           "    plain line", "    partial"]


def test_cell_progress_redraws_a_bar_in_place_on_a_tty():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    p = runner.CellProgress(out, "[x]", heartbeat_s=0, bar_interval_s=0)
    p.write("stderr", "\rbar 0/2")
    p.write("stderr", "\rbar 1/2")
    p.write("stdout", "a line\n")          # ends the bar's line first
    p.write("stderr", "\rbar 2/2")
    p.write("stderr", "\rbar 3/3\n")        # the final state: in place, with its newline
    p.close()
    assert out.getvalue() == ("\r    bar 0/2\x1b[K\r    bar 1/2\x1b[K\n    a line\n"
                              "\r    bar 2/2\x1b[K\r    bar 3/3\x1b[K\n")


def test_cell_summary_heading_and_first_line():
    import nbformat.v4 as v4

    cells = [v4.new_markdown_cell("# T\n\n## Our sweep\ntext"),
             v4.new_code_cell("from x import y\n\nrec = T.search(cfg)  # the sweep"),
             v4.new_code_cell("x = 1" * 40)]
    assert runner.cell_summary(cells, 1) == "Our sweep | rec = T.search(cfg)  # the sweep"
    assert len(runner.cell_summary(cells, 2)) == 80 and runner.cell_summary(cells, 2).endswith("...")


def test_progress_bar_off_a_tty_is_ascii_and_slow(capsys):
    from polaris_repro.sampling.base import model_label, progress_bar

    bar = progress_bar(total=10, desc="d")
    assert bar.ascii and bar.mininterval == 5.0 and not bar.dynamic_ncols
    bar.close()
    assert model_label("builtin:tiny") == "builtin:tiny"
    assert model_label("Qwen/Qwen3-4B") == "Qwen/Qwen3-4B"
    assert model_label("/runs/r1/03_training/stage1/merged_hf") == "stage1/merged_hf"


# --------------------------------------------------------------------------------------------
# the trainer's step line (pure formatting: importing the trainer needs verl, ~10 s)


def test_step_line_format_and_eta():
    import verl  # noqa: F401  (a required dependency: a broken install fails, never skips)
    from polaris_repro.training.trainer import format_step_line

    line = format_step_line("stage1", 3, 12, 0.5625, 41.2, 40.0,
                            "solve-none 1, solve-all 0, informative 0.75, substituted 1, skipped 0")
    # 9 steps left x 40 s = 360 s = 6.0 min
    assert line == ("[polaris] stage1 step 3/12 | reward 0.562 | 41 s/step | ETA 6.0 min | "
                    "solve-none 1, solve-all 0, informative 0.75, substituted 1, skipped 0")
    assert "| 4.2 s/step | ETA 38 s" in format_step_line("stage2", 1, 10, 0.1, 4.24, 4.2)
    assert "ETA 0 s" in format_step_line("s", 10, 10, 0.0, 5, 5)
    assert "ETA 2.8 h" in format_step_line("s", 0, 100, 0.0, 100, 100)
    assert format_step_line(None, 2, None, 0.0, 1, 1).startswith("[polaris] stage step 2 | reward 0.000")


# --------------------------------------------------------------------------------------------
# verl launch: start line and heartbeat


def test_launch_echoes_start_and_heartbeat(tmp_path):
    from polaris_repro.training import supervisor

    lines: list[str] = []
    code = ("import time, sys\n"
            "print('2026-01-01 INFO worker.py:1 -- Started a local Ray instance.', flush=True)\n"
            "time.sleep(2.5)\n"
            "print('[polaris] stage1 step 1/2 | reward 0.500', flush=True)\n"
            "time.sleep(2.5)\n")
    log = tmp_path / "stage1" / "logs" / "launch-001.log"
    secs = supervisor.run_verl([], env=None, log_path=log, echo=lines.append,
                    echo_filter=lambda l: "[polaris]" in l, heartbeat_s=1.0,
                    cmd=[sys.executable, "-c", code])
    assert secs >= 5
    assert lines[0].startswith("[stage1] starting verl (Ray, workers, model load) ... full log: ")
    start = [l for l in lines if l.startswith("[stage1] verl starting ... ")]
    assert start and "(log: 2026-01-01 INFO worker.py:1 -- Started a local Ray instance.)" in start[-1]
    assert "[polaris] stage1 step 1/2 | reward 0.500" in lines
    after = lines[lines.index("[polaris] stage1 step 1/2 | reward 0.500") + 1:]
    assert after and all("verl running ... " in l and "since the last [polaris] line" in l for l in after)
    assert "Started a local Ray instance" in log.read_text()


def test_launch_without_echo_is_silent_and_times_out(tmp_path):
    from polaris_repro.training import supervisor

    t0 = time.time()
    with pytest.raises(supervisor.LaunchFailed, match="timed out"):
        supervisor.run_verl([], env=None, log_path=tmp_path / "logs" / "launch-001.log", echo=None, timeout=1.5,
                 cmd=[sys.executable, "-c", "import time; time.sleep(30)"])
    assert time.time() - t0 < 15
