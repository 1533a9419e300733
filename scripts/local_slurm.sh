#!/usr/bin/env bash
# A real single-node SLURM cluster (slurmctld + slurmd + munged on 127.0.0.1) for the tests and CI.
#
#   scripts/local_slurm.sh start    # idempotent; installs slurm-wlm + munge with apt when missing (root)
#   scripts/local_slurm.sh stop     # kills slurmd, slurmctld, munged by their pid files
#   scripts/local_slurm.sh status   # exit 0 iff the cluster answers (partition "debug" up)
#   eval "$(scripts/local_slurm.sh env)"   # export SLURM_CONF for sbatch, squeue, scontrol, ...
#
# State (slurm.conf, state save, spool, pid files, logs) lives in ${LIT_SRL_SLURM_DIR:-/tmp/lit_srl_slurm}.
# Needs root (SlurmUser=root, munged as root). Tested with Debian 12's SLURM 22.05.
set -euo pipefail

STATE="${LIT_SRL_SLURM_DIR:-/tmp/lit_srl_slurm}"
CONF="$STATE/slurm.conf"
PARTITION=debug
NODE="$(hostname -s)"
MUNGE_KEY=/etc/munge/munge.key
CTLD_PORT=6817  # SLURM's defaults
SLURMD_PORT=6818

die() { echo "local_slurm: $*" >&2; exit 1; }

# pid from a pid file if that process is alive and is the expected program (guards pid reuse)
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

live_pid() {  # file comm
    local pid
    [[ -s "$1" ]] || return 1
    pid="$(tr -dc 0-9 <"$1")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]] || return 1
    echo "$pid"
}

answers() {  # the controller answers and the partition is up
    [[ -f "$CONF" ]] || return 1
    [[ "$(SLURM_CONF="$CONF" timeout 10 sinfo -h -p "$PARTITION" -o %a 2>/dev/null | head -n1)" == up ]]
}

node_state() { SLURM_CONF="$CONF" timeout 10 sinfo -h -p "$PARTITION" -o %T 2>/dev/null | head -n1; }

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null && command -v mungekey >/dev/null && return 0
    [[ $EUID -eq 0 ]] || die "slurm-wlm/munge are not installed and this is not root"
    command -v apt-get >/dev/null || die "slurm-wlm/munge are not installed and there is no apt-get"
    echo "local_slurm: installing slurm-wlm and munge" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
    install -d -m 700 -o root -g root /etc/munge
    install -d -m 755 -o root -g root /run/munge
    install -d -m 711 -o root -g root /var/lib/munge
    install -d -m 700 -o root -g root /var/log/munge
    [[ -f "$MUNGE_KEY" ]] || mungekey --create -k "$MUNGE_KEY"
    chown root:root "$MUNGE_KEY"
    chmod 400 "$MUNGE_KEY"
    munged --force --pid-file="$STATE/munged.pid"
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    tail -n 20 /var/log/munge/munged.log >&2 2>/dev/null || true
    die "munged does not answer (munge -n | unmunge fails)"
}

write_conf() {
    local cpus mem_mib
    cpus="$(nproc)"
    # slurmd refuses a node whose RealMemory exceeds its physical memory: stay below what is free.
    mem_mib="$(awk '/^MemAvailable:/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)"
    (( mem_mib >= 256 )) || mem_mib=256
    mkdir -p "$STATE/state" "$STATE/spool"
    cat >"$CONF.tmp" <<EOF
# written by scripts/local_slurm.sh: a single-node test cluster
ClusterName=lit_srl
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Requeue delay. After "scontrol requeue" (or a node failure) SLURM 22.05 holds the job PENDING with
# Reason=BeginTime until cred_expire + 1 s have passed (the job credential's lifetime; default 120 s,
# values below 5 are rejected: "AuthInfo=cred_expire=1 invalid", and the default applies). Then a
# scheduler pass must run: the periodic ones come every sched_interval (default 60 s) and
# bf_interval (default 30 s). Measured here: defaults 122 s; cred_expire=5 alone 24 s;
# cred_expire=5 + sched_interval=2,bf_interval=5 about 7 s.
AuthInfo=cred_expire=5
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
# SIGTERM -> SIGKILL grace on scancel/requeue/time limit
KillWait=30
# finished jobs stay visible to "scontrol show job" for 5 minutes
MinJobAge=300
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mib State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

fail_start() {
    for log in "$STATE/slurmctld.log" "$STATE/slurmd.log"; do
        [[ -f "$log" ]] && { echo "--- tail $log" >&2; tail -n 15 "$log" >&2; }
    done
    die "$1"
}

cmd_start() {
    [[ $EUID -eq 0 ]] || die "start needs root (SlurmUser=root, munged as root)"
    install_packages
    mkdir -p "$STATE"
    start_munge
    # (pid files first: sinfo takes ~9 s to give up when no controller runs)
    if live_pid "$STATE/slurmctld.pid" slurmctld >/dev/null && live_pid "$STATE/slurmd.pid" slurmd >/dev/null \
        && answers && [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]; then
        return 0  # already up
    fi
    if ! live_pid "$STATE/slurmctld.pid" slurmctld >/dev/null; then
        # a fresh controller: new config, no jobs left over from an earlier run (-c)
        live_pid "$STATE/slurmd.pid" slurmd >/dev/null && kill_pidfile "$STATE/slurmd.pid" slurmd
        # another cluster on the ports would answer our sinfo and pass for this one
        port_taken "$CTLD_PORT" && die "port $CTLD_PORT is taken (another slurmctld?); not starting"
        write_conf
        rm -f "$STATE/slurmctld.pid"  # a stale one would read as "exited" below
        slurmctld -c -f "$CONF" || fail_start "slurmctld did not start"
    fi
    if ! live_pid "$STATE/slurmd.pid" slurmd >/dev/null; then
        port_taken "$SLURMD_PORT" && die "port $SLURMD_PORT is taken (another slurmd?); not starting"
        rm -f "$STATE/slurmd.pid"  # a stale one would read as "exited" below
        slurmd -f "$CONF" || fail_start "slurmd did not start"
    fi
    local state=""
    for _ in $(seq 60); do  # at most ~30 s
        for daemon in slurmctld slurmd; do  # died at start (e.g. a port taken by another cluster)
            # (the daemon writes its pid file only after it has forked: no file yet is no failure)
            if [[ -s "$STATE/$daemon.pid" ]] && ! live_pid "$STATE/$daemon.pid" "$daemon" >/dev/null; then
                fail_start "$daemon exited (see its log above)"
            fi
        done
        state="$(node_state || true)"
        [[ "$state" =~ ^(idle|mixed|allocated)$ ]] && return 0
        sleep 0.5
    done
    fail_start "the node did not become idle within 30 s (sinfo state: '${state:-no answer}')"
}

kill_pidfile() {  # file comm
    local pid
    pid="$(live_pid "$1" "$2")" || { rm -f "$1"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do  # 10 s
        kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$1"
}

cmd_stop() {
    kill_pidfile "$STATE/slurmd.pid" slurmd
    kill_pidfile "$STATE/slurmctld.pid" slurmctld
    kill_pidfile "$STATE/munged.pid" munged  # only a munged this script started
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) answers ;;
    env) printf 'export SLURM_CONF=%q\n' "$CONF" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
