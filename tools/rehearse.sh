#!/usr/bin/env bash
# make rehearse: the paper tiers' distributed path on one CPU machine (issue 25).
#
#   1. a 2-node Ray cluster on loopback: `ray start --head` + `ray start --address` (two raylets, one
#      GCS, object stores, placement groups across nodes), each node declaring 1 fake GPU;
#   2. `polaris-repro doctor --tier rehearsal` against the live cluster (it lists both nodes);
#   3. the SLURM and ray-job scripts rendered for the rehearsal tier;
#   4. stage 1 of the rehearsal tier (tiny model, paper-4b's switches, trainer.nnodes=2, one FSDP
#      rank per node) through RAY_ADDRESS, stopped with SIGTERM after its first checkpoint (what SLURM
#      does at the time limit): the stage must be recorded as interrupted and the job's Ray workers
#      must be gone from both nodes;
#   5. the rendered `ray job submit` script submitted to the cluster: the stage runner resumes stage 1
#      from its 2-rank sharded checkpoint and runs stages 2 and 3, merging each stage's 2 shards;
#   6. checks and a summary of what ran where (Ray node of every rank, from each stage.json);
#   7. stops the cluster it started (also on failure or Ctrl-C), and nothing else: `ray stop` would
#      end every Ray process on the machine, so the two `ray start` sessions are stopped by id.
#
# Environment: REHEARSE_RUN (run folder), REHEARSE_PORT (GCS port, 6391), REHEARSE_DASHBOARD_PORT
# (8266), REHEARSE_CLIENT_PORT (6392), REHEARSE_STAGES (all | 1: stage 1 only, the test's setting),
# REHEARSE_OVERRIDES (tier config overrides for every train call and the rendered job, space-separated
# key=value; `make rehearse-vllm` passes training.rollout_name=vllm training.old_log_prob=recompute),
# VENV (default .venv; `make rehearse-vllm`: the cluster's environment on a CPU).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
VENV=${VENV:-$REPO/.venv}
export PATH="$VENV/bin:$PATH"
PORT=${REHEARSE_PORT:-6391}
DASHBOARD_PORT=${REHEARSE_DASHBOARD_PORT:-8266}
CLIENT_PORT=${REHEARSE_CLIENT_PORT:-6392}   # outside Ray's worker port range (10002-19999)
STAGES=${REHEARSE_STAGES:-all}
OVR=()
for o in ${REHEARSE_OVERRIDES:-}; do OVR+=(-o "$o"); done
RUN=${REHEARSE_RUN:-$REPO/artifacts/rehearsal/rehearse-$(date +%Y%m%d-%H%M%S)}
RAY_TMP=$(mktemp -d /tmp/polaris-rh.XXXXXX)     # short: Ray's socket paths live under it

# every Ray process of the rehearsal (nodes, drivers, the job) uses token authentication (Ray 2.60's
# `ray start --head` turns it on); workers keep the niceness of the `ray start` that spawned them
export RAY_AUTH_MODE=token RAY_worker_niceness=0 RAY_DEDUP_LOGS=0 RAY_TMPDIR="$RAY_TMP"
export RAY_ADDRESS="127.0.0.1:$PORT"
# Ray 2.60's `ray start` checks for a token and does not create one (a home that never ran Ray has
# none): use the caller's (RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH naming a file) or create one for this
# rehearsal in its private temp dir; every node, driver and `ray job submit` reads RAY_AUTH_TOKEN_PATH
if [ -z "${RAY_AUTH_TOKEN:-}" ]; then
    RAY_AUTH_TOKEN_PATH=$(python -m polaris_repro.training.ray_auth ensure "${RAY_AUTH_TOKEN_PATH:-$RAY_TMP/ray_auth_token}")
    export RAY_AUTH_TOKEN_PATH
fi
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
SESSIONS=()
T0=$(date +%s)
say() { echo "[rehearse +$(( $(date +%s) - T0 ))s] $*"; }

