#!/usr/bin/env bash
# Stop the cluster started by `slurm-up.sh DIR`, killing only the PIDs recorded in DIR (never by name).
# Usage: bash tests/cluster/slurm-down.sh DIR       (idempotent; DIR itself is left for inspection)
D=${1:-/tmp/slurm-ci}
[ -e "$D/slurm.conf" ] || exit 0
export SLURM_CONF=$D/slurm.conf

# Wait until none of the given PIDs is alive, at most $1 quarter-seconds; leaves the survivors in $alive.
wait_gone() {
  local tries=$1; shift
  for _ in $(seq 1 "$tries"); do
    alive=""; for p in "$@"; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -z "$alive" ] && return 0
    sleep 0.25
  done
  return 1
}

# The PID in FILE if that process is still the daemon NAME (a stale pid file must not hit a reused PID).
ours() {
  local f=$1 name=$2 p
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$name" ] && echo "$p"
}

pids="$(ours "$D/slurmctld.pid" slurmctld) $(ours "$D/slurmd.pid" slurmd)"
pids=$(echo $pids)
if [ -n "$pids" ]; then
  # Jobs still running would leave orphaned slurmstepd/job processes behind: cancel this cluster's jobs.
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.25; done
  fi
  # scontrol shutdown stops slurmctld and slurmd; SIGTERM (then SIGKILL) only our PIDs if they linger.
  timeout 10 scontrol shutdown >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  if ! wait_gone 40 $pids; then
    for p in $alive; do kill -TERM "$p" 2>/dev/null || true; done
    # shellcheck disable=SC2086
    wait_gone 20 $alive || for p in $alive; do kill -KILL "$p" 2>/dev/null || true; done
  fi
fi
mp=$(ours "$D/munge/munged.pid" munged)
if [ -n "$mp" ]; then
  kill -TERM "$mp" 2>/dev/null || true
  wait_gone 20 "$mp" || kill -KILL "$mp" 2>/dev/null || true
fi
rm -f "$D/slurmctld.pid" "$D/slurmd.pid" "$D/munge/munged.pid"
exit 0
