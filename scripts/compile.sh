#!/usr/bin/env bash
# Builds the one-file binary `dist/crienrich`: `deno compile` of src/main.ts for
# x86_64-unknown-linux-gnu (glibc 2.27 or later, the floor of Deno's own release builds).
#
#   scripts/compile.sh [-o PATH]      (deno task compile [-o PATH])
#
# `deno compile` copies a runtime binary, denort, and appends the module graph to it. Deno
# downloads denort from dl.deno.land on first use; where that host is unreachable, point
# DENORT_BIN at a denort of the same version as the deno that compiles (the file inside
# denort-x86_64-unknown-linux-gnu.zip of the matching Deno release). No npm or Debian package
# ships denort (npm's @deno/linux-x64-glibc is the full deno CLI, which cannot serve as one:
# the result would print Deno's own help). The built binary is smoke-tested with --help so
# such a mistake fails here, not on a node.
#
# Permissions: --allow-all, not a list. Since Deno 1.43 (CVE-2024-34346) reading anything
# under /proc, /sys, /etc or /dev needs the "all" permission: a scoped or even unscoped
# --allow-read is refused there, and crienrich's inputs are exactly such files
# (/proc/<pid>/cgroup, /proc/<pid>/ns/mnt, /proc/self/mountinfo, /sys/kernel/btf/vmlinux,
# /sys/kernel/tracing/events/.../id, /etc/crictl.yaml). Deno counts "all" as granted only
# when every permission is unscoped, --allow-run and --allow-import included, and a --deny-*
# flag next to -A withdraws it again (checked with Deno 2.9.6). --allow-ffi alone already
# equals all permissions (native code is outside the sandbox), so nothing is lost.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist/crienrich
while [ $# -gt 0 ]; do
  case $1 in
    -o | --output) out=${2:?"-o needs a path"}; shift 2 ;;
    *) echo "compile: unknown argument \"$1\" (usage: scripts/compile.sh [-o PATH])" >&2; exit 2 ;;
  esac
done

deno=${DENO:-}
if [ -z "$deno" ]; then
  if [ -x .tools/node_modules/.bin/deno ]; then deno=.tools/node_modules/.bin/deno; else deno=deno; fi
fi
target=x86_64-unknown-linux-gnu
version=$("$deno" --version | sed -n 's/^deno \([0-9][^ ]*\).*/\1/p')

# An empty DENORT_BIN means unset (deno itself would look for a file named "").
if [ -z "${DENORT_BIN:-}" ]; then unset DENORT_BIN; elif [ ! -f "$DENORT_BIN" ]; then
  echo "compile: DENORT_BIN is set to \"$DENORT_BIN\", which is not a file" >&2
  exit 1
fi

mkdir -p "$(dirname "$out")"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$deno" compile --quiet --allow-all --no-prompt --target "$target" --output "$out" \
  src/main.ts 2>"$log"; then
  # deno 2.9: "Setting up base binary" / "error sending request for url
  # (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip)".
  if grep -q -e 'dl\.deno\.land' -e 'denort-.*\.zip' "$log"; then
    echo "compile: cannot download denort (the runtime deno compile embeds) from" \
      "dl.deno.land: the host is unreachable here; set DENORT_BIN to a denort $version" \
      "binary for $target (from denort-$target.zip of Deno v$version) and run again" >&2
  else
    cat "$log" >&2
  fi
  exit 1
fi

# Smoke test, on the target itself only: the binary must answer as crienrich.
if [ "$(uname -m)" = x86_64 ]; then
  help=$("$out" --help 2>&1 || true)
  if [ "${help#crienrich}" = "$help" ]; then
    rm -f "$out"
    echo "compile: \"$out\" does not run as crienrich (is DENORT_BIN=\"${DENORT_BIN:-}\" a" \
      "denort $version binary rather than the deno CLI?): $(printf '%s' "$help" | head -n 1)" >&2
    exit 1
  fi
fi
echo "compile: wrote $out ($(du -h "$out" | cut -f1), deno $version, $target)"
