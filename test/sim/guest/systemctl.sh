#!/bin/bash
# skiff EC2 simulator: systemctl(1) for service units, without systemd. Each started unit runs under its own
# supervisor (/usr/lib/skiff-sim/unit-run), which does what systemd does for it (see there).
#
#   daemon-reload                       nothing to do: unit files are read when a unit starts
#   enable [--now] UNIT...              links UNIT into the .wants/ of each [Install] WantedBy= target (and
#                                       starts it with --now); enabled units start again after a reboot
#   disable [--now] UNIT...             removes those links (and stops it with --now)
#   start | stop | restart UNIT...      start returns once a simple unit is forked (oneshot: once finished);
#                                       stop waits until every process of the unit is gone
#   is-active | is-enabled | is-failed  systemd's answers and exit codes (0 = yes)
#   status UNIT                         state, main pid and the last journal lines; exit 3 when not active
#   reset-failed, poweroff, reboot, halt
# Options: --now, -q/--quiet, --no-block, --no-pager, -l/--full. Anything else says it is not emulated.
set -uo pipefail

# shellcheck source=unit-lib.sh
. /usr/lib/skiff-sim/unit-lib.sh

ENABLED=/var/lib/skiff-sim/enabled
now=0 quiet=0 block=1
args=()
for a in "$@"; do
  case $a in
    --now) now=1 ;;
    -q | --quiet) quiet=1 ;;
    --no-block) block=0 ;;
    --no-pager | -l | --full | --system | --no-ask-password) ;;
    -*)
      echo "systemctl: option $a is not emulated by the skiff EC2 simulator" >&2
      exit 1
      ;;
    *) args+=("$a") ;;
  esac
done
cmd=${args[0]:-}
units=()
for u in "${args[@]:1}"; do units+=("$(unit_name "$u")"); done

need_unit() { # UNIT → its file, or systemd's message and exit 5 (no such unit)
  local f
  if ! f=$(unit_path "$1"); then
    echo "Failed to $cmd $1: Unit $1 not found." >&2
    exit 5
  fi
  echo "$f"
}

supervisor_of() { # UNIT → the pid of its running supervisor, if any
  local pid
  pid=$(cat "$UNITS_STATE/$1/supervisor.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start_unit() {
  local u=$1 state
  need_unit "$u" >/dev/null
  if supervisor_of "$u" >/dev/null; then return 0; fi
  mkdir -p "$UNITS_STATE/$u" /var/log/journal
  echo activating >"$UNITS_STATE/$u/state"
  setsid -f /usr/lib/skiff-sim/unit-run "$u" </dev/null >>"$(journal_of "$u")" 2>&1
  [ "$block" = 1 ] || return 0
  # A start job waits until the unit is up (or has failed): a few seconds for a forked simple service, up to
  # TimeoutStartSec= (90 s) for a oneshot.
  for _ in $(seq 900); do
    state=$(unit_state "$u")
    case $state in
      active | inactive) return 0 ;;
      failed)
        echo "Job for $u failed because the control process exited with error code." >&2
        echo "See \"systemctl status $u\" and \"journalctl -xeu $u\" for details." >&2
        return 1
        ;;
    esac
    sleep 0.1
  done
  return 1
}

