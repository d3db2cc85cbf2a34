#!/usr/bin/env bash
# Installs what crienrich's demo and tests need on a Debian 12 machine, idempotently:
#   - Debian packages: containerd + runc (the real CRI runtime the tests drive), docker.io (the
#     real Docker Engine the tests drive, started privately by scripts/lab/dockerd.sh), podman
#     (the real Podman service, started privately by scripts/lab/podman.sh), busybox-static
#     (the tiny image), libbpf1/bpftool/clang/llvm (BPF load and rebuild), iproute2 and procps.
#   - Deno, pinned, from the npm package `deno` (JSR and Deno's own download host are not
#     reachable from these machines) into .tools/ in the repo.
# Only what is missing is installed, and nothing already installed is upgraded
# (apt-get install --no-upgrade). apt's and npm's own output goes to .tools/setup.log
# (CRIENRICH_SETUP_LOG names another file); stderr
# gets one line per thing installed, nothing at all when everything is present.
# The path of the deno binary is the only line on stdout.
# Usage: scripts/setup.sh            (installs if needed, prints the deno path)
set -euo pipefail
DENO_VERSION=2.9.6
top=$(cd "$(dirname "$0")/.." && pwd)
packages=(containerd runc docker.io podman busybox-static libbpf1 libbpf-dev bpftool clang llvm procps iproute2 util-linux)
log=${CRIENRICH_SETUP_LOG:-$top/.tools/setup.log}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Runs a command with its output in the log; on failure says so in one line and stops.
logged() {
  if ! "$@" >>"$log" 2>&1; then
    echo "setup: '$*' failed; see $log" >&2
    exit 1
  fi
}

missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  mkdir -p "$(dirname "$log")"
  echo "== $(date -u +%FT%TZ) apt-get install ${missing[*]}" >>"$log"
  logged apt-get update -qq
  logged env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade \
    -o Dpkg::Use-Pty=0 "${missing[@]}"
  for p in "${missing[@]}"; do
    installed "$p" || { echo "setup: $p is still not installed; see $log" >&2; exit 1; }
    echo "setup: installed $p $(dpkg-query -W -f='${Version}' "$p")" >&2
  done
fi

deno_bin="$top/.tools/node_modules/.bin/deno"
if ! { [ -x "$deno_bin" ] && "$deno_bin" --version 2>/dev/null | grep -q "^deno $DENO_VERSION "; }; then
  mkdir -p "$top/.tools" "$(dirname "$log")"
  echo "== $(date -u +%FT%TZ) npm install deno@$DENO_VERSION" >>"$log"
  logged npm install --silent --no-save --no-audit --no-fund --prefix "$top/.tools" "deno@$DENO_VERSION"
  echo "setup: installed deno $DENO_VERSION (npm) in .tools/" >&2
fi
echo "$deno_bin"
