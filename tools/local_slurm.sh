#!/usr/bin/env bash
# A private 2-node SLURM cluster on this machine (loopback), for rehearsing the SLURM paths.
#
#   bash tools/local_slurm.sh start  DIR [CPUS_PER_NODE]   # default CPUS_PER_NODE 8
#   bash tools/local_slurm.sh stop   DIR
#   bash tools/local_slurm.sh status DIR
#
# `start` puts everything under DIR (absolute; created): a private munged (own key, socket, pid,
# log and seed files; the system munged in /run/munge is neither used nor touched), slurm.conf,
# the slurmctld state, one spool dir per node, pid and log files. It starts slurmctld and one
# slurmd per node (node1, node2: NodeAddr 127.0.0.1, each on its own free port, CPUS_PER_NODE
# CPUs each, declared through SlurmdParameters=config_overrides, so more CPUs than the machine
# has are fine), waits until `sinfo` shows both nodes idle, and prints as its last line
#
#   export SLURM_CONF=DIR/slurm.conf
#
# (also written to DIR/env) for callers to eval. `stop` cancels the cluster's jobs, then stops
# only what `start` started, by the pids in DIR's pid files (TERM, up to 15 s, then KILL), plus
# the slurmstepd processes of its slurmds (and their tasks), found under /proc: never by name,
# other SLURMs may run on the machine. It is safe to call twice and after a failed start, and
# exits 0 when nothing of the cluster is left running. `status` prints which daemons are alive
# (exit 0 when all four are).
#
# Findings (slurm-wlm 22.05.8, munge 0.5.15, Debian 12):
# - munged runs as root without --force; what it does need is a socket directory that everyone
#   may search (DIR gets mode 0755, else "Socket is inaccessible: execute permissions for all
#   required"). --force is tried only as a fallback.
# - AuthInfo=socket=... is read by both auth/munge and cred/munge (slurm.conf(5): "Used by
#   auth/munge and cred/munge"), so CredType=cred/munge needs no setting of its own.
# - A requeued job is held PENDING (Reason BeginTime) for AuthInfo's cred_expire + 1 s
#   (cred_expire defaults to 120 s, the "~2-minute hold-off"; slurmctld refuses values < 5).
#   This script sets cred_expire=${LOCAL_SLURM_CRED_EXPIRE:-10}, so a requeued job starts again
#   after about 11 s. `scontrol update JobId=<id> StartTime=now` also releases the hold at once.
# - PrologFlags and InactiveLimit keep their defaults (no prolog at allocation, no limit):
#   PrologFlags=Contain would need proctrack/cgroup, which this sandbox has not.
set -euo pipefail

usage() {
    echo "usage: $0 start DIR [CPUS_PER_NODE] | stop DIR | status DIR" >&2
    exit 2
}

