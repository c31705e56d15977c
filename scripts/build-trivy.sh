#!/usr/bin/env bash
# Builds the real trivy CLI for the opt-in comparison (make trivy-compare,
# test/trivycompare) into $BERTH_TOOLS_DIR/bin (default ~/.cache/berth-tools),
# from the Go module proxy, in a scratch module (as scripts/install-test-tools.sh
# does for tools the proxy refuses to `go install`); trivy needs
# GOEXPERIMENT=jsonv2 (encoding/json/v2) with Go 1.26. A stamp file
# (.trivy-VERSION) skips the build when that version is already there. The
# first build takes about 10-15 minutes on 2 cores. It is not part of
# scripts/install-test-tools.sh: the comparison is opt-in.
#
#   scripts/build-trivy.sh [VERSION]     prints the path of the binary last
set -euo pipefail
version=${1:-v0.74.0}
TOOLS=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}
bin="$TOOLS/bin/trivy" stamp="$TOOLS/bin/.trivy-$version"
mkdir -p "$TOOLS/bin"
if [ -f "$stamp" ] && [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
start=$SECONDS
echo "building trivy $version from the Go module proxy (about 10-15 minutes the first time)" >&2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(
  cd "$dir"
  go mod init scratch >/dev/null 2>&1
  export GOEXPERIMENT=jsonv2 CGO_ENABLED=0
  go get "github.com/aquasecurity/trivy/cmd/trivy@$version" >&2
  go build -trimpath -o "$dir/trivy" github.com/aquasecurity/trivy/cmd/trivy >&2
)
mv "$dir/trivy" "$bin"
rm -f "$TOOLS/bin/.trivy-"*
touch "$stamp"
echo "trivy $version ready in $((SECONDS - start))s" >&2
echo "$bin"
