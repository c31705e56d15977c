#!/usr/bin/env bash
# Installs the reference registry the benchmark compares against, pinned,
# into $BERTH_TOOLS_DIR/bin (cached: a second run is instant).
set -euo pipefail
TOOLS=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}
REGISTRY_VERSION=v3.1.2
bin="$TOOLS/bin/registry-$REGISTRY_VERSION"
if [ ! -x "$bin" ]; then
  echo "installing distribution registry $REGISTRY_VERSION (about 2 minutes)"
  mkdir -p "$TOOLS/bin"
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"
  mv "$tmp/registry" "$bin"
  rm -rf "$tmp"
fi
echo "$bin"
