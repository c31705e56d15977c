#!/usr/bin/env bash
# Builds the pinned OCI conformance suite, runs it against a fresh berth on a
# loopback port with every API and data switch on, and fails unless the
# result has 0 failures and 0 skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFORMANCE_VERSION=${CONFORMANCE_VERSION:-v0.0.0-20260831232431-97274622c111}
TOOLS=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}
BIN="$TOOLS/bin/oci-conformance-$CONFORMANCE_VERSION"
RESULTS=${OCI_RESULTS_DIR:-$PWD/results/conformance}
PORT=${CONFORMANCE_PORT:-$((20000 + RANDOM % 20000))}

if [ ! -x "$BIN" ]; then
  echo "building conformance suite $CONFORMANCE_VERSION"
  work=$(mktemp -d)
  (cd "$work" && go mod init tmp >/dev/null 2>&1 &&
    go get "github.com/opencontainers/distribution-spec/conformance@$CONFORMANCE_VERSION" >/dev/null 2>&1)
  src=$(cd "$work" && go list -m -f '{{.Dir}}' github.com/opencontainers/distribution-spec/conformance)
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  mkdir -p "$TOOLS/bin"
  (cd "$work/src" && go build -o "$BIN" .)
  rm -rf "$work"
fi

go build -o bin/berth ./cmd/berth
data=$(mktemp -d)
log="$RESULTS/berth.log"
mkdir -p "$RESULTS"
# CONFORMANCE_AUTH=on runs berth with access control and the suite with
# credentials (the token flow); off runs the open registry.
AUTH=${CONFORMANCE_AUTH:-on}
auth_flags=(--auth=false)
if [ "$AUTH" = on ]; then
  export BERTH_ADMIN_PASSWORD="conformance-$RANDOM-$RANDOM"
  export OCI_USERNAME=admin OCI_PASSWORD="$BERTH_ADMIN_PASSWORD"
  auth_flags=(--auth=true --auto-create-projects)
fi
bin/berth serve --addr "127.0.0.1:$PORT" --data-dir "$data" --log-format text "${auth_flags[@]}" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/livez" && break
  sleep 0.05
done

export OCI_REGISTRY="127.0.0.1:$PORT" OCI_TLS=disabled OCI_VERSION=dev OCI_RESULTS_DIR="$RESULTS" OCI_LOG=warn
export OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2
export OCI_API_PULL=true OCI_API_PUSH=true OCI_API_BLOBS_ATOMIC=true OCI_API_BLOBS_DELETE=true
export OCI_API_BLOBS_DIGEST_HEADER=true OCI_API_BLOBS_MOUNT_ANONYMOUS=true OCI_API_BLOBS_UPLOAD_CANCEL=true
export OCI_API_MANIFESTS_ATOMIC=true OCI_API_MANIFESTS_DELETE=true OCI_API_MANIFESTS_DIGEST_HEADER=true
export OCI_API_MANIFESTS_TAG_PARAM=true OCI_API_TAGS_ATOMIC=true OCI_API_TAGS_DELETE=true OCI_API_TAGS_LIST=true
export OCI_API_REFERRER=true
export OCI_DATA_IMAGE=true OCI_DATA_INDEX=true OCI_DATA_INDEX_LIST=true OCI_DATA_SPARSE=false
export OCI_DATA_ARTIFACT=true OCI_DATA_SUBJECT=true OCI_DATA_SUBJECT_MISSING=true OCI_DATA_ARTIFACT_LIST=true
export OCI_DATA_SUBJECT_LIST=true OCI_DATA_DATA_FIELD=true OCI_DATA_NONDISTRIBUTABLE=true
export OCI_DATA_CUSTOM_FIELDS=true OCI_DATA_NO_LAYERS=true OCI_DATA_EMPTY_BLOB=true OCI_DATA_SHA512=true

set +e
"$BIN" >"$RESULTS/conformance.log" 2>&1
rc=$?
set -e
junit="$RESULTS/junit.xml"
if [ ! -f "$junit" ]; then
  echo "conformance: no junit.xml (exit $rc)"; tail -50 "$RESULTS/conformance.log"; exit 1
fi
suite=$(grep -m1 -o '<testsuite [^>]*>' "$junit")
attr() { echo "$suite" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || true; }
tests=$(attr tests); failures=$(attr failures); errors=$(attr errors)
skipped=$(grep -c '<skipped' "$junit" || true)
echo "conformance (auth $AUTH): tests=$tests failures=$failures errors=$errors skipped=$skipped (exit $rc)"
grep -A6 '^Summary\|Pass\.\.\.*:' "$RESULTS/conformance.log" | head -8 || true
if [ "${failures:-1}" != 0 ] || [ "$skipped" != 0 ] || [ "${errors:-1}" != 0 ] || [ "${tests:-0}" = 0 ] || [ "$rc" != 0 ]; then
  grep -B2 -A8 '<failure\|<skipped' "$junit" | head -150
  exit 1
fi
