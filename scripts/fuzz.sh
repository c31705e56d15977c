#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME (default 10s) each and
# prints how long each ran. New targets are found automatically.
#
# Go 1.26's fuzzing coordinator can fail a target with a bare "context
# deadline exceeded" as -fuzztime runs out, under CPU load, without having
# found anything (go.dev/issue/75804, fixed in Go 1.27). Such a run — that
# message, and no failing input written — is run once more; a real finding
# always writes its input to testdata/fuzz and fails at once.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
fuzz() { go test -run='^$' -fuzz="^$2\$" -fuzztime="$FUZZTIME" "$1" >"$log" 2>&1; }
deadline_flake() {
  grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written to' "$log"
}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' || true)
  for target in $targets; do
    start=$(date +%s)
    note=""
    ok=0
    if fuzz "$pkg" "$target"; then
      ok=1
    elif deadline_flake; then
      note=", run again after go.dev/issue/75804"
      fuzz "$pkg" "$target" && ok=1
    fi
    if [ $ok = 1 ]; then
      echo "fuzz $pkg $target: ok ($(( $(date +%s) - start ))s, $(grep -o 'execs: [0-9]*' "$log" | tail -1)$note)"
    else
      echo "fuzz $pkg $target: FAILED"; tail -30 "$log"; status=1
    fi
  done
done
exit $status
