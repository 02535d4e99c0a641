"""polaris-repro doctor: checks on injected hardware descriptions (a fake 8 x 80 GB node, a 1 x 24 GB
node, a Ray cluster listing) and one real run at the smoke tier on this machine."""
import json
import time

import pandas as pd
import pytest

from polaris_repro import doctor as D
from polaris_repro import resources as R
from polaris_repro.doctor import hardware as H
from polaris_repro.cli import main
from polaris_repro.config import load_config

CLUSTER = {k: v for k, v in D.env_pins(D.ENV_DIR / "cluster.txt").items() if k in D.PACKAGES}
CLUSTER["flash-attn"] = "2.8.3"
NODE_8x80 = {"gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_gb": 80}] * 8, "cuda_version": "13.0",
             "cuda_driver": "13.0", "packages": CLUSTER, "disk_free_gb": 20000.0}
NODE_1x24 = {"gpus": [{"name": "NVIDIA GeForce RTX 4090", "memory_gb": 24}], "cuda_version": "13.0",
             "cuda_driver": "13.0", "packages": CLUSTER, "disk_free_gb": 2000.0}
KEEP2 = ["trainer.max_actor_ckpt_to_keep=2"]


def ray_nodes(n, gpus=8, dead=0):
    return [{"NodeID": f"n{i}", "Alive": i >= dead, "NodeManagerAddress": f"10.0.0.{i}",
             "Resources": {"CPU": 128.0, "GPU": float(gpus), "accelerator_type:H800": 1.0}} for i in range(n)]


def status(table, check):
    rows = table[table["check"] == check]
    assert len(rows) == 1, (check, table["check"].tolist())
    return rows.iloc[0]["status"]


def statuses(table, prefix):
    return table[table["check"].str.startswith(prefix)]["status"].tolist()


def test_fake_8x80_node_runs_the_7b_tier():
    t = D.doctor("paper-7b", hardware=NODE_8x80, verl_overrides=KEEP2)
    assert list(t.columns) == ["check", "status", "found", "fix"]
    assert set(t["status"]) <= {"ok", "warn", "fail"}
    bad = t[t["status"] == "fail"]
    assert bad.empty, bad.to_string()
    for check in ("package verl", "package vllm", "package flash-attn", "cuda", "gpus per node", "parallelism",
                  "model context: training", "model context: evaluation", "chat template", "<think> tokens"):
        assert status(t, check) == "ok", check
    assert statuses(t, "gpu memory") == ["ok"] * 6      # actor and rollout of 3 stages
    # the actor estimate by hand for stage 3 (32,768 tokens per GPU, gradient checkpointing)
    spec = R.KNOWN_MODELS["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"]
    cfg = load_config("paper-7b")
    a = R.actor_memory(spec, cfg, cfg["training"]["stages"][2])
    assert a["tokens"] == 32768
    assert a["fsdp states"] == pytest.approx(16 * spec.params / 8 / 1e9)
    assert a["logits"] == pytest.approx(6 * 32768 * 152064 / 1e9)
    assert 50 < a["total"] < 80
    assert not D.failed(t)


def test_fake_1x24_node_fails_on_memory_and_names_the_fix():
    t = D.doctor("single-gpu", hardware=NODE_1x24, verl_overrides=KEEP2)
    assert status(t, "gpus per node") == "ok"
    actor = t[t["check"].str.endswith(": actor")]
    assert actor["status"].tolist() == ["fail"] * 3   # 1.7B fp32 states alone are 27.5 GB
    assert "27.5" in actor.iloc[0]["found"] and actor.iloc[0]["fix"]
    assert D.failed(t)
    # the same tier fits one 80 GB GPU
    t80 = D.doctor("single-gpu", hardware={**NODE_1x24, "gpus": [{"name": "H100", "memory_gb": 80}]},
                   verl_overrides=KEEP2)
    assert statuses(t80, "gpu memory") == ["ok"] * 6
    # the paper tier on that node: too few GPUs, no Ray for its 4 nodes
    t4 = D.doctor("paper-4b", hardware=NODE_1x24, verl_overrides=KEEP2)
    assert status(t4, "gpus per node") == "fail" and status(t4, "ray cluster") == "fail"


