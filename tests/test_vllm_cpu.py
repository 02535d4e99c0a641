"""The vLLM sampling engine, for real, on CPU, at the cluster's vLLM version (0.24.0).

The project's .venv has no vLLM (torch 2.13.0; vLLM 0.24 needs torch 2.11), so this test runs
tests/vllm_cpu_probe.py on the tiny model inside the cluster's environment on a CPU
(polaris_repro.sampling.vllm_cpu_env: envs/cluster.txt with vllm-cpu 0.24.0 swapped in for the CUDA
vllm; built once, ~11 GB, cached under the model cache keyed by both files' hash). The evaluation's
YaRN path (hf_overrides) is thus tested against the vLLM a cluster runs. The probe applies the shared behavioural checks
(tests/sampler_checks.py, the same ones test_sampling.py applies to the transformers engine) and
the vLLM-specific ones; each becomes one test here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import sampler_checks as checks
from polaris_repro.models import resolve_model_path
from polaris_repro.sampling import vllm_cpu_env

pytestmark = pytest.mark.slow

PROBE = Path(__file__).resolve().parent / "vllm_cpu_probe.py"
PROBE_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",              # GiB of KV cache per engine (default is larger)
    "VLLM_ALLOW_INSECURE_SERIALIZATION": "1",   # lets the probe read the rotary embedding (apply_model)
    "VLLM_LOGGING_LEVEL": "WARNING",
}
CHECK_NAMES = (["engine_sizing_and_prefix_caching"] + [c.__name__ for c in checks.ENGINE_CHECKS]
               + ["all_n_samples_in_one_request", "yarn_extends_context_and_hf_overrides",
                  "data_parallel_2_matches_1"])


@pytest.fixture(scope="module")
def venv() -> Path:
    return vllm_cpu_env.ensure_venv()


@pytest.fixture(scope="module")
def probe_report(venv, tmp_path_factory) -> dict:
    model = resolve_model_path("builtin:tiny")
    out = tmp_path_factory.mktemp("vllm") / "report.json"
    proc = vllm_cpu_env.run_in_venv([str(PROBE), model, str(out), "--data-parallel"], timeout=1200,
                                    env=PROBE_ENV, capture_output=True, text=True)
    tail = f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-2000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    assert out.exists(), f"the vLLM probe wrote no report: {tail}"
    report = json.loads(out.read_text())
    report["_tail"] = tail
    print(json.dumps({"timings": report.get("timings"),
                      "check_seconds": {k: v["seconds"] for k, v in report["checks"].items()},
                      "yarn": report["checks"].get("yarn_extends_context_and_hf_overrides", {}).get("info")},
                     indent=1, default=str))
    return report


def test_venv_runs_the_clusters_vllm(venv):
    info = vllm_cpu_env.build_info()
    cluster = vllm_cpu_env.CLUSTER_REQUIREMENTS
    assert info and info["versions"]["vllm-cpu"] == vllm_cpu_env.pinned_version(cluster, "vllm")
    assert info["versions"]["torch"] == vllm_cpu_env.pinned_version(cluster, "torch")
    assert info["versions"]["transformers"] == vllm_cpu_env.pinned_version(cluster, "transformers")


def test_venv_loads_the_kernels_for_this_cpu(venv):
    """vllm-cpu carries three kernel libraries; the one for this CPU's instruction set loaded (the
    AVX-512 BF16 build, imported on a CPU with AVX2 only, dies of SIGILL: CI on an AMD Zen 3)."""
    import torch
    if torch.cpu._is_avx512_supported():
        want = "_C" if torch.cpu._is_avx512_bf16_supported() else "_C_AVX512"
    else:
        want = "_C_AVX2"
    kernels = vllm_cpu_env.build_info()["kernels"]
    assert kernels["library"] == want, kernels
    assert kernels["ops"] > 10, kernels


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_vllm_engine_on_cpu(name, probe_report):
    r = probe_report["checks"].get(name)
    assert r is not None, f"check {name} did not run; probe output: {probe_report['_tail']}"
    assert r["ok"], f"{name} failed in the cluster-on-CPU venv:\n{r['error']}"
