#!/usr/bin/env bash
# make rehearse-slurm: the rendered SLURM job script under a real SLURM, with its time limit (issue 30).
#
#   1. a private 2-node SLURM on loopback (tools/local_slurm.sh: its own munged, slurmctld and two
#      slurmd, config, ports, state and spool folders under a temp dir);
#   2. the rehearsal tier's polaris_slurm.sbatch rendered with a short time limit (--time, --signal-lead)
#      and submitted to both nodes. SLURM warns with SIGUSR1 before the limit; the job writes the stop
#      request, the trainer checkpoints the step it is on and ends, the job stops its Ray and requeues
#      itself; every next allocation resumes from the checkpoint, until all three stages are done
#      (2 FSDP ranks on 2 nodes, sharded checkpoints merged). Each allocation of this short limit does
#      about one verl launch, so the run takes several: a 10-day run under a 2-day limit in miniature;
#   3. a section's job script (01_difficulty on one node) gets the time-limit warning by hand
#      (`scancel --signal=USR1 --batch`) while it runs: it stops the section, requeues itself, and the
#      next allocation finishes the section;
#   4. a second training job (stage 1 only, a long limit) is cancelled with `scancel` mid-stage: nothing of it
#      may keep running; resubmitting the same script resumes and finishes the stage;
#   5. prints what happened (each allocation: the warning, the step it stopped at, the requeue, the
#      step it resumed at; rank -> node), then stops only the daemons it started, by pid, also on
#      failure, and checks that no Ray, SLURM or munge process of it is left.
#
# Environment: REHEARSE_RUN (run folder of the time-limit job; the cancel job uses RUN-cancel),
# REHEARSE_SLURM_STAGES (all | 1: the time-limit job trains stage 1 only, the test's setting),
# REHEARSE_SLURM_CANCEL (1 | 0: the scancel job), REHEARSE_SLURM_SECTION (1 | 0: the section job), REHEARSE_SLURM_TIME (minutes, 4) and
# REHEARSE_SLURM_LEAD (seconds of warning, 210), VENV (default .venv). Needs root (slurmd) and the
# Debian packages slurm-wlm and munge.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
VENV=${VENV:-$REPO/.venv}
export PATH="$VENV/bin:$PATH"
STAGES=${REHEARSE_SLURM_STAGES:-all}
CANCEL=${REHEARSE_SLURM_CANCEL:-1}
SECTION_JOB=${REHEARSE_SLURM_SECTION:-1}
LIMIT_MIN=${REHEARSE_SLURM_TIME:-4}
LEAD_S=${REHEARSE_SLURM_LEAD:-210}
RUN=${REHEARSE_RUN:-$REPO/artifacts/rehearsal/rehearse-slurm-$(date +%Y%m%d-%H%M%S)}
T0=$(date +%s)
say() { echo "[rehearse-slurm +$(( $(date +%s) - T0 ))s] $*"; }

for exe in slurmctld slurmd sbatch scontrol munged; do
    command -v "$exe" >/dev/null || { say "$exe not found: apt-get install slurm-wlm munge (Debian)"; exit 2; }
done
[ "$(id -u)" = 0 ] || { say "a private SLURM needs root (slurmd starts jobs as their users)"; exit 2; }

TMP=$(mktemp -d /tmp/prs.XXXXXX)     # short: Ray's and munge's socket paths live under it
chmod 755 "$TMP"                     # munged wants every folder above its socket searchable by all
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
CANCEL_RUN=$RUN-cancel

