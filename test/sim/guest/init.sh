#!/bin/bash
# skiff EC2 simulator: pid 1 of a VM. Does what cloud-init's per-instance stages do with user-data, then idles
# as init until the guest powers off.
#
# cloud-init (docs: "User-data formats", "Boot stages"): fetches the user-data from IMDS (IMDSv2: a token
# first), stores it as /var/lib/cloud/instance/user-data.txt, and when it starts with "#!" runs it once per
# instance as scripts/part-001, unchanged, its output appended to /var/log/cloud-init-output.log. A failing
# script is logged and the machine stays up. Gzip-compressed user-data is decompressed first, as cloud-init
# does; #cloud-config and MIME multi-part are not emulated (logged as such).
#
# systemd's signals for pid 1 (systemd(1), "Signals"): SIGRTMIN+3 halt, SIGRTMIN+4 poweroff, SIGRTMIN+5
# reboot. Power-off ends pid 1, which ends the VM; the simulator then applies the instance's shutdown
# behaviour in moto. Reboot restarts the enabled units in place (the "disk" survives; user-data does not run
# again, being per-instance).
set -uo pipefail

IMDS=http://169.254.169.254/latest
LOG=/var/log/cloud-init-output.log
SIM=/run/skiff-sim
VERSION="24.4 (skiff EC2 simulator)"
started=$(date +%s)

stamp() { date -u '+%Y-%m-%d %H:%M:%S,%3N'; }
say() { echo "$*" | tee -a "$LOG"; }

# True while a process other than pid 1 is alive (zombies, which pid 1 reaps as it goes, do not count).
others_alive() {
  local p stat
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = 1 ] && continue
    { read -r stat <"$p/stat"; } 2>/dev/null || continue
    [[ ${stat##*) } == Z* ]] && continue
    return 0
  done
  return 1
}

# Everything else gets SIGTERM, a grace of up to 5 s, then SIGKILL, as systemd's final stage does.
stop_everything() {
  kill -TERM -1 2>/dev/null
  for _ in $(seq 50); do
    others_alive || return 0
    sleep 0.1
  done
  echo "skiff-sim init: still running 5 s after SIGTERM, killed: $(ps -eo pid=,ppid=,stat=,args= | tr -s " \n" " ")"
  kill -KILL -1 2>/dev/null
  return 0
}

power_off() {
  echo "$1" >"$SIM/power-off"
  echo "skiff-sim init: $1: stopping all processes"
  stop_everything
  exit 0
}

reboot_in_place() {
  echo "skiff-sim init: reboot"
  stop_everything
  umount /tmp 2>/dev/null && mount -t tmpfs -o mode=1777,nosuid,nodev skiff-vm-tmp /tmp
  rm -rf "${SIM:?}/units"
  while IFS= read -r unit; do
    [ -n "$unit" ] && systemctl --no-block start "$unit"
  done </var/lib/skiff-sim/enabled 2>/dev/null
}

trap 'power_off halt' RTMIN+3
trap 'power_off poweroff' RTMIN+4
trap 'reboot_in_place' RTMIN+5

imds_put_token() {
  curl -fsS --max-time 2 --retry 20 --retry-delay 1 --retry-connrefused --retry-all-errors \
    -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "$IMDS/api/token"
}

run_user_data() {
  local token iid dir code part rc
  if ! token=$(imds_put_token); then
    say "$(stamp) - DataSourceEc2.py[WARNING]: IMDS did not answer the token request; no datasource"
    return 1
  fi
  iid=$(curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/instance-id") || return 1
  dir=/var/lib/cloud/instances/$iid
  mkdir -p "$dir/scripts" /var/lib/cloud/data
  ln -sfn "$dir" /var/lib/cloud/instance
  echo "$iid" >/var/lib/cloud/data/instance-id
  say "Cloud-init v. $VERSION running 'modules:final' at $(date -R). Up $(($(date +%s) - started)).00 seconds."
  code=$(curl -sS --max-time 10 -o "$dir/user-data.txt" -w '%{http_code}' -H "X-aws-ec2-metadata-token: $token" "$IMDS/user-data")
  if [ "$code" = 404 ]; then
    return 0
  elif [ "$code" != 200 ]; then
    say "$(stamp) - DataSourceEc2.py[WARNING]: user-data: HTTP $code"
    return 1
  fi
  if [ "$(head -c 2 "$dir/user-data.txt" | od -An -tx1 | tr -d ' \n')" = 1f8b ]; then
    gunzip -c "$dir/user-data.txt" >"$dir/user-data.raw" && mv "$dir/user-data.raw" "$dir/user-data.txt"
  fi
  case "$(head -c 64 "$dir/user-data.txt")" in
    '#!'*) ;;
    '#cloud-config'*)
      say "$(stamp) - skiff-sim: #cloud-config user-data is not emulated"
      return 0
      ;;
    *)
      say "$(stamp) - __init__.py[WARNING]: Unhandled non-multipart (text/x-not-multipart) userdata: '$(head -c 24 "$dir/user-data.txt")...'"
      return 0
      ;;
  esac
  part=$dir/scripts/part-001
  cp "$dir/user-data.txt" "$part"
  chmod 0700 "$part"
  # In the background, so the power-off and reboot traps run at once even while the script is busy.
  (cd / && exec "$part") </dev/null >>"$LOG" 2>&1 &
  local pid=$!
  while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  if [ "$rc" != 0 ]; then
    say "$(stamp) - subp.py[WARNING]: Failed running $part [$rc]"
    say "$(stamp) - cc_scripts_user.py[WARNING]: Failed to run module scripts_user (scripts in /var/lib/cloud/instance/scripts)"
  fi
  echo "$rc" >"$SIM/user-data-exit"
  return "$rc"
}

echo "skiff-sim init: $(hostname) up"
run_user_data
say "Cloud-init v. $VERSION finished at $(date -R). Datasource DataSourceEc2.  Up $(($(date +%s) - started)).00 seconds"
touch /var/lib/cloud/instance/boot-finished 2>/dev/null
touch "$SIM/boot-finished"

# Idle as init: wait (interruptibly, so the traps run) and reap whatever is orphaned to pid 1.
while :; do
  sleep 3600 &
  wait $!
done
