#!/usr/bin/env bash
# Runs every check and test, as CI does: installs what is needed (scripts/setup.sh: Debian
# packages and the pinned Deno), then `deno task ok` = fmt --check, lint, type check, tests.
# The real-runtime tests start their own private containerd and stop it; the BPF tests load
# the tracer into the real kernel (root). Idempotent; leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
deno=$(scripts/setup.sh)
export PATH="$(dirname "$deno"):$PATH"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
deno task ok 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The plain closing line CI reads ("N passed, N failed"), from deno test's own summary.
summary=$(sed -n 's/\x1b\[[0-9;]*m//g; s/^\(ok\|FAILED\) | \([0-9]*\) passed[^|]*| \([0-9]*\) failed.*/\2 passed, \3 failed/p' "$log" | tail -n 1)
[ -n "$summary" ] && echo "tests: $summary"
exit "$status"
