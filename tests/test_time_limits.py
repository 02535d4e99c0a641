"""Surviving a site's time limit and starting a cluster from an empty home (issue 30): SLURM time
strings, the warning's lead, the submissions a run needs, the stop request, the Ray token, the
rendered job script's time-limit lines and the doctor's token row. The real SLURM cycle is
tests/test_rehearse_slurm.py; the trainer's stop at a step boundary is tested there and in
tests/test_training_stages.py."""
from __future__ import annotations

import os
import stat
import time

import pytest

from polaris_repro.config import load_config
from polaris_repro.doctor import Hardware, check_ray_auth
from polaris_repro.plan import cli as plan_cli
from polaris_repro.resources import local_model_folder, model_spec
from polaris_repro.training import ray_auth
from polaris_repro.training import time_limits as TL
from polaris_repro.training.cli import cli as train_cli


@pytest.mark.parametrize("text,secs", [("90", 5400), ("10:30", 630), ("48:00:00", 172800), ("2-00:00:00", 172800),
                                       ("1-12", 129600), ("1-12:30", 131400), ("0-00:03:00", 180)])
def test_slurm_time_strings(text, secs):
    assert TL.parse_slurm_time(text) == secs
    assert TL.parse_slurm_time(TL.format_slurm_time(secs)) == secs


@pytest.mark.parametrize("bad", ["2days", "", "1-", "-3", "0", "1:2:3:4"])
def test_bad_time_strings_are_refused_with_the_forms(bad):
    with pytest.raises(ValueError, match="--time"):
        TL.parse_slurm_time(bad)


def test_signal_lead_covers_a_step_a_save_and_slurms_check_interval():
    lead = TL.signal_lead_s(1559, 12)
    assert lead % 60 == 0 and lead >= 1.25 * 1559 + 12 + TL.SLURM_CHECK_MARGIN_S
    assert TL.signal_lead_s(1, 0) == 120                  # never below SLURM's check interval + a minute
    assert TL.signal_lead_s(1e6, 0) == 65535              # SLURM's maximum


def test_submissions_and_what_a_stop_costs():
    day = 86400
    sub = TL.submissions(10 * day, 2 * day, start_s=600, lead_s=2100, step_s=1500, save_freq=10, gpus=32)
    usable = 2 * day - 600 - 2100
    assert sub["submissions"] == -(-10 * day // usable) == 6
    assert sub["lost_with_warning_s"] == 2700 and sub["lost_without_warning_s"] == 10 * 1500 + 600
    assert sub["overhead_gpu_h"] == pytest.approx(5 * 2700 * 32 / 3600)
    with pytest.raises(ValueError, match="less than one step"):
        TL.submissions(10 * day, 3000, start_s=600, lead_s=2100, step_s=1500, save_freq=10, gpus=32)


def test_stop_request_and_stale_requests(tmp_path, monkeypatch):
    assert TL.stop_reason(TL.stop_file(tmp_path)) is None
    p = TL.request_stop(tmp_path, "SIGUSR1 test")
    assert p == tmp_path / "03_training" / "STOP" and TL.stop_reason(p).startswith("SIGUSR1 test")
    # made after this process started: kept (a warning during start-up is honoured after a step)
    assert TL.clear_stale_stop(tmp_path) is None and p.exists()
    old = time.time() - 3600
    os.utime(p, (old, old))
    monkeypatch.setattr(TL, "PROCESS_START", time.time())
    assert TL.clear_stale_stop(tmp_path).startswith("SIGUSR1 test") and not p.exists()
    TL.write_stopped(tmp_path, step=3, total=10, reason="r", saved=True)
    assert TL.read_stopped(tmp_path)["step"] == 3 and TL.read_stopped(tmp_path / "x") is None


def test_ray_token_is_created_once_private_and_found_in_rays_order(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    assert ray_auth.token_source({"HOME": str(home)}) is None
    path, created = ray_auth.ensure_token(tmp_path / "run" / "ray_auth_token")
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_text()) == 64
    token = path.read_text()
    assert ray_auth.ensure_token(path) == (path, False) and path.read_text() == token   # never replaced
    env = {"HOME": str(home), "RAY_AUTH_TOKEN_PATH": str(path)}
    assert ray_auth.token_source(env) == ("RAY_AUTH_TOKEN_PATH", str(path))
    assert ray_auth.token_source({**env, "RAY_AUTH_TOKEN": "abc"})[0] == "RAY_AUTH_TOKEN"
    assert ray_auth.token_source({"HOME": str(home), "RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")}) is None
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text("t")
    assert ray_auth.token_source({"HOME": str(home)}) == ("default", str(home / ".ray" / "auth_token"))
    with pytest.raises(ValueError, match="is a directory"):
        ray_auth.ensure_token(tmp_path)
    assert ray_auth.main(["bogus"]) == 2


