#!/bin/bash
# skiff EC2 simulator: shutdown(8) and poweroff/reboot/halt(8), as systemd's. There is no systemd here: the
# request is the signal systemd's pid 1 takes for it (systemd(1)): SIGRTMIN+4 poweroff, SIGRTMIN+5 reboot,
# SIGRTMIN+3 halt. On EC2 a guest power-off (or halt) ends in the instance's shutdown behaviour
# (InstanceInitiatedShutdownBehavior, terminate for skiff), which the simulator applies in moto.
#
#   shutdown [-P|--poweroff|-h|-H|--halt|-r|--reboot|-k|-c] [TIME] [WALL...]
#     TIME: now, +0, +MINUTES or HH:MM; without TIME, "+1" (one minute), as systemd's shutdown documents.
#     -h is poweroff unless --halt is also given; -k only warns; -c cancels a pending shutdown.
#   poweroff | reboot | halt   at once (also with -f/--force, -p, --no-wall).
set -euo pipefail

PENDING=/run/skiff-sim/shutdown-pending
name=$(basename "$0")

signal_for() {
  case $1 in
    poweroff) echo RTMIN+4 ;;
    reboot) echo RTMIN+5 ;;
    halt) echo RTMIN+3 ;;
  esac
}

now_or_later() { # ACTION DELAY_SECONDS
  local action=$1 delay=$2 sig
  sig=$(signal_for "$action")
  if [ "$delay" -le 0 ]; then
    kill -s "$sig" 1
    return
  fi
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  setsid bash -c 'sleep "$1" && kill -s "$2" 1' _ "$delay" "$sig" </dev/null >/dev/null 2>&1 &
  echo $! >"$PENDING"
  echo "$action scheduled for $(date -d "+$delay seconds" '+%a %Y-%m-%d %H:%M:%S %Z'), use 'shutdown -c' to cancel."
}

case $name in
  poweroff | reboot | halt)
    for a in "$@"; do
      case $a in
        -f | --force | -p | --poweroff | --no-wall | -w | --wtmp-only) ;;
        *)
          echo "$name: option $a is not emulated" >&2
          exit 1
          ;;
      esac
    done
    now_or_later "$name" 0
    exit 0
    ;;
esac

action=poweroff
halt=0
time=+1
while [ $# -gt 0 ]; do
  case $1 in
    -P | --poweroff | -h) ;;
    -H | --halt) halt=1 ;;
    -r | --reboot) action=reboot ;;
    -k)
      echo "shutdown: -k: only a warning, no shutdown"
      exit 0
      ;;
    -c)
      if [ -f "$PENDING" ]; then kill "$(cat "$PENDING")" 2>/dev/null || true; fi
      rm -f "$PENDING"
      exit 0
      ;;
    --no-wall) ;;
    now | +*) time=$1 ;;
    [0-9]*:[0-9]*) time=$1 ;;
    -*)
      echo "shutdown: option $1 is not emulated" >&2
      exit 1
      ;;
    *) break ;; # the wall message
  esac
  shift
done
if [ "$halt" = 1 ] && [ "$action" = poweroff ]; then action=halt; fi

case $time in
  now | +0) delay=0 ;;
  +*) delay=$((${time#+} * 60)) ;;
  *)
    # HH:MM is the next such time of day.
    delay=$(($(date -d "$time" +%s) - $(date +%s)))
    if [ "$delay" -lt 0 ]; then delay=$((delay + 86400)); fi
    ;;
esac
now_or_later "$action" "$delay"
