#!/usr/bin/env bash
# make check-cluster-env: resolve envs/cluster.txt as one set with pip's resolver (a dry run in a
# throwaway venv: nothing is installed, no GPU needed, PyPI must be reachable), print the resolved
# versions of the main packages and the CUDA major of the nvidia-* wheels, and check that major against
# envs/cluster.txt's '# CUDA: N' line.
# Exit status: 0 ok; 1 the set does not resolve (conflict, missing or unbuildable package); 2 the CUDA
# major differs from the stated one (or cannot be read from the resolution).
# PYTHON (default python3.11) makes the venv; CLUSTER_REQS checks another requirements file instead;
# PIP_CACHE_DIR is honoured (the first run downloads a few GB of wheels, later runs take about a minute).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
reqs=${CLUSTER_REQS:-$repo/envs/cluster.txt}
python=${PYTHON:-python3.11}
start=$SECONDS

work=$(mktemp -d "${TMPDIR:-/tmp}/check-cluster-env.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "check-cluster-env: venv ($python) in $work"
"$python" -m venv "$work/venv"
vpy=$work/venv/bin/python
"$vpy" -m pip install -q --upgrade pip
echo "check-cluster-env: $("$vpy" -m pip --version | cut -d' ' -f1-2): dry-run resolve of $reqs"

if ! "$vpy" -m pip install --dry-run --ignore-installed --report "$work/report.json" \
        -r "$reqs" >"$work/pip.log" 2>&1; then
    echo "check-cluster-env: FAIL: pip cannot resolve $reqs as one set:" >&2
    grep -v "is ignored: it is neither a file nor a directory" "$work/pip.log" | tail -n 30 >&2
    exit 1
fi

rc=0
"$vpy" - "$work/report.json" "$reqs" <<'EOF' || rc=$?
import json
import re
import sys

report, reqs = sys.argv[1], sys.argv[2]
installed = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
             for i in json.load(open(report))["install"]}
print(f"resolved {len(installed)} packages:")
for name in ("torch", "vllm", "verl", "transformers", "ray", "fastapi", "uvicorn", "cuda-toolkit"):
    print(f"  {name:14s} {installed.get(name, '-')}")

# CUDA major evidence: nvidia-*-cuNN names, and the versions of the CUDA runtime and the cuda-toolkit
# meta-package (torch pins cuda-toolkit[...]==X.Y.Z). Library versions (cufft 12.x, ...) are not CUDA's.
majors = {}
for name in sorted(installed):
    m = re.fullmatch(r"nvidia-.*-cu(\d+)", name)
    if m:
        majors.setdefault(m.group(1), []).append(name)
for name in ("nvidia-cuda-runtime", "cuda-toolkit"):
    if name in installed:
        majors.setdefault(installed[name].split(".")[0], []).append(f"{name}=={installed[name]}")
nvidia = sorted(n for n in installed if n.startswith("nvidia-"))
print(f"nvidia-* packages ({len(nvidia)}): " + " ".join(f"{n}=={installed[n]}" for n in nvidia))
for major, names in sorted(majors.items()):
    print(f"  CUDA {major}: {' '.join(names)}")

stated = re.findall(r"^# CUDA:\s*(\d+)\s*$", open(reqs).read(), re.M)
if len(stated) != 1:
    sys.exit(f"check-cluster-env: FAIL: envs/cluster.txt must state '# CUDA: N' once (found {stated})")
if set(majors) != {stated[0]}:
    sys.exit(f"check-cluster-env: FAIL: the resolved nvidia-* wheels are CUDA {sorted(majors) or 'unknown'}, "
             f"envs/cluster.txt states CUDA {stated[0]}")
print(f"CUDA major {stated[0]}: matches envs/cluster.txt")
EOF
if [ "$rc" -ne 0 ]; then
    exit 2
fi
echo "check-cluster-env: OK ($((SECONDS - start)) s)"
