#!/usr/bin/env bash
# The README's test command: `make test` is this script with no arguments.
# It installs the test tools (scripts/install-test-tools.sh: cached, a second
# run only checks), runs every step even when one fails, and ends with one
# line: tests passed/failed/skipped and the result of each step, after the
# names of any skipped or failed tests. Exit status 0 only if all passed.
#
#   scripts/test.sh                        lint unit conformance fuzz (make test)
#   scripts/test.sh unit                   only the Go tests (make unit)
#   BERTH_E2E_REQUIRE=0 GOTESTFLAGS=-short scripts/test.sh unit   (make unit-fast)
#
# BERTH_E2E_REQUIRE=1 (the default): tools are installed first and a test
# whose tool or server is missing fails. BERTH_E2E_REQUIRE=0: nothing is
# installed, such tests skip, and the summary names them.
# GOTESTFLAGS (default -race -count=1 -timeout 20m) go to `go test`, for the
# packages in GOTESTPKGS (default ./...);
# FUZZTIME (default 10s) is per fuzz target; TEST_TITLE names the run in the
# summary line. Output is kept in results/test/.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(lint unit conformance fuzz)
for s in "${steps[@]}"; do
  case "$s" in lint | unit | conformance | fuzz) ;; *) echo "scripts/test.sh: unknown step $s (lint, unit, conformance, fuzz)" >&2; exit 2 ;; esac
done
has() { [[ " ${steps[*]} " == *" $1 "* ]]; }

export BERTH_E2E_REQUIRE=${BERTH_E2E_REQUIRE:-1}
export BERTH_TOOLS_DIR=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}
export PATH="$BERTH_TOOLS_DIR/bin:$(go env GOPATH)/bin:$PATH"
GOTESTFLAGS=${GOTESTFLAGS:--race -count=1 -timeout 20m}
GOTESTPKGS=${GOTESTPKGS:-./...}
FUZZTIME=${FUZZTIME:-10s}
out=results/test
mkdir -p "$out"
rm -f "$out/go-test.json"

# Fail at once, before any test, when the tools cannot be installed.
if [ "$BERTH_E2E_REQUIRE" = 1 ] && { has lint || has unit; }; then
  scripts/install-test-tools.sh || exit 1
fi
summary="$out/testsummary"
go build -o "$summary" ./scripts/testsummary || exit 1

took() { local s=$((SECONDS - $1)); if [ $s -ge 60 ]; then echo "$((s / 60))m$((s % 60))s"; else echo "${s}s"; fi; }
report=()
for step in "${steps[@]}"; do
  t=$SECONDS
  echo "==> $step"
  case "$step" in
    lint)
      if "${MAKE:-make}" --no-print-directory -s lint; then r=ok; else r=FAILED; fi
      ;;
    unit)
      # shellcheck disable=SC2086
      go test -json $GOTESTFLAGS $GOTESTPKGS 2>&1 | "$summary" render -json "$out/go-test.json"
      codes=("${PIPESTATUS[@]}")
      if [ "${codes[0]}" = 0 ] && [ "${codes[1]}" = 0 ]; then r=ok; else r=FAILED; fi
      ;;
    conformance)
      r=ok
      : >"$out/conformance.log"
      for auth in off on; do
        CONFORMANCE_AUTH=$auth scripts/conformance.sh 2>&1 | tee -a "$out/conformance.log" || r=FAILED
      done
      n=0
      for c in $(grep -o '^conformance (auth [a-z]*): tests=[0-9]*' "$out/conformance.log" | grep -o '[0-9]*$'); do n=$((n + c)); done
      r="$r ($n tests in 2 runs,"
      ;;
    fuzz)
      FUZZTIME=$FUZZTIME scripts/fuzz.sh 2>&1 | tee "$out/fuzz.log"
      if [ "${PIPESTATUS[0]}" = 0 ]; then r=ok; else r=FAILED; fi
      ok=$(grep -c '^fuzz .*: ok' "$out/fuzz.log")
      bad=$(grep '^fuzz .*: FAILED' "$out/fuzz.log" | awk '{print $3}' | sed 's/:$//' | paste -sd, -)
      if [ -n "$bad" ]; then r="$r ($bad; $ok more ok x $FUZZTIME,"; else r="$r ($ok targets x $FUZZTIME,"; fi
      ;;
  esac
  case "$r" in *,) r="$r $(took "$t"))" ;; *) r="$r ($(took "$t"))" ;; esac
  report+=(-step "$step=$r")
done

json=()
has unit && json=(-json "$out/go-test.json")
echo "---"
"$summary" report "${json[@]}" -title "${TEST_TITLE:-scripts/test.sh $*}" -elapsed "$(took "$started")" "${report[@]}"