def test_rollout_kv_cache_estimate_warns_when_a_group_does_not_fit():
    cfg = load_config("paper-4b")
    spec = R.KNOWN_MODELS["Qwen/Qwen3-4B"]
    assert spec.kv_bytes_per_token() == 2 * 36 * 8 * 128 * 2
    r1 = R.rollout_memory(spec, cfg, cfg["training"]["stages"][0], 80)
    r3 = R.rollout_memory(spec, cfg, cfg["training"]["stages"][2], 80)
    assert r1["sequences"] > 8 > r3["sequences"] > 1
    # at gpu_memory_utilization 0.2 not even one 53K sequence fits next to the weights: vLLM refuses to start
    low = load_config("paper-4b", ["training.gpu_memory_utilization=0.2"])
    assert R.rollout_memory(spec, low, low["training"]["stages"][2], 80)["sequences"] < 1
    t = D.doctor(low, hardware={**NODE_8x80, "ray_nodes": ray_nodes(4)}, verl_overrides=KEEP2)
    assert status(t, "gpu memory stage3: rollout") == "fail"
    t = D.doctor("paper-4b", hardware={**NODE_8x80, "ray_nodes": ray_nodes(4)}, verl_overrides=KEEP2)
    assert status(t, "gpu memory stage1: rollout") == "ok"
    assert status(t, "gpu memory stage3: rollout") == "warn"


def test_ray_cluster_listing():
    hw = {**NODE_8x80, "env": {"RAY_ADDRESS": "10.0.0.0:6379"}}
    ok = D.doctor("paper-4b", hardware={**hw, "ray_nodes": ray_nodes(4)}, verl_overrides=KEEP2)
    assert status(ok, "ray cluster") == "ok" and "32 GPU(s)" in ok.set_index("check").loc["ray cluster", "found"]
    assert not D.failed(ok), ok[ok.status == "fail"].to_string()
    dead = D.doctor("paper-4b", hardware={**hw, "ray_nodes": ray_nodes(4, dead=1)}, verl_overrides=KEEP2)
    assert status(dead, "ray cluster") == "fail"
    small = D.doctor("paper-4b", hardware={**hw, "ray_nodes": ray_nodes(4, gpus=4)}, verl_overrides=KEEP2)
    assert status(small, "ray cluster") == "fail"
    err = D.doctor("paper-4b", hardware={**hw, "ray_error": "ConnectionError: no head"}, verl_overrides=KEEP2)
    assert status(err, "ray cluster") == "fail" and "no head" in err.set_index("check").loc["ray cluster", "found"]
    # GPU memory from the Ray accelerator type when this (head) node has no GPU
    head = D.doctor("paper-4b", hardware={**hw, "gpus": [], "cuda_available": True, "ray_nodes": ray_nodes(4)},
                    verl_overrides=KEEP2)
    assert "H800 (Ray accelerator type)" in head[head.check == "gpu memory stage1: actor"].iloc[0]["found"]


def test_packages_against_the_environment_file():
    pk = dict(CLUSTER, verl="0.8.0", torch="2.10.0+cu128")
    pk.pop("vllm")
    t = D.doctor("paper-7b", hardware={**NODE_8x80, "packages": pk}, verl_overrides=KEEP2)
    assert status(t, "package verl") == "fail"          # the overrides follow verl 0.9.1's schema
    assert status(t, "package torch") == "warn"
    assert status(t, "package vllm") == "fail"
    assert "envs/cluster.txt" in t.set_index("check").loc["package vllm", "fix"]
    # CPU tiers compare against cpu.txt and need neither vLLM nor flash-attn
    cpu = {k: v for k, v in D.env_pins(D.ENV_DIR / "cpu.txt").items() if k in D.PACKAGES}
    t = D.doctor("smoke", hardware={"packages": cpu, "disk_free_gb": 100.0})
    assert "package vllm" not in set(t["check"]) and status(t, "cuda") == "ok"
    assert status(t, "package torch") == "ok"