def test_rendered_script_time_limit_lines(tmp_path, capsys):
    out = tmp_path / "a"
    assert train_cli(["--tier", "paper-4b", "--render-launch", str(out), "--run", "/shared/runs/x",
                      "--time", "2-00:00:00"]) == 0
    sb = (out / "polaris_slurm.sbatch").read_text()
    printed = capsys.readouterr().out
    assert "#SBATCH --time=2-00:00:00" in sb and "14-00:00:00" not in sb
    lead = int(sb.split("#SBATCH --signal=B:USR1@")[1].split()[0])
    assert lead >= 1.25 * 1500 and "#SBATCH --requeue" in sb and "#SBATCH --open-mode=append" in sb
    assert "export SRUN_CPUS_PER_TASK=$CPUS_PER_NODE" in sb and "#SBATCH --gpus-per-node=8" in sb
    assert f"sbatch {out / 'polaris_slurm.sbatch'}" in sb and "scontrol requeue" in sb
    assert "6 allocation(s)" in printed and "GPU-hours" in printed
    # no --time: no limit line, the partition's default applies, and the script says so
    assert train_cli(["--tier", "paper-4b", "--render-launch", str(tmp_path / "b"), "--run", "/r"]) == 0
    sb = (tmp_path / "b" / "polaris_slurm.sbatch").read_text()
    assert "#SBATCH --time" not in sb and "partition's default limit applies" in sb
    assert "partition's default limit applies" in capsys.readouterr().out
    # CPU rehearsal tier: no GPUs asked of SLURM, a given lead
    assert train_cli(["--tier", "rehearsal", "--render-launch", str(tmp_path / "c"), "--run", "/r",
                      "--time", "5", "--signal-lead", "150"]) == 0
    sb = (tmp_path / "c" / "polaris_slurm.sbatch").read_text()
    assert "--gpus-per-node" not in sb.split("set -euo")[0].replace("no --gpus-per-node", "")
    assert "#SBATCH --signal=B:USR1@150" in sb and "#SBATCH --time=0-00:05:00" in sb
    capsys.readouterr()
    for args, msg in ((["--time", "3days"], "--time '3days'"), (["--signal-lead", "5"], "--signal-lead"),
                      (["--time", "2", "--signal-lead", "150"], "not shorter than the limit")):
        assert train_cli(["--tier", "rehearsal", "--render-launch", str(tmp_path / "d"), "--run", "/r", *args]) == 2
        assert msg in capsys.readouterr().err


def test_plan_time_says_submissions_and_stop_costs(capsys):
    assert plan_cli(["--tier", "paper-4b", "--time", "2-00:00:00"]) == 0
    out = capsys.readouterr().out
    assert "need 6 allocation(s)" in out and "a kill without warning" in out and "save_freq = 10 steps" in out
    assert plan_cli(["--tier", "paper-4b", "--time", "30"]) == 2
    assert "less than one step" in capsys.readouterr().err
    lines = TL.time_limit_lines(load_config("paper-4b"), None)
    assert any("no --time" in x for x in lines)


def test_model_spec_of_an_unbuilt_builtin_tiny(monkeypatch):
    """``plan`` on the rehearsal tier in a fresh home (builtin:tiny not built yet) used to raise a
    TypeError: the table fallback for the tiny model."""
    import polaris_repro.resources as R

    monkeypatch.setattr(R, "local_model_folder", lambda path: (None, "not built yet"))
    spec = model_spec("builtin:tiny")
    assert spec is not None and spec.layers == 4 and spec.params > 0 and spec.max_position_embeddings == 256
    assert local_model_folder is not None


def test_doctor_token_row():
    cfg = load_config("paper-4b")
    one = load_config("single-gpu")
    assert check_ray_auth(one, Hardware())[0]["status"] == "ok"
    assert "none yet" in check_ray_auth(cfg, Hardware())[0]["found"]
    r = check_ray_auth(cfg, Hardware(env={"RAY_ADDRESS": "10.0.0.1:6379"}))[0]
    assert r["status"] == "fail" and "RAY_AUTH_TOKEN_PATH" in r["fix"]
    r = check_ray_auth(cfg, Hardware(env={"RAY_ADDRESS": "h:1"}, ray_token="RAY_AUTH_TOKEN_PATH (/r/t)"))[0]
    assert r["status"] == "ok" and "/r/t" in r["found"]
    assert check_ray_auth(cfg, Hardware(env={"RAY_AUTH_MODE": "disabled"}))[0]["status"] == "warn"


def test_a_warning_during_the_jobs_start_up_is_not_stale(tmp_path, monkeypatch):
    p = TL.request_stop(tmp_path, "SIGUSR1 during ray start")
    t = time.time() - 20
    os.utime(p, (t, t))                                   # before this process, after the job began
    monkeypatch.setattr(TL, "PROCESS_START", time.time())
    monkeypatch.setenv("POLARIS_STOP_SINCE", str(int(time.time() - 60)))
    assert TL.clear_stale_stop(tmp_path) is None and p.exists()


def test_rendered_overrides_with_spaces_stay_one_argument(tmp_path):
    stages = "training.stages=[{name: stage1, max_response_length: 40, temperature: 1.4, steps: 3}]"
    assert train_cli(["--tier", "rehearsal", "--render-launch", str(tmp_path), "--run", "/r", "-o", stages]) == 0
    sb = (tmp_path / "polaris_slurm.sbatch").read_text()
    assert f"-o '{stages}'" in sb