stop_unit() {
  local u=$1 pid
  pid=$(supervisor_of "$u") || return 0
  kill -TERM "$pid"
  [ "$block" = 1 ] || return 0
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

enable_unit() {
  local u=$1 file target
  file=$(need_unit "$u")
  parse_unit "$file"
  if [ "${#U_WANTED_BY[@]}" = 0 ]; then
    echo "The unit files have no installation config (WantedBy=, RequiredBy=, Also=, Alias= settings in the [Install] section)."
    return 0
  fi
  for target in "${U_WANTED_BY[@]}"; do
    mkdir -p "/etc/systemd/system/$target.wants"
    if [ ! -L "/etc/systemd/system/$target.wants/$u" ]; then
      ln -s "$file" "/etc/systemd/system/$target.wants/$u"
      echo "Created symlink /etc/systemd/system/$target.wants/$u → $file."
    fi
  done
  mkdir -p "$(dirname "$ENABLED")"
  grep -qxF "$u" "$ENABLED" 2>/dev/null || echo "$u" >>"$ENABLED"
}

disable_unit() {
  local u=$1 link
  for link in /etc/systemd/system/*.wants/"$u"; do
    [ -L "$link" ] || continue
    rm -f "$link"
    echo "Removed \"$link\"."
  done
  if [ -f "$ENABLED" ]; then grep -vxF "$u" "$ENABLED" >"$ENABLED.new" || true; mv "$ENABLED.new" "$ENABLED"; fi
}

is_enabled() { grep -qxF "$1" "$ENABLED" 2>/dev/null || compgen -G "/etc/systemd/system/*.wants/$1" >/dev/null; }

status_unit() {
  local u=$1 file state since main desc
  if ! file=$(unit_path "$u"); then
    echo "Unit $u could not be found." >&2
    return 4
  fi
  parse_unit "$file"
  desc=${U_DESCRIPTION:-$u}
  state=$(unit_state "$u")
  since=$(cat "$UNITS_STATE/$u/active-since" 2>/dev/null || true)
  main=$(cat "$UNITS_STATE/$u/main.pid" 2>/dev/null || true)
  echo "● $u - $desc"
  echo "     Loaded: loaded ($file; $(is_enabled "$u" && echo enabled || echo disabled); preset: enabled)"
  case $state in
    active) echo "     Active: active (running)${since:+ since $(date -d "@$since" '+%a %Y-%m-%d %H:%M:%S %Z')}" ;;
    activating) echo "     Active: activating (auto-restart)" ;;
    *) echo "     Active: $state (dead)" ;;
  esac
  [ -n "$main" ] && echo "   Main PID: $main ($(cat "/proc/$main/comm" 2>/dev/null))"
  echo
  tail -n 10 "$(journal_of "$u")" 2>/dev/null
  [ "$state" = active ] || return 3
}

rc=0
case $cmd in
  daemon-reload | daemon-reexec) ;;
  start) for u in "${units[@]}"; do start_unit "$u" || rc=1; done ;;
  stop) for u in "${units[@]}"; do stop_unit "$u"; done ;;
  restart | try-restart | reload-or-restart)
    for u in "${units[@]}"; do
      if [ "$cmd" = try-restart ] && ! supervisor_of "$u" >/dev/null; then continue; fi
      stop_unit "$u"
      start_unit "$u" || rc=1
    done
    ;;
  enable | disable)
    for u in "${units[@]}"; do
      if [ "$cmd" = enable ]; then
        enable_unit "$u" || rc=1
        if [ "$now" = 1 ]; then start_unit "$u" || rc=1; fi
      else
        disable_unit "$u"
        if [ "$now" = 1 ]; then stop_unit "$u"; fi
      fi
    done
    ;;
  is-active | is-failed)
    rc=$([ "$cmd" = is-active ] && echo 3 || echo 1)
    for u in "${units[@]}"; do
      state=$(unit_state "$u")
      [ "$quiet" = 1 ] || echo "$state"
      if [ "$cmd" = is-active ] && [ "$state" = active ]; then rc=0; fi
      if [ "$cmd" = is-failed ] && [ "$state" = failed ]; then rc=0; fi
    done
    ;;
  is-enabled)
    rc=1
    for u in "${units[@]}"; do
      if is_enabled "$u"; then
        [ "$quiet" = 1 ] || echo enabled
        rc=0
      else
        [ "$quiet" = 1 ] || echo disabled
      fi
    done
    ;;
  status)
    for u in "${units[@]}"; do
      status_unit "$u"
      r=$?
      [ "$r" -gt "$rc" ] && rc=$r
    done
    ;;
  reset-failed) for u in "${units[@]}"; do [ "$(unit_state "$u")" = failed ] && echo inactive >"$UNITS_STATE/$u/state"; done ;;
  poweroff | reboot | halt) exec "/usr/sbin/$cmd" ;;
  '')
    echo "systemctl: listing units is not emulated by the skiff EC2 simulator" >&2
    rc=1
    ;;
  *)
    echo "systemctl: '$cmd' is not emulated by the skiff EC2 simulator" >&2
    rc=1
    ;;
esac
exit "$rc"
