#!/usr/bin/env bash
# Builds crienrich's BPF object and the TypeScript layout generated from its BTF.
#
#   bpf/vmlinux.h                 kernel types, from /sys/kernel/btf/vmlinux (only when absent
#                                 or with --vmlinux: it is committed, and the object depends on it)
#   bpf/crienrich.bpf.o           clang -target bpf, then llvm-strip -g (drops DWARF, keeps the
#                                 .BTF and .BTF.ext sections CO-RE relocation needs)
#   src/bpf/event_layout.gen.ts   offsets, sizes and enum values read back from the object's
#                                 BTF (bpftool -j btf dump), plus the sha256 of every input
#
# Reproducible: run from the repository root with relative paths and a fixed compilation
# directory, so the same sources and toolchain give a byte-identical object.
# tests/bpf/build_test.ts rebuilds into a temporary directory and compares.
#
# Usage: scripts/bpf_build.sh [--vmlinux] [--out DIR]
#   --vmlinux   regenerate bpf/vmlinux.h from the running kernel first
#   --out DIR   write the object and gen.ts into DIR instead of the tree (for the test)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

regen_vmlinux=0
out=""
while (($#)); do
  case "$1" in
    --vmlinux) regen_vmlinux=1 ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    *) echo "bpf_build: unknown argument \"$1\"" >&2; exit 2 ;;
  esac
  shift
done
object=bpf/crienrich.bpf.o
layout=src/bpf/event_layout.gen.ts
if [ -n "$out" ]; then
  object="$out/crienrich.bpf.o"
  layout="$out/event_layout.gen.ts"
fi

deno=${DENO:-}
if [ -z "$deno" ]; then
  deno=$(command -v deno || echo "$top/.tools/node_modules/.bin/deno")
fi

if ((regen_vmlinux)) || [ ! -s bpf/vmlinux.h ]; then
  bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h.tmp
  mv bpf/vmlinux.h.tmp bpf/vmlinux.h
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# -fdebug-compilation-dir and relative paths keep the checkout's location out of the object.
clang -target bpf -O2 -g -D__TARGET_ARCH_x86 -Wall -Werror \
  -fdebug-compilation-dir=. -I bpf \
  -c bpf/crienrich.bpf.c -o "$work/crienrich.bpf.o"
llvm-strip -g "$work/crienrich.bpf.o"

# Inputs whose change makes the committed outputs stale; their hashes go into the banner.
sources=(bpf/crienrich.bpf.c bpf/event.h bpf/vmlinux.h scripts/bpf_build.sh src/bpf/btf_layout.ts)
toolchain="$(clang --version | head -n1); $(bpftool version | head -n1); libbpf headers $(
  awk '/define LIBBPF_MAJOR_VERSION/ {ma=$3} /define LIBBPF_MINOR_VERSION/ {mi=$3}
       END {print ma "." mi}' /usr/include/bpf/libbpf_version.h)"

bpftool -j btf dump file "$work/crienrich.bpf.o" > "$work/btf.json"
"$deno" run --allow-read src/bpf/btf_layout.ts \
  "$work/btf.json" "$(sha256sum "$work/crienrich.bpf.o" | cut -d' ' -f1)" "$toolchain" \
  "${sources[@]}" > "$work/layout.ts"
# Formatted as `deno fmt` would (deno.json's lineWidth), so `deno fmt --check` stays clean.
"$deno" fmt --ext ts --line-width 100 - < "$work/layout.ts" > "$work/event_layout.gen.ts"

mkdir -p "$(dirname "$object")" "$(dirname "$layout")"
cp "$work/crienrich.bpf.o" "$object"
cp "$work/event_layout.gen.ts" "$layout"
