#!/usr/bin/env bash
# A private Docker Engine (dockerd) for the tests. Settings a machine without CNI or iptables
# rights needs: --iptables=false --bridge=none (containers run with --network none).
#
#   scripts/lab/dockerd.sh start DIR   start one under DIR (idempotent); prints its socket
#   scripts/lab/dockerd.sh stop DIR    remove every container it runs, stop it, clean DIR
#
# DIR holds data/ (--data-root), exec/ (--exec-root; dockerd's own containerd lives there
# when none answers at /run/containerd/containerd.sock), docker.sock, dockerd.pid and
# dockerd.log (and an empty daemon.json, so /etc/docker/daemon.json is not read); keep it short (unix socket paths are limited to 108 bytes). No image can be
# pulled here, so `start` imports a tiny busybox rootfs (busybox-static plus applet symlinks)
# with `docker import` as crienrich.local/busybox:1.
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
sock="$dir/docker.sock"; pidfile="$dir/dockerd.pid"
# The Debian CLI matches the Debian daemon; another docker on PATH may be newer.
docker_bin=/usr/bin/docker; [ -x "$docker_bin" ] || docker_bin=docker
docker_() { "$docker_bin" -H "unix://$sock" "$@"; }

alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

import_image() {
  local work; work=$(mktemp -d)
  mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc"
  cp /bin/busybox "$work/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$work/rootfs/etc/passwd"
  echo "root:x:0:" > "$work/rootfs/etc/group"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/layer.tar" .
  docker_ import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sleep","2147483647"]' \
    "$work/layer.tar" crienrich.local/busybox:1 >/dev/null
  rm -rf "$work"
}

start() {
  if alive && docker_ version >/dev/null 2>&1; then echo "$sock"; return; fi
  mkdir -p "$dir/data" "$dir/exec"; echo "{}" > "$dir/daemon.json"
  dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" \
    -H "unix://$sock" --iptables=false --ip6tables=false --bridge=none \
    --config-file "$dir/daemon.json" >"$dir/dockerd.log" 2>&1 &
  local started=$!
  for _ in $(seq 1 150); do
    docker_ version >/dev/null 2>&1 && break
    kill -0 "$started" 2>/dev/null || { echo "dockerd failed to start; log: $dir/dockerd.log" >&2; tail -5 "$dir/dockerd.log" >&2; exit 1; }
    sleep 0.1
  done
  docker_ version >/dev/null 2>&1 || { echo "dockerd did not answer; log: $dir/dockerd.log" >&2; exit 1; }
  docker_ image inspect crienrich.local/busybox:1 >/dev/null 2>&1 || import_image
  echo "$sock"
}

stop() {
  if alive; then
    local ids; ids=$(docker_ ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || docker_ rm -f $ids >/dev/null 2>&1 || true
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # dockerd's own containerd and its shims, when it started them, are bound to exec/.
  pkill -f "containerd .*$dir/exec/containerd" 2>/dev/null || true
  pkill -f "containerd-shim-runc-v2 .*-address $dir/exec/" 2>/dev/null || true
  grep -qs " $dir/" /proc/mounts && awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
