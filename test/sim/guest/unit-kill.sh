# shellcheck shell=bash
# shellcheck disable=SC2154 # main, invocation, stopping, stop_deadline and unit are unit-run's
# skiff EC2 simulator: systemd's KillMode= for one unit run (systemd.kill(5)), sourced by unit-run.
# Without cgroups, "the unit's processes" are: the main process's session (it is started with setsid), plus
# every process whose environment carries this run's INVOCATION_ID (so a child that starts a session of its
# own is still found). Reads unit-run's globals: main, invocation, stopping, stop_deadline, unit, U_*.

unit_pids() { # every process of this run: the main process's session, or anything with our INVOCATION_ID
  local p pid stat rest state session
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    { read -r stat <"$p/stat"; } 2>/dev/null || continue
    rest=${stat##*) }
    read -r state _ppid _pgrp session _ <<<"$rest"
    [ "$state" = Z ] && continue # exited, waiting for its parent to reap it
    if [ "$session" = "$main" ] || grep -qzx "INVOCATION_ID=$invocation" "$p/environ" 2>/dev/null; then echo "$pid"; fi
  done
}

kill_unit() { # SIGNAL: to every remaining process of this run
  local pid
  for pid in $(unit_pids); do kill -s "$1" "$pid" 2>/dev/null; done
}

# After the main process: what is left gets KillSignal=, then SIGKILL after TimeoutStopSec=.
reap_leftovers() {
  local deadline left pid
  [ "$U_KILL_MODE" = none ] && return
  [ "$U_KILL_MODE" = process ] && return
  left=$(unit_pids)
  [ -z "$left" ] && return
  # On stop they had KillSignal= already, and the stop's deadline runs; otherwise it starts now.
  if [ "$U_KILL_MODE" = mixed ]; then
    deadline=0 # mixed: KillSignal= went to the main process only; the rest get SIGKILL
  elif [ "$stopping" = 1 ]; then
    deadline=$stop_deadline
  else
    kill_unit "$U_KILL_SIGNAL"
    deadline=$(($(now_ms) + ${U_TIMEOUT_STOP%.*} * 1000))
  fi
  while [ -n "$(unit_pids)" ] && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.1; done
  for pid in $(unit_pids); do
    sys "$unit: Killing process $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) with signal SIGKILL."
    kill -KILL "$pid" 2>/dev/null
  done
}

running() { # PID → true while it runs (an exited child waiting to be reaped does not)
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  [[ ${stat##*) } != Z* ]]
}