session_pids() {   # live processes of the given session ids
    ps -eo pid=,sid=,stat= | awk -v s=" $* " 'index(s, " " $2 " ") && $3 !~ /^Z/ {print $1}'
}
stop_cluster() {
    local rc=$?
    if [ "${#SESSIONS[@]}" -gt 0 ]; then
        say "stopping the rehearsal cluster (sessions ${SESSIONS[*]})"
        local pids
        # the cluster's processes, and any verl launch of this run (the job's stage runner starts
        # each launch in a session of its own; its command line names the run folder)
        pids="$(session_pids "${SESSIONS[@]}") $(pgrep -f -- "polaris_repro.training.main_polaris.*$RUN" || true)"
        # a stage runner still running (the script failed while waiting for it)
        [ -n "${TRAIN_PID:-}" ] && kill -0 "$TRAIN_PID" 2>/dev/null && pids="$pids $TRAIN_PID"
        # shellcheck disable=SC2086
        [ -n "${pids// /}" ] && kill -TERM $pids 2>/dev/null
        for _ in $(seq 20); do
            [ -z "$(session_pids "${SESSIONS[@]}")" ] && break
            sleep 0.5
        done
        pids=$(session_pids "${SESSIONS[@]}")
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
        SESSIONS=()
    fi
    if [ "$rc" -ne 0 ] && [ -d "$RAY_TMP/session_latest/logs" ]; then   # keep Ray's own logs of a failure
        cp -rL "$RAY_TMP/session_latest/logs" "$RUN/ray-session-logs" 2>/dev/null || true
    fi
    rm -rf "$RAY_TMP"
    if [ "$rc" -eq 0 ]; then say "passed in $(( $(date +%s) - T0 )) s; run folder $RUN"; else say "FAILED (exit $rc); logs in $RUN"; fi
}
trap stop_cluster EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

job_workers() {   # Ray worker processes of a job (anything but idle pool workers and node agents)
    ps -eo sid=,args= | awk -v s=" ${SESSIONS[*]} " 'index(s, " " $1 " ") && $2 ~ /^ray::/ &&
        $2 !~ /^ray::(IDLE|DashboardAgent|RuntimeEnvAgent)/ {print $2}'
}

# ---- 1. the cluster: two `ray start` processes, each in a session of its own (stopped by id)
say "starting Ray head (127.0.0.1:$PORT) and worker node; logs: $RUN/ray-*.log"
setsid ray start --head --node-ip-address=127.0.0.1 --port="$PORT" --num-cpus=8 --num-gpus=1 \
    --dashboard-host=127.0.0.1 --dashboard-port="$DASHBOARD_PORT" --ray-client-server-port="$CLIENT_PORT" \
    --disable-usage-stats --block > "$RUN/ray-head.log" 2>&1 &
SESSIONS+=("$!")
for _ in $(seq 90); do
    kill -0 "${SESSIONS[0]}" 2>/dev/null || { tail -20 "$RUN/ray-head.log"; say "the Ray head did not start"; exit 1; }
    ray status --address "$RAY_ADDRESS" > /dev/null 2>&1 && break
    sleep 1
done
setsid ray start --address="$RAY_ADDRESS" --node-ip-address=127.0.0.1 --num-cpus=8 --num-gpus=1 \
    --disable-usage-stats --block > "$RUN/ray-worker.log" 2>&1 &
SESSIONS+=("$!")
# wait for both nodes; a `ray start` that ends meanwhile fails the rehearsal at once, with its log
python - "${SESSIONS[0]}" "$RUN/ray-head.log" "${SESSIONS[1]}" "$RUN/ray-worker.log" <<'PY'
import os, sys, time, ray
procs = list(zip(sys.argv[1::2], sys.argv[2::2]))
ray.init(log_to_driver=False, logging_level="ERROR")
for _ in range(90):
    alive = [n for n in ray.nodes() if n["Alive"]]
    if len(alive) >= 2:
        break
    for pid, log in procs:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            print(open(log).read()[-3000:], file=sys.stderr)
            raise SystemExit(f"`ray start` (pid {pid}) ended before both nodes joined; its log is above ({log})")
    time.sleep(1)
else:
    raise SystemExit(f"the rehearsal cluster has {len(alive)} node(s), not 2")
print("Ray nodes:", ", ".join(f"{n['NodeID'][:8]} ({n['Resources'].get('CPU', 0):g} CPU, "
                              f"{n['Resources'].get('GPU', 0):g} fake GPU)" for n in alive), flush=True)
PY

# ---- 2. the doctor against the live cluster
say "polaris-repro doctor --tier rehearsal (RAY_ADDRESS=$RAY_ADDRESS)"
polaris-repro doctor --tier rehearsal --run "$RUN" "${OVR[@]}" | tee "$RUN/doctor.txt"
grep -q "ray cluster.*2 alive node(s)" "$RUN/doctor.txt"
[ "$(grep -c "^node .*run folder present" "$RUN/doctor.txt")" = 2 ] || { say "doctor did not check the run folder from both nodes"; exit 1; }

# ---- 3. the launch scripts, rendered for this tier and cluster
TRAIN_ARGS=""
[ "$STAGES" = 1 ] && TRAIN_ARGS="--stage 1"
polaris-repro train --tier rehearsal --render-launch "$RUN/launch" --run "$RUN" "${OVR[@]}" \
    -o cluster.ray_port="$PORT" -o cluster.dashboard_port="$DASHBOARD_PORT" --python-env "$VENV" \
    --cpus-per-node 8 --train-args "$TRAIN_ARGS"

