#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME (default 10s) each and
# prints how long each ran. New targets are found automatically.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' || true)
  for target in $targets; do
    start=$(date +%s)
    if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/berth-fuzz.log 2>&1; then
      echo "fuzz $pkg $target: ok ($(( $(date +%s) - start ))s, $(grep -o 'execs: [0-9]*' /tmp/berth-fuzz.log | tail -1))"
    else
      echo "fuzz $pkg $target: FAILED"; tail -30 /tmp/berth-fuzz.log; status=1
    fi
  done
done
exit $status
