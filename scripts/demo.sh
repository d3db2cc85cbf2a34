#!/usr/bin/env bash
# The README's first command: installs what is needed, starts a private demo containerd
# (under /run/crienrich-demo) with pod "foo" in namespace "demo", runs crienrich against it,
# then removes the pod and stops containerd. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
deno=$(scripts/setup.sh)
exec "$deno" run --allow-all scripts/demo.ts "$@"
