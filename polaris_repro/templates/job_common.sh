REPO={{repo}}
RUN_DIR={{run_dir}}
TIER={{tier}}
CPUS_PER_NODE=${SLURM_CPUS_PER_TASK:-{{cpus_per_task}}}
MAX_RESTARTS=${POLARIS_MAX_RESTARTS:-50}   # requeues before the job gives up (a run that cannot progress)
SBATCH_SCRIPT=${POLARIS_SBATCH_SCRIPT:-{{script}}}
# a venv or conda prefix with envs/cluster.txt and this package installed, at the same path on every node
PYTHON_ENV=${PYTHON_ENV:-{{python_env}}}
# Since Slurm 22.05 srun steps do not inherit --cpus-per-task: without this a node's srun step (its
# `ray start`) could be bound to one core while Ray advertises CPUS_PER_NODE
export SRUN_CPUS_PER_TASK=$CPUS_PER_NODE

# Network interfaces for NCCL (GPU collectives) and gloo (CPU collectives, Ray's object transfer
# falls back to the node IP). On nodes with several interfaces set them to the fabric's, e.g. ib0
# or the one `ip -br addr` shows with the node's cluster address (--socket-ifname at rendering).
{{socket_env}}

# Models and data sets: every node reads them from here (fill it first: polaris-repro fetch)
{{hf_env}}

say() { echo "[polaris-slurm $(date +%H:%M:%S)] $*"; }

if [ -d "$PYTHON_ENV/conda-meta" ] && command -v conda >/dev/null 2>&1; then
    # shellcheck disable=SC1091
    source "$(conda info --base)/etc/profile.d/conda.sh"
    conda activate "$PYTHON_ENV"
elif [ -f "$PYTHON_ENV/bin/activate" ]; then
    # shellcheck disable=SC1091
    source "$PYTHON_ENV/bin/activate"
else
    echo "PYTHON_ENV=$PYTHON_ENV is neither a venv nor a conda environment (no bin/activate, no conda-meta)" >&2
    exit 2
fi
mkdir -p "$RUN_DIR"
POLARIS_ARTIFACTS="$(dirname "$RUN_DIR")"
export POLARIS_ARTIFACTS
export PYTHONUNBUFFERED=1
say "job ${SLURM_JOB_ID:-?} allocation $(( ${SLURM_RESTART_COUNT:-0} + 1 )) (SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST:-?}"

# ---- Ray's auth token (Ray 2.60 runs token authentication; `ray start` does not create a token)
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
if [ "$RAY_AUTH_MODE" = token ] && [ -z "${RAY_AUTH_TOKEN:-}" ]; then
    RAY_AUTH_TOKEN_PATH=$(python -m polaris_repro.training.ray_auth ensure "${RAY_AUTH_TOKEN_PATH:-$RUN_DIR/ray_auth_token}")
    export RAY_AUTH_TOKEN_PATH
fi

# ---- continuing in a new allocation: the same job requeued (same id, this output file continued,
# SLURM_RESTART_COUNT counts the allocations), or this script submitted again where requeues are refused
requeue_or_resubmit() {   # WHAT: what was saved (said in the log)
    local restarts=${SLURM_RESTART_COUNT:-0}
    if [ "$restarts" -ge "$MAX_RESTARTS" ]; then
        say "$1, but the job was requeued $restarts times (POLARIS_MAX_RESTARTS=$MAX_RESTARTS): not requeued; sbatch $SBATCH_SCRIPT to go on"
        exit {{exit_stopped}}
    fi
    say "$1; requeueing job $SLURM_JOB_ID (restart $((restarts + 1))): the next allocation resumes the run"
    trap - EXIT
    trap 'exit 0' TERM    # SLURM ends this allocation once the requeue is accepted
    if scontrol requeue "$SLURM_JOB_ID"; then
        sleep 300 &    # SLURM ends this allocation now; do not report the job as finished meanwhile
        wait $! || true
        exit 0
    fi
    say "scontrol requeue was refused (a site without JobRequeue?): submitting $SBATCH_SCRIPT again"
    sbatch "$SBATCH_SCRIPT"
    exit 0
}