# ---- 4. stage 1, stopped by SIGTERM after its first checkpoint
# the tier's model first, built once per machine (minutes on a busy machine): not inside the wait below
say "the rehearsal tier's model: $(python -c 'from polaris_repro.models import resolve_model_path as r; print(r("builtin:tiny"))')"
CKPT="$RUN/03_training/stage1/checkpoints/latest_checkpointed_iteration.txt"
say "stage 1 on 2 nodes; SIGTERM once $CKPT exists"
polaris-repro train --tier rehearsal --stage 1 --run "$RUN" "${OVR[@]}" > "$RUN/stage1-sigterm.log" 2>&1 &
TRAIN_PID=$!
for _ in $(seq 400); do
    [ -f "$CKPT" ] && break
    kill -0 "$TRAIN_PID" 2>/dev/null || { cat "$RUN/stage1-sigterm.log"; say "stage 1 ended before its first checkpoint"; exit 1; }
    sleep 0.5
done
[ -f "$CKPT" ] || { say "no checkpoint after 200 s"; exit 1; }
[ -n "$(job_workers)" ] || { say "no job workers seen on the cluster while stage 1 runs"; exit 1; }
say "job workers on the cluster before SIGTERM: $(job_workers | sort | uniq -c | awk '{printf "%s x%s, ", $2, $1}')"
kill -TERM "$TRAIN_PID"
rc=0
wait "$TRAIN_PID" || rc=$?
say "train exited with $rc after SIGTERM (checkpoint at step $(cat "$CKPT"))"
[ "$rc" -eq 143 ] || { tail -30 "$RUN/stage1-sigterm.log"; exit 1; }
python - "$RUN" <<'PY'
import json, sys
st = json.load(open(f"{sys.argv[1]}/03_training/stage1/stage.json"))
assert st["status"] == "interrupted" and st["interrupted_by"] == "SIGTERM", st.get("status")
print(f"stage1: status {st['status']} by {st['interrupted_by']}", flush=True)
PY
for _ in $(seq 60); do [ -z "$(job_workers)" ] && break; sleep 0.5; done
if [ -n "$(job_workers)" ]; then say "job workers still running after SIGTERM:"; job_workers; exit 1; fi
say "no job workers left on either node"

# ---- 5. the rendered ray job script: resume stage 1 (and run stages 2 and 3)
say "ray job submit (rendered $RUN/launch/ray_job_submit.sh): resume from the sharded checkpoint"
# the head's job agent may register after the dashboard answers (seen under load: "No available
# agent to submit job, please try again later"); the job is then not created, so submit again
for attempt in $(seq 10); do
    RAY_HEAD=127.0.0.1 SUBMISSION_ID="polaris-rehearsal-$(date +%H%M%S)-$attempt" bash "$RUN/launch/ray_job_submit.sh" \
        2>&1 | tee "$RUN/ray-job.log" | grep -E --line-buffered "^\[|Job '|succeeded|failed|Error" || true
    grep -q "No available agent to submit job" "$RUN/ray-job.log" || break
    say "the job agent is not up yet (attempt $attempt); submitting again in 5 s"
    sleep 5
done
grep -q "Job '.*' succeeded" "$RUN/ray-job.log" || { tail -40 "$RUN/ray-job.log"; exit 1; }

# ---- 6. checks and what ran where
python - "$RUN" "$STAGES" <<'PY'
import glob, json, os, sys
from tools.rehearsal_checks import two_node_stage
run, which = sys.argv[1], sys.argv[2]
names = ["stage1"] if which == "1" else ["stage1", "stage2", "stage3"]
print(f"{'stage':7} {'steps':>5} {'launches':>8} {'train s':>7}  FSDP rank -> Ray node (pid)")
for name in names:
    d = f"{run}/03_training/{name}"
    st = two_node_stage(d)
    where = "; ".join(f"rank {p['rank']} -> {p['node_id'][:8]} ({p['pid']})" for p in st["placement"])
    print(f"{name:7} {st['final_step']:>5} {st['launches']:>8} {st['train_s']:>7}  {where}")
    kept = glob.glob(f"{d}/checkpoints/global_step_*")
    assert len(kept) <= 2, f"{name}: {len(kept)} checkpoints kept (max_ckpt_to_keep 2)"
s1 = f"{run}/03_training/stage1"
resumed = open(f"{s1}/logs/launch-002.log").read()
assert "[polaris] resumed at step 1" in resumed, "stage 1's second launch did not resume from step 1"
print("stage1: killed by SIGTERM after step 1, resumed at step 1 from the 2-rank checkpoint; "
      "2 shards per checkpoint, merged to HF", flush=True)
PY
