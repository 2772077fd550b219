#!/bin/bash
# skiff EC2 simulator: journalctl(1) over the units' journal files (/var/log/journal/UNIT.log).
#   journalctl [-u UNIT]... [-n N|--lines=N] [-f] [-b] [-x] [-e] [--no-pager] [-o cat|short]
# Without -u, every unit's journal. Lines carry no timestamps (the files hold the services' raw output).
set -uo pipefail

# shellcheck source=unit-lib.sh
. /usr/lib/skiff-sim/unit-lib.sh

units=()
lines=''
follow=0
while [ $# -gt 0 ]; do
  case $1 in
    -u | --unit)
      units+=("$(unit_name "${2:-}")")
      shift
      ;;
    -u*) units+=("$(unit_name "${1#-u}")") ;;
    --unit=*) units+=("$(unit_name "${1#--unit=}")") ;;
    -n | --lines)
      lines=${2:-10}
      shift
      ;;
    --lines=*) lines=${1#--lines=} ;;
    -f | --follow) follow=1 ;;
    -e | --pager-end) lines=${lines:-1000} ;;
    -xe | -xeu)
      lines=${lines:-1000}
      if [ "$1" = -xeu ]; then
        units+=("$(unit_name "${2:-}")")
        shift
      fi
      ;;
    -b | -x | --boot | --catalog | --no-pager | -o | --output=* | -q | --quiet)
      [ "$1" = -o ] && shift
      ;;
    *)
      echo "journalctl: $1 is not emulated by the skiff EC2 simulator" >&2
      exit 1
      ;;
  esac
  shift
done

files=()
if [ "${#units[@]}" = 0 ]; then
  for f in /var/log/journal/*.log; do [ -f "$f" ] && files+=("$f"); done
else
  for u in "${units[@]}"; do files+=("$(journal_of "$u")"); done
fi
if [ "${#files[@]}" = 0 ]; then
  echo "-- No entries --"
  exit 0
fi
if [ "$follow" = 1 ]; then exec tail -q -n "${lines:-10}" -F "${files[@]}"; fi
if [ -n "$lines" ]; then
  tail -q -n "$lines" "${files[@]}" 2>/dev/null
else
  cat "${files[@]}" 2>/dev/null
fi
exit 0