CMD=${1:-}
DIR=${2:-}
[ -n "$CMD" ] && [ -n "$DIR" ] || usage
case "$DIR" in
    /*) ;;
    *) echo "local_slurm: DIR must be an absolute path: $DIR" >&2; exit 2 ;;
esac
DIR=${DIR%/}
CONF=$DIR/slurm.conf
SOCK=$DIR/munge.sock
NODES=(node1 node2)
MARK="LOCAL_SLURM_DIR=$DIR"   # in the environment of our slurmds, hence of their slurmstepds
CRED_EXPIRE=${LOCAL_SLURM_CRED_EXPIRE:-10}

log() { echo "[local_slurm] $*" >&2; }

# ---- processes -------------------------------------------------------------------------------

proc_state() {   # PID: its state letter (R, S, Z, ...), nothing when it is gone
    local stat
    stat=$( { cat "/proc/$1/stat"; } 2>/dev/null) || return 0
    stat=${stat##*) }   # the command name, in parentheses, may hold spaces
    echo "${stat%% *}"
}

# pid of a daemon of this cluster from its pid file, if that process is alive, is the daemon
# (command name) and belongs to DIR (its command line names DIR); nothing otherwise
daemon_pid() {   # NAME PIDFILE
    local name=$1 file=$2 pid state
    [ -r "$file" ] || return 0
    pid=$(tr -dc '0-9' <"$file" 2>/dev/null || true)
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
    state=$(proc_state "$pid")
    [ "$state" != Z ] || return 0
    [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$name" ] || return 0
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$DIR/" || return 0
    echo "$pid"
}

# "NAME PIDFILE" of every daemon, in start order
daemons() {
    echo "munged $DIR/munged.pid"
    echo "slurmctld $DIR/slurmctld.pid"
    local n
    for n in "${NODES[@]}"; do echo "slurmd $DIR/slurmd-$n.pid"; done
}

daemon_pids() {   # [NAME...]: live pids of this cluster's daemons (all, or those named)
    local name file
    while read -r name file; do
        if [ $# -eq 0 ] || [[ " $* " == *" $name "* ]]; then daemon_pid "$name" "$file"; fi
    done < <(daemons)
}

# slurmstepds of this cluster: started by one of our slurmds (parent), or carrying our marker in
# their environment (slurmstepd double-forks away from slurmd, but inherits its environment)
stepd_pids() {
    local slurmds pid ppid stat comm
    slurmds=" $(daemon_pids slurmd | tr '\n' ' ') "
    while read -r pid ppid stat comm; do
        [ "$comm" = slurmstepd ] && [[ "$stat" != Z* ]] || continue
        if [[ "$slurmds" == *" $ppid "* ]] ||
            { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF -- "$MARK"; then
            echo "$pid"
        fi
    done < <(ps -eo pid=,ppid=,stat=,comm= 2>/dev/null)
}

descendants() {   # PID...: all live descendants of the given processes
    [ $# -gt 0 ] || return 0
    ps -eo pid=,ppid=,stat= 2>/dev/null | awk -v roots=" $* " '
        $3 !~ /^Z/ { parent[$1] = $2 }
        END {
            n = split(roots, r, " "); for (i = 1; i <= n; i++) mine[r[i]] = 1
            do { grew = 0
                 for (p in parent) if (!(p in mine) && (parent[p] in mine)) { mine[p] = 1; grew = 1 }
            } while (grew)
            for (p in mine) if (p in parent && !index(roots, " " p " ")) print p
        }'
}

alive() {   # PID...: the given pids that still run (not zombies)
    local p state
    for p in "$@"; do
        state=$(proc_state "$p")
        [ -n "$state" ] && [ "$state" != Z ] && echo "$p"
    done
    return 0
}

terminate() {   # SECONDS PID...: TERM, wait up to SECONDS, then KILL
    local wait=$1 left i
    shift
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < wait * 4; i++)); do
        left=$(alive "$@")
        [ -z "$left" ] && return 0
        sleep 0.25
    done
    left=$(alive "$@")
    if [ -n "$left" ]; then
        log "still running after ${wait}s, killing: $(echo "$left" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        sleep 0.5
    fi
}

stop_cluster() {
    local ctld stepds tasks pids n left file
    ctld=$(daemon_pids slurmctld)
    if [ -n "$ctld" ] && [ -r "$CONF" ]; then
        # cancel the cluster's jobs first, so that their slurmstepds end their tasks themselves
        local jobs
        jobs=$(SLURM_CONF=$CONF timeout 10 squeue -h -o %i 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            log "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
            # shellcheck disable=SC2086
            SLURM_CONF=$CONF timeout 10 scancel $jobs 2>/dev/null || true
            for ((n = 0; n < 40; n++)); do
                [ -z "$(stepd_pids)" ] && break
                sleep 0.25
            done
        fi
    fi
    # slurm daemons and leftover slurmstepds (with their tasks) first: they need munged to the end
    stepds=$(stepd_pids)
    # shellcheck disable=SC2086
    tasks=$(descendants $stepds)
    pids=$(daemon_pids slurmctld slurmd)
    # shellcheck disable=SC2086
    terminate 15 $pids $stepds $tasks
    # slurmstepds that appeared meanwhile, and tasks they left behind
    stepds=$(stepd_pids)
    # shellcheck disable=SC2086
    tasks="$tasks $(descendants $stepds)"
    # shellcheck disable=SC2086
    left=$(alive $stepds $tasks)
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
    pids=$(daemon_pids munged)
    # shellcheck disable=SC2086
    terminate 15 $pids
    sleep 0.2
    # shellcheck disable=SC2086
    left="$(daemon_pids) $(stepd_pids) $(alive $tasks)"
    if [ -n "${left//[[:space:]]/}" ]; then
        log "still running: $(echo "$left" | tr '\n' ' ')"
        return 1
    fi
    while read -r _ file; do rm -f "$file"; done < <(daemons)
    return 0
}

print_status() {
    local name file pid all=0 stepds
    while read -r name file; do
        pid=$(daemon_pid "$name" "$file")
        if [ -n "$pid" ]; then
            echo "$(basename "$file" .pid): running (pid $pid)"
        else
            echo "$(basename "$file" .pid): not running"
            all=1
        fi
    done < <(daemons)
    stepds=$(stepd_pids | tr '\n' ' ')
    echo "slurmstepd: ${stepds:-none}"
    return $all
}

# ---- start -----------------------------------------------------------------------------------

free_ports() {   # N: N distinct free TCP ports on 127.0.0.1
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

tails() {
    local f
    for f in "$DIR/munged.log" "$DIR/slurmctld.log" "$DIR"/slurmd-*.log; do
        [ -r "$f" ] || continue
        echo "---- tail $f" >&2
        tail -n 25 "$f" >&2
    done
}

fail() {
    log "start failed: $*"
    tails
    stop_cluster >&2 || true
    exit 1
}

start_munged() {
    if [ ! -s "$DIR/munge.key" ]; then
        mungekey --create --keyfile="$DIR/munge.key" 2>/dev/null ||
            dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 status=none
    fi
    chmod 0600 "$DIR/munge.key"
    local args=(--socket="$SOCK" --key-file="$DIR/munge.key" --pid-file="$DIR/munged.pid"
        --log-file="$DIR/munged.log" --seed-file="$DIR/munged.seed")
    rm -f "$SOCK" "$SOCK.lock"
    if ! munged "${args[@]}" 2>>"$DIR/munged.err"; then
        log "munged refused to start, retrying with --force"
        munged --force "${args[@]}" 2>>"$DIR/munged.err" || return 1
    fi
    local i
    for ((i = 0; i < 40; i++)); do
        munge -n -S "$SOCK" 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    return 1
}

write_conf() {   # CPUS CTLD_PORT SLURMD_PORT...
    local cpus=$1 ctld_port=$2 i=0 n
    shift 2
    : >"$DIR/plugstack.conf"   # keeps /etc/slurm/plugstack.conf (the system's SPANK plugins) out
    cat >"$CONF" <<EOF
# written by tools/local_slurm.sh: a private 2-node cluster on loopback
ClusterName=polaris-rehearsal
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# socket: our munged, for auth and credentials; cred_expire: also the requeue hold-off (+1 s)
AuthInfo=socket=$SOCK,cred_expire=$CRED_EXPIRE
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmdLogFile=$DIR/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobRequeue=1
KillWait=10
MinJobAge=600
MpiDefault=none
MessageTimeout=10
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SlurmdParameters=config_overrides
EOF
    for n in "${NODES[@]}"; do
        i=$((i + 1))
        echo "NodeName=$n NodeHostname=localhost NodeAddr=127.0.0.1 Port=${!i} CPUs=$cpus RealMemory=8000 State=UNKNOWN" >>"$CONF"
    done
    echo "PartitionName=main Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES" >>"$CONF"
}

start_cluster() {
    local cpus=${1:-8} t0 ports n idle
    [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || usage
    t0=$(date +%s)
    if [ -n "$(daemon_pids)$(stepd_pids)" ]; then
        log "a cluster is already running in $DIR:"
        print_status >&2 || true
        exit 1
    fi
    mkdir -p "$DIR/state"
    chmod 0755 "$DIR"   # munged: everyone must be able to search its socket's directory
    for n in "${NODES[@]}"; do mkdir -p "$DIR/spool/$n"; done
    rm -f "$DIR/env" "$DIR"/*.pid

    start_munged || fail "munged did not come up (see $DIR/munged.log, $DIR/munged.err)"
    read -r -a ports <<<"$(free_ports $((1 + ${#NODES[@]})))"
    write_conf "$cpus" "${ports[@]}"

    export SLURM_CONF=$CONF
    # -c: a fresh cluster, no jobs or node states from an earlier start in the same DIR
    slurmctld -c -f "$CONF" || fail "slurmctld did not start"
    for n in "${NODES[@]}"; do
        env "$MARK" slurmd -f "$CONF" -N "$n" || fail "slurmd $n did not start"
    done
    for ((n = 0; n < 240; n++)); do
        idle=$(sinfo -h -N -p main -o '%N %t' 2>/dev/null | awk '$2 == "idle"' | sort -u | wc -l)
        [ "$idle" -eq "${#NODES[@]}" ] && break
        if [ $((n % 8)) -eq 7 ] && [ "$(daemon_pids slurmctld slurmd | wc -l)" -lt 3 ]; then
            fail "a daemon exited"
        fi
        sleep 0.25
    done
    [ "$idle" -eq "${#NODES[@]}" ] || fail "nodes not idle after 60 s: $(sinfo -N 2>&1 | tr '\n' ';')"
    log "up in $(($(date +%s) - t0)) s: ${NODES[*]} idle, $cpus CPUs each; ports ${ports[*]}"
    echo "export SLURM_CONF=$CONF" >"$DIR/env"
    echo "export SLURM_CONF=$CONF"
}

case "$CMD" in
    start) start_cluster "${3:-8}" ;;
    stop) if [ -d "$DIR" ]; then stop_cluster; fi ;;
    status) print_status ;;
    *) usage ;;
esac
