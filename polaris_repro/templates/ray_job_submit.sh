#!/bin/bash
# Submit POLARIS training of tier "{{tier}}" to an existing Ray cluster with `ray job submit`.
# Rendered by `polaris-repro train --tier {{tier}} --render-launch DIR` ({{description}}).
#
# Needs: a Ray cluster of {{nnodes}} node(s) x {{gpus_per_node}} GPUs (e.g. started with polaris_slurm.sbatch
# or `ray start --head` / `ray start --address=...`) with its dashboard (job server) on port {{dashboard_port}},
# this repository and its environment ({{python_env}}, envs/cluster.txt) at the same path on every node,
# and the run folder on shared storage. The job runs the stage runner on the head node; each stage's
# verl launch joins the cluster through RAY_ADDRESS (set by Ray for job drivers). Resubmitting with
# the same RUN_DIR resumes.
#
# Authentication: Ray 2.60 clusters run token authentication, and the job server refuses a submission
# without the cluster's token. The token is RAY_AUTH_TOKEN or the file RAY_AUTH_TOKEN_PATH if set,
# else {{run_dir}}/ray_auth_token (what polaris_slurm.sbatch creates), else ~/.ray/auth_token
# (what `ray get-auth-token --generate` writes before a `ray start --head` by hand).
#
# Usage:  RAY_HEAD=<head-host> bash ray_job_submit.sh [extra ray job submit options, e.g. --no-wait]
set -euo pipefail
RAY_HEAD=${RAY_HEAD:?set RAY_HEAD to the host name or IP of the Ray head node}
PYTHON_ENV=${PYTHON_ENV:-{{python_env}}}
SUBMISSION_ID=${SUBMISSION_ID:-polaris-{{tier}}-$(date +%Y%m%d-%H%M%S)}
{{hf_env}}
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
if [ "$RAY_AUTH_MODE" = token ] && [ -z "${RAY_AUTH_TOKEN:-}" ] && [ -z "${RAY_AUTH_TOKEN_PATH:-}" ]; then
    if [ -s "{{run_dir}}/ray_auth_token" ]; then
        export RAY_AUTH_TOKEN_PATH="{{run_dir}}/ray_auth_token"
    elif [ ! -s "$HOME/.ray/auth_token" ]; then
        echo "no Ray auth token: set RAY_AUTH_TOKEN_PATH to the file the cluster was started with" \
             "(or RAY_AUTH_TOKEN to its value)" >&2
        exit 2
    fi
fi

# the job's driver runs on the head node in the cluster's environment: pass the model cache there too
hf_exports=""
if [ -n "${HF_HOME:-}" ]; then
    hf_exports="export HF_HOME=$HF_HOME HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1} POLARIS_BENCHMARKS_DIR=${POLARIS_BENCHMARKS_DIR:-$HF_HOME/benchmarks} && "
fi

ray job submit \
    --address "http://$RAY_HEAD:{{dashboard_port}}" \
    --submission-id "$SUBMISSION_ID" \
    --runtime-env-json '{"env_vars": {"PYTHONUNBUFFERED": "1", "POLARIS_ARTIFACTS": "{{artifacts_root}}"}}' \
    "$@" \
    -- bash -c "cd {{repo}} && $hf_exports export PATH=\"$PYTHON_ENV/bin:\$PATH\" && polaris-repro train --tier {{tier}} --run {{run_dir}} {{train_args}}"