def test_gpu_count_and_parallelism():
    t = D.doctor("paper-7b", hardware={**NODE_8x80, "gpus": NODE_8x80["gpus"][:4]}, verl_overrides=KEEP2)
    assert status(t, "gpus per node") == "fail"
    t = D.doctor("paper-7b", hardware={**NODE_8x80, "gpus": [], "cuda_available": False}, verl_overrides=KEEP2)
    assert status(t, "cuda") == "fail"
    cfg = load_config("paper-4b", ["training.nnodes=1", "cluster.nnodes=1", "training.n_gpus_per_node=6"])
    row = D.check_parallelism(cfg, R.KNOWN_MODELS["Qwen/Qwen3-4B"])
    assert row["status"] == "fail" and "Ulysses SP 4 does not divide 6" in row["found"]
    assert D.check_parallelism(load_config("paper-4b"), R.KNOWN_MODELS["Qwen/Qwen3-4B"])["status"] == "ok"


def _model_folder(tmp_path, ctx=8192, think=True, template=True):
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "num_hidden_layers": 28, "hidden_size": 2048, "intermediate_size": 6144, "num_attention_heads": 16,
        "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936, "max_position_embeddings": ctx,
        "tie_word_embeddings": True}))
    tok = {"added_tokens": [{"id": 1, "content": "<|im_end|>"}]}
    if think:
        tok["added_tokens"] += [{"id": 2, "content": "<think>"}, {"id": 3, "content": "</think>"}]
    (d / "tokenizer.json").write_text(json.dumps(tok))
    (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"} if template else {}))
    return d


def test_local_model_config_context_template_and_think(tmp_path):
    good = _model_folder(tmp_path, ctx=40960)
    spec = R.model_spec(str(good))
    assert spec.layers == 28 and spec.kv_heads == 8 and spec.source.startswith("config.json")
    assert spec.params == pytest.approx(R.KNOWN_MODELS["Qwen/Qwen3-1.7B"].params)
    t = D.doctor("single-gpu", [f"model.path={good}"], hardware=NODE_1x24, verl_overrides=KEEP2)
    for check in ("model config", "model context: training", "chat template", "<think> tokens"):
        assert status(t, check) == "ok", check
    # a folder whose real context (8,192) is below stage 3's 12,288, without <think> and a template
    (tmp_path / "bad").mkdir()
    bad = _model_folder(tmp_path / "bad", ctx=8192, think=False, template=False)
    t = D.doctor("single-gpu", [f"model.path={bad}"], hardware=NODE_1x24, verl_overrides=KEEP2)
    tt = t.set_index("check")
    assert tt.loc["model context: training", "status"] == "fail"
    assert "stage2, stage3 exceed 8,192" in tt.loc["model context: training", "found"]
    assert tt.loc["chat template", "status"] == "fail"
    assert tt.loc["<think> tokens", "status"] == "fail"
    assert "warn" in set(t[t.check == "model context"]["status"])   # config.json 8192 vs the tier's 40960


def test_data_files_and_benchmark_checksums(tmp_path, monkeypatch):
    from polaris_repro import data as Data
    from polaris_repro.artifacts import sha256_file

    train = tmp_path / "train.parquet"
    pd.DataFrame({"problem": ["1+1"], "answer": ["2"]}).to_parquet(train)
    t = D.doctor("single-gpu", [f"data.train.path={train}"], hardware=NODE_1x24)
    assert status(t, "data: training") == "fail" and "missing column" in t.set_index("check").loc["data: training", "found"]
    t = D.doctor("single-gpu", [f"data.train.path={tmp_path / 'nope.parquet'}"], hardware=NODE_1x24)
    assert status(t, "data: training") == "fail"
    good = tmp_path / "verl.parquet"
    Data.to_verl_parquet(Data.rows_from_problems(["1+1"], ["2"], data_source="x"), good)
    t = D.doctor("single-gpu", [f"data.train.path={good}"], hardware=NODE_1x24)
    assert status(t, "data: training") == "ok"
    # benchmarks: a directory with one correct file (checksum registered for the test) and one corrupted
    bench = tmp_path / "bench"
    Data.to_verl_parquet(Data.rows_from_problems(["p"], ["1"], data_source="test-math-aime24"), bench / "aime24.parquet")
    (bench / "aime25.parquet").write_bytes(b"not the official file")
    monkeypatch.setitem(Data.BENCHMARKS, "aime24", {**Data.BENCHMARKS["aime24"],
                                                    "sha256": sha256_file(bench / "aime24.parquet")})
    t = D.doctor("single-gpu", [f"data.benchmarks_dir={bench}"], hardware=NODE_1x24).set_index("check")
    assert t.loc["benchmark aime24 (validation)", "status"] == "ok"
    assert t.loc["benchmark aime25", "status"] == "fail" and "sha256" in t.loc["benchmark aime25", "found"]
    assert t.loc["benchmark amc23", "status"] == "fail"    # absent from the given directory


def test_disk_for_kept_checkpoints():
    hw = {**NODE_8x80, "ray_nodes": ray_nodes(4), "disk_free_gb": 1000.0}
    # the default keeps the last two per stage (training.max_ckpt_to_keep): 6 checkpoints fit in 1 TB
    t = D.doctor("paper-4b", hardware=hw)
    row = t.set_index("check").loc["disk: checkpoints"]
    assert row["status"] == "ok" and "6 checkpoint(s)" in row["found"], row["found"]
    # keeping every checkpoint (verl's own default) needs ~4 TB: a failure naming the key
    t = D.doctor("paper-4b", ["training.max_ckpt_to_keep=null"], hardware=hw)
    row = t.set_index("check").loc["disk: checkpoints"]
    assert row["status"] == "fail" and "70 checkpoint(s)" in row["found"] and "max_ckpt_to_keep" in row["fix"]
    assert status(D.doctor("paper-4b", ["training.max_ckpt_to_keep=null"], hardware=hw, verl_overrides=KEEP2),
                  "disk: checkpoints") == "ok"
    # per checkpoint: fp32 model + Adam + bf16 hf_model = 14 bytes per parameter
    spec = R.KNOWN_MODELS["Qwen/Qwen3-4B"]
    assert R.checkpoint_gb(spec, load_config("paper-4b")) == pytest.approx(14 * spec.params / 1e9)


def test_logger_credentials():
    cfg = load_config("paper-7b", ["training.logger=[console,wandb]"])
    assert status(D.doctor(cfg, hardware=NODE_8x80, verl_overrides=KEEP2), "logger wandb") == "fail"
    for extra in ({"env": {"WANDB_API_KEY": "x"}}, {"netrc_hosts": ["api.wandb.ai"]},
                  {"env": {"WANDB_MODE": "offline"}}):
        assert status(D.doctor(cfg, hardware={**NODE_8x80, **extra}, verl_overrides=KEEP2), "logger wandb") == "ok"


def test_hardware_description_errors():
    with pytest.raises(ValueError, match="unknown key"):
        D.Hardware.from_dict({"gpu": []})
    with pytest.raises(ValueError, match="memory_gb"):
        D.Hardware.from_dict({"gpus": [{"name": "H100"}]})
    hw = D.Hardware.from_dict({"gpus": {"count": 8, "name": "H100", "memory_gb": 80}})
    assert len(hw.gpus) == 8 and hw.cuda_available
    assert R.gpu_type("NVIDIA A100-SXM4-40GB").name == "A100-40GB"
    assert R.gpu_type("NVIDIA H100 80GB HBM3").name == "H100"
    with pytest.raises(ValueError, match="unknown GPU type"):
        R.gpu_type("V100")


def test_cli_exit_code_with_a_hardware_file(tmp_path, capsys):
    f = tmp_path / "hw.json"
    f.write_text(json.dumps(NODE_1x24))
    assert main(["doctor", "--tier", "single-gpu", "--hardware", str(f), "--verl", KEEP2[0]]) == 1
    out = capsys.readouterr().out
    assert "gpu memory stage1: actor" in out and "fail" in out
    f.write_text(json.dumps({**NODE_1x24, "gpus": [{"name": "H100", "memory_gb": 80}]}))
    csv = tmp_path / "doctor.csv"
    rc = main(["doctor", "--tier", "single-gpu", "--hardware", str(f), "--verl", KEEP2[0], "--csv", str(csv)])
    assert rc == 0, capsys.readouterr().out
    assert set(pd.read_csv(csv)["status"]) <= {"ok", "warn"}


def test_smoke_tier_passes_on_this_machine(capsys):
    """The real run: this CPU machine, its installed packages, its disk."""
    t0 = time.time()
    assert main(["doctor", "--tier", "smoke", "--no-ray"]) == 0
    elapsed = time.time() - t0
    out = capsys.readouterr().out
    assert "package verl" in out and "0 fail" in out
    assert elapsed < 30


def test_gpu_tier_commands_stop_on_a_failed_doctor(tmp_path, monkeypatch, capsys):
    """train / reproduce / run at a GPU tier on this CPU machine: the doctor fails, nothing starts."""
    monkeypatch.setenv("POLARIS_ARTIFACTS", str(tmp_path / "artifacts"))
    assert main(["train", "--tier", "single-gpu"]) == 1
    assert main(["reproduce", "--tier", "paper-7b"]) == 1
    assert main(["run", "01_difficulty", "--tier", "paper-1.7b"]) == 1
    out = capsys.readouterr().out
    assert out.count("--skip-doctor") == 3 and "cuda" in out
    assert not (tmp_path / "artifacts").exists()        # no run folder was made
    # CPU tiers and --skip-doctor go straight through
    assert D.run_before(load_config("smoke")) is True
    assert D.run_before(load_config("paper-7b"), skip=True) is True


def test_sampling_only_runs_need_no_training_cluster():
    """run 04_evaluation of released checkpoints on one GPU node: the paper tier's 4 nodes, training
    memory and checkpoint disk are not required."""
    node = {**NODE_8x80, "disk_free_gb": 10.0}
    full = D.doctor("paper-4b", hardware=node)
    assert status(full, "ray cluster") == "fail" and status(full, "disk: checkpoints") == "fail"
    ev = D.doctor("paper-4b", hardware=node, training=False)
    assert not D.failed(ev), ev[ev.status == "fail"].to_string()
    assert status(ev, "gpus") == "ok" and "ray cluster" not in set(ev["check"])
    none = D.doctor("paper-4b", hardware={**node, "gpus": [], "cuda_available": False}, training=False)
    assert status(none, "gpus") == "fail" and status(none, "cuda") == "fail"


def test_cuda_probe_runs_in_a_child_process(monkeypatch):
    """Device properties are read in a child process (a CUDA context in the training's driver would
    hold memory on GPU 0); a broken probe is reported, not raised."""
    out = H._cuda_probe()
    assert set(out) == {"cuda_version", "available", "gpus", "nccl", "driver"}
    monkeypatch.setattr(H, "_CUDA_PROBE", "import sys; sys.exit('libcuda.so: cannot open shared object file')")
    bad = H._cuda_probe()
    assert bad["cuda_version"].startswith("error") and "libcuda" in bad["cuda_version"]
    hw = D.detect_hardware(ray=False)
    assert hw.cuda_version.startswith("error") and hw.gpus == []


@pytest.mark.parametrize("kernels", ["AMX", "AVX512-BF16-AMD", "AVX512-BF16", "none"])
def test_the_cpu_precision_row_says_what_the_launch_will_run_in(monkeypatch, kernels):
    """`cpu_precision: auto` trains in bf16 where bf16 was measured faster (AMX; AMD's AVX-512 BF16),
    fp32 elsewhere; the row shows what the launch's own rule (`resolve_precision`) gives and the
    measured `make reproduce` time of that precision; a forced bf16 warns where it does not pay, and
    says bf16 is emulated where the CPU has no bf16 kernels at all."""
    import polaris_repro.machine as M
    import polaris_repro.verl_cpu as V
    from polaris_repro.doctor.software import SMOKE_MINUTES, check_cpu_precision

    pays = kernels in ("AMX", "AVX512-BF16-AMD")
    monkeypatch.setattr(V, "native_bf16", lambda: kernels != "none")
    monkeypatch.setattr(M, "amx_bf16", lambda: kernels == "AMX")
    monkeypatch.setattr(M, "bf16_pays", lambda: pays)
    hw = H.Hardware()
    [r] = check_cpu_precision(load_config("smoke"), hw)
    assert r["status"] == "ok"
    assert ("-> bf16" in r["found"]) == pays and ("-> fp32" in r["found"]) == (not pays)
    assert ("no AMX" in r["found"]) == kernels.startswith("AVX512-BF16")
    key = "fp32" if not pays else "AMX" if kernels == "AMX" else "AVX512-BF16"
    assert SMOKE_MINUTES[key] in r["found"]  # the time a smoke run takes on this class
    assert r["found"].split(" -> ")[1].split()[0] == V.resolve_precision("auto")
    [forced] = check_cpu_precision(load_config("smoke", ["training.cpu_precision=bf16"]), hw)
    assert forced["status"] == ("ok" if pays else "warn")
    assert ("emulated" in forced["fix"]) == (kernels == "none")
    if kernels == "AVX512-BF16":
        assert "slower than fp32" in forced["fix"]
    [fp32] = check_cpu_precision(load_config("smoke", ["training.cpu_precision=fp32"]), hw)
    assert fp32["status"] == "ok" and "-> fp32" in fp32["found"]


def test_the_doctor_smoke_times_are_the_performance_pages():
    """The minutes doctor quotes for a smoke run are those docs/quickstart.md reports."""
    from polaris_repro.doctor.software import SMOKE_MINUTES

    page = (D.ENV_DIR.parent / "docs" / "quickstart.md").read_text()
    for text in SMOKE_MINUTES.values():
        minutes = text.split(" min")[0].replace("-", "–")
        assert minutes + " min" in page, text


def test_cuda_major_and_driver_against_the_cluster_set():
    """One CUDA major (envs/cluster.txt's ``# CUDA:`` line, environment.yml's cuda-toolkit): a driver
    that supports an older CUDA fails with the minimum driver named; a torch built for another CUDA
    warns; a missing flash-attn names its own install step."""
    need, driver = D.cluster_cuda()
    assert need == 13 and driver == ">=580"
    assert "cuda-toolkit=13." in (D.ENV_DIR.parent / "environment.yml").read_text()
    old_driver = D.doctor("paper-4b", hardware={**NODE_8x80, "cuda_driver": "12.8"})
    r = old_driver[old_driver["check"] == "cuda"].iloc[0]
    assert r["status"] == "fail" and ">=580" in r["fix"] and "CUDA 12.8" in r["found"]
    cu12 = D.doctor("paper-4b", hardware={**NODE_8x80, "cuda_version": "12.8"})
    assert status(cu12, "cuda") == "warn"
    no_fa = D.doctor("paper-4b", hardware={**NODE_8x80, "packages": {**CLUSTER, "flash-attn": None}})
    r = no_fa[no_fa["check"] == "package flash-attn"].iloc[0]
    assert r["status"] == "fail" and "--no-build-isolation" in r["fix"] and "flash-attn==2.8.3" in r["fix"]
