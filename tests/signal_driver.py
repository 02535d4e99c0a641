"""``python tests/signal_driver.py train --tier tiny ...``: the real ``polaris-repro`` entry point
with the verl launch replaced by ``fake_verl_launch.py`` (a process tree shaped like a verl launch:
a driver, a child in its session, and a "raylet" in another session naming the private Ray temp
dir) and no model build. Used by tests/test_signals.py to send SIGTERM / SIGHUP to it."""
import sys
from pathlib import Path

from polaris_repro import models
from polaris_repro.training import supervisor

FAKE = Path(__file__).with_name("fake_verl_launch.py")
models.resolve_model_path = lambda p: "/fake/model"   # no model build: the fake never reads it
_launch = supervisor.run_verl


def _fake_launch(overrides, **kw):
    return _launch(overrides, cmd=[sys.executable, str(FAKE), *overrides], **kw)


supervisor.run_verl = _fake_launch

if __name__ == "__main__":
    from polaris_repro.cli import main

    sys.exit(main(sys.argv[1:]))
