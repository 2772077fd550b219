#!/bin/bash
# skiff EC2 simulator: the first moments of a VM ("firmware and initrd"). Runs as pid 1 of fresh PID, mount,
# UTS and IPC namespaces inside the VM's network namespace (unshare --fork --kill-child --mount-proc), builds
# the VM's filesystem from the host's, then becomes the VM's init (init.sh), which runs the user-data.
#
#   /etc /opt /var /usr        overlays of the host's; their upper dirs live on a tmpfs mounted here (the VM's
#                              "root volume"), so every change vanishes with the VM's mount namespace
#   /root                      likewise an overlay, of /etc/skel (a fresh image's root home, not the host's)
#   /var/log                   bound to <state>/log on the host, so the boot log and journals outlive the VM
#   /run, /tmp, /dev/shm       fresh tmpfs; /run/skiff-sim bound to <state>/run (written by the simulator)
#   the repository             hidden under an empty tmpfs (a real VM has no checkout of skiff)
#
# Usage: boot.sh STATE_DIR   (STATE_DIR/boot.env holds VM_HOSTNAME, HOST_MNT_NS, GUEST_DIR, DISK_SIZE, ...)
set -euo pipefail

state=${1:?usage: boot.sh STATE_DIR}
die() {
  echo "skiff-sim boot: $*" >&2
  exit 70
}
[ -r "$state/boot.env" ] || die "no $state/boot.env"
# shellcheck source=/dev/null
. "$state/boot.env"
: "${VM_HOSTNAME:?}" "${HOST_MNT_NS:?}" "${GUEST_DIR:?}" "${DISK_SIZE:?}"

# Refuse to touch anything unless this is a fresh PID namespace and a private mount namespace: every write
# below must land in the VM's overlays, never on the host.
[ "$$" = 1 ] || die "must be pid 1 of a new PID namespace (is $$)"
[ "$(readlink /proc/self/ns/mnt)" != "$HOST_MNT_NS" ] || die "still in the host's mount namespace"
mount --make-rprivate /

disk=$state/disk
mkdir -p "$disk"
mount -t tmpfs -o "mode=0755,size=$DISK_SIZE" skiff-vm-disk "$disk"
for d in etc opt var usr root; do
  mkdir -p "$disk/$d/upper" "$disk/$d/work"
  # /root starts as a fresh image's root home (the skeleton), not the host's: its dotfiles (pyenv's init in
  # .bashrc, which bash also reads when its stdin is a socket) and personal settings would change what runs.
  lower=/$d
  if [ "$d" = root ]; then
    lower=/etc/skel
    chmod 0700 "$disk/$d/upper"
  fi
  mount -t overlay "skiff-vm-$d" -o "lowerdir=$lower,upperdir=$disk/$d/upper,workdir=$disk/$d/work" "/$d"
done
for d in /etc /opt /var /usr /root; do
  [ "$(stat -f -c %T "$d")" = overlayfs ] || die "$d is not an overlay"
done

# /var/log: the host's directory layout (apt and others expect their subdirectories), none of its files.
(cd /var/log && find . -mindepth 1 -type d -print0) | (cd "$state/log" && xargs -0 -r mkdir -p)
mkdir -p "$state/log/journal"
mount --bind "$state/log" /var/log

mount -t tmpfs -o mode=0755,nosuid,nodev skiff-vm-run /run
mkdir -p /run/skiff-sim /run/lock /run/user
mount --bind "$state/run" /run/skiff-sim

# The simulator's own tools, copied in before the repository disappears from view.
install -d -m 0755 /usr/lib/skiff-sim
install -m 0755 "$GUEST_DIR/init.sh" /usr/lib/skiff-sim/init
install -m 0755 "$GUEST_DIR/unit-run.sh" /usr/lib/skiff-sim/unit-run
install -m 0644 "$GUEST_DIR/unit-lib.sh" "$GUEST_DIR/unit-kill.sh" /usr/lib/skiff-sim/
rm -f /usr/bin/systemctl /usr/bin/journalctl /usr/sbin/shutdown /usr/sbin/poweroff /usr/sbin/reboot /usr/sbin/halt
install -m 0755 "$GUEST_DIR/systemctl.sh" /usr/bin/systemctl
install -m 0755 "$GUEST_DIR/journalctl.sh" /usr/bin/journalctl
install -m 0755 "$GUEST_DIR/shutdown.sh" /usr/sbin/shutdown
for cmd in poweroff reboot halt; do ln -s shutdown "/usr/sbin/$cmd"; done

# The machine's identity. No nameserver: lookups fail at once and nothing leaves (there is no DNS here).
echo "$VM_HOSTNAME" >/etc/hostname
hostname "$VM_HOSTNAME"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >/etc/hosts
rm -f /etc/resolv.conf
printf '# skiff EC2 simulator: no DNS in this VM\n' >/etc/resolv.conf
tr -d '-' </proc/sys/kernel/random/uuid >/etc/machine-id

# The image profile (images.ts): os-release, removed paths, added files, a Node that claims another version.
image=$state/image
if [ -f "$image/os-release" ]; then
  rm -f /etc/os-release /usr/lib/os-release
  cp "$image/os-release" /usr/lib/os-release
  ln -s ../usr/lib/os-release /etc/os-release
fi
if [ -f "$image/remove" ]; then
  while IFS= read -r path; do
    case $path in
      '' | /) ;;
      /*) rm -rf -- "$path" ;;
      *) die "image profile: remove needs absolute paths, not $path" ;;
    esac
  done <"$image/remove"
fi
if [ -n "${NODE_VERSION:-}" ] && [ -e /usr/bin/node ]; then
  # Keep the real binary reachable (a bind mount holds it after /usr/bin/node is replaced), then put the
  # stand-in in its place: it reports NODE_VERSION and runs the real Node for everything else.
  touch /usr/lib/skiff-sim/node-real
  mount --bind /usr/bin/node /usr/lib/skiff-sim/node-real
  echo "$NODE_VERSION" >/usr/lib/skiff-sim/node-version
  cat >/usr/lib/skiff-sim/node-version.cjs <<'JS'
// Preloaded by the stand-in: scripts see the version the image is said to ship.
const version = require('node:fs').readFileSync('/usr/lib/skiff-sim/node-version', 'utf8').trim();
Object.defineProperty(process, 'version', { value: `v${version}` });
Object.defineProperty(process.versions, 'node', { value: version });
JS
  rm -f /usr/bin/node
  install -m 0755 "$GUEST_DIR/node-standin.sh" /usr/bin/node
fi
if [ -d "$image/files" ]; then
  cp -a "$image/files/." /
fi

# Last, because they hide host paths the steps above read: the repository, then the host's /tmp (which holds
# this VM's state directory) and /dev/shm.
if [ -f "$state/hide" ]; then
  while IFS= read -r path; do
    if [ -d "$path" ]; then mount -t tmpfs -o ro,mode=0755,size=4k skiff-vm-hidden "$path"; fi
  done <"$state/hide"
fi
mount -t tmpfs -o mode=1777,nosuid,nodev skiff-vm-tmp /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev skiff-vm-shm /dev/shm

cd /
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /usr/lib/skiff-sim/init