procs_with() {   # PATTERN...: live processes whose command line or environment holds one of them
    local d pat args=()
    for pat in "$@"; do args+=(-e "$pat"); done
    for d in /proc/[0-9]*; do
        [ "${d#/proc/}" = $$ ] && continue
        [ "$( { awk '{print $3}' < "$d/stat"; } 2>/dev/null)" = Z ] && continue
        if { tr '\0' '\n' < "$d/cmdline"; } 2>/dev/null | grep -qF "${args[@]}" ||
           { tr '\0' '\n' < "$d/environ"; } 2>/dev/null | grep -qF "${args[@]}"; then
            echo "${d#/proc/}"
        fi
    done
}
mine() { procs_with "$TMP" "$RUN/" "$CANCEL_RUN/"; }   # everything of this rehearsal (jobs: SLURM_CONF, RAY_TMPDIR)
finish() {
    local rc=$? left
    say "stopping the private SLURM (by pid)"
    bash tools/local_slurm.sh stop "$TMP/slurm" >/dev/null 2>&1 || true
    left=$(mine)
    if [ -n "$left" ]; then
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        if [ "$rc" -eq 0 ]; then say "processes of the rehearsal were still running after SLURM stopped: $left"; rc=1; fi
    fi
    rm -rf "$TMP"
    if [ "$rc" -eq 0 ]; then say "passed in $(( $(date +%s) - T0 )) s; nothing of it left running; run folder $RUN"
    else say "FAILED (exit $rc); logs in $RUN"; fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- 1. the private SLURM
say "starting a private SLURM: munged, slurmctld, slurmd node1 + node2 (loopback), state under $TMP/slurm"
eval "$(bash tools/local_slurm.sh start "$TMP/slurm" 8 | tail -1)"
export SLURM_CONF
sinfo -N -o "%N %T %c" | sed 's/^/    /'

# what the job scripts need on one machine: both Ray nodes on loopback, private Ray temp and ports
export HEAD_IP=127.0.0.1 RAY_NODE_IP=127.0.0.1 RAY_worker_niceness=0 RAY_DEDUP_LOGS=0 RAY_WAIT_S=120

render() {   # RUN_DIR OUT_DIR TIME LEAD TRAIN_ARGS
    polaris-repro train --tier rehearsal --render-launch "$2" --run "$1" --python-env "$VENV" --cpus-per-node 8 \
        -o cluster.ray_port="$(free_port)" -o cluster.dashboard_port="$(free_port)" \
        --time "$3" --signal-lead "$4" --train-args="$5" | sed 's/^/    /'
}
job_field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2; exit}'; }

watch_job() {   # JOBID TIMEOUT_S: print state changes until the job ends; its final state on stdout's last line
    local id=$1 limit=$2 last="" state reason restarts t=0
    while :; do
        state=$(job_field "$id" JobState); reason=$(job_field "$id" Reason); restarts=$(job_field "$id" Restarts)
        if [ "$state $reason $restarts" != "$last" ]; then
            say "job $id: $state (reason $reason, restarts $restarts)" >&2
            last="$state $reason $restarts"
        fi
        case "$state" in COMPLETED|FAILED|TIMEOUT|CANCELLED|NODE_FAIL|OUT_OF_MEMORY|"") echo "$state"; return ;; esac
        if [ "$t" -ge "$limit" ]; then say "job $id still $state after $limit s" >&2; echo "$state"; return; fi
        sleep 2
        t=$((t + 2))
    done
}

# the tier's model, built once per machine before any job (as a cluster run fetches its model first):
# a 4-minute allocation should not spend half of itself building it
say "the rehearsal tier's model: $(python -c 'from polaris_repro.models import resolve_model_path as r; print(r("builtin:tiny"))')"

