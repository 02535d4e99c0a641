"""The SLURM job script under a real SLURM (issue 30): ``tools/rehearse_slurm.sh`` (what ``make
rehearse-slurm`` runs) with ``REHEARSE_SLURM_STAGES=1`` and no cancel job, from an empty home.

A private SLURM (munge, slurmctld, two slurmd on loopback) runs the rehearsal tier's rendered
``polaris_slurm.sbatch`` on 2 nodes with a 4-minute limit and SIGUSR1 210 s before it: the warning
comes while stage 1 runs, the trainer checkpoints the step it is on and ends, the job stops its Ray
and requeues itself, and the next allocation resumes stage 1 from that checkpoint and finishes it
(2 ranks, 2 nodes, 2 shards merged). Then section 01_difficulty's own job gets the warning by hand
(``scancel --signal=USR1 --batch``), stops the section, requeues and finishes it. The Ray token is
created by the job in the run folder (the home is empty). Afterwards nothing of the rehearsal runs. ~4-5 min on 2 cores; ``make
rehearse-slurm`` runs all three stages and the scancel job."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_time_limit_requeue_and_resume_under_a_real_slurm(tmp_path):
    missing = [x for x in ("slurmctld", "slurmd", "munged", "sbatch") if not shutil.which(x)]
    assert not missing, f"{missing} not installed: `make system-packages` (apt-get install slurm-wlm munge), as root"
    assert os.geteuid() == 0, "a private SLURM needs root (slurmd)"
    run = tmp_path / "run"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SLURM_"))}
    # the suite's model cache (the tiny model is built once per machine); the home stays empty
    env["POLARIS_CACHE"] = os.environ.get("POLARIS_CACHE", str(Path.home() / ".cache" / "polaris-repro"))
    env.update(HOME=str(home), REHEARSE_RUN=str(run), REHEARSE_SLURM_STAGES="1", REHEARSE_SLURM_CANCEL="0",
               VENV=str(Path(os.sys.executable).parent.parent))
    p = subprocess.run(["bash", str(REPO / "tools" / "rehearse_slurm.sh")], capture_output=True, text=True,
                       env=env, timeout=900, cwd=REPO)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-8000:]
    st = json.loads((run / "03_training" / "stage1" / "stage.json").read_text())
    first, last = st["attempts"][0], st["attempts"][-1]
    assert st["status"] == "done" and st["final_step"] == 2
    assert first["status"] == "stopped" and first["slurm_restart"] == 0 and first["to_step"] == 1
    assert "SIGUSR1" in first["reason"]
    assert last["slurm_restart"] >= 1 and last["from_step"] == 1 and last["slurm_job"] == first["slurm_job"]
    assert len({r["node_id"] for r in st["placement"]}) == 2
    job_out = (run / f"slurm-{first['slurm_job']}.out").read_text()
    assert "requeueing job" in job_out and "(SLURM_RESTART_COUNT=1)" in job_out
    assert re.search(r"stage1 stopped at step 1 of 2", job_out)
    token = run / "ray_auth_token"
    assert token.exists() and oct(token.stat().st_mode & 0o777) == "0o600" and not (home / ".ray").exists()
    assert "nothing of it left running" in out
    # a section's own job (01_difficulty, one node): the warning stops the section, the job requeues
    # itself and the next allocation finishes the section
    assert re.search(r"job \d+: 01_difficulty stopped by the warning, requeued, finished in allocation 2", out)
    assert (run / "notebooks" / "01_difficulty.ipynb").stat().st_size > 0
