#!/usr/bin/env bash
# Installs what crienrich's demo and tests need on a Debian 12 machine, idempotently:
#   - Debian packages: containerd + runc (the real CRI runtime the tests drive), busybox-static
#     (the tiny image), libbpf1/bpftool/clang/llvm (BPF load and rebuild), iproute2 and procps.
#   - Deno, pinned, from the npm package `deno` (JSR and Deno's own download host are not
#     reachable from these machines) into .tools/ in the repo.
# Prints nothing on success but the path of the deno binary on its last line.
# Usage: scripts/setup.sh            (installs if needed, prints the deno path)
set -euo pipefail
DENO_VERSION=2.9.6
top=$(cd "$(dirname "$0")/.." && pwd)
packages=(containerd runc busybox-static libbpf1 libbpf-dev bpftool clang llvm procps iproute2 util-linux)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

deno_bin="$top/.tools/node_modules/.bin/deno"
if ! { [ -x "$deno_bin" ] && "$deno_bin" --version 2>/dev/null | grep -q "^deno $DENO_VERSION "; }; then
  echo "setup: installing deno $DENO_VERSION from npm into .tools/" >&2
  mkdir -p "$top/.tools"
  npm install --silent --no-save --no-audit --no-fund --prefix "$top/.tools" "deno@$DENO_VERSION" >&2
fi
echo "$deno_bin"