# ---- 2. the time-limit job
TRAIN_ARGS=""
[ "$STAGES" = 1 ] && TRAIN_ARGS="--stage 1"
say "rendering the rehearsal tier's job script: --time $LIMIT_MIN (minutes), SIGUSR1 $LEAD_S s before the limit"
say "(on purpose the warning comes before a verl launch can finish a step, so every allocation does about one launch)"
render "$RUN" "$RUN/launch" "$LIMIT_MIN" "$LEAD_S" "$TRAIN_ARGS"
export RAY_TMPDIR=$TMP/ray RAY_CLIENT_PORT
RAY_CLIENT_PORT=$(free_port)
JOB=$(sbatch --parsable "$RUN/launch/polaris_slurm.sbatch")
say "submitted job $JOB (2 nodes, time limit $LIMIT_MIN min); output $RUN/slurm-$JOB.out"
final=$(watch_job "$JOB" 1500 | tail -1)
grep -h "polaris-slurm\|stopped on request\|\[stage[0-9]\] \(launch\|done\|stopped\)" "$RUN/slurm-$JOB.out" | sed 's/^/    /' || true
[ "$final" = COMPLETED ] || { say "job $JOB ended $final"; tail -40 "$RUN/slurm-$JOB.out"; exit 1; }

python - "$RUN" "$STAGES" "$JOB" "$LIMIT_MIN" <<'PY'
import json, os, re, sys
from tools.rehearsal_checks import two_node_stage
run, which, job, limit = sys.argv[1:5]
names = ["stage1"] if which == "1" else ["stage1", "stage2", "stage3"]
print("what happened, per verl launch (stage.json attempts):")
print(f"  {'stage':7} {'alloc':>5} {'status':9} {'steps':>7}  {'s':>5}  reason")
stops = 0
for name in names:
    st = two_node_stage(f"{run}/03_training/{name}")
    for a in st["attempts"]:
        print(f"  {name:7} {a.get('slurm_restart', 0) + 1:>5} {a['status']:9} {a['from_step']:>3}->{a['to_step']:<3} "
              f"{a['seconds']:>5.0f}  {a.get('reason', '')}")
        assert a.get("slurm_job") == job, a
    for prev, nxt in zip(st["attempts"], st["attempts"][1:]):
        assert nxt["from_step"] == prev["to_step"], f"{name}: resumed at {nxt['from_step']}, stopped at {prev['to_step']}"
        assert nxt["slurm_restart"] > prev["slurm_restart"], f"{name}: a new launch in the same allocation"
    stops += sum(a["status"] == "stopped" for a in st["attempts"])
    ranks = "; ".join(f"rank {p['rank']} -> node {p['node_id'][:8]}" for p in st["placement"])
    print(f"  {name}: done at step {st['final_step']}, {ranks} (2 shards, merged)")
first = json.load(open(f"{run}/03_training/stage1/stage.json"))["attempts"][0]
assert first["status"] == "stopped" and 0 < first["to_step"], f"stage 1 was not stopped mid-run by the warning: {first}"
out = open(f"{run}/slurm-{job}.out").read()
allocs = len(set(re.findall(r"\] job \S+ allocation (\d+)", out)))
assert "SIGUSR1" in out and "requeueing job" in out, "no warning / requeue in the job's output"
print(f"job {job}: {allocs} allocation(s) under a {limit}-minute limit; stage 1 stopped at step "
      f"{first['to_step']} by SLURM's warning and resumed there in allocation 2; {stops} stop(s) at a step boundary", flush=True)
PY

# ---- 3. a section's job (one node): 01_difficulty, stopped by a time-limit warning sent by hand
# (`scancel --signal=USR1 --batch`, what SLURM sends before the limit) once it runs, requeued, resumed
if [ "$SECTION_JOB" = 1 ]; then
    say "job: section 01_difficulty of the same run on one node (a 15-minute limit); SIGUSR1 by hand once it runs"
    render "$RUN" "$RUN/launch-15min" 15 120 ""
    export RAY_TMPDIR=$TMP/ray-s
    JOBS=$(sbatch --parsable "$RUN/launch-15min/polaris_01_difficulty.sbatch")
    OUT="$RUN/slurm-$JOBS-01_difficulty.out"
    for _ in $(seq 120); do   # the section has started sampling: its output folder exists
        [ -d "$RUN/01_difficulty" ] && break
        sleep 1
    done
    sleep "${REHEARSE_SLURM_SECTION_DELAY:-5}"
    say "job $JOBS: scancel --signal=USR1 --batch (the time limit's warning)"
    scancel --signal=USR1 --batch "$JOBS"
    final=$(watch_job "$JOBS" 600 | tail -1)
    grep -h "polaris-slurm" "$OUT" | sed 's/^/    /' || true
    [ "$final" = COMPLETED ] || { say "section job $JOBS ended $final"; tail -30 "$OUT"; exit 1; }
    grep -q "requeueing job $JOBS" "$OUT" || { say "section job $JOBS was not requeued by the warning"; exit 1; }
    [ -s "$RUN/notebooks/01_difficulty.ipynb" ] || { say "no executed notebook for 01_difficulty"; exit 1; }
    say "job $JOBS: 01_difficulty stopped by the warning, requeued, finished in allocation 2 ($RUN/notebooks/01_difficulty.ipynb)"
