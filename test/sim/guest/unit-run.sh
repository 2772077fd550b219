#!/bin/bash
# skiff EC2 simulator: what systemd does for one running service unit. Started by `systemctl start` in its
# own session; writes the unit's state to /run/skiff-sim/units/UNIT/ and the unit's output (and systemd's
# messages about it) to /var/log/journal/UNIT.log.
#
#   - Type=simple/exec/notify (started once forked) and oneshot (started when every ExecStart= has finished);
#     ExecStartPre= run first, in order. Environment as build_env (unit-lib.sh), INVOCATION_ID set, umask
#     UMask= (0022), working directory WorkingDirectory= (/), stdin /dev/null.
#   - KillMode=control-group (systemd.kill(5)), the default: the unit's processes are the main process's
#     session plus every process carrying this run's INVOCATION_ID (so a child that starts its own session is
#     still found). When the main process exits, or on stop, they all get KillSignal= (SIGTERM), then SIGKILL
#     after TimeoutStopSec= (90 s); a restart waits for that. KillMode=process and mixed also honoured.
#   - Restart= (systemd.service(5), "Restart="): no, always, on-success, on-failure, on-abnormal, on-abort;
#     "clean" is exit 0 or death by SIGHUP, SIGINT, SIGTERM or SIGPIPE. RestartSec= (100 ms) between runs.
#     Start rate limit (systemd.unit(5)): more than StartLimitBurst= (5) starts within StartLimitIntervalSec=
#     (10 s) and the unit fails with 'start-limit-hit'.
#   - User= runs the command as that user (setpriv) with HOME, USER, LOGNAME and SHELL set.
#
# Not emulated: cgroups and resource limits, sandboxing options, ExecStop=/ExecReload=, sd_notify, watchdog,
# socket activation, dependencies between units.
set -uo pipefail

# shellcheck source=unit-lib.sh
. /usr/lib/skiff-sim/unit-lib.sh
# shellcheck source=unit-kill.sh
. /usr/lib/skiff-sim/unit-kill.sh

unit=${1:?usage: unit-run UNIT}
dir=$UNITS_STATE/$unit
file=$(unit_path "$unit") || exit 1
mkdir -p "$dir"
echo $$ >"$dir/supervisor.pid"

sys() { echo "systemd[1]: $*"; }
set_state() { echo "$1" >"$dir/state"; }
now_ms() { date +%s%3N; }

parse_unit "$file"
desc=${U_DESCRIPTION:-$unit}
for key in "${U_IGNORED[@]}"; do sys "$unit: $key= is not emulated by the skiff EC2 simulator, ignored"; done
if [ "$U_TYPE" != oneshot ] && [ "${#U_EXEC_START[@]}" -gt 1 ]; then
  sys "$unit: Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing."
  set_state failed
  exit 1
fi
if [ "${#U_EXEC_START[@]}" = 0 ]; then
  sys "$unit: Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing."
  set_state failed
  exit 1
fi

stopping=0
stop_deadline=0
main=''
invocation=''
# systemctl stop: KillSignal= to the unit's processes (all of them with KillMode=control-group, the main
# process otherwise); wait_main SIGKILLs the main process if it is still there after TimeoutStopSec=.
on_stop() {
  stopping=1
  set_state deactivating
  sys "Stopping $desc..."
  stop_deadline=$(($(now_ms) + ${U_TIMEOUT_STOP%.*} * 1000))
  [ -n "$main" ] || return 0
  if [ "$U_KILL_MODE" = control-group ]; then kill_unit "$U_KILL_SIGNAL"; else kill -s "$U_KILL_SIGNAL" "$main" 2>/dev/null; fi
}
trap on_stop TERM

# run_command LINE [wait]: starts one Exec line in a new session; sets main; with "wait", waits and returns its status.
run_command() {
  local prefix=()
  command_argv "$1"
  if [ -n "$U_USER" ] && [ "$U_USER" != root ] && [ "$U_USER" != 0 ]; then prefix=(setpriv "--reuid=$U_USER" "--regid=$(id -g "$U_USER")" --init-groups); fi
  invocation=$(tr -d '-' </proc/sys/kernel/random/uuid)
  (cd "$U_WORKDIR" && umask "$U_UMASK" && exec setsid env -i "${ENV_ARGS[@]}" "INVOCATION_ID=$invocation" "${prefix[@]}" "${ARGV[@]}") </dev/null 2>&1 &
  main=$!
  [ "${2:-}" = wait ] || return 0
  wait_main
}

wait_main() { # waits for the main process (again after a trapped signal interrupts wait); returns its status
  local rc
  while :; do
    if [ "$stopping" = 1 ]; then
      while running "$main" && [ "$(now_ms)" -lt "$stop_deadline" ]; do sleep 0.1; done
      if running "$main"; then kill -KILL "$main" 2>/dev/null; fi
    fi
    # (bash would note "Killed" in the journal for a job that died of a signal; systemd's own line says it.)
    wait "$main" 2>/dev/null
    rc=$?
    kill -0 "$main" 2>/dev/null || break
  done
  return "$rc"
}

