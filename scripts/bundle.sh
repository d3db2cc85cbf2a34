#!/usr/bin/env bash
# Builds `dist/crienrich.js`: src/main.ts and every npm dependency (grpc-js, proto-loader,
# protobufjs, ...) inlined by `deno bundle` (esbuild) into one ES module that needs nothing
# but a Deno 2.x: no deno.json, no node_modules, no npm download at run time. Only `node:`
# built-ins stay imports. The BPF object and the CRI descriptor are TypeScript modules
# (src/bpf/object.gen.ts, src/runtime/cri_descriptor.gen.ts), so they are inlined too.
#
#   scripts/bundle.sh [-o PATH]       (deno task bundle [-o PATH])
#   deno run --allow-all dist/crienrich.js ps     (or ./dist/crienrich.js ps: shebang)
#
# --allow-all for the reason given in scripts/compile.sh (Deno gates /proc and /sys behind
# "all"). Building needs esbuild, which deno fetches once from npm (@esbuild/linux-x64) into
# its cache; offline it must already be cached.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist/crienrich.js
while [ $# -gt 0 ]; do
  case $1 in
    -o | --output) out=${2:?"-o needs a path"}; shift 2 ;;
    *) echo "bundle: unknown argument \"$1\" (usage: scripts/bundle.sh [-o PATH])" >&2; exit 2 ;;
  esac
done

deno=${DENO:-}
if [ -z "$deno" ]; then
  if [ -x .tools/node_modules/.bin/deno ]; then deno=.tools/node_modules/.bin/deno; else deno=deno; fi
fi

mkdir -p "$(dirname "$out")"
# A .js name: deno bundle adds its createRequire banner (which CommonJS packages such as grpc-js
# need for `require("node:...")`) only when the output file's name ends in .js.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tmp="$work/crienrich.js"
"$deno" bundle --quiet --platform deno --packages bundle --output "$tmp" src/main.ts
if ! grep -q '^import { createRequire as __deno_internal_createRequire } from "node:module";' "$tmp"; then
  echo "bundle: deno bundle left out its createRequire banner: grpc-js could not load" >&2
  exit 1
fi
# Every import left must be a node: built-in; anything else would need a download or the tree.
if grep -n -E '^(import|export)[^;]*from "' "$tmp" | grep -v -E 'from "node:[a-z_/]+"'; then
  echo "bundle: \"$out\" would import something other than node: built-ins (above)" >&2
  exit 1
fi
{ echo '#!/usr/bin/env -S deno run --allow-all --quiet'; cat "$tmp"; } >"$out"
chmod +x "$out"
echo "bundle: wrote $out ($(du -h "$out" | cut -f1))"
