"""SIGTERM and SIGHUP to ``polaris-repro train`` stop the verl launch and every process it started,
record the stage as interrupted, and leave it resumable (issue 25, item 5).

The launch is a fake process tree (tests/fake_verl_launch.py) so the test takes seconds; the real
launch on a 2-node Ray cluster is stopped the same way by ``make rehearse``."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polaris_repro.training import stages as S, supervisor

TESTS = Path(__file__).resolve().parent


def _alive(pid: int) -> bool:
    return supervisor.alive(pid)


def _wait_for(pred, timeout: float, what: str):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.parametrize("sig,to_group", [(signal.SIGTERM, True), (signal.SIGHUP, False),
                                          (signal.SIGTERM, False)])
def test_signal_stops_the_launch_and_marks_the_stage_interrupted(tmp_path, sig, to_group):
    run = tmp_path / "run"
    env = dict(os.environ, RAY_ADDRESS="")
    env.pop("RAY_ADDRESS")
    proc = subprocess.Popen([sys.executable, str(TESTS / "signal_driver.py"), "train", "--tier", "tiny",
                             "--stage", "1", "--run", str(run), "--skip-doctor"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    sdir = run / "03_training" / "stage1"
    log = sdir / "logs" / "launch-001.log"
    try:
        line = _wait_for(lambda: next((ln for ln in (log.read_text().splitlines() if log.exists() else [])
                                       if "fake launch pids" in ln), None), 90, "the fake launch")
        pids = [int(x) for x in line.split()[-2:]]
        st = json.loads((sdir / "stage.json").read_text())
        assert st["status"] == "running"
        driver = st["pid"]
        assert all(_alive(p) for p in [driver, *pids])
        if to_group:
            os.killpg(proc.pid, sig)     # what SLURM / a closed terminal does
        else:
            os.kill(proc.pid, sig)       # `timeout`, `kill`: the runner only
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, out
    name = signal.Signals(sig).name
    assert f"stopped by {name}" in out and "interrupted by" in out
    # the launch's driver, its session child and the "raylet" in another session are all gone
    _wait_for(lambda: not any(_alive(p) for p in [driver, *pids]), 15, "the launch's processes to exit")
    st = json.loads((sdir / "stage.json").read_text())
    assert st["status"] == "interrupted" and st["interrupted_by"] == name
    assert st["placement"] == [{"rank": 0, "pid": 1, "node_id": "abc123", "ip": "127.0.0.1"}]
    assert S.leftover_processes(sdir) == []
    # resumable: the plan is kept (same data, temperature) for the next launch
    assert st["plan"]["name"] == "stage1" and Path(st["plan"]["train_file"]).exists()


def test_launch_child_gets_sigterm_when_its_parent_dies(tmp_path):
    """PR_SET_PDEATHSIG: a verl driver whose launcher dies without clean-up (SIGKILL) is told to stop."""
    code = ("import subprocess, sys, time\n"
            "from polaris_repro.signals import exit_with_parent\n"
            "c = subprocess.Popen([sys.executable, '-c', 'import signal, sys, time\\n"
            "signal.signal(signal.SIGTERM, lambda *a: (open(sys.argv[1], \"w\").write(\"TERM\"), sys.exit(0)))\\n"
            "open(sys.argv[1] + \".ready\", \"w\").close()\\n"
            "time.sleep(60)', sys.argv[1]], preexec_fn=exit_with_parent)\n"
            "print(c.pid, flush=True)\n"
            "time.sleep(60)\n")
    mark = tmp_path / "got"
    parent = subprocess.Popen([sys.executable, "-c", code, str(mark)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    # the child has installed its handler (a fixed 1 s sleep was too short on a loaded machine)
    _wait_for(lambda: (tmp_path / "got.ready").exists(), 30, "the child's SIGTERM handler")
    parent.kill()
    parent.wait()
    _wait_for(lambda: mark.exists(), 15, "the child's SIGTERM")
    assert mark.read_text() == "TERM"
    _wait_for(lambda: not _alive(child), 10, "the child to exit")