describe_exit() { # STATUS → systemd's wording, and sets CLEAN (1 = exit 0 or SIGHUP/INT/TERM/PIPE) and SIGNALED
  local rc=$1 sig
  CLEAN=0 SIGNALED=0
  if [ "$rc" -gt 128 ]; then
    SIGNALED=1
    sig=$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))
    case $sig in HUP | INT | TERM | PIPE) CLEAN=1 ;; esac
    sys "$unit: Main process exited, code=killed, status=$((rc - 128))/$sig"
  else
    [ "$rc" = 0 ] && CLEAN=1
    sys "$unit: Main process exited, code=exited, status=$rc/$([ "$rc" = 0 ] && echo SUCCESS || echo FAILURE)"
  fi
}

should_restart() { # per the table in systemd.service(5), Restart=
  case $U_RESTART in
    always) return 0 ;;
    on-success) [ "$CLEAN" = 1 ] ;;
    on-failure) [ "$CLEAN" = 0 ] ;;
    on-abnormal | on-abort) [ "$SIGNALED" = 1 ] && [ "$CLEAN" = 0 ] ;;
    *) return 1 ;;
  esac
}

starts=()
restarts=0
while :; do
  # Start rate limit: count starts within the interval.
  now=$(now_ms)
  window=$(awk -v s="$U_START_LIMIT_INTERVAL" 'BEGIN { printf "%d", s * 1000 }')
  recent=()
  for t in "${starts[@]}"; do [ $((now - t)) -lt "$window" ] && recent+=("$t"); done
  starts=("${recent[@]}")
  if [ "${#starts[@]}" -ge "$U_START_LIMIT_BURST" ] && [ "$window" -gt 0 ]; then
    sys "$unit: Start request repeated too quickly."
    sys "$unit: Failed with result 'start-limit-hit'."
    sys "Failed to start $desc."
    set_state failed
    exit 1
  fi
  starts+=("$now")

  set_state activating
  sys "Starting $desc..."
  if ! build_env; then
    sys "$unit: $ENV_ERROR"
    sys "$unit: Failed with result 'resources'."
    set_state failed
    exit 1
  fi
  rc=0
  for line in "${U_EXEC_START_PRE[@]}"; do
    run_command "$line" wait
    rc=$?
    if [ "$rc" != 0 ] && [ "$ARGV_IGNORE_FAILURE" = 0 ]; then
      sys "$unit: Control process exited, code=exited, status=$rc/FAILURE"
      break
    fi
    rc=0
  done
  if [ "$rc" = 0 ] && [ "$stopping" = 0 ]; then
    if [ "$U_TYPE" = oneshot ]; then
      for line in "${U_EXEC_START[@]}"; do
        run_command "$line" wait
        rc=$?
        [ "$ARGV_IGNORE_FAILURE" = 1 ] && rc=0
        [ "$rc" = 0 ] || break
      done
      describe_exit "$rc"
    else
      run_command "${U_EXEC_START[0]}"
      echo "$main" >"$dir/main.pid"
      date +%s >"$dir/active-since"
      set_state active
      sys "Started $desc."
      wait_main
      rc=$?
      describe_exit "$rc"
      # "-": a failure is logged but counts as success (systemd.service(5), "Command lines").
      if [ "$ARGV_IGNORE_FAILURE" = 1 ]; then describe_exit 0 >/dev/null; fi
    fi
  else
    describe_exit "$rc"
  fi
  rm -f "$dir/main.pid"
  reap_leftovers

  if [ "$stopping" = 1 ]; then
    sys "$unit: Deactivated successfully."
    sys "Stopped $desc."
    set_state inactive
    exit 0
  fi
  if [ "$U_TYPE" = oneshot ] && [ "$CLEAN" = 1 ]; then
    sys "Finished $desc."
    if [ "$U_REMAIN" = yes ]; then
      # RemainAfterExit=yes: active (exited) until stopped.
      set_state active
      while [ "$stopping" = 0 ]; do
        sleep 1 &
        wait $!
      done
    fi
    set_state inactive
    exit 0
  fi
  if should_restart; then
    restarts=$((restarts + 1))
    echo "$restarts" >"$dir/restarts"
    set_state activating
    sys "$unit: Scheduled restart job, restart counter is at $restarts."
    sleep "$U_RESTART_SEC" &
    wait $!
    kill $! 2>/dev/null
    if [ "$stopping" = 1 ]; then
      sys "Stopped $desc."
      set_state inactive
      exit 0
    fi
    continue
  fi
  if [ "$CLEAN" = 1 ]; then
    sys "$unit: Deactivated successfully."
    set_state inactive
    exit 0
  fi
  sys "$unit: Failed with result '$([ "$SIGNALED" = 1 ] && echo signal || echo exit-code)'."
  set_state failed
  exit 1
done
