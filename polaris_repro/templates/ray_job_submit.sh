#!/bin/bash
# Submit POLARIS training of tier "{{tier}}" to an existing Ray cluster with `ray job submit`.
# Rendered by `polaris-repro train --tier {{tier}} --render-launch DIR` ({{description}}).
#
# Needs: a Ray cluster of {{nnodes}} node(s) x {{gpus_per_node}} GPUs (e.g. started with polaris_slurm.sbatch
# or `ray start --head` / `ray start --address=...`) with its dashboard (job server) on port {{dashboard_port}},
# this repository and its environment ({{python_env}}, envs/cluster.txt) at the same path on every node,
# and the run folder on shared storage. The job runs the stage runner on the head node; each stage's
# verl launch joins the cluster through RAY_ADDRESS (set by Ray for job drivers). Resubmitting with
# the same RUN_DIR resumes. Ray 2.60 clusters started with token authentication need
# RAY_AUTH_MODE=token here too.
#
# Usage:  RAY_HEAD=<head-host> bash ray_job_submit.sh [extra ray job submit options, e.g. --no-wait]
set -euo pipefail
RAY_HEAD=${RAY_HEAD:?set RAY_HEAD to the host name or IP of the Ray head node}
PYTHON_ENV=${PYTHON_ENV:-{{python_env}}}
SUBMISSION_ID=${SUBMISSION_ID:-polaris-{{tier}}-$(date +%Y%m%d-%H%M%S)}

ray job submit \
    --address "http://$RAY_HEAD:{{dashboard_port}}" \
    --submission-id "$SUBMISSION_ID" \
    --runtime-env-json '{"env_vars": {"PYTHONUNBUFFERED": "1", "POLARIS_ARTIFACTS": "{{artifacts_root}}"}}' \
    "$@" \
    -- bash -c "cd {{repo}} && export PATH=\"$PYTHON_ENV/bin:\$PATH\" && polaris-repro train --tier {{tier}} --run {{run_dir}} {{train_args}}"