fi

# ---- 4. the cancelled job
if [ "$CANCEL" = 1 ]; then
    say "job 2: stage 1 only, a long limit; scancel once its first checkpoint exists"
    render "$CANCEL_RUN" "$CANCEL_RUN/launch" 15 120 "--stage 1"
    export RAY_TMPDIR=$TMP/ray2
    RAY_CLIENT_PORT=$(free_port)
    JOB2=$(sbatch --parsable "$CANCEL_RUN/launch/polaris_slurm.sbatch")
    CKPT="$CANCEL_RUN/03_training/stage1/checkpoints/latest_checkpointed_iteration.txt"
    for _ in $(seq 300); do
        [ -f "$CKPT" ] && break
        state=$(job_field "$JOB2" JobState)
        case "$state" in RUNNING|PENDING|CONFIGURING) ;; *) say "job $JOB2 ended ($state) before a checkpoint"; exit 1 ;; esac
        sleep 1
    done
    [ -f "$CKPT" ] || { say "job $JOB2: no checkpoint after 300 s"; exit 1; }
    say "job $JOB2: checkpoint at step $(cat "$CKPT"); scancel $JOB2"
    scancel "$JOB2"
    final=$(watch_job "$JOB2" 120 | tail -1)
    [ "$final" = CANCELLED ] || { say "job $JOB2 ended $final, not CANCELLED"; exit 1; }
    for _ in $(seq 40); do
        left=$(procs_with "RAY_TMPDIR=$TMP/ray2" "$CANCEL_RUN/")
        [ -z "$left" ] && break
        sleep 0.5
    done
    if [ -n "$left" ]; then say "still running after scancel:"; ps -o pid,args -p "$(echo "$left" | paste -sd,)"; exit 1; fi
    say "job $JOB2 cancelled: no process of it left (Ray, verl, polaris-repro train)"
    RAY_CLIENT_PORT=$(free_port)
    JOB3=$(sbatch --parsable "$CANCEL_RUN/launch/polaris_slurm.sbatch")
    say "resubmitted the same script as job $JOB3"
    final=$(watch_job "$JOB3" 600 | tail -1)
    [ "$final" = COMPLETED ] || { say "job $JOB3 ended $final"; tail -40 "$CANCEL_RUN/slurm-$JOB3.out"; exit 1; }
    python - "$CANCEL_RUN" "$JOB2" "$JOB3" <<'PY'
import json, sys
run, j2, j3 = sys.argv[1:]
st = json.load(open(f"{run}/03_training/stage1/stage.json"))
a, b = st["attempts"][0], st["attempts"][-1]
assert st["status"] == "done" and a["slurm_job"] == j2 and a["status"] == "interrupted", a
assert b["slurm_job"] == j3 and b["status"] == "trained" and b["from_step"] >= 1, b
print(f"job {j2}: cancelled at step {a['to_step']} ({a.get('reason')}); job {j3}: resumed at step {b['from_step']}, "
      f"stage 1 done at step {st['final_step']}", flush=True)
PY
fi
