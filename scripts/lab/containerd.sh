#!/usr/bin/env bash
# A private containerd (CRI v1) for the demo and the tests. Settings a machine without
# CAP_SYS_RESOURCE and without CNI needs: restrict_oom_score_adj = true (else every pod fails
# with "can't get final child's PID from pipe"); pods use host networking and no hostname.
#
#   scripts/lab/containerd.sh start DIR   start one under DIR (idempotent); prints its socket
#   scripts/lab/containerd.sh stop DIR    remove every pod sandbox it runs, stop it, clean DIR
#
# DIR holds config.toml, root/, state/, containerd.sock, containerd.pid and containerd.log;
# keep it short (unix socket paths are limited to 108 bytes). No image can be pulled here, so
# `start` builds a tiny busybox image (busybox-static plus applet symlinks) as an OCI archive
# and imports it into the k8s.io namespace as crienrich.local/busybox:1 and, for pod sandboxes,
# crienrich.local/pause:1 (its default command sleeps).
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
sock="$dir/containerd.sock"; pidfile="$dir/containerd.pid"
ctr_() { ctr --address "$sock" --namespace k8s.io "$@"; }

alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

build_image() { # $1 = output OCI archive
  local work; work=$(mktemp -d)
  mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc" "$work/blobs/sha256"
  cp /bin/busybox "$work/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$work/rootfs/etc/passwd"
  echo "root:x:0:" > "$work/rootfs/etc/group"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/layer.tar" .
  local layer size diffid cfg cfgsize man mansize
  layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1); size=$(stat -c %s "$work/layer.tar")
  mv "$work/layer.tar" "$work/blobs/sha256/$layer"
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sleep","2147483647"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$work/config.json"
  cfg=$(sha256sum "$work/config.json" | cut -d' ' -f1); cfgsize=$(stat -c %s "$work/config.json")
  mv "$work/config.json" "$work/blobs/sha256/$cfg"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$cfg" "$cfgsize" "$layer" "$size" > "$work/manifest.json"
  man=$(sha256sum "$work/manifest.json" | cut -d' ' -f1); mansize=$(stat -c %s "$work/manifest.json")
  mv "$work/manifest.json" "$work/blobs/sha256/$man"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"crienrich.local/busybox:1","org.opencontainers.image.ref.name":"1"},"platform":{"architecture":"amd64","os":"linux"}}]}' "$man" "$mansize" > "$work/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
  tar -C "$work" -cf "$1" oci-layout index.json blobs
  rm -rf "$work"
}

start() {
  if alive && ctr --address "$sock" version >/dev/null 2>&1; then echo "$sock"; return; fi
  mkdir -p "$dir/root" "$dir/state"
  containerd config default \
    | sed -e "s#^root = .*#root = \"$dir/root\"#" \
          -e "s#^state = .*#state = \"$dir/state\"#" \
          -e "/^\[grpc\]/,/^\[/ s#^  address = .*#  address = \"$sock\"#" \
          -e "s#restrict_oom_score_adj = false#restrict_oom_score_adj = true#" \
          -e "s#sandbox_image = .*#sandbox_image = \"crienrich.local/pause:1\"#" \
          -e "s#^  \[plugins.\"io.containerd.grpc.v1.cri\"\]#&#" \
    > "$dir/config.toml"
  containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 100); do
    ctr --address "$sock" version >/dev/null 2>&1 && break
    alive || { echo "containerd failed to start; log: $dir/containerd.log" >&2; tail -5 "$dir/containerd.log" >&2; exit 1; }
    sleep 0.1
  done
  if ! ctr_ images ls -q | grep -qx crienrich.local/busybox:1; then
    build_image "$dir/busybox.oci.tar"
    ctr_ images import "$dir/busybox.oci.tar" >/dev/null
    ctr_ images tag --force crienrich.local/busybox:1 crienrich.local/pause:1 >/dev/null
    rm -f "$dir/busybox.oci.tar"
  fi
  echo "$sock"
}

stop() {
  if alive; then
    # Remove the tasks of every namespace (k8s.io's pods, `ctr run`'s in default, ...) so the
    # shims exit, then their containers, then containerd itself.
    local namespaces; namespaces=$(ctr --address "$sock" namespaces ls -q 2>/dev/null || echo k8s.io)
    for ns in $namespaces; do
      for task in $(ctr -a "$sock" -n "$ns" tasks ls -q 2>/dev/null); do ctr -a "$sock" -n "$ns" tasks kill -s KILL "$task" >/dev/null 2>&1 || true; done
    done
    sleep 0.3
    for ns in $namespaces; do
      for task in $(ctr -a "$sock" -n "$ns" tasks ls -q 2>/dev/null); do ctr -a "$sock" -n "$ns" tasks delete -f "$task" >/dev/null 2>&1 || true; done
      for c in $(ctr -a "$sock" -n "$ns" containers ls -q 2>/dev/null); do ctr -a "$sock" -n "$ns" containers delete "$c" >/dev/null 2>&1 || true; done
    done
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # Shims whose containerd is gone would keep running: end the ones bound to this address.
  pkill -f "containerd-shim-runc-v2 .*-address $sock" 2>/dev/null || true
  grep -qs " $dir/" /proc/mounts && awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
