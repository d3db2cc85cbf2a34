#!/usr/bin/env bash
# A private Podman API service (`podman system service`) for the tests, with storage, state,
# locks and events of its own, so it neither sees nor disturbs the host's Podman.
#
#   scripts/lab/podman.sh start DIR   start one under DIR (idempotent); prints its socket
#   scripts/lab/podman.sh stop DIR    remove every pod and container it runs, stop it, clean DIR
#
# DIR holds containers.conf (CONTAINERS_CONF), storage.conf (CONTAINERS_STORAGE_CONF: vfs
# storage in root/, runroot/), tmp/ (libpod's tmp_dir), podman.sock, podman.pid, podman.log
# and events.log; keep it short (unix socket paths are limited to 108 bytes).
# Settings this machine needs (../shared/lab.md): containers start only with lower rlimits
# (default_ulimits nproc and nofile 1024:1024: Podman's defaults fail with "error setting
# rlimit type 6/7" without CAP_SYS_RESOURCE); no CNI, so netns "none"; no systemd as pid 1,
# so the cgroupfs manager (containers in /libpod_parent/libpod-<id>). File locks keep it off
# the host's shared-memory lock table (/dev/shm/libpod_lock).
# No image can be pulled here, so `start` imports a tiny busybox rootfs (busybox-static plus
# applet symlinks) with `podman import` as crienrich.local/busybox:1, and the same rootfs as
# crienrich.local/pause:1, the pods' infra image: its /pause is a shell that exits on SIGTERM.
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
sock="$dir/podman.sock"; pidfile="$dir/podman.pid"
export CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf"
# The client through the service, as a user of the socket would drive it.
remote() { podman --url "unix://$sock" "$@"; }
# The same storage without the service, to clean up after a service that died.
local_() { podman --root "$dir/root" --runroot "$dir/runroot" "$@"; }

alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

write_config() {
  mkdir -p "$dir/root" "$dir/runroot" "$dir/tmp"
  cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nproc=1024:1024", "nofile=1024:1024"]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
runtime = "runc"
tmp_dir = "$dir/tmp"
lock_type = "file"
infra_image = "crienrich.local/pause:1"
infra_command = "/pause"
EOF
  cat >"$dir/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$dir/root"
runroot = "$dir/runroot"
EOF
}

import_images() {
  local work; work=$(mktemp -d)
  mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc"
  cp /bin/busybox "$work/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$work/rootfs/etc/passwd"
  echo "root:x:0:" > "$work/rootfs/etc/group"
  # An infra container's command is one path; sleep as pid 1 would ignore SIGTERM.
  printf '#!/bin/sh\ntrap "exit 0" TERM INT\n/bin/sleep 2147483647 &\nwait\n' > "$work/rootfs/pause"
  chmod 755 "$work/rootfs/pause"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/layer.tar" .
  for image in crienrich.local/busybox:1 crienrich.local/pause:1; do
    remote import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sleep","2147483647"]' \
      "$work/layer.tar" "$image" >/dev/null
  done
  rm -rf "$work"
}

start() {
  if alive && remote version >/dev/null 2>&1; then echo "$sock"; return; fi
  write_config
  rm -f "$sock"
  podman --root "$dir/root" --runroot "$dir/runroot" system service --time=0 "unix://$sock" \
    >"$dir/podman.log" 2>&1 &
  local started=$!
  echo "$started" > "$pidfile"
  for _ in $(seq 1 150); do
    [ -S "$sock" ] && remote version >/dev/null 2>&1 && break
    kill -0 "$started" 2>/dev/null || { echo "podman system service failed to start; log: $dir/podman.log" >&2; tail -5 "$dir/podman.log" >&2; exit 1; }
    sleep 0.1
  done
  remote version >/dev/null 2>&1 || { echo "podman system service did not answer; log: $dir/podman.log" >&2; exit 1; }
  remote image exists crienrich.local/pause:1 || import_images
  echo "$sock"
}

stop() {
  local client=local_
  alive && client=remote
  local pods=""
  if [ -d "$dir/root" ]; then
    pods=$("$client" pod ps -q --no-trunc 2>/dev/null || true)
    # -t 0: workloads run sleep as pid 1, which ignores SIGTERM.
    "$client" pod rm --all --force --time 0 >/dev/null 2>&1 || true
    "$client" rm --all --force --time 0 >/dev/null 2>&1 || true
  fi
  # Podman 4.3 with cgroupfs leaves a removed pod's cgroup (/libpod_parent/<pod id>) behind.
  local pod mount
  for pod in $pods; do
    for mount in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts); do
      [ -d "$mount/libpod_parent/$pod" ] && find "$mount/libpod_parent/$pod" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
  done
  if alive; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  grep -qs " $dir/" /proc/mounts && awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
